"""Tampering with the stored log, directly in the database, is detected and pinpointed by
``GET /v1/audit/verify`` and ``exim-ledger verify``, on SQLite and PostgreSQL; and a
tampered event no longer passes the inclusion proofs that cover it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from domain.chain import event_hash
from service.db import create_engine
from service.settings import Settings
from tests.conftest import auth
from tests.support.auditor_tool import load_tool
from tests.support.factories import append_all, apply_deal, event, lifecycle_to_financed, whole_log

tool = load_tool()
AUDITOR = auth("auditor")


class Db:
    """Raw access to the event table, as an attacker with database access has it."""

    def __init__(self, settings: Settings) -> None:
        self.engine = create_engine(settings)
        self.pos = "notification_id" if settings.is_postgres else "rowid"

    def state(self, position: int) -> dict[str, Any]:
        return json.loads(bytes(self._scalar(f"SELECT state FROM ledger_events "
                                             f"WHERE {self.pos} = :p", p=position)))

    def raw(self, position: int) -> bytes:
        return bytes(self._scalar(f"SELECT state FROM ledger_events WHERE {self.pos} = :p",
                                  p=position))

    def write_raw(self, position: int, state: bytes) -> None:
        self._run(f"UPDATE ledger_events SET state = :s WHERE {self.pos} = :p",
                  s=state, p=position)

    def write(self, position: int, state: dict[str, Any]) -> None:
        self.write_raw(position, json.dumps(state, separators=(",", ":"),
                                            ensure_ascii=False).encode("utf-8"))

    def delete(self, position: int) -> None:
        self._run(f"DELETE FROM ledger_events WHERE {self.pos} = :p", p=position)

    def execute(self, sql: str, **params: Any) -> None:
        self._run(sql.replace("{pos}", self.pos), **params)

    def _scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar_one()

    def _run(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql), params)


@pytest.fixture
def db(settings: Settings) -> Iterator[Db]:
    d = Db(settings)
    yield d
    d.engine.dispose()


@pytest.fixture
async def log(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Three deals taken to disbursement, interleaved, after the program stream's two
    policies and the board's authorization (so log[3:6] are the applications); the tree
    is caught up."""
    ids = [(await apply_deal(client))["deal_id"] for _ in range(3)]
    lifecycles = [lifecycle_to_financed() for _ in ids]  # a license number each
    for steps in zip(*lifecycles, strict=True):
        for deal_id, step in zip(ids, steps, strict=True):
            await append_all(client, deal_id, [step])
    for n, deal_id in enumerate(ids):
        await append_all(client, deal_id, [event("FundsDisbursed", amount=f"{n + 1}000000.00",
                                                 reference=f"D-{n}")])
    events = await whole_log(client)
    r = await client.get("/v1/audit/digest", params={"min_position": events[-1]["position"]},
                         headers=AUDITOR)
    assert r.json()["tree_size"] == len(events)
    return events


