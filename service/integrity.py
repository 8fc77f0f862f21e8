"""Integrity for auditors (SPEC §3-§5): signed Merkle digests and proofs, verification of
the stored log, and export / import of the whole log as JSON Lines.

Everything here reads the event store's rows as stored (plain JSON state) and the
``merkle`` projection's active slot; nothing trusts a derived read model.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.chain import canonical_json, event_hash, format_timestamp, parse_timestamp
from domain.deal import EVENT_TYPES, Deal
from domain.envelope import envelope
from domain.errors import LedgerError, NotFound
from domain.policy import PolicyBook
from projections import merkle_log
from projections.base import Tables
from projections.merkle import MerkleError, MerkleTree
from projections.merkle_log import MerkleProjection
from projections.positions import positions
from service.ledger import InvalidRequest, deal_id_for
from service.settings import Settings
from service.store import LedgerRecorder, StreamConflict

logger = logging.getLogger("exim_ledger.integrity")

MERKLE = "merkle"
PAGE = 1000
SIGNED_FIELDS = ("tree_size", "root", "position", "signed_at", "key_id")
ENVELOPE_KEYS = (
    "event_id", "deal_id", "version", "position", "type", "data", "occurred_at",
    "recorded_at", "actor", "source", "correlation_id", "idempotency_key", "policy_version",
    "prev_hash", "hash",
)
_HEX64 = re.compile(r"[0-9a-f]{64}")


# ---- signing key ------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey
    public_raw: bytes
    key_id: str

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        private = Ed25519PrivateKey.from_private_bytes(seed)
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return cls(private, public, hashlib.sha256(public).hexdigest()[:16])

    def sign(self, fields: dict[str, Any]) -> str:
        return self.private_key.sign(canonical_json(fields)).hex()

    def public_key(self) -> dict[str, str]:
        return {"key_id": self.key_id, "algorithm": "Ed25519",
                "public_key": base64.b64encode(self.public_raw).decode("ascii")}


class SigningKeyError(ValueError):
    pass


def load_signer(settings: Settings) -> Signer:
    """``LEDGER_SIGNING_KEY`` (base64 seed), else ``LEDGER_SIGNING_KEY_FILE``, else a key
    file generated on first run next to the SQLite database (``./var`` for PostgreSQL)."""
    if settings.signing_key:
        return Signer.from_seed(_seed_from_text(settings.signing_key, "LEDGER_SIGNING_KEY"))
    path = signing_key_path(settings)
    if not path.exists():
        if settings.signing_key_file or settings.is_postgres:
            logger.warning("no signing key at %s: generating a new Ed25519 key there; "
                           "set LEDGER_SIGNING_KEY or LEDGER_SIGNING_KEY_FILE to keep "
                           "one identity across hosts", path)
        _generate(path)
    return Signer.from_seed(_read_key_file(path))


def signing_key_path(settings: Settings) -> Path:
    if settings.signing_key_file:
        return Path(settings.signing_key_file)
    if settings.is_postgres:
        return Path("var") / "signing-key"
    return settings.sqlite_path.parent / "signing-key"


def _seed_from_text(text: str, where: str) -> bytes:
    try:
        seed = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise SigningKeyError(f"{where} must be the base64 of a 32-byte Ed25519 private seed")
    return seed


def _read_key_file(path: Path) -> bytes:
    raw = path.read_bytes()
    if (path.stat().st_mode & 0o077) and os.name == "posix":
        logger.warning("signing key %s is readable by others; chmod 600 it", path)
    if raw.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(raw, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} holds a private key that is not Ed25519")
        return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    return _seed_from_text(raw.decode("ascii", "replace"), f"signing key file {path}")


def _generate(path: Path) -> None:
    """Write a fresh seed with mode 0600; never replaces a key another process wrote first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(base64.b64encode(seed).decode("ascii") + "\n")
        with contextlib.suppress(FileExistsError):  # another process wrote it first
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ---- the merkle projection's active slot ------------------------------------------------


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
    if not leaf.leaf_index < size_asked <= size:
        raise _invalid("tree_size", f"must be between {leaf.leaf_index + 1} (the event is leaf "
                                    f"{leaf.leaf_index}) and the current size {size}")
    path = merkle_log.inclusion_proof(conn, t, leaf.leaf_index, size_asked)
    return {"leaf_index": leaf.leaf_index, "tree_size": size_asked,
            "audit_path": [p.hex() for p in path],
            "root": merkle_log.root(conn, t, size_asked).hex()}


def consistency(conn: sa.Connection, t: Tables, first: int, second: int) -> dict[str, Any]:
    size, _ = merkle_log.head(conn, t)
    if not 0 <= second <= size:
        raise _invalid("second", f"must be between 0 and the current size {size}")
    if not 0 <= first <= second:
        raise _invalid("first", f"must be between 0 and second ({second})")
    proof = merkle_log.consistency_proof(conn, t, first, second)
    return {"first": first, "second": second, "proof": [p.hex() for p in proof],
            "first_root": merkle_log.root(conn, t, first).hex(),
            "second_root": merkle_log.root(conn, t, second).hex()}


def _invalid(name: str, message: str) -> InvalidRequest:
    return InvalidRequest([{"field": name, "message": message}], f"{name} {message}")


