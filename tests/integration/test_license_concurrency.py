"""One license, one deal, under concurrency, across processes (SPEC v3): two ``exim-ledger
serve`` processes on one database (PostgreSQL, and one SQLite file) take racing
``CommerceLicenseApproved`` of one license number, written in either case, on many deals
(and twice on one of them, under two requests), spread over both servers. Exactly one is
acknowledged; every other is refused ``license_number_taken``; and the deals, read from
either server, show the number held by that one alone. An in-process lock would let two
through; the guard row of the number, checked in the commit's transaction, must not.

Each round races a new number on new deals; the servers are shared by the rounds of a
database. Modelled on ``test_limits_concurrency``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from exim_ledger_bench.server import LedgerProcess

from tests.conftest import _truncate_pg, auth
from tests.support.factories import (
    LICENSE_APPROVED,
    LICENSE_REQUESTED,
    application,
    headers_for,
)
from tests.support.live_server import ledger_env, migrated_sqlite

ROUNDS = range(3)
DEALS = 8
VALID_UNTIL = (datetime.now(UTC).date() + timedelta(days=365)).isoformat()


@dataclass
class Pair:
    urls: list[str]
    database: str

    def client(self, turn: int) -> httpx.Client:
        return httpx.Client(base_url=self.urls[turn % len(self.urls)], timeout=60.0)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Pair]:
    directory = tmp_path_factory.mktemp(f"licenses-{request.param}")
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


def pending(pair: Pair, prefix: str) -> list[str]:
    """``DEALS`` new controlled deals, each with a license requested (``Z-1001``), the
    first also under a second request (``Z-2``); their ids."""
    ids = []
    with pair.client(0) as http:
        for i in range(DEALS):
            r = http.post("/v1/deals", json=application(application_number=f"{prefix}-{i:02d}"),
                          headers=headers_for("DealApplied"))
            assert r.status_code == 201, r.text
            ids.append(r.json()["deal_id"])
            for ref in ("Z-1001", "Z-2") if i == 0 else ("Z-1001",):
                r = http.post(f"/v1/deals/{ids[-1]}/events", headers=headers_for(
                    "LicenseRequested"), json={"type": "LicenseRequested",
                                               "data": {**LICENSE_REQUESTED,
                                                        "application_ref": ref}})
                assert r.status_code == 201, r.text
    return ids


def approval(number: str, ref: str = "Z-1001") -> dict[str, Any]:
    return {"type": "CommerceLicenseApproved",
            "data": {**LICENSE_APPROVED, "application_ref": ref, "license_number": number,
                     "valid_until": VALID_UNTIL}}


def race(pair: Pair, requests: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    """Post every request at once, spread over both servers; their responses in order."""
    start = threading.Barrier(len(requests))
    answers: list[httpx.Response | BaseException | None] = [None] * len(requests)

    def one(i: int) -> None:
        path, body = requests[i]
        try:
            with pair.client(i) as http:
                start.wait()
                answers[i] = http.post(path, json=body,
                                       headers=headers_for("CommerceLicenseApproved"))
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


def holders(pair: Pair, ids: list[str], number: str) -> dict[int, set[str]]:
    """By server: the deals whose state shows ``number`` approved (once each)."""
    found: dict[int, set[str]] = {}
    for turn in range(len(pair.urls)):
        found[turn] = set()
        with pair.client(turn) as http:
            for deal_id in ids:
                r = http.get(f"/v1/deals/{deal_id}", headers=auth("reader"))
                assert r.status_code == 200, r.text
                approved = [lic for lic in r.json()["licenses"]
                            if lic["status"] == "approved" and lic["license_number"] == number]
                assert len(approved) <= 1, approved
                if approved:
                    found[turn].add(deal_id)
    return found


@pytest.mark.parametrize("round_", ROUNDS)
def test_racing_approvals_of_one_number_leave_it_on_one_deal(pair: Pair, round_: int) -> None:
    number = f"D-900-{round_}"
    ids = pending(pair, f"LIC-{round_}")
    racers = [(f"/v1/deals/{deal_id}/events",
               approval(number if i % 2 else number.lower()))
              for i, deal_id in enumerate(ids)]
    racers.append((f"/v1/deals/{ids[0]}/events", approval(number, "Z-2")))  # its own deal
    answers = race(pair, racers)
    for r in answers:
        assert r.status_code == 201 or (
            r.status_code == 409 and r.json()["code"] == "license_number_taken"), r.text
    won = [i for i, r in enumerate(answers) if r.status_code == 201]
    assert len(won) == 1, [r.status_code for r in answers]
    winner = ids[0] if won[0] == len(ids) else ids[won[0]]
    assert answers[won[0]].json()["data"]["license_number"] == number  # stored upper case
    assert holders(pair, ids, number) == {0: {winner}, 1: {winner}}
    # the number stays taken, whatever its case, on whichever server
    loser = next(deal_id for deal_id in ids if deal_id != winner)
    for turn in range(len(pair.urls)):
        with pair.client(turn) as http:
            r = http.post(f"/v1/deals/{loser}/events", json=approval(number.lower()),
                          headers=headers_for("CommerceLicenseApproved"))
            assert (r.status_code, r.json()["code"]) == (409, "license_number_taken"), r.text
