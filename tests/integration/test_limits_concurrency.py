"""Limits and notice hold under concurrency, across processes (SPEC v3): two ``exim-ledger
serve`` processes on one database (PostgreSQL, and one SQLite file) take racing
financings and racing approvals, spread over both. An in-process lock would let them
through; the guard rows, checked in the commit's transaction, must not.

- Financings whose sum exceeds the program's total limit (then a country limit): exactly
  as many are acknowledged as the limit holds, every other is refused with the limit's
  code, and the committed total both servers report is the acknowledged sum.
- Approvals of long-term deals with one buyer whose sum exceeds the notice threshold:
  exactly as many are acknowledged as stay within it.

Each round runs on new deals; the servers are shared by the rounds of a database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from exim_ledger_bench.server import LedgerProcess

from tests.conftest import _truncate_pg, auth
from tests.support.factories import BOARD_APPROVED, financing_for, headers_for, screening
from tests.support.live_server import ledger_env, migrated_sqlite

ROUNDS = range(3)
RACERS = 8
TODAY = datetime.now(UTC).date().isoformat()


@dataclass
class Pair:
    urls: list[str]
    database: str

    def client(self, turn: int) -> httpx.Client:
        return httpx.Client(base_url=self.urls[turn % len(self.urls)], timeout=60.0)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Pair]:
    directory = tmp_path_factory.mktemp(f"pair-{request.param}")
    if request.param == "sqlite":
        url = migrated_sqlite(directory)
    else:
        url = request.getfixturevalue("pg_ready")
        _truncate_pg(url)
    env = ledger_env(url) | {"LEDGER_PROJECTIONS_IN_PROCESS": "false"}
    servers = [LedgerProcess(env, directory, log_name=f"server-{i}.log") for i in range(2)]
    try:
        for server in servers:
            server.start()
        yield Pair([s.url for s in servers], request.param)
    finally:
        for server in servers:
            server.stop()


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def application(number: str, amount: str, *, buyer: str = "Rheinland Rechenzentrum GmbH",
                country: str = "DE", long: bool = False) -> dict[str, Any]:
    """An uncontrolled deal financing ``amount`` (85% of its contract)."""
    cents = int(Decimal(amount) * 100)
    contract = -(-cents * 100 // 85)
    half = contract // 2
    terms = ({"term": "long", "instrument": "direct_loan", "tenor_years": 10} if long
             else {"term": "medium", "instrument": "loan_guarantee", "tenor_years": 5})
    return {"application_number": number,
            "exporter": {"name": "Cerebral Silicon Inc.", "country": "US"},
            "buyer": {"name": buyer, "country": country}, **terms,
            "contract_value": money(contract), "financed_amount": amount, "us_content_pct": "90",
            "items": [{"description": "Rack servers", "category": "server", "eccn": "5A992.c",
                       "quantity": 8, "value": money(half)},
                      {"description": "Switches", "category": "networking", "eccn": "EAR99",
                       "quantity": 8, "value": money(contract - half)}]}


def post(http: httpx.Client, path: str, body: dict[str, Any], headers: dict[str, str]
         ) -> httpx.Response:
    return http.post(path, json=body, headers=headers)


def vote(amount: str) -> dict[str, Any]:
    return {**BOARD_APPROVED, "meeting_date": TODAY, "approved_amount": amount}


def deals(pair: Pair, prefix: str, amount: str, count: int, *, approve: bool = True,
          **party: Any) -> list[str]:
    """``count`` new deals, their buyer screened, approved unless not ``approve``; their
    ids."""
    ids = []
    with pair.client(0) as http:
        for i in range(count):
            r = post(http, "/v1/deals", application(f"{prefix}-{i:02d}", amount, **party),
                     headers_for("DealApplied"))
            assert r.status_code == 201, r.text
            ids.append(r.json()["deal_id"])
            r = post(http, f"/v1/deals/{ids[-1]}/events",
                     {"type": "PartyScreened", "data": screening()}, headers_for("PartyScreened"))
            assert r.status_code == 201, r.text
            if approve:
                r = post(http, f"/v1/deals/{ids[-1]}/events",
                         {"type": "BoardVoted", "data": vote(amount)}, headers_for("BoardVoted"))
                assert r.status_code == 201, r.text
    return ids


def race(pair: Pair, requests: list[tuple[str, dict[str, Any], dict[str, str]]]
         ) -> list[httpx.Response]:
    """Post every request at once, spread over both servers; their responses in order."""
    start = threading.Barrier(len(requests))
    answers: list[httpx.Response | BaseException | None] = [None] * len(requests)

    def one(i: int) -> None:
        path, body, headers = requests[i]
        try:
            with pair.client(i) as http:
                start.wait()
                answers[i] = post(http, path, body, headers)
        except BaseException as e:
            answers[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for answer in answers:
        if not isinstance(answer, httpx.Response):
            raise AssertionError(f"a racer failed: {answer!r}")
    return answers  # type: ignore[return-value]


def program(pair: Pair) -> list[dict[str, Any]]:
    """``GET /v1/program`` from each server."""
    found = []
    for i in range(len(pair.urls)):
        with pair.client(i) as http:
            r = http.get("/v1/program", headers=auth("reader"))
            assert r.status_code == 200, r.text
            found.append(r.json())
    return found


def authorize(pair: Pair, **changes: Any) -> None:
    with pair.client(0) as http:
        r = post(http, "/v1/program/authorizations", {
            "meeting_date": TODAY, "votes_for": 3, "votes_against": 0, "abstentions": 0,
            "effective_from": TODAY, "total_limit": "1000000000000.00", **changes},
            auth("board"))
        assert r.status_code == 201, r.text


def financings(ids: list[str], amount: str) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    return [(f"/v1/deals/{deal_id}/events",
             {"type": "DealFinanced", "data": financing_for("loan_guarantee", amount=amount)},
             headers_for("DealFinanced")) for deal_id in ids]


def outcome(answers: list[httpx.Response], code: str) -> int:
    """How many were acknowledged; every other must be refused with ``code``."""
    for r in answers:
        assert r.status_code == 201 or (r.status_code == 422 and r.json()["code"] == code), \
            r.text
    return sum(r.status_code == 201 for r in answers)


@pytest.mark.parametrize("round_", ROUNDS)
def test_racing_financings_never_pass_the_total_limit(pair: Pair, round_: int) -> None:
    before = Decimal(program(pair)[0]["committed"])
    allowed = 5
    authorize(pair, total_limit=f"{before + allowed * 1_000_000:.2f}")
    ids = deals(pair, f"TOTAL-{round_}", "1000000.00", RACERS)
    accepted = outcome(race(pair, financings(ids, "1000000.00")), "program_limit_exceeded")
    assert accepted == allowed
    for status in program(pair):
        assert Decimal(status["committed"]) == before + accepted * 1_000_000
        assert status["available"] == "0.00"


@pytest.mark.parametrize("round_", ROUNDS)
def test_racing_financings_never_pass_a_country_limit(pair: Pair, round_: int) -> None:
    country = ["FR", "JP", "SG"][round_]
    before = program(pair)[0]
    authorize(pair, country_limits={country: "3000000.00"})
    ids = deals(pair, f"COUNTRY-{round_}", "1000000.00", RACERS,
                buyer="Compute Hall", country=country)
    accepted = outcome(race(pair, financings(ids, "1000000.00")), "country_limit_exceeded")
    assert accepted == 3
    for status in program(pair):
        row = next(r for r in status["by_country"] if r["country"] == country)
        assert (row["committed"], row["available"]) == ("3000000.00", "0.00")
        assert Decimal(status["committed"]) == Decimal(before["committed"]) + 3_000_000


@pytest.mark.parametrize("round_", ROUNDS)
def test_racing_approvals_never_escape_the_notice(pair: Pair, round_: int) -> None:
    # 40M each for one buyer: two stay within 100M, a third would not
    buyer = f"Gulf Compute {pair.database} {round_}"
    ids = deals(pair, f"NOTICE-{round_}", "40000000.00", RACERS // 2, approve=False,
                buyer=buyer, country="AE", long=True)
    answers = race(pair, [(f"/v1/deals/{deal_id}/events",
                           {"type": "BoardVoted", "data": vote("40000000.00")},
                           headers_for("BoardVoted")) for deal_id in ids])
    assert outcome(answers, "congressional_notice_required") == 2
