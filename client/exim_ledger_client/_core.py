"""What the sync and async clients share, without I/O: a call as data, the retry
decisions, and the SSE feed's parser. The clients only send, sleep and read lines."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, ParamSpec, TypeVar

import httpx

from exim_ledger_client.errors import LedgerProblem, LedgerUnavailable
from exim_ledger_client.models import Envelope
from exim_ledger_client.payloads import encode

P = ParamSpec("P")
T = TypeVar("T")
VERSION = "0.1.0"
TIMEOUT = 10.0
STREAM_TIMEOUT = httpx.Timeout(TIMEOUT, read=60.0)  # the server pings every 15 s
RETRY_STATUSES = frozenset({429, 503})
# failures a retry can mend; a POST is safe to repeat because it carries its Idempotency-Key
RETRY_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)


def client_headers(api_key: str, source: str | None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {api_key}",
               "User-Agent": f"exim-ledger-client/{VERSION}"}
    if source is not None:
        headers["X-Source-System"] = source
    return headers


def new_key() -> str:
    return str(uuid.uuid4())


def timestamp(moment: datetime | str) -> str:
    """RFC 3339 text; a ``datetime`` must know its zone."""
    if isinstance(moment, str):
        return moment
    if moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone")
    return moment.isoformat()


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request, its retries sending the same bytes (and Idempotency-Key), and how its
    answer is read."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str | int] = field(default_factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    stream: bool = False  # the answer is an open response, read as it comes
    timeout: httpx.Timeout | float = TIMEOUT

    def request(self) -> dict[str, Any]:
        """The arguments of ``httpx.Client.build_request``."""
        return {"method": self.method, "url": self.path, "params": self.params,
                "json": self.json, "headers": self.headers, "timeout": self.timeout}

    @property
    def key(self) -> str | None:
        """Its Idempotency-Key (a POST's)."""
        return self.headers.get("Idempotency-Key")


def read_json(parse: Callable[[Any], T]) -> Callable[[httpx.Response], T]:
    return lambda response: parse(response.json())


def post(path: str, body: Any, parse: Callable[[Any], T], key: str | None,
         correlation_id: str | None = None) -> Call[T]:
    """A POST with an Idempotency-Key (the caller's, else a new one) for all its tries, and
    the caller's X-Correlation-ID (stored on the events it records); ``Decimal``s in
    ``body`` are sent as strings (``payloads.encode``)."""
    headers = {"Idempotency-Key": key or new_key()}
    if correlation_id is not None:
        headers["X-Correlation-ID"] = correlation_id
    return Call("POST", path, read_json(parse), json=encode(body), headers=headers)


@dataclass(frozen=True)
class Retry:
    """How calls are retried after a connection error, a 429 or a 503: at most ``attempts``
    tries in all, waiting what the server's Retry-After says (up to ``max_retry_after``
    seconds), else ``backoff`` seconds doubled after each failure up to ``max_backoff``."""

    attempts: int = 5
    backoff: float = 0.25
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

    def wait(self, failures: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return float(min(self.max_backoff, self.backoff * 2 ** (failures - 1)))


RETRY, NO_RETRY = Retry(), Retry(attempts=1)


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


class Attempts:
    """The tries of one call: after each, its answer, or how long to wait before the next;
    a failure that is final (or the last allowed) is raised: a connection's failure as
    ``LedgerUnavailable``, with the call's Idempotency-Key ``key``."""

    def __init__(self, retry: Retry, key: str | None = None) -> None:
        self.retry = retry
        self.key = key
        self.failures = 0

    def answer(self, outcome: httpx.Response | Exception) -> httpx.Response | float:
        if isinstance(outcome, httpx.Response):
            if not outcome.is_error:
                return outcome
            if outcome.status_code in RETRY_STATUSES and self._again():
                return self.retry.wait(self.failures, retry_after(outcome))
            raise LedgerProblem.from_response(outcome)
        if isinstance(outcome, RETRY_ERRORS):
            if self._again():
                return self.retry.wait(self.failures)
            detail = f"{type(outcome).__name__}: {outcome}" if str(outcome) else repr(outcome)
            raise LedgerUnavailable(f"no answer after {self.failures} tries ({detail})",
                                    self.key) from outcome
        raise outcome

    def _again(self) -> bool:
        self.failures += 1
        return self.failures < self.retry.attempts


class Feed:
    """``GET /v1/events/stream`` across reconnections: each connection resumes after the
    last event received (``Last-Event-ID``); failures with nothing read between them share
    one retry budget."""

    def __init__(self, after: int, retry: Retry) -> None:
        self.position = after
        self.attempts = Attempts(retry)
        self._data: list[str] = []

    def call(self) -> Call[httpx.Response]:
        self._data.clear()  # an event cut off by a dropped connection is sent again whole
        return Call("GET", "/v1/events/stream", lambda response: response,
                    headers={"Accept": "text/event-stream",
                             "Last-Event-ID": str(self.position)},
                    stream=True, timeout=STREAM_TIMEOUT)

    def line(self, line: str) -> list[Envelope]:
        """The envelope this line of the stream completes, if any (SSE framing: ``data:``
        lines, a blank line ends an event; comments and other fields are skipped)."""
        self.attempts.failures = 0  # the connection works (the server pings when idle)
        if line:
            name, _, value = line.partition(":")
            if name == "data":
                self._data.append(value.removeprefix(" "))
            return []
        if not self._data:
            return []
        envelope = Envelope.from_json(json.loads("\n".join(self._data)))
        self._data.clear()
        self.position = envelope.position
        return [envelope]

    def closed(self, error: Exception | None = None) -> float:
        """The wait before reconnecting after the connection ended (``error``: how)."""
        wait = self.attempts.answer(error or httpx.RemoteProtocolError("the stream ended"))
        assert isinstance(wait, float)
        return wait