# ---- verification -----------------------------------------------------------------------


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
        self.tree = MerkleTree(_NoStore())

    def page(self, rows: list[RawRow], leaves: list[merkle_log.Leaf]) -> None:
        by_position = {leaf.position: leaf for leaf in leaves}
        found: list[Failure] = []
        for row in rows:
            found += self.row(row, by_position.pop(row[2], None))
        for leaf in by_position.values():
            found.append(Failure(leaf.deal_id, leaf.version, leaf.position, "event_missing",
                                 f"Merkle leaf {leaf.leaf_index} (event {leaf.event_id}) has no "
                                 "event in the log: it was deleted or moved"))
        for failure in sorted(found, key=lambda f: f.position or 0):
            self.report.add(failure)

    def row(self, row: RawRow, leaf: merkle_log.Leaf | None) -> list[Failure]:
        deal, version, position, topic, raw, recorded_column = row
        self.report.events_checked += 1
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
        stored_bytes = bytes.fromhex(stored) if _is_hex64(stored) else bytes(32)
        if self.whole_log:
            self.tree.append_many([stored_bytes])
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


class _NoStore:
    """Keeps no nodes: a tree that only needs its right edge (appends and the root)."""

    def get(self, level: int, index: int) -> bytes | None:
        return None

    def put(self, level: int, index: int, value: bytes) -> None:
        pass


# ---- export -----------------------------------------------------------------------------


def export_lines(store: LedgerRecorder, page: int = PAGE,
                 progress: Progress | None = None) -> Iterator[str]:
    """Every envelope (with hashes) in position order, one JSON object per line."""
    after, count = 0, 0
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
    def __init__(self) -> None:
        super().__init__("ledger_not_empty",
                         "the ledger already holds events; import only into an empty one",
                         status=409)


@dataclass
class ImportResult:
    events: int
    deals: int
    last_position: int
    root: str


ImportRow = tuple[UUID, int, int, str, bytes, str]


def import_log(store: LedgerRecorder, lines: Iterable[str], policies: PolicyBook,
               expect_root: str | None = None) -> ImportResult:
    """Replay an export into an empty ledger with the original ids, versions, times,
    actors and hashes. Every line is checked before it is written and the whole import is
    one transaction: a file that fails (``ImportRefused``) writes nothing."""
    replay = _Replay(policies)
    try:
        count = store.import_events(replay.rows(lines, expect_root))
    except StreamConflict:
        raise LedgerNotEmpty() from None
    return ImportResult(count, len(replay.heads), replay.last_position,
                        replay.tree.root().hex())


class _Replay:
    def __init__(self, policies: PolicyBook) -> None:
        self.policies = policies
        self.heads: dict[str, tuple[int, str]] = {}
        self.event_ids: set[int] = set()
        self.last_position = 0
        self.last_recorded = ""
        self.tree = MerkleTree(_NoStore())

    def rows(self, lines: Iterable[str], expect_root: str | None) -> Iterator[ImportRow]:
        number = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield self.row(line)
            except (ValueError, KeyError, TypeError) as e:
                raise ImportRefused(number, str(e)) from None
        root = self.tree.root().hex()
        if expect_root is not None and root != expect_root.lower():
            raise ImportRefused(number, f"the file's Merkle root is {root}, not the expected "
                                        f"{expect_root}")

    def row(self, line: str) -> ImportRow:
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
        if type_name not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type_name!r}")
        if (version == 1) != (type_name == "DealApplied"):
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
        self.tree.append_many([bytes.fromhex(ev["hash"])])
        return (deal_id, version, position, f"{Deal.TOPIC}.{type_name}",
                _dumps(state), ev["recorded_at"])

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
        if not _is_hex64(ev["hash"]):
            raise ValueError("hash is not a lowercase hex SHA-256")
        if ev["prev_hash"] is not None and not _is_hex64(ev["prev_hash"]):
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
        policy = self.policies.by_id(ev["policy_version"]) if isinstance(
            ev["policy_version"], str) else None
        if policy is None:
            raise ValueError(f"policy_version {ev['policy_version']!r} is not in this ledger's "
                             "policy book: import with the source's LEDGER_POLICY_FILE")
        in_force = self.policies.at(parse_timestamp(ev["occurred_at"])).id
        if in_force != policy.id:
            raise ValueError(f"policy_version {policy.id} but this ledger's policy book puts "
                             f"{in_force} in force at {ev['occurred_at']}: import with the "
                             "source's LEDGER_POLICY_FILE")
        recorded = parse_timestamp(ev["recorded_at"])
        state: dict[str, Any] = {
            "timestamp": {"_type_": "datetime_iso", "_data_": recorded.isoformat()}}
        if type_name == "DealApplied":
            state["originator_topic"] = Deal.TOPIC
        state.update({k: ev[k] for k in (
            "event_id", "data", "occurred_at", "recorded_at", "actor", "source",
            "correlation_id", "idempotency_key", "policy_version", "prev_hash", "hash")})
        if type_name == "DealApplied":
            data = ev["data"]
            if deal_id != deal_id_for(data["application_number"]):
                raise ValueError(f"deal_id {deal_id} is not the id of application_number "
                                 f"{data['application_number']!r}")
            state["controlled_eccns"] = policy.controlled(item["eccn"] for item in data["items"])
        return state


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


def _is_hex64(value: Any) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
