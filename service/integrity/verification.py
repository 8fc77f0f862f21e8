"""Verification of the stored log (SPEC §4 ``/v1/audit/verify``): every hash, chain link
and version recomputed from the event store's rows as stored, and each event compared with
its leaf in the ``merkle`` projection's active slot; nothing trusts a derived read model."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from domain.chain import content_hash, event_hash
from domain.envelope import envelope, type_from_topic
from projections import merkle_log
from projections.merkle import MerkleError, RightEdge
from service.eventstore import LedgerRecorder
from service.integrity.proofs import PAGE, merkle_tables

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # not in typeshed


@dataclass(frozen=True)
class Failure:
    deal_id: str | None
    version: int | None
    position: int | None
    reason: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"deal_id": self.deal_id, "version": self.version, "position": self.position,
                "reason": self.reason, "detail": self.detail}


@dataclass
class Report:
    max_failures: int = 1000
    events_checked: int = 0
    failures_total: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failures_total == 0

    def add(self, failure: Failure) -> None:
        self.failures_total += 1
        if len(self.failures) < self.max_failures:
            self.failures.append(failure)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events_checked": self.events_checked,
                "failures": [f.as_dict() for f in self.failures],
                "failures_total": self.failures_total,
                "truncated": self.failures_total > len(self.failures)}


Progress = Callable[[int, int], None]
RawRow = tuple[str, int, int, str, bytes, str]


def verify(
    store: LedgerRecorder, engine: sa.Engine, deal_id: UUID | None = None, *,
    page: int = PAGE, max_failures: int = 1000, progress: Progress | None = None,
) -> Report:
    """Recompute every hash, chain link and version sequence from the stored rows, and
    compare each event's hash with its Merkle leaf (as far as the tree reaches).

    Pages through the log; memory grows with the number of deals, not of events.
    """
    with engine.connect() as conn:
        tables, _ = merkle_tables(conn)
        size, leaf_end = merkle_log.head(conn, tables)
        try:
            tree_root: bytes | None = merkle_log.root(conn, tables, size)
        except MerkleError:  # nodes missing: reported below as a root mismatch
            tree_root = None
    checker = _Checker(Report(max_failures), leaf_end, whole_log=deal_id is None)
    after = 0
    while True:
        rows = store.select_raw(after, page, deal_id)
        final = len(rows) < page
        upto = rows[-1][2] if rows else after
        leaf_upto = leaf_end if final else min(upto, leaf_end)
        leaves: list[merkle_log.Leaf] = []
        if leaf_upto > after:
            with engine.connect() as conn:
                leaves = merkle_log.leaves_between(
                    conn, tables, after, leaf_upto, None if deal_id is None else str(deal_id))
        checker.page(rows, leaves)
        if progress:
            progress(checker.report.events_checked, upto)
        if final:
            break
        after = upto
    if deal_id is None:
        checker.compare_root(size, tree_root)
    return checker.report


class _Checker:
    def __init__(self, report: Report, leaf_end: int, whole_log: bool) -> None:
        self.report = report
        self.leaf_end = leaf_end
        self.whole_log = whole_log
        self.heads: dict[str, tuple[int, str | None]] = {}
        self.last_recorded = ""
        self.tree = RightEdge()
        self.pending: list[bytes] = []  # this page's leaves, appended to the tree at its end
        self.types: dict[str, str] = {}

    def page(self, rows: list[RawRow], leaves: list[merkle_log.Leaf]) -> None:
        by_position = {leaf.position: leaf for leaf in leaves}
        found: list[Failure] = []
        sound, pop = self.sound, by_position.pop
        for row in rows:
            leaf = pop(row[2], None)
            if not sound(row, leaf):
                found += self.row(row, leaf)
        self.report.events_checked += len(rows)
        self.tree.extend(self.pending)
        self.pending.clear()
        for leaf in by_position.values():
            found.append(Failure(leaf.deal_id, leaf.version, leaf.position, "event_missing",
                                 f"Merkle leaf {leaf.leaf_index} (event {leaf.event_id}) has no "
                                 "event in the log: it was deleted or moved"))
        for failure in sorted(found, key=lambda f: f.position or 0):
            self.report.add(failure)

    def sound(self, row: RawRow, leaf: merkle_log.Leaf | None) -> bool:
        """The common case in one pass: an event that passes every check of ``row`` is
        recorded as ``row`` would record it, and True returned. On anything else nothing is
        recorded and False returned, and ``row`` finds and words the failures."""
        deal, version, position, topic, raw, recorded_column = row
        try:
            state = _loads(raw)
            kind = self.types.get(topic)
            if kind is None:
                kind = self.types[topic] = type_from_topic(topic)
            event_id, recorded, stored = state["event_id"], state["recorded_at"], state["hash"]
            prev_hash = state.get("prev_hash")
            recomputed = content_hash({
                "deal_id": deal, "version": version, "type": kind, "data": state["data"],
                "occurred_at": state["occurred_at"], "recorded_at": recorded,
                "actor": state["actor"], "source": state.get("source"), "prev_hash": prev_hash})
        except Exception:  # noqa: BLE001 - ``row`` says what is wrong with it
            return False
        last_version, last_hash = self.heads.get(deal, (0, None))
        if (recomputed != stored or version != last_version + 1 or prev_hash != last_hash
                or recorded_column != recorded
                or (self.whole_log and recorded < self.last_recorded)):
            return False
        if position <= self.leaf_end:
            # ``stored`` equals a hex digest, so it is 64 lowercase hex digits.
            stored_bytes = bytes.fromhex(stored)
            if leaf is None or leaf.hash != stored_bytes or leaf.event_id != event_id \
                    or leaf.deal_id != deal or leaf.version != version:
                return False
            if self.whole_log:
                self.pending.append(stored_bytes)
        self.heads[deal] = (version, stored)
        if self.whole_log:
            self.last_recorded = recorded
        return True

    def row(self, row: RawRow, leaf: merkle_log.Leaf | None) -> list[Failure]:
        deal, version, position, topic, raw, recorded_column = row
        out: list[Failure] = []

        def fail(reason: str, detail: str) -> None:
            out.append(Failure(deal, version, position, reason, detail))

        try:
            state = json.loads(raw)
            env = envelope(deal, version, position, topic, state)
            stored = state["hash"]
            recomputed = event_hash(env)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            fail("unreadable_state", f"the stored state is not a readable event: {e!r}")
            self.heads[deal] = (max(version, self.heads.get(deal, (0, None))[0]), None)
            return out
        if recomputed != stored:
            fail("hash_mismatch", f"stored hash {stored} but the content hashes to {recomputed}")
        last_version, last_hash = self.heads.get(deal, (0, None))
        if version <= last_version:
            fail("version_out_of_order", f"version {version} comes after version {last_version}")
        elif version > last_version + 1:
            fail("version_gap", f"version {version} follows version {last_version}: "
                                f"{version - last_version - 1} event(s) missing")
        elif env["prev_hash"] != last_hash:
            fail("prev_hash_mismatch", f"prev_hash {env['prev_hash']} is not the hash of the "
                                       f"deal's version {last_version} ({last_hash})")
        self.heads[deal] = (max(version, last_version), stored)
        if recorded_column != env["recorded_at"]:
            fail("recorded_at_mismatch", f"the recorded_at column says {recorded_column}, "
                                         f"the event {env['recorded_at']}")
        if self.whole_log:
            if str(env["recorded_at"]) < self.last_recorded:
                fail("recorded_at_decreases", f"recorded_at {env['recorded_at']} is before "
                                              f"the previous event's {self.last_recorded}")
            self.last_recorded = str(env["recorded_at"])
        out += self._leaf(deal, version, position, env, stored, leaf)
        return out

    def _leaf(self, deal: str, version: int, position: int, env: dict[str, Any],
              stored: Any, leaf: merkle_log.Leaf | None) -> list[Failure]:
        if position > self.leaf_end:
            return []
        # A malformed stored hash still takes its leaf's place, so the root comparison
        # below counts the same events as the tree.
        stored_bytes = bytes.fromhex(stored) if is_hex64(stored) else bytes(32)
        if self.whole_log:
            self.pending.append(stored_bytes)
        if leaf is None:
            return [Failure(deal, version, position, "not_in_merkle_tree",
                            "the event lies within the Merkle tree's range but has no leaf: "
                            "it was inserted afterwards")]
        if leaf.hash != stored_bytes:
            return [Failure(deal, version, position, "merkle_leaf_mismatch",
                            f"the event's hash {stored} differs from Merkle leaf "
                            f"{leaf.leaf_index} ({leaf.hash.hex()})")]
        if (leaf.event_id, leaf.deal_id, leaf.version) != (env["event_id"], deal, version):
            return [Failure(deal, version, position, "merkle_leaf_mismatch",
                            f"Merkle leaf {leaf.leaf_index} belongs to event {leaf.event_id} "
                            f"(deal {leaf.deal_id} version {leaf.version})")]
        return []

    def compare_root(self, size: int, tree_root: bytes | None) -> None:
        if self.tree.size != size or self.tree.root() != tree_root:
            stored = tree_root.hex() if tree_root else "nothing (its nodes are incomplete)"
            self.report.add(Failure(
                None, None, self.leaf_end or None, "merkle_root_mismatch",
                f"the Merkle root over the log's first {self.tree.size} events is "
                f"{self.tree.root().hex()}; the tree of {size} leaves says {stored}"))


class NoStore:
    """Keeps no nodes: a tree that only needs its right edge (appends and the root)."""

    def get(self, level: int, index: int) -> bytes | None:
        return None

    def put(self, level: int, index: int, value: bytes) -> None:
        pass


def _loads(raw: bytes) -> Any:
    """``json.loads(raw)``, by a shorter way when the bytes are plainly one UTF-8 object:
    no encoding detection (it would say UTF-8) and no whitespace scan around it; anything
    else, errors included, goes the whole way."""
    if raw[:2] == b'{"':
        try:
            text = raw.decode("utf-8")
            value, end = _SCAN(text, 0)
            if end == len(text):
                return value
        except (UnicodeDecodeError, StopIteration, ValueError):
            pass
    return json.loads(raw)


def is_hex64(value: Any) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None
