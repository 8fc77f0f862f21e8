"""The ``merkle`` read model: the RFC 6962 tree over the global log (SPEC §5), kept
incrementally in two tables per slot.

``merkle_leaves_{slot}`` holds leaf ``i`` (the raw 32-byte event hash of the event
with the (i+1)-th smallest position) with the event it came from;
``merkle_nodes_{slot}`` holds every complete subtree node ``(level, idx)`` of
:mod:`projections.merkle`. Complete nodes never change, so the tree of any past
size, its root and its proofs are read from at most O(log² n) stored nodes,
fetched in one query.

The projection keeps no state between batches: each ``apply`` reads the tree's
size and right edge (≤ log2 n nodes) from its own tables, so a rolled-back batch
or a rebuild can never leave it out of step with the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, TypeVar

import sqlalchemy as sa

from projections.base import Envelope, Schema, Tables, insert
from projections.merkle import MemoryNodeStore, MerkleError, MerkleTree

T = TypeVar("T")
_PLACEHOLDER = bytes(32)


def define(metadata: sa.MetaData, slot: str) -> dict[str, sa.Table]:
    leaves = sa.Table(
        f"merkle_leaves_{slot}",
        metadata,
        sa.Column("leaf_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("position", sa.BigInteger, nullable=False, unique=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("deal_id", sa.String(36), nullable=False, index=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    nodes = sa.Table(
        f"merkle_nodes_{slot}",
        metadata,
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    return {"leaves": leaves, "nodes": nodes}


class Leaf(NamedTuple):
    leaf_index: int
    position: int
    event_id: str
    deal_id: str
    version: int
    hash: bytes


class MerkleProjection:
    name = "merkle"
    schema = Schema(define)

    def apply(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope]) -> None:
        size, last_position = head(conn, t)
        # Idempotent: a batch (or part of one) already in the table is skipped.
        fresh = [ev for ev in events if int(ev["position"]) > last_position]
        if not fresh:
            return
        positions = [int(ev["position"]) for ev in fresh]
        if any(b <= a for a, b in zip(positions, positions[1:], strict=False)):
            raise ValueError("merkle: events must arrive in increasing position order")
        tree = _with_nodes(conn, t, size, lambda tr: tr)
        nodes = tree.append_many(bytes.fromhex(str(ev["hash"])) for ev in fresh)
        insert(
            conn, t.leaves,
            [
                {
                    "leaf_index": size + i,
                    "position": int(ev["position"]),
                    "event_id": str(ev["event_id"]),
                    "deal_id": str(ev["deal_id"]),
                    "version": int(ev["version"]),
                    "hash": bytes.fromhex(str(ev["hash"])),
                }
                for i, ev in enumerate(fresh)
            ],
        )
        insert(conn, t.nodes, [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in nodes])


# ---- queries ---------------------------------------------------------------------------


def head(conn: sa.Connection, t: Tables) -> tuple[int, int]:
    """``(tree size, position of the last leaf)``; ``(0, 0)`` for an empty tree."""
    row = conn.execute(
        sa.select(t.leaves.c.leaf_index, t.leaves.c.position)
        .order_by(t.leaves.c.leaf_index.desc())
        .limit(1)
    ).first()
    return (0, 0) if row is None else (int(row[0]) + 1, int(row[1]))


def leaf_by_event(conn: sa.Connection, t: Tables, event_id: str) -> Leaf | None:
    row = conn.execute(sa.select(t.leaves).where(t.leaves.c.event_id == event_id)).first()
    return None if row is None else _to_leaf(row)


def leaves_between(
    conn: sa.Connection, t: Tables, after: int, upto: int | None, deal_id: str | None = None
) -> list[Leaf]:
    """Leaves with ``after < position <= upto`` (no upper bound when ``upto`` is None)."""
    c = t.leaves.c
    query = sa.select(c.leaf_index, c.position, c.event_id, c.deal_id, c.version, c.hash).where(
        c.position > after).order_by(c.position)
    if upto is not None:
        query = query.where(c.position <= upto)
    if deal_id is not None:
        query = query.where(c.deal_id == deal_id)
    return [Leaf(int(i), int(p), str(e), str(d), int(v), bytes(h))
            for i, p, e, d, v, h in conn.execute(query).all()]


def root(conn: sa.Connection, t: Tables, size: int) -> bytes:
    return _with_nodes(conn, t, size, lambda tree: tree.root(size))


def inclusion_proof(conn: sa.Connection, t: Tables, leaf_index: int, size: int) -> list[bytes]:
    return _with_nodes(conn, t, size, lambda tree: tree.inclusion_proof(leaf_index, size))


def consistency_proof(conn: sa.Connection, t: Tables, first: int, second: int) -> list[bytes]:
    return _with_nodes(conn, t, second, lambda tree: tree.consistency_proof(first, second))


# ---- node access -----------------------------------------------------------------------


class _KeyRecorder:
    """A node store that only notes which nodes an operation reads."""

    def __init__(self) -> None:
        self.keys: set[tuple[int, int]] = set()

    def get(self, level: int, index: int) -> bytes | None:
        self.keys.add((level, index))
        return _PLACEHOLDER

    def put(self, level: int, index: int, value: bytes) -> None:
        pass


def _with_nodes(
    conn: sa.Connection, t: Tables, size: int, operation: Callable[[MerkleTree], T]
) -> T:
    """Run ``operation`` on the tree of ``size`` leaves, its nodes fetched in one query.

    Which nodes a tree operation reads depends on sizes and indexes alone, never on
    hash values, so a dry run against a recording store names them all.
    """
    recorder = _KeyRecorder()
    operation(MerkleTree(recorder, size))
    store = MemoryNodeStore()
    for level, idx, value in _fetch(conn, t, recorder.keys):
        store.put(level, idx, value)
    try:
        return operation(MerkleTree(store, size))
    except MerkleError as e:
        raise MerkleError(f"the merkle projection lacks nodes for tree size {size}: {e}") from e


def _fetch(
    conn: sa.Connection, t: Tables, keys: Iterable[tuple[int, int]]
) -> list[tuple[int, int, bytes]]:
    by_level: dict[int, list[int]] = {}
    for level, idx in keys:
        by_level.setdefault(level, []).append(idx)
    if not by_level:
        return []
    c = t.nodes.c
    condition = sa.or_(
        *(sa.and_(c.level == level, c.idx.in_(idxs)) for level, idxs in by_level.items())
    )
    rows = conn.execute(sa.select(c.level, c.idx, c.hash).where(condition))
    return [(int(r[0]), int(r[1]), bytes(r[2])) for r in rows]


def _to_leaf(row: sa.Row[tuple[object, ...]]) -> Leaf:
    m = row._mapping
    return Leaf(
        leaf_index=int(m["leaf_index"]),
        position=int(m["position"]),
        event_id=str(m["event_id"]),
        deal_id=str(m["deal_id"]),
        version=int(m["version"]),
        hash=bytes(m["hash"]),
    )
