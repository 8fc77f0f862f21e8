"""The ``merkle`` projection on SQLite and PostgreSQL: incremental batches, idempotence,
rollbacks, rebuilds, and proofs read from the tables against the RFC 6962 §2.1 references
of tests/support/reference.py (no code shared with projections/merkle.py)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import merkle_log
from projections.merkle_log import MerkleProjection
from projections.runner import Runner, wait_for
from service.db import create_engine
from service.settings import Settings
from tests.conftest import auth
from tests.support.auditor_tool import load_tool
from tests.support.factories import append_all, apply_deal, lifecycle_to_financed
from tests.support.reference import audit_path, consistency_proof, mth, sha256, split

tool = load_tool()
N = 70
LEAVES = [hashlib.sha256(f"event-{i}".encode()).digest() for i in range(N)]


def path_length(m: int, n: int) -> int:
    if n <= 1:
        return 0
    k = split(n)
    return 1 + (path_length(m, k) if m < k else path_length(m - k, n - k))


def proof_length(m: int, n: int, whole: bool = True) -> int:
    if m == n:
        return 0 if whole else 1
    k = split(n)
    return 1 + (proof_length(m, k, whole) if m <= k else proof_length(m - k, n - k, False))


def fake_events(start: int, stop: int) -> list[dict[str, Any]]:
    return [
        {"position": 3 * i + 2, "event_id": str(uuid.UUID(int=i + 1)),
         "deal_id": str(uuid.UUID(int=10_000 + i % 7)), "version": i // 7 + 1,
         "hash": LEAVES[i].hex()}
        for i in range(start, stop)
    ]


@pytest.fixture
def engine(settings: Settings) -> Iterator[sa.Engine]:
    eng = create_engine(settings)
    yield eng
    eng.dispose()


T = MerkleProjection.schema["a"]


def apply(engine: sa.Engine, events: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        MerkleProjection().apply(conn, T, events)


@pytest.fixture
def filled(engine: sa.Engine) -> sa.Engine:
    """N leaves appended in uneven batches."""
    bounds = [0, 1, 2, 5, 13, 14, 31, 32, 33, 64, N]
    for a, b in zip(bounds, bounds[1:], strict=False):
        apply(engine, fake_events(a, b))
    return engine


def test_every_size_has_the_rfc_root_and_the_last_leafs_position(filled: sa.Engine):
    with filled.connect() as conn:
        assert merkle_log.head(conn, T) == (N, 3 * (N - 1) + 2)
        for size in range(N + 1):
            assert merkle_log.root(conn, T, size) == mth(LEAVES[:size])
        leaf = merkle_log.leaf_by_event(conn, T, str(uuid.UUID(int=8)))
    assert leaf is not None
    assert (leaf.leaf_index, leaf.position, leaf.hash) == (7, 23, LEAVES[7])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_inclusion_proofs_from_the_tables_are_the_rfc_paths_and_verify(
    filled: sa.Engine, data: st.DataObject
):
    size = data.draw(st.integers(1, N))
    index = data.draw(st.integers(0, size - 1))
    with filled.connect() as conn:
        proof = merkle_log.inclusion_proof(conn, T, index, size)
    assert proof == audit_path(index, LEAVES[:size])
    root = mth(LEAVES[:size])
    assert tool.verify_inclusion(LEAVES[index], index, size, proof, root)
    assert not tool.verify_inclusion(LEAVES[(index + 1) % N], index, size, proof, root)
    assert not tool.verify_inclusion(LEAVES[index], index, index, proof, root)
    for wrong in range(index + 1, N + 1):
        if path_length(index, wrong) != len(proof):  # another shape: the proof cannot fit
            assert not tool.verify_inclusion(LEAVES[index], index, wrong, proof, root)
    assert not tool.verify_inclusion(LEAVES[index], index, size, proof, sha256(root))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_consistency_proofs_from_the_tables_are_the_rfc_proofs_and_verify(
    filled: sa.Engine, data: st.DataObject
):
    second = data.draw(st.integers(1, N))
    first = data.draw(st.integers(1, second))
    with filled.connect() as conn:
        proof = merkle_log.consistency_proof(conn, T, first, second)
    expected = consistency_proof(first, LEAVES[:second]) if first < second else []
    assert proof == expected
    old, new = mth(LEAVES[:first]), mth(LEAVES[:second])
    assert tool.verify_consistency(first, second, old, new, proof)
    assert not tool.verify_consistency(first, second, sha256(old), new, proof)
    assert not tool.verify_consistency(first, second, old, sha256(new), proof)
    for wrong in range(first, N + 1):
        if proof_length(first, wrong) != len(proof):
            assert not tool.verify_consistency(first, wrong, old, new, proof)


def test_a_batch_already_applied_is_skipped(filled: sa.Engine):
    apply(filled, fake_events(N - 5, N))
    apply(filled, fake_events(0, N))
    with filled.connect() as conn:
        assert merkle_log.head(conn, T)[0] == N
        assert merkle_log.root(conn, T, N) == mth(LEAVES)


def test_a_rolled_back_batch_leaves_the_tree_as_it_was(engine: sa.Engine):
    apply(engine, fake_events(0, 10))
    with engine.connect() as conn, conn.begin() as tx:
        MerkleProjection().apply(conn, T, fake_events(10, 20))
        tx.rollback()
    apply(engine, fake_events(10, 30))
    with engine.connect() as conn:
        assert merkle_log.head(conn, T)[0] == 30
        assert merkle_log.root(conn, T, 30) == mth(LEAVES[:30])


def test_events_out_of_position_order_are_refused(engine: sa.Engine):
    events = fake_events(0, 3)
    with pytest.raises(ValueError, match="position order"):
        apply(engine, [events[0], events[2], events[1]])


async def test_the_runner_maintains_and_rebuilds_the_tree_behind_the_digest(
    client: httpx.AsyncClient, settings: Settings
):
    for _ in range(3):
        deal = await apply_deal(client)
        await append_all(client, deal["deal_id"], lifecycle_to_financed()[:2])
    store = client.app.state.ledger.store  # type: ignore[attr-defined]
    hashes = [bytes.fromhex(e["hash"]) for e in store.select_log(0, 1000)]
    app_runner: Runner = client.app.state.runner  # type: ignore[attr-defined]
    eng = create_engine(settings)
    try:
        if "merkle" in app_runner.projections:  # the service runs it: use that runner
            runner = app_runner
            assert wait_for(eng, ["merkle"], store.head(), 120.0)  # ends when reached
        else:
            runner = Runner(eng, lambda after, limit: store.select_log(after, limit,
                                                                       internal=True),
                            store.head, [MerkleProjection()])
            runner.ensure_rows()
            assert runner.catch_up("merkle") == len(hashes)
        before = (await client.get("/v1/audit/digest", headers=auth("auditor"))).json()
        assert (before["tree_size"], before["root"]) == (len(hashes), mth(hashes).hex())
        with eng.connect() as conn:
            live = runner.state(conn, "merkle")[0]
        runner.rebuild("merkle")
        with eng.connect() as conn:
            assert runner.state(conn, "merkle")[0] != live
    finally:
        eng.dispose()
    after = (await client.get("/v1/audit/digest", headers=auth("auditor"))).json()
    assert (after["tree_size"], after["root"]) == (before["tree_size"], before["root"])
    first_event = store.select_log(0, 1)[0]
    r = await client.get("/v1/audit/proof", params={"event_id": first_event["event_id"]},
                         headers=auth("auditor"))
    assert tool.verify_inclusion(bytes.fromhex(first_event["hash"]), 0, len(hashes),
                                 [bytes.fromhex(p) for p in r.json()["audit_path"]],
                                 bytes.fromhex(after["root"]))
