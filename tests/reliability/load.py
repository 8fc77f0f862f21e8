"""The recording load client of the reliability tests, after Jepsen's and TigerBeetle's way:
clients post a seeded stream of valid events, each request under its own Idempotency-Key,
retry a connection error or a 5xx with the same key and body until it is answered, and
record every request and its final answer, so a check can hold the ledger to that record.

Each deal follows a script drawn from the seed (application, license, screening,
amendment, board, financing, money in and out, a reversal, a cancellation) that SPEC's
rules accept when its steps are taken in order (v3: a license for the buyer as consignee,
with a line that covers the deal's controlled items, under a number no other deal holds;
the buyer screened before the financing); a worker posts a deal's next step only once the
previous one is acknowledged, so the versions the script names (a reversal's target) are
known in advance.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from service.ledger.commands import deal_id_for
from tests.conftest import auth
from tests.support.factories import (
    AUTHORIZATION,
    application,
    direct_loan_application,
    financing_for,
    headers_for,
    uncontrolled_application,
)

COUNTRIES = ("DE", "FR", "JP", "GB", "KR")
GIVE_UP_SECONDS = 300.0  # a request still unanswered after this is recorded as lost


@dataclass(frozen=True)
class Step:
    """One request of a deal's script: ``DealApplied`` or an event of that deal."""

    type: str
    data: dict[str, Any]

    def path(self, deal_id: str) -> str:
        return "/v1/deals" if self.type == "DealApplied" else f"/v1/deals/{deal_id}/events"

    def body(self) -> dict[str, Any]:
        return self.data if self.type == "DealApplied" else {"type": self.type,
                                                             "data": self.data}


@dataclass
class Record:
    """A request as sent, and the answer that ended its retries (None: never answered)."""

    key: str
    deal_id: str
    step: Step
    attempts: int = 0
    status: int | None = None
    response: dict[str, Any] | None = None
    replayed: bool = False
    latency: float = 0.0  # seconds, of the answered attempt
    answered_at: float = 0.0  # time.monotonic()
    url: str = ""  # the instance that answered


@dataclass
class Recorder:
    """Every request the clients sent, by Idempotency-Key; safe across threads."""

    records: dict[str, Record] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: Record) -> None:
        with self.lock:
            assert record.key not in self.records, f"key {record.key} drawn twice"
            self.records[record.key] = record

    def snapshot(self) -> list[Record]:
        with self.lock:
            return list(self.records.values())

    def acknowledged(self) -> list[Record]:
        return [r for r in self.snapshot() if r.status == 201]


# ---- the seeded scripts ----------------------------------------------------------------

def money(c: int) -> str:
    return f"{c // 100}.{c % 100:02d}"


