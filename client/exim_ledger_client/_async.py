"""``AsyncLedgerClient``: the same API over ``httpx.AsyncClient``."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import aclosing
from typing import Any, Self

import httpx

from exim_ledger_client import _core
from exim_ledger_client._calls import Operations
from exim_ledger_client._core import P, T
from exim_ledger_client.models import Envelope


class AsyncLedgerClient(Operations):
    """``LedgerClient``'s async twin: the same methods, awaited (``events`` and ``stream``
    with ``async for``)::

        async with AsyncLedgerClient("http://127.0.0.1:8000", key) as ledger:
            applied = await ledger.apply({...})
    """

    def __init__(self, base_url: str, api_key: str, *, retry: _core.Retry = _core.RETRY,
                 source: str | None = None, timeout: float = _core.TIMEOUT,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.retry = retry
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport,
                                       headers=_core.client_headers(api_key, source))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def events(self, after: int = 0, limit: int = 1000) -> AsyncIterator[Envelope]:
        """See ``LedgerClient.events``."""
        page = await self.page(after, limit)
        while page.events:
            for envelope in page.events:
                yield envelope
            page = await self.page(page.next_after, limit)

    async def stream(self, after: int = 0) -> AsyncIterator[Envelope]:
        """See ``LedgerClient.stream``."""
        feed = _core.Feed(after, self.retry)
        while True:
            try:
                async with aclosing(await self._run(feed.call(), feed.attempts)) as response:
                    async for line in response.aiter_lines():
                        for envelope in feed.line(line):
                            yield envelope
                wait = feed.closed()
            except _core.RETRY_ERRORS as error:
                wait = feed.closed(error)
            await asyncio.sleep(wait)

    def _bind(self, build: Callable[P, _core.Call[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(build)
        async def operation(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self._run(build(*args, **kwargs))

        return operation

    async def _run(self, call: _core.Call[T], attempts: _core.Attempts | None = None) -> T:
        request = self._http.build_request(**call.request())
        attempts = attempts or _core.Attempts(self.retry, call.key)
        while True:
            answer = attempts.answer(await self._send(request, call.stream))
            if isinstance(answer, httpx.Response):
                return call.parse(answer)
            await asyncio.sleep(answer)

    async def _send(self, request: httpx.Request, stream: bool) -> httpx.Response | Exception:
        try:
            response = await self._http.send(request, stream=stream)
            if response.is_error:
                await response.aread()  # the problem's body, of a streamed answer too
        except httpx.TransportError as error:
            return error
        return response
