"""Load that records every answer: writers that keep each request's Idempotency-Key until
it is acknowledged (retrying the same request on a connection error or a 5xx), and
readers of deals, projections and readiness. What they saw is checked afterwards."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import KEYS
from tests.support.factories import LICENSE_REQUESTED, application

READ_KINDS = ("deal", "portfolio", "readyz")
CLIENT_SECONDS = 60.0  # far above any answer time the tests allow: a hang shows as a slow answer
FINISH_SECONDS = 120.0  # how long a writer may go on retrying its last request once stopped


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


@dataclass(frozen=True)
class Answer:
    kind: str
    started: float  # time.monotonic()
    ended: float
    status: int | None  # None: no HTTP answer (a connection error)
    retry_after: str | None = None
    code: str | None = None

    @property
    def took(self) -> float:
        return self.ended - self.started


@dataclass
class Record:
    answers: list[Answer] = field(default_factory=list)
    sent: set[str] = field(default_factory=set)  # every Idempotency-Key ever sent
    acknowledged: dict[str, tuple[str, int]] = field(default_factory=dict)  # key: deal, version
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: Answer) -> None:
        with self.lock:
            self.answers.append(answer)

    def between(self, start: float, end: float) -> list[Answer]:
        """The answers to requests sent at or after ``start`` and answered by ``end``."""
        with self.lock:
            return [a for a in self.answers if a.started >= start and a.ended <= end]

    def succeeded_since(self, start: float, kind: str) -> int:
        with self.lock:
            return sum(1 for a in self.answers
                       if a.kind == kind and a.started >= start and a.status in (200, 201))


def _answer(kind: str, started: float, response: httpx.Response | None) -> Answer:
    ended = time.monotonic()
    if response is None:
        return Answer(kind, started, ended, None)
    code = None
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        code = response.json().get("code")
    return Answer(kind, started, ended, response.status_code,
                  response.headers.get("retry-after"), code)


def _send(http: httpx.Client, record: Record, kind: str, method: str, path: str,
          **kwargs: Any) -> httpx.Response | None:
    started = time.monotonic()
    try:
        response: httpx.Response | None = http.request(method, path, **kwargs)
    except httpx.TransportError:
        response = None
    record.add(_answer(kind, started, response))
    return response


class Writer(threading.Thread):
    """Applies for a deal, then requests its license (version 2), then the next deal."""

    def __init__(self, url: str, record: Record, stopping: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.record, self.stopping = url, record, stopping

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=CLIENT_SECONDS) as http:
            while not self.stopping.is_set():
                deal = self._until_acknowledged(http, "/v1/deals", application())
                if deal is None or self.stopping.is_set():
                    return
                self._until_acknowledged(
                    http, f"/v1/deals/{deal}/events",
                    {"type": "LicenseRequested", "data": LICENSE_REQUESTED,
                     "expected_version": 1})

    def _until_acknowledged(self, http: httpx.Client, path: str,
                            body: dict[str, Any]) -> str | None:
        """POST ``body`` under one new key until it is acknowledged; the deal's id."""
        key = str(uuid.uuid4())
        with self.record.lock:
            self.record.sent.add(key)
        headers = {**auth("writer"), "Idempotency-Key": key}
        give_up = None
        while True:
            if self.stopping.is_set() and give_up is None:
                give_up = time.monotonic() + FINISH_SECONDS
            if give_up is not None and time.monotonic() > give_up:
                return None
            r = _send(http, self.record, "write", "POST", path, json=body, headers=headers)
            if r is None or r.status_code >= 500:
                time.sleep(0.05)  # the client's pause before retrying, not a deadline
                continue
            assert r.status_code == 201, r.text  # anything else is a bug the test reports
            envelope = r.json()
            with self.record.lock:
                self.record.acknowledged[key] = (envelope["deal_id"], envelope["version"])
            return str(envelope["deal_id"])


class Reader(threading.Thread):
    """Reads a known deal, the portfolio and readiness, in turn."""

    def __init__(self, url: str, record: Record, stopping: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.record, self.stopping = url, record, stopping

    def run(self) -> None:
        turn = 0
        with httpx.Client(base_url=self.url, timeout=CLIENT_SECONDS) as http:
            while not self.stopping.is_set():
                kind = READ_KINDS[turn % len(READ_KINDS)]
                turn += 1
                if kind == "deal":
                    deal = self._a_deal()
                    if deal is None:
                        time.sleep(0.05)  # nothing acknowledged yet to read
                        continue
                    _send(http, self.record, kind, "GET", f"/v1/deals/{deal}",
                          headers=auth("reader"))
                elif kind == "portfolio":
                    _send(http, self.record, kind, "GET", "/v1/portfolio", headers=auth("reader"))
                else:
                    _send(http, self.record, kind, "GET", "/readyz")

    def _a_deal(self) -> str | None:
        with self.record.lock:
            deals = [deal for deal, version in self.record.acknowledged.values() if version == 1]
        return deals[len(deals) // 2] if deals else None


class Load:
    def __init__(self, url: str, writers: int = 3, readers: int = 2) -> None:
        self.record = Record()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = [
            *(Writer(url, self.record, self.stopping) for _ in range(writers)),
            *(Reader(url, self.record, self.stopping) for _ in range(readers)),
        ]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(FINISH_SECONDS + CLIENT_SECONDS)
        assert not any(t.is_alive() for t in self.threads), "a load client did not finish"
