"""The client's retries over a real network path: a proxy in front of a real server that
loses a POST's answer after the server wrote it, answers 429 or 503 itself, or cuts the
event stream. The log must hold every event exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import httpx
import pytest
from exim_ledger_bench.server import serve
from exim_ledger_client import (
    AsyncLedgerClient,
    Envelope,
    LedgerClient,
    LedgerProblem,
    LedgerUnavailable,
    Retry,
)

from tests.conftest import KEYS
from tests.support.factories import application
from tests.support.live_server import LiveServer, ledger_env, migrated_sqlite

FAST = Retry(attempts=3, backoff=0.01)


@dataclass
class Exchange:
    """A request the proxy received, and what became of it."""

    method: str
    path: str
    headers: dict[str, str]
    at: float
    fault: str | None = None
    answer: dict[str, str] = field(default_factory=dict)  # the server's response headers


def read_head(stream: IO[bytes]) -> tuple[bytes, dict[str, str]] | None:
    """An HTTP/1.1 message head: its bytes and its headers (lower-case names); None at the
    end of the connection."""
    raw = stream.readline()
    if not raw:
        return None
    while not raw.endswith(b"\r\n\r\n"):
        line = stream.readline()
        if not line:
            return None
        raw += line
    lines = raw.decode("latin-1").split("\r\n")[1:]
    headers = dict(line.split(":", 1) for line in lines if ":" in line)
    return raw, {k.strip().lower(): v.strip() for k, v in headers.items()}


class Proxy(socketserver.ThreadingTCPServer):
    """Forwards whole HTTP/1.1 requests to ``upstream``; ``faults`` are applied, one each,
    to the next POSTs: ``drop`` forwards it, waits for the server's whole answer and
    closes the client's connection instead of relaying it; ``429`` and ``503`` answer it
    with that status and ``Retry-After: 1`` without forwarding. ``cut()`` breaks every
    open connection (an event stream's too)."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, upstream: str, *faults: str) -> None:
        super().__init__(("127.0.0.1", 0), Relay)
        self.upstream = httpx.URL(upstream)
        self.faults = list(faults)
        self.exchanges: list[Exchange] = []
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def receive(self, raw: bytes, headers: dict[str, str]) -> Exchange:
        method, path, _ = raw.decode("latin-1").split(" ", 2)
        with self.lock:
            fault = self.faults.pop(0) if method == "POST" and self.faults else None
            exchange = Exchange(method, path, headers, time.monotonic(), fault)
            self.exchanges.append(exchange)
        return exchange

    def connect(self) -> socket.socket:
        upstream = socket.create_connection((self.upstream.host, self.upstream.port))
        self.track(upstream)
        return upstream

    def track(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.add(sock)

    def cut(self) -> None:
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):  # closed already
                    sock.shutdown(socket.SHUT_RDWR)
            self.sockets.clear()

    def close(self) -> None:
        self.shutdown()
        self.cut()
        self.server_close()

    def posts(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.method == "POST"]


class Relay(socketserver.StreamRequestHandler):
    server: Proxy

    def handle(self) -> None:
        self.server.track(self.connection)
        with contextlib.suppress(OSError):  # a connection cut() broke
            self.relay()

    def relay(self) -> None:
        while (head := read_head(self.rfile)) is not None:
            raw, headers = head
            raw += self.rfile.read(int(headers.get("content-length", 0)))
            exchange = self.server.receive(raw, headers)
            if exchange.fault in ("429", "503"):
                self.wfile.write(refusal(int(exchange.fault)))
            elif not self.forward(raw, exchange):
                return

    def forward(self, raw: bytes, exchange: Exchange) -> bool:
        """Send ``raw`` upstream and relay the answer; whether the connection goes on."""
        with self.server.connect() as upstream:
            upstream.sendall(raw)
            answer = upstream.makefile("rb")
            head = read_head(answer)
            if head is None:
                return False
            response, exchange.answer = head
            length = exchange.answer.get("content-length")
            if length is None:  # an event stream: relay it as it comes, to the end
                self.wfile.write(response)
                while chunk := answer.read1(65536):
                    self.wfile.write(chunk)
                return False
            body = answer.read(int(length))
            if exchange.fault == "drop":  # the server has answered: lose its answer
                return False
            self.wfile.write(response + body)
            return True


def refusal(status: int) -> bytes:
    body = (b'{"type": "about:blank", "title": "busy", "status": %d, "detail": "busy",'
            b' "code": "busy"}' % status)
    return (b"HTTP/1.1 %d Busy\r\nContent-Type: application/problem+json\r\n"
            b"Retry-After: 1\r\nContent-Length: %d\r\n\r\n" % (status, len(body))) + body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for the module (every test writes deals of its own)."""
    directory = tmp_path_factory.mktemp("proxied")
    env = ledger_env(migrated_sqlite(directory))
    with serve(env, directory) as url:
        yield LiveServer(url, env)


@pytest.fixture
def proxy(server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Proxy]:
    faults = getattr(request, "param", ())
    proxy = Proxy(server.url, *faults)
    yield proxy
    proxy.close()


def apply_through(kind: str, url: str, body: dict[str, Any], retry: Retry = FAST) -> Envelope:
    """``apply(body)`` with the sync or the async client."""
    if kind == "sync":
        with LedgerClient(url, KEYS["writer"], retry=retry) as ledger:
            return ledger.apply(body)

    async def apply() -> Envelope:
        async with AsyncLedgerClient(url, KEYS["writer"], retry=retry) as ledger:
            return await ledger.apply(body)

    return asyncio.run(apply())


def recorded(server: LiveServer, application_number: str) -> list[Envelope]:
    with LedgerClient(server.url, KEYS["reader"]) as ledger:
        return [e for e in ledger.events()
                if e.data.get("application_number") == application_number]


def retried_once(server: LiveServer, proxy: Proxy, kind: str) -> tuple[Exchange, Exchange]:
    """Apply for a deal through ``proxy`` whose first POST fails: the two tries, after
    checking they carried one Idempotency-Key and that the log holds the deal once."""
    body = application()
    envelope = apply_through(kind, proxy.url, body)
    first, retry = proxy.posts()
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
    assert envelope.idempotency_key == first.headers["idempotency-key"]
    assert recorded(server, body["application_number"]) == [envelope]
    return first, retry


@pytest.mark.parametrize("proxy", [("drop",)], indirect=True)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_post_whose_answer_was_lost_is_retried_and_recorded_once(
    server: LiveServer, proxy: Proxy, kind: str
):
    lost, retry = retried_once(server, proxy, kind)
    assert lost.fault == "drop" and lost.answer  # the server did answer the first try
    assert retry.answer.get("idempotency-replayed") == "true"


@pytest.mark.parametrize("proxy", [("429",), ("503",)], indirect=True)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_429_or_503_is_retried_with_the_same_key_after_its_retry_after(
    server: LiveServer, proxy: Proxy, kind: str
):
    refused, retry = retried_once(server, proxy, kind)
    assert refused.fault in ("429", "503") and not refused.answer  # never reached the server
    assert retry.at - refused.at >= 1.0  # Retry-After: 1, not the 0.01 s back-off
    assert "idempotency-replayed" not in retry.answer


@pytest.mark.parametrize("proxy", [("503",) * 2], indirect=True)
def test_retries_stop_after_the_budget_with_the_last_problem(server: LiveServer, proxy: Proxy):
    body = application()
    with pytest.raises(LedgerProblem) as refused:
        apply_through("sync", proxy.url, body, Retry(attempts=2, max_retry_after=0.01))
    assert (refused.value.status, refused.value.code) == (503, "busy")
    assert len(proxy.posts()) == 2
    assert recorded(server, body["application_number"]) == []


def test_the_stream_resumes_after_the_last_event_when_its_connection_is_cut(
    server: LiveServer, proxy: Proxy
):
    with LedgerClient(server.url, KEYS["writer"]) as direct:
        before = direct.apply(application())
        with LedgerClient(proxy.url, KEYS["reader"], retry=FAST) as ledger:
            stream = ledger.stream(after=before.position - 1)
            assert next(stream) == before
            proxy.cut()
            after = direct.apply(application())
            assert next(stream) == after  # nothing lost, nothing twice
            stream.close()
    opened = [e for e in proxy.exchanges if e.path.startswith("/v1/events/stream")]
    assert [e.headers["last-event-id"] for e in opened] == [
        str(before.position - 1), str(before.position)]


async def test_the_async_stream_resumes_too(server: LiveServer, proxy: Proxy):
    async with AsyncLedgerClient(server.url, KEYS["writer"]) as direct, \
            AsyncLedgerClient(proxy.url, KEYS["reader"], retry=FAST) as ledger:
        before = await direct.apply(application())
        stream = ledger.stream(after=before.position - 1)
        assert await anext(stream) == before
        proxy.cut()
        after = await direct.apply(application())
        assert await anext(stream) == after
        await stream.aclose()


@pytest.mark.parametrize("proxy", [("drop",)], indirect=True)
def test_a_key_of_the_callers_own_is_sent_on_every_try(proxy: Proxy):
    with LedgerClient(proxy.url, KEYS["writer"], retry=FAST) as ledger:
        envelope = ledger.apply(application(), idempotency_key="origination-42")
    assert [e.headers["idempotency-key"] for e in proxy.posts()] == ["origination-42"] * 2
    assert envelope.idempotency_key == "origination-42"


@pytest.mark.parametrize("proxy", [("drop", "drop")], indirect=True)
def test_a_post_with_no_answer_is_unavailable_with_its_key_and_a_later_retry_lands_once(
    server: LiveServer, proxy: Proxy
):
    body = application()
    with LedgerClient(proxy.url, KEYS["writer"], retry=Retry(attempts=2, backoff=0.01)
                      ) as ledger, pytest.raises(LedgerUnavailable) as unavailable:
        ledger.apply(body, correlation_id="desk-run-1")
    key = unavailable.value.idempotency_key
    assert key is not None and [e.headers["idempotency-key"] for e in proxy.posts()] == [key] * 2
    assert all(e.answer for e in proxy.posts())  # the server did record it, answers lost
    with LedgerClient(proxy.url, KEYS["writer"], retry=FAST) as ledger:  # no fault left
        envelope = ledger.apply(body, idempotency_key=key, correlation_id="desk-run-1")
    assert proxy.posts()[-1].answer.get("idempotency-replayed") == "true"
    assert (envelope.idempotency_key, envelope.correlation_id) == (key, "desk-run-1")
    assert recorded(server, body["application_number"]) == [envelope]


def test_a_dead_ledger_is_unavailable_after_the_retries(server: LiveServer, proxy: Proxy):
    url = proxy.url
    proxy.close()  # nothing listens there now
    with LedgerClient(url, KEYS["writer"], retry=Retry(attempts=2, backoff=0.01)
                      ) as ledger, pytest.raises(LedgerUnavailable) as unavailable:
        ledger.apply(application(), idempotency_key="origination-43")
    assert unavailable.value.idempotency_key == "origination-43"
    assert isinstance(unavailable.value.__cause__, httpx.ConnectError)