def some(rng: random.Random, low: int, high: int) -> int:
    """Cents between ``low`` and ``high``, in whole thousands of dollars where it can."""
    if high - low < 100_000:
        return high
    return rng.randint(low // 100_000 + 1, high // 100_000) * 100_000


@dataclass
class _Money:
    """The little of a deal's figures a script needs to stay within SPEC's balances."""

    committed: int
    direct: bool
    disbursed: int = 0
    repaid: int = 0
    claims: int = 0
    recovered: int = 0
    cancelled: int = 0
    repayments: list[tuple[int, int]] = field(default_factory=list)  # (version, principal)

    @property
    def outstanding(self) -> int:
        return self.disbursed - self.repaid - self.claims

    @property
    def undisbursed(self) -> int:
        return self.committed - self.disbursed - self.cancelled


def deal_script(rng: random.Random, number: str) -> list[Step]:
    """A deal's whole life drawn from ``rng``: every step valid after the ones before it."""
    kind = rng.choice(("controlled", "uncontrolled", "direct", "rejected"))
    buyer = {"name": f"Buyer of {number}", "country": rng.choice(COUNTRIES)}
    make = {"uncontrolled": uncontrolled_application,
            "direct": direct_loan_application}.get(kind, application)
    body = make(application_number=number, buyer=buyer)
    steps = [Step("DealApplied", body)]
    if kind != "uncontrolled":
        steps += license_steps(body, f"Z-{number}", f"D-{number}")
    if kind != "rejected":
        steps.append(Step("PartyScreened", {
            "party": "buyer", "list": "CSL", "list_date": today(), "result": "clear",
            "reference": f"CSL-{number}"}))
    requested = 850_000_000
    if rng.random() < 0.3:
        requested = some(rng, 500_000_000, 850_000_000)
        steps.append(Step("DealAmended", {"financed_amount": money(requested),
                                          "reason": "smaller request"}))
    if kind == "rejected":
        return steps + [
            Step("BoardVoted", {"meeting_date": "2026-06-01", "votes_for": 1,
                                "votes_against": 3, "abstentions": 1, "decision": "rejected"}),
            Step("DealCancelled", {"reason": "the board rejected it"})]
    approved = some(rng, requested // 2, requested)
    committed = some(rng, approved // 2, approved)
    steps += [
        Step("BoardVoted", {"meeting_date": "2026-06-01", "votes_for": 4, "votes_against": 1,
                            "abstentions": 0, "decision": "approved",
                            "approved_amount": money(approved)}),
        Step("DealFinanced", financing_for(body["instrument"], amount=money(committed)))]
    figures = _Money(committed, kind == "direct")
    for _ in range(rng.randint(1, 7)):
        steps.append(_money_step(rng, figures, len(steps) + 1))
    return steps


def license_steps(body: dict[str, Any], ref: str, license_number: str) -> list[Step]:
    """A license of the deal's accelerators requested and approved: the buyer its
    consignee, its line their total, valid for three years."""
    eccn = "3A090.A"
    items = [item for item in body["items"] if item["eccn"].upper() == eccn]
    line = {"eccn": eccn, "quantity": sum(item["quantity"] for item in items),
            "value": money(sum(cents(item["value"]) for item in items))}
    now = datetime.now(UTC).date()
    return [Step("LicenseRequested", {"application_ref": ref, "eccns": [eccn]}),
            Step("CommerceLicenseApproved", {
                "application_ref": ref, "license_number": license_number, "eccns": [eccn],
                "valid_until": now.replace(year=now.year + 3, day=min(now.day, 28)).isoformat(),
                "consignee": dict(body["buyer"]), "lines": [line]})]


def today() -> str:
    """Today's date, UTC: a screening's list date."""
    return datetime.now(UTC).date().isoformat()


def cents(amount: str) -> int:
    whole, _, part = amount.partition(".")
    return int(whole) * 100 + int((part + "00")[:2])


def _money_step(rng: random.Random, m: _Money, version: int) -> Step:
    """One money event that the balances so far allow (a disbursement when nothing else
    does), applied to ``m``; ``version`` is the version it will get."""
    choices = ["disburse"] * 3
    if m.outstanding > 0:
        choices += ["repay"] * 2 + ([] if m.direct else ["claim"])
    if m.claims > m.recovered:
        choices.append("recover")
    if m.repayments:
        choices.append("reverse")
    if m.undisbursed > 100_000:
        choices.append("cancel")
    choice = rng.choice(choices) if m.undisbursed > 0 else rng.choice(choices[3:] or ["repay"])
    reference = f"REF-{version}"
    if choice == "repay":
        principal = some(rng, 0, m.outstanding) if m.outstanding else 0
        m.repaid += principal
        m.repayments.append((version, principal))
        return Step("RepaymentReceived", {"principal": money(principal),
                                          "interest": money(rng.randint(1, 50_000) * 100),
                                          "reference": reference})
    if choice == "claim":
        amount = some(rng, 0, m.outstanding)
        m.claims += amount
        return Step("ClaimPaid", {"amount": money(amount), "reference": reference})
    if choice == "recover":
        amount = some(rng, 0, m.claims - m.recovered)
        m.recovered += amount
        return Step("RecoveryReceived", {"amount": money(amount), "reference": reference})
    if choice == "reverse":
        target, principal = m.repayments.pop(rng.randrange(len(m.repayments)))
        m.repaid -= principal
        return Step("EventReversed", {"version": target, "reason": "posted in error"})
    if choice == "cancel":
        amount = some(rng, 0, m.undisbursed // 2)
        m.cancelled += amount
        return Step("DealCancelled", {"reason": "part not needed", "amount": money(amount)})
    amount = some(rng, 0, m.undisbursed // 2 or m.undisbursed)
    m.disbursed += amount
    return Step("FundsDisbursed", {"amount": money(amount), "reference": reference})


def deals(seed: int) -> Iterator[tuple[str, list[Step]]]:
    """The endless seeded stream of (application number, script)."""
    rng = random.Random(seed)
    for i in itertools.count(1):
        number = f"L{seed % 100_000}-{i:06d}"
        yield number, deal_script(rng, number)


# ---- the clients -------------------------------------------------------------------------

@dataclass
class Load:
    """Workers posting the scripts of ``seed`` to ``urls`` until ``limit`` deals are done or
    ``stop`` is set; ``pace`` is called before each request (a rate limit, say)."""

    urls: Sequence[str]
    seed: int
    limit: int | None = None
    workers: int = 8
    pace: Callable[[], None] = lambda: None
    recorder: Recorder = field(default_factory=Recorder)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        stream = deals(self.seed)
        self._stream = itertools.islice(stream, self.limit) if self.limit else stream
        self._take = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """The board authorizes the program (SPEC v3: no financing without), unless an
        authorization is in force; then the workers start."""
        authorize_program(self.urls, self.seed)
        for n in range(self.workers):
            t = threading.Thread(target=self._work, args=(n,), name=f"load-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for every worker; whether they all finished within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def _next(self) -> tuple[str, list[Step]] | None:
        with self._take:
            return None if self.stop.is_set() else next(self._stream, None)

    def _work(self, n: int) -> None:
        rng = random.Random(f"{self.seed}-worker-{n}")
        try:
            with httpx.Client(timeout=30.0) as http:
                while (deal := self._next()) is not None:
                    self._post_deal(http, rng, *deal)
        except BaseException as e:  # the check reports it rather than a silent thread
            self.errors.append(e)

    def _post_deal(self, http: httpx.Client, rng: random.Random, number: str,
                   steps: list[Step]) -> None:
        deal_id = str(deal_id_for(number))
        for i, step in enumerate(steps):
            record = Record(f"{number}-{i + 1}", deal_id, step)
            self.recorder.add(record)
            self.pace()
            send(http, rng, self.urls, record)
            if record.status != 201 or self.stop.is_set():
                return


def authorize_program(urls: Sequence[str], seed: int) -> None:
    """``POST /v1/program/authorizations`` by the board's key unless ``GET /v1/program``
    shows an authorization in force; a connection error or a 5xx is asked again, the post
    under one Idempotency-Key and body."""
    rng = random.Random(f"{seed}-board")
    give_up = time.monotonic() + GIVE_UP_SECONDS
    while time.monotonic() < give_up:
        base = rng.choice(urls)
        try:
            r = httpx.get(f"{base}/v1/program", headers=auth("reader"), timeout=30.0)
            if r.status_code == 200:
                if r.json()["authorization"] is not None:
                    return
                r = httpx.post(f"{base}/v1/program/authorizations", json=AUTHORIZATION,
                               headers={**auth("board"),
                                        "Idempotency-Key": f"program-authorization-{seed}"},
                               timeout=30.0)
        except httpx.TransportError:
            r = None
        if r is not None and r.status_code < 500:
            assert r.status_code == 201, r.text
            return
        time.sleep(0.1)  # the server is down or starting
    raise AssertionError("the program's authorization was never acknowledged")


def send(http: httpx.Client, rng: random.Random, urls: Sequence[str], record: Record) -> None:
    """POST the record's request, to any of ``urls``, with its desk's key (the test keys of
    tests/conftest.py), until it gets an answer that is not a 5xx; a connection error or a
    5xx is retried with the same key and body."""
    give_up = time.monotonic() + GIVE_UP_SECONDS
    pause = 0.02
    while time.monotonic() < give_up:
        record.attempts += 1
        base = rng.choice(urls)
        started = time.monotonic()
        try:
            r = http.post(base + record.step.path(record.deal_id), json=record.step.body(),
                          headers=headers_for(record.step.type, **{"Idempotency-Key": record.key}))
        except httpx.TransportError:
            r = None
        if r is not None and r.status_code < 500:
            record.status, record.response = r.status_code, r.json()
            record.replayed = r.headers.get("Idempotency-Replayed") == "true"
            record.answered_at = time.monotonic()
            record.latency, record.url = record.answered_at - started, base
            return
        time.sleep(pause)  # back off while the server is down or restarting
        pause = min(pause * 2, 0.5)
