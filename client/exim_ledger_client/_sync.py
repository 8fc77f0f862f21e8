"""``LedgerClient``: the ledger's API over a blocking ``httpx.Client``."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Self

import httpx

from exim_ledger_client import _core
from exim_ledger_client._calls import Operations
from exim_ledger_client._core import P, T
from exim_ledger_client.models import Envelope


class LedgerClient(Operations):
    """A client of one ledger, authenticated by ``api_key``::

        with LedgerClient("http://127.0.0.1:8000", key) as ledger:
            applied = ledger.apply({...})
            ledger.append(applied.deal_id, "BoardVoted", {...}, expected_version=1)
            print(ledger.portfolio(min_position=applied.position).totals)

    Every POST carries an Idempotency-Key (yours, or a new one per call). Connection
    errors, 429 and 503 are retried with the same key as ``retry`` says, honouring
    Retry-After; an answer the ledger refuses raises ``LedgerProblem``. ``source`` is sent
    as ``X-Source-System`` (stored on the events it writes)."""

    def __init__(self, base_url: str, api_key: str, *, retry: _core.Retry = _core.RETRY,
                 source: str | None = None, timeout: float = _core.TIMEOUT,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.retry = retry
        self._http = httpx.Client(base_url=base_url, headers=_core.client_headers(api_key, source),
                                  timeout=timeout, transport=transport)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def events(self, after: int = 0, limit: int = 1000) -> Iterator[Envelope]:
        """Every event of the global log after position ``after``, in order, paging with
        ``next_after`` until the end."""
        page = self.page(after, limit)
        while page.events:
            yield from page.events
            page = self.page(page.next_after, limit)

    def stream(self, after: int = 0) -> Iterator[Envelope]:
        """Every event after position ``after``, then each new one as it is recorded
        (Server-Sent Events). A dropped connection is resumed after the last event
        received. It never ends by itself: leave the loop when done."""
        feed = _core.Feed(after, self.retry)
        while True:
            try:
                with closing(self._run(feed.call(), feed.attempts)) as response:
                    for line in response.iter_lines():
                        yield from feed.line(line)
                wait = feed.closed()
            except _core.RETRY_ERRORS as error:
                wait = feed.closed(error)
            time.sleep(wait)

    def _bind(self, build: Callable[P, _core.Call[T]]) -> Callable[P, T]:
        @functools.wraps(build)
        def operation(*args: P.args, **kwargs: P.kwargs) -> T:
            return self._run(build(*args, **kwargs))

        return operation

    def _run(self, call: _core.Call[T], attempts: _core.Attempts | None = None) -> T:
        request = self._http.build_request(**call.request())
        attempts = attempts or _core.Attempts(self.retry, call.key)
        while True:
            answer = attempts.answer(self._send(request, call.stream))
            if isinstance(answer, httpx.Response):
                return call.parse(answer)
            time.sleep(answer)

    def _send(self, request: httpx.Request, stream: bool) -> httpx.Response | Exception:
        try:
            response = self._http.send(request, stream=stream)
            if response.is_error:
                response.read()  # the problem's body, of a streamed answer too
        except httpx.TransportError as error:
            return error
        return response
