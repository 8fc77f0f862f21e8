"""The Merkle tree for auditors (SPEC §4-§5): the ``merkle`` projection's active slot,
catching up an unmanaged tree, the signed digest, inclusion and consistency proofs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from domain.chain import format_timestamp
from domain.errors import LedgerError, NotFound
from projections import merkle_log
from projections.base import Tables
from projections.merkle_log import MerkleProjection
from projections.positions import positions
from service.eventstore import LedgerRecorder
from service.integrity.signing import Signer
from service.ledger.commands import InvalidRequest

MERKLE = "merkle"
PAGE = 1000
SIGNED_FIELDS = ("tree_size", "root", "position", "signed_at", "key_id")


def merkle_tables(conn: sa.Connection) -> tuple[Tables, bool]:
    """The active slot's tables, and whether a projection runner maintains them."""
    slot = conn.execute(
        sa.select(positions.c.slot).where(positions.c.name == MERKLE)
    ).scalar()
    return MerkleProjection.schema[slot or "a"], slot is not None


def catch_up(engine: sa.Engine, store: LedgerRecorder, page: int = PAGE) -> int:
    """Bring an *unmanaged* tree (no runner has registered ``merkle``) up to the log head.

    Incremental: only events after the tree's last leaf are appended. Once a runner
    maintains the projection this does nothing.
    """
    projection, done, races = MerkleProjection(), 0, 0
    while True:
        try:
            with engine.begin() as conn:
                tables, managed = merkle_tables(conn)
                if managed:
                    return done
                _, last = merkle_log.head(conn, tables)
                events = store.select_log(last, page)
                if not events:
                    return done
                projection.apply(conn, tables, events)
        except sa.exc.IntegrityError:
            races += 1  # another process appended the same leaves first: start again
            if races > 3:
                raise
            continue
        done += len(events)


# ---- digests and proofs -----------------------------------------------------------------


def digest(conn: sa.Connection, t: Tables, signer: Signer,
           now: datetime | None = None) -> dict[str, Any]:
    size, position = merkle_log.head(conn, t)
    fields: dict[str, Any] = {
        "tree_size": size,
        "root": merkle_log.root(conn, t, size).hex(),
        "position": position,
        "signed_at": format_timestamp(now or datetime.now(UTC)),
        "key_id": signer.key_id,
    }
    return {**fields, "signature": signer.sign(fields)}


def inclusion(conn: sa.Connection, t: Tables, event_id: str,
              tree_size: int | None) -> dict[str, Any]:
    try:
        wanted = str(UUID(event_id))
    except ValueError:
        raise _invalid("event_id", "must be an event id (a UUID)") from None
    leaf = merkle_log.leaf_by_event(conn, t, wanted)
    if leaf is None:
        raise NotFound(f"event {wanted} is not in the Merkle tree (unknown, or not yet "
                       "projected: retry with min_position)")
    size, _ = merkle_log.head(conn, t)
    size_asked = size if tree_size is None else tree_size
    if size_asked > size:
        raise _not_reached(size_asked, size)
    if not leaf.leaf_index < size_asked:
        raise _invalid("tree_size", f"must be between {leaf.leaf_index + 1} (the event is leaf "
                                    f"{leaf.leaf_index}) and the current size {size}")
    path = merkle_log.inclusion_proof(conn, t, leaf.leaf_index, size_asked)
    return {"leaf_index": leaf.leaf_index, "tree_size": size_asked,
            "audit_path": [p.hex() for p in path],
            "root": merkle_log.root(conn, t, size_asked).hex()}


def consistency(conn: sa.Connection, t: Tables, first: int, second: int) -> dict[str, Any]:
    size, _ = merkle_log.head(conn, t)
    if second > size:
        raise _not_reached(second, size)
    if not 0 <= first <= second:
        raise _invalid("first", f"must be between 0 and second ({second})")
    proof = merkle_log.consistency_proof(conn, t, first, second)
    return {"first": first, "second": second, "proof": [p.hex() for p in proof],
            "first_root": merkle_log.root(conn, t, first).hex(),
            "second_root": merkle_log.root(conn, t, second).hex()}


def _not_reached(asked: int, size: int) -> LedgerError:
    """A size the tree has not reached yet is a state of the log, not a malformed request."""
    return LedgerError("tree_size_not_reached", f"the tree has {size} leaves, not yet {asked}",
                       status=409, tree_size=size)


def _invalid(name: str, message: str) -> InvalidRequest:
    return InvalidRequest([{"field": name, "message": message}], f"{name} {message}")