async def verify(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get("/v1/audit/verify", params=params, headers=AUDITOR)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["ok"] is (body["failures"] == [])
    return body


def found(report: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {(f["deal_id"], f["version"], f["position"], f["reason"])
            for f in report["failures"]}


def at(ev: dict[str, Any], reason: str) -> tuple[Any, ...]:
    return (ev["deal_id"], ev["version"], ev["position"], reason)


def of(events: list[dict[str, Any]], deal_id: str, version: int) -> dict[str, Any]:
    return next(e for e in events if e["deal_id"] == deal_id and e["version"] == version)


ROOT = "merkle_root_mismatch"


async def test_an_untouched_ledger_verifies(client: httpx.AsyncClient, log: list[dict]):
    report = await verify(client)
    assert report == {"ok": True, "events_checked": len(log), "failures": [],
                      "failures_total": 0, "truncated": False}


async def test_one_changed_byte_of_an_events_data_is_pinpointed(
    client: httpx.AsyncClient, log: list[dict], db: Db
):
    target = of(log, log[3]["deal_id"], 2)
    raw = db.raw(target["position"])
    assert raw.count(b"Z-1001") == 1
    db.write_raw(target["position"], raw.replace(b"Z-1001", b"Z-1002"))
    report = await verify(client)
    assert found(report) == {at(target, "hash_mismatch")}
    assert report["events_checked"] == len(log)
    deal_only = await verify(client, deal_id=target["deal_id"])
    assert found(deal_only) == {at(target, "hash_mismatch")}
    other = await verify(client, deal_id=log[4]["deal_id"])
    assert other["ok"] is True


async def test_a_deleted_event_is_pinpointed(client: httpx.AsyncClient, log: list[dict], db: Db):
    deal_id = log[3]["deal_id"]
    middle, after_it = of(log, deal_id, 3), of(log, deal_id, 4)
    db.delete(middle["position"])
    report = await verify(client)
    assert found(report) == {at(after_it, "version_gap"), at(middle, "event_missing"),
                             (None, None, log[-1]["position"], ROOT)}


async def test_a_deleted_last_event_is_caught_by_the_merkle_tree(
    client: httpx.AsyncClient, log: list[dict], db: Db
):
    last = of(log, log[4]["deal_id"], 7)  # the disbursement
    db.delete(last["position"])
    report = await verify(client)
    assert found(report) == {at(last, "event_missing"), (None, None, log[-1]["position"], ROOT)}


async def test_two_events_with_swapped_data_are_pinpointed(
    client: httpx.AsyncClient, log: list[dict], db: Db
):
    a, b = of(log, log[3]["deal_id"], 7), of(log, log[5]["deal_id"], 7)
    state_a, state_b = db.state(a["position"]), db.state(b["position"])
    assert state_a["data"] != state_b["data"]
    state_a["data"], state_b["data"] = state_b["data"], state_a["data"]
    db.write(a["position"], state_a)
    db.write(b["position"], state_b)
    assert found(await verify(client)) == {at(a, "hash_mismatch"), at(b, "hash_mismatch")}


async def test_swapping_two_whole_rows_contents_is_pinpointed(
    client: httpx.AsyncClient, log: list[dict], db: Db
):
    a, b = of(log, log[3]["deal_id"], 2), of(log, log[3]["deal_id"], 4)
    raw_a, raw_b = db.raw(a["position"]), db.raw(b["position"])
    db.write_raw(a["position"], raw_b)
    db.write_raw(b["position"], raw_a)
    failures = found(await verify(client))
    for ev in (a, b):
        assert at(ev, "hash_mismatch") in failures
        assert at(ev, "merkle_leaf_mismatch") in failures
    # Reordering also shows where recorded_at runs backwards, at one neighbour at most.
    elsewhere = {f for f in failures if f[0] not in (a["deal_id"], None)}
    assert {f[3] for f in elsewhere} <= {"recorded_at_decreases"} and len(elsewhere) <= 1


async def test_a_changed_hash_with_a_matching_next_prev_hash_is_pinpointed(
    client: httpx.AsyncClient, log: list[dict], db: Db
):
    deal_id = log[4]["deal_id"]
    target, following = of(log, deal_id, 2), of(log, deal_id, 3)
    forged = hashlib.sha256(b"forged").hexdigest()
    state = db.state(target["position"])
    state["hash"] = forged
    db.write(target["position"], state)
    nxt = db.state(following["position"])
    nxt["prev_hash"] = forged
    db.write(following["position"], nxt)
    assert found(await verify(client)) == {
        at(target, "hash_mismatch"), at(target, "merkle_leaf_mismatch"),
        at(following, "hash_mismatch"), (None, None, log[-1]["position"], ROOT)}


async def test_a_rewritten_chain_that_hashes_cleanly_is_caught_by_the_merkle_leaves(
    client: httpx.AsyncClient, log: list[dict], db: Db
):
    chain = rewrite_chain(db, log, log[5]["deal_id"])
    report = await verify(client)
    assert found(report) == {at(ev, "merkle_leaf_mismatch") for ev in chain[1:]} | {
        (None, None, log[-1]["position"], ROOT)}


async def test_a_changed_recorded_at_column_is_pinpointed(
    client: httpx.AsyncClient, log: list[dict], db: Db, settings: Settings
):
    target = log[5]
    value = "2020-01-01T00:00:00.000000Z" if not settings.is_postgres else "2020-01-01 00:00Z"
    db.execute("UPDATE ledger_events SET recorded_at = :v WHERE {pos} = :p",
               v=value, p=target["position"])
    assert found(await verify(client)) == {at(target, "recorded_at_mismatch")}


async def test_a_tampered_event_fails_every_inclusion_proof_that_covers_it(
    client: httpx.AsyncClient, log: list[dict], db: Db
):
    index = next(i for i, e in enumerate(log) if e["type"] == "BoardVoted")
    target = log[index]
    sizes = range(index + 1, len(log) + 1)
    proofs = {}
    for size in sizes:
        r = await client.get("/v1/audit/proof", params={"event_id": target["event_id"],
                                                         "tree_size": size}, headers=AUDITOR)
        proofs[size] = r.json()
    raw = db.raw(target["position"])
    assert raw.count(b'"votes_for":4') == 1
    db.write_raw(target["position"], raw.replace(b'"votes_for":4', b'"votes_for":5'))
    stored = db.state(target["position"])
    recomputed = bytes.fromhex(event_hash({**target, "data": stored["data"]}))
    untouched = bytes.fromhex(event_hash(target))
    for size, proof in proofs.items():
        path = [bytes.fromhex(p) for p in proof["audit_path"]]
        root = bytes.fromhex(proof["root"])
        assert tool.verify_inclusion(untouched, index, size, path, root)
        assert not tool.verify_inclusion(recomputed, index, size, path, root)
    assert found(await verify(client)) == {at(target, "hash_mismatch")}


async def test_the_command_line_verify_pinpoints_and_exits_1(
    client: httpx.AsyncClient, log: list[dict], db: Db, settings: Settings
):
    from service.cli import app

    runner = CliRunner()
    env = {"LEDGER_DATABASE_URL": settings.database_url}
    ok = runner.invoke(app, ["verify"], env=env)
    assert ok.exit_code == 0, ok.output
    target = log[8]
    db.write_raw(target["position"], db.raw(target["position"]).replace(
        b'"actor":"origination-key"', b'"actor":"origination-kez"'))
    bad = runner.invoke(app, ["verify", "--json"], env=env)
    assert bad.exit_code == 1
    report = json.loads(bad.stdout[bad.stdout.index("{"):])
    assert found(report) == {at(target, "hash_mismatch")}
    one = runner.invoke(app, ["verify", "--deal-id", log[3]["deal_id"]], env=env)
    assert one.exit_code == (1 if target["deal_id"] == log[3]["deal_id"] else 0)


def rewrite_chain(db: Db, log: list[dict[str, Any]], deal_id: str) -> list[dict[str, Any]]:
    """Change the deal's version 2 and re-hash and re-link every later event of it."""
    chain = [e for e in log if e["deal_id"] == deal_id]
    prev = chain[0]["hash"]
    for ev in chain[1:]:
        state = db.state(ev["position"])
        if ev["version"] == 2:
            state["data"]["application_ref"] = "Z-9999"
        state["prev_hash"] = prev
        state["hash"] = event_hash({**ev, "data": state["data"], "prev_hash": prev})
        prev = state["hash"]
        db.write(ev["position"], state)
    return chain


async def test_rewritten_merkle_leaves_still_fail_the_root_check(
    client: httpx.AsyncClient, log: list[dict], db: Db
):
    from service.integrity.proofs import merkle_tables

    chain = rewrite_chain(db, log, log[3]["deal_id"])
    with db.engine.begin() as conn:
        leaves = merkle_tables(conn)[0].leaves
        for ev in chain[1:]:
            conn.execute(leaves.update().where(leaves.c.position == ev["position"])
                         .values(hash=bytes.fromhex(db.state(ev["position"])["hash"])))
    assert found(await verify(client)) == {(None, None, log[-1]["position"], ROOT)}


async def test_a_rewrite_that_also_rebuilds_the_tree_is_caught_by_an_old_signed_digest(
    client: httpx.AsyncClient, log: list[dict], db: Db
):
    from service.integrity.proofs import merkle_tables

    old = (await client.get("/v1/audit/digest", headers=AUDITOR)).json()
    key = (await client.get("/v1/audit/public-key", headers=AUDITOR)).json()
    rewrite_chain(db, log, log[4]["deal_id"])
    runner = client.app.state.runner  # type: ignore[attr-defined]
    if "merkle" in runner.projections:
        runner.rebuild("merkle")
    else:
        with db.engine.begin() as conn:
            for table in merkle_tables(conn)[0].all():
                conn.execute(table.delete())
    new = (await client.get("/v1/audit/digest", headers=AUDITOR)).json()
    assert (await verify(client))["ok"] is True  # the server's own checks are fooled
    assert new["tree_size"] == old["tree_size"] and new["root"] != old["root"]
    assert tool.check_signature(old, key) is True  # the operator signed the old root
    assert not tool.verify_consistency(old["tree_size"], new["tree_size"],
                                       bytes.fromhex(old["root"]), bytes.fromhex(new["root"]),
                                       [])


async def test_a_whole_deleted_deal_is_pinpointed_event_by_event(
    client: httpx.AsyncClient, log: list[dict], db: Db
):
    chain = [e for e in log if e["deal_id"] == log[5]["deal_id"]]
    for ev in chain:
        db.delete(ev["position"])
    expected = {at(ev, "event_missing") for ev in chain}
    assert found(await verify(client)) == expected | {(None, None, log[-1]["position"], ROOT)}
    assert found(await verify(client, deal_id=chain[0]["deal_id"])) == expected
