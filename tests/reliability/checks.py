"""What the reliability tests hold the ledger to once the faults are over: the record the
load client kept (tests/reliability/load.py) against what the ledger kept, the chains, the
auditor's ``verify``, and the read models against the reference fold and a rebuild."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import httpx

from service.settings import Settings
from tests.conftest import BOOTSTRAP, auth
from tests.reliability.load import Record
from tests.support.factories import PROGRAM, recompute_hash
from tests.support.live_server import cli
from tests.support.projection_support import (
    NAMES,
    all_live_rows,
    ledger_and_engine,
    new_runner,
    step_until_caught_up,
)
from tests.support.reference import FIGURES, VIEW_KEYS, ReferenceDeal, comparable, text

CATCH_UP_SECONDS = 180.0  # generous: a loaded 2-core box projecting thousands of events


def whole_log(http: httpx.Client, url: str, page: int = 1000) -> list[dict[str, Any]]:
    """Every event of ``GET /v1/events``, paging with ``next_after``."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        r = http.get(f"{url}/v1/events", params={"after": after, "limit": page},
                     headers=auth("reader"))
        assert r.status_code == 200, r.text
        body = r.json()
        if not body["events"]:
            return events
        events += body["events"]
        after = body["next_after"]


def check_against_record(log: list[dict[str, Any]], records: Iterable[Record]) -> int:
    """Every acknowledged request has exactly the one event its answer named, and no event
    exists for a key that was never sent; the number of acknowledged events."""
    by_key: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for event in log:
        if event["deal_id"] != PROGRAM:
            by_key[event["idempotency_key"]].append(event)
    records = list(records)
    unanswered = [r.key for r in records if r.status != 201]
    assert not unanswered, f"requests never acknowledged with 201: {unanswered[:10]}"
    for record in records:
        kept = by_key.get(record.key, [])
        assert len(kept) == 1, f"{record.key}: {len(kept)} events for one acknowledged request"
        assert record.response is not None
        assert kept[0] == record.response, f"{record.key}: the ledger kept another event"
    sent = {r.key for r in records}
    strays = [key for key in by_key if key not in sent]
    assert not strays, f"events for keys never sent: {strays[:10]}"
    return len(records)


def check_chains(log: list[dict[str, Any]]) -> None:
    """Positions strictly increase; per deal, versions are gapless from 1 and each event's
    hash is its own and links to the one before."""
    positions = [e["position"] for e in log]
    assert positions == sorted(set(positions)), "positions repeat or go backwards"
    last: dict[str, dict[str, Any]] = {}
    for event in log:
        before = last.get(event["deal_id"])
        assert event["version"] == (before["version"] + 1 if before else 1), event
        assert event["prev_hash"] == (before["hash"] if before else None), event
        assert event["hash"] == recompute_hash(event), event
        last[event["deal_id"]] = event


def check_verify(env: dict[str, str], events: int) -> None:
    """The stand-alone ``exim-ledger verify`` recomputes every hash, link and leaf."""
    done = cli(env, "verify", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and not report["failures"], report
    assert report["events_checked"] == events, report


def wait_until_projected(http: httpx.Client, url: str, head: int) -> None:
    """Wait, with a generous bound, until every projection reflects ``head``."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        r = http.get(f"{url}/v1/projections", headers=auth("reader"))
        assert r.status_code == 200, r.text
        rows = r.json()["projections"]
        if all(p["position"] >= head for p in rows):
            return
        assert time.monotonic() < deadline, f"projections not at {head}: {rows}"
        time.sleep(0.2)


def reference_fold(records: Iterable[Record]) -> dict[str, ReferenceDeal]:
    """The test's own fold of the acknowledged requests, deal by deal in version order."""
    folded: dict[str, ReferenceDeal] = {}
    answered = sorted((r for r in records if r.status == 201 and r.response),
                      key=lambda r: (r.deal_id, r.response["version"]))  # type: ignore[index]
    for record in answered:
        assert record.response is not None
        day = record.response["occurred_at"][:10]
        if record.step.type == "DealApplied":
            folded[record.deal_id] = ReferenceDeal.applied(record.step.data, day)
        else:
            folded[record.deal_id].apply(record.step.type, record.step.data, day)
    return folded


def check_reference(http: httpx.Client, url: str, folded: dict[str, ReferenceDeal]) -> None:
    """Each deal's state, its read-model row and the portfolio totals equal the fold."""
    rows = portfolio_rows(http, url)
    assert set(rows) == set(folded), "the deals read model holds other deals"
    for deal_id, ref in folded.items():
        r = http.get(f"{url}/v1/deals/{deal_id}", headers=auth("reader"))
        assert r.status_code == 200, r.text
        assert comparable(r.json()) == ref.view(), deal_id
        shared = [k for k in VIEW_KEYS if k in rows[deal_id]]
        got = {k: rows[deal_id][k] for k in shared}
        assert got == {k: ref.view()[k] for k in shared}, (deal_id, rows[deal_id])
    r = http.get(f"{url}/v1/portfolio", headers=auth("reader"))
    assert r.status_code == 200, r.text
    totals = r.json()["totals"]
    assert totals["deals"] == len(folded)
    for figure in set(totals) & set(FIGURES):
        assert totals[figure] == text(sum(getattr(d, figure) for d in folded.values())), figure


def portfolio_rows(http: httpx.Client, url: str) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        r = http.get(f"{url}/v1/portfolio/deals", params=params, headers=auth("reader"))
        assert r.status_code == 200, r.text
        body = r.json()
        rows |= {row["deal_id"]: row for row in body["deals"]}
        cursor = body["next_cursor"]
        if not cursor:
            return rows


def check_rebuild_equals_live(database_url: str) -> None:
    """Once the servers are gone: the live read models, caught up to the head, hold exactly
    the rows a rebuild from the log gives."""
    settings = Settings(database_url=database_url, bootstrap_keys=BOOTSTRAP)
    with ledger_and_engine(settings) as (ledger, engine):
        runner = new_runner(settings, ledger, engine)
        for name in NAMES:
            step_until_caught_up(runner, name)
        live = all_live_rows(runner)
        for name in NAMES:
            runner.rebuild(name)
        assert all_live_rows(runner) == live
