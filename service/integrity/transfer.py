"""Export and import of the log as JSON Lines (SPEC §3): envelopes with their hashes in
position order, replayed only after every line is checked, into an empty ledger or one that
holds exactly the file's first lines. An export after a position is the next lines of the
whole one: a whole export and the incremental ones after it, concatenated, are one file."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.chain import event_hash, format_timestamp, parse_timestamp
from domain.deal import EVENT_TYPES, Deal
from domain.errors import LedgerError
from domain.program import PROGRAM_ID, PROGRAM_TYPES, topic_of
from projections.merkle import MerkleTree
from service.eventstore import LedgerRecorder
from service.eventstore.types import StreamConflict
from service.integrity.proofs import PAGE
from service.integrity.verification import NoStore, Progress, is_hex64
from service.ledger.commands import deal_id_for

ENVELOPE_KEYS = (
    "event_id", "deal_id", "version", "position", "type", "data", "occurred_at",
    "recorded_at", "actor", "source", "correlation_id", "idempotency_key", "policy_version",
    "prev_hash", "hash",
)


# ---- export -----------------------------------------------------------------------------


def export_lines(store: LedgerRecorder, after: int = 0, page: int = PAGE,
                 progress: Progress | None = None) -> Iterator[str]:
    """Every envelope (with hashes) after position ``after`` in position order, one JSON
    object per line."""
    count = 0
    while True:
        events = store.select_log(after, page)
        if not events:
            return
        for event in events:
            yield json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        count += len(events)
        after = int(events[-1]["position"])
        if progress:
            progress(count, after)


# ---- import -----------------------------------------------------------------------------


class ImportRefused(LedgerError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__("import_refused", f"line {line}: {reason}", status=422, line=line)
        self.line = line
        self.reason = reason


class LedgerNotEmpty(LedgerError):
    def __init__(self, detail: str) -> None:
        super().__init__("ledger_not_empty", detail, status=409)


@dataclass
class ImportResult:
    events: int
    deals: int
    last_position: int
    root: str
    held: int = 0  # the file's first events, which the ledger held already
    held_root: str = ""


ImportRow = tuple[UUID, int, int, str, bytes, str]


def import_log(store: LedgerRecorder, lines: Iterable[str],
               expect_root: str | None = None) -> ImportResult:
    """Replay an export with the original ids, versions, times, actors and hashes, its
    program stream included, into an empty ledger or one that holds exactly the file's
    first events (the same envelopes at the same positions, whose Merkle root, recomputed
    from the stored events, is the file's), continuing it. Every line is checked before
    it is written and the whole import is one transaction: a file that fails
    (``ImportRefused``) writes nothing. Stored history is never judged again: no
    business rule runs."""
    head = store.head()
    replay = _Replay(_Held(store, head))
    try:
        count = store.import_events(replay.rows(lines, expect_root), after=head)
    except StreamConflict:
        raise LedgerNotEmpty(
            "the ledger already holds events; import only into an empty one" if not head else
            f"events were written after position {head} during the import") from None
    return ImportResult(count, len(replay.heads), replay.last_position,
                        replay.tree.root().hex(), replay.held.tree.size,
                        replay.held.tree.root().hex())


class _Held:
    """The events a ledger holds, matched one by one with the file's first lines."""

    def __init__(self, store: LedgerRecorder, head: int) -> None:
        self.events = _stored(store, head)
        self.tree = MerkleTree(NoStore())
        self.closed = head == 0

    def holds(self, ev: dict[str, Any]) -> bool:
        """Whether the ledger holds the file's next line ``ev`` already."""
        if self.closed:
            return False
        stored = next(self.events, None)
        if stored is None:
            return False
        if stored != ev:
            raise ValueError(f"the ledger holds another event at position "
                             f"{stored['position']}: it does not hold the file's first lines")
        self.tree.append_many([bytes.fromhex(event_hash(stored))])
        return True

    def close(self, line: int, file_tree: MerkleTree) -> None:
        """Where the file goes past the ledger (or ends): the ledger holds no more, and the
        Merkle root of its events' recomputed hashes is that of the file's first events."""
        if self.closed:
            return
        self.closed = True
        beyond = next(self.events, None)
        if beyond is not None:
            raise LedgerNotEmpty(f"the ledger holds events after the file's last line, from "
                                 f"position {beyond['position']} on")
        if self.tree.root() != file_tree.root():
            raise ImportRefused(line, f"the ledger's Merkle root {self.tree.root().hex()} is "
                                      f"not the file's {file_tree.root().hex()} over its first "
                                      f"{self.tree.size} events")


def _stored(store: LedgerRecorder, head: int) -> Iterator[dict[str, Any]]:
    after = 0
    while after < head:
        page = store.select_log(after, PAGE)
        if not page:
            return
        yield from page
        after = int(page[-1]["position"])


class _Replay:
    def __init__(self, held: _Held) -> None:
        self.held = held
        self.heads: dict[str, tuple[int, str]] = {}
        self.event_ids: set[int] = set()
        self.last_position = 0
        self.last_recorded = ""
        self.tree = MerkleTree(NoStore())

    def rows(self, lines: Iterable[str], expect_root: str | None) -> Iterator[ImportRow]:
        """The rows to write: the lines after those the ledger holds, each checked."""
        number = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                ev, row = self.row(line)
                held = self.held.holds(ev)
            except (ValueError, KeyError, TypeError) as e:
                raise ImportRefused(number, str(e)) from None
            if not held:
                self.held.close(number, self.tree)
                yield row
            self.tree.append_many([bytes.fromhex(ev["hash"])])
        self.held.close(number, self.tree)
        root = self.tree.root().hex()
        if expect_root is not None and root != expect_root.lower():
            raise ImportRefused(number, f"the file's Merkle root is {root}, not the expected "
                                        f"{expect_root}")

    def row(self, line: str) -> tuple[dict[str, Any], ImportRow]:
        """The line's envelope, checked, and the row it is stored as."""
        ev = json.loads(line)
        if not isinstance(ev, dict):
            raise ValueError("not a JSON object")
        missing = [k for k in ENVELOPE_KEYS if k not in ev]
        unknown = sorted(set(ev) - set(ENVELOPE_KEYS))
        if missing or unknown:
            raise ValueError(f"missing key(s) {missing}, unknown key(s) {unknown}")
        deal_id, event_id = _uuid(ev, "deal_id"), _uuid(ev, "event_id")
        version, position = _count(ev, "version"), _count(ev, "position")
        type_name = ev["type"]
        if deal_id == PROGRAM_ID:
            if type_name not in PROGRAM_TYPES:
                raise ValueError(f"the program stream holds {', '.join(PROGRAM_TYPES)} "
                                 f"events, not {type_name}")
        elif type_name not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type_name!r}")
        elif (version == 1) != (type_name == "DealApplied"):
            raise ValueError(f"a deal starts with DealApplied, and only once ({type_name} "
                             f"at version {version})")
        if not isinstance(ev["data"], dict):
            raise ValueError("data is not an object")
        for key in ("occurred_at", "recorded_at"):
            _timestamp(ev, key)
        if not isinstance(ev["actor"], str) or not ev["actor"]:
            raise ValueError("actor must be a non-empty string")
        for key in ("source", "correlation_id", "idempotency_key"):
            if ev[key] is not None and not isinstance(ev[key], str):
                raise ValueError(f"{key} must be a string or null")
        self._check_order(ev, event_id, position)
        self._check_chain(ev, str(deal_id), version)
        state = self._state(ev, type_name, deal_id)
        self.heads[str(deal_id)] = (version, ev["hash"])
        topic = topic_of(type_name) if deal_id == PROGRAM_ID else f"{Deal.TOPIC}.{type_name}"
        return ev, (deal_id, version, position, topic, _dumps(state), ev["recorded_at"])

    def _check_order(self, ev: dict[str, Any], event_id: UUID, position: int) -> None:
        if position <= self.last_position:
            raise ValueError(f"position {position} does not follow {self.last_position}")
        if ev["recorded_at"] < self.last_recorded:
            raise ValueError(f"recorded_at {ev['recorded_at']} is before the previous event's "
                             f"{self.last_recorded}")
        if event_id.int in self.event_ids:
            raise ValueError(f"event_id {event_id} appears twice")
        self.event_ids.add(event_id.int)
        self.last_position, self.last_recorded = position, ev["recorded_at"]

    def _check_chain(self, ev: dict[str, Any], deal: str, version: int) -> None:
        if not is_hex64(ev["hash"]):
            raise ValueError("hash is not a lowercase hex SHA-256")
        if ev["prev_hash"] is not None and not is_hex64(ev["prev_hash"]):
            raise ValueError("prev_hash is not null or a lowercase hex SHA-256")
        recomputed = event_hash(ev)
        if recomputed != ev["hash"]:
            raise ValueError(f"hash {ev['hash']} does not match the content, which hashes to "
                             f"{recomputed}")
        last_version, last_hash = self.heads.get(deal, (0, None))
        if version != last_version + 1:
            raise ValueError(f"deal {deal}: version {version} follows version {last_version}")
        if ev["prev_hash"] != last_hash:
            raise ValueError(f"deal {deal} version {version}: prev_hash {ev['prev_hash']} is "
                             f"not the hash of version {last_version} ({last_hash})")

    def _state(self, ev: dict[str, Any], type_name: str, deal_id: UUID) -> dict[str, Any]:
        """The JSON state exactly as the normal write path stores it (key order included)."""
        if not isinstance(ev["policy_version"], str) or not ev["policy_version"]:
            raise ValueError("policy_version must be a non-empty string")
        stamp = {"_type_": "datetime_iso",
                 "_data_": parse_timestamp(ev["recorded_at"]).isoformat()}
        fields = {k: ev[k] for k in (
            "event_id", "data", "occurred_at", "recorded_at", "actor", "source",
            "correlation_id", "idempotency_key", "policy_version", "prev_hash", "hash")}
        if deal_id == PROGRAM_ID:  # no aggregate: the store stamps its time last
            return {**fields, "timestamp": stamp}
        state: dict[str, Any] = {"timestamp": stamp}
        if type_name == "DealApplied":
            state["originator_topic"] = Deal.TOPIC
            data = ev["data"]
            if deal_id != deal_id_for(data["application_number"]):
                raise ValueError(f"deal_id {deal_id} is not the id of application_number "
                                 f"{data['application_number']!r}")
        return {**state, **fields}


def _uuid(ev: dict[str, Any], key: str) -> UUID:
    value = ev[key]
    try:
        parsed = UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"{key} is not a UUID") from None
    if str(parsed) != value:
        raise ValueError(f"{key} {value!r} is not in canonical lowercase form")
    return parsed


def _count(ev: dict[str, Any], key: str) -> int:
    value = ev[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{key} must be an integer >= 1")
    return value


def _timestamp(ev: dict[str, Any], key: str) -> None:
    value = ev[key]
    if not isinstance(value, str) or format_timestamp(parse_timestamp(value)) != value:
        raise ValueError(f"{key} must be a UTC timestamp as the ledger writes it "
                         "(YYYY-MM-DDTHH:MM:SS.ffffffZ)")



def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
