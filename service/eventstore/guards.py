"""Guard rows, read for a decision and written in the commit's transaction.

A write's ``GuardWrites`` (``domain.guards``) name the versions its decision read; inside
the serialised write section a unit whose expected version moved (since its read, or by
a unit before it in the same group) is refused with ``StreamConflict`` and decided again,
like a unit whose deal moved. The accepted units' totals and members are then written,
each touched guard one version on. One SQL text serves both dialects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.guards import COMMITTED, GuardWrites
from domain.money import ZERO, format_money

GUARDS = "ledger_guards"
MEMBERS = "ledger_guard_members"
Run = Callable[[str, Sequence[Any]], list[Mapping[str, Any]]]
Rebuilt = tuple[Mapping[str, Decimal], Mapping[tuple[str, str], dict[str, Any]]]


@dataclass
class Guard:
    version: int
    total: Decimal


def read_guards(run: Run, p: str, names: Iterable[str]) -> dict[str, Guard]:
    """The guards ``names`` as stored; one never written is at version 0, total 0."""
    wanted = sorted(set(names))
    found = {name: Guard(0, ZERO) for name in wanted}
    for start in range(0, len(wanted), 200):
        chunk = wanted[start:start + 200]
        for r in run(f"SELECT name, version, total FROM {GUARDS} WHERE name IN "
                     f"({', '.join([p] * len(chunk))})", chunk):
            found[r["name"]] = Guard(int(r["version"]), Decimal(r["total"]))
    return found


def read_members(run: Run, p: str, guard: str) -> dict[str, dict[str, Any]]:
    return {r["member"]: json.loads(r["data"])
            for r in run(f"SELECT member, data FROM {MEMBERS} WHERE guard = {p}", (guard,))}


def committed_totals(run: Run, p: str) -> dict[str, Decimal]:
    return {r["name"]: Decimal(r["total"]) for r in run(
        f"SELECT name, total FROM {GUARDS} WHERE name = {p} OR name LIKE {p}",
        (COMMITTED, f"{COMMITTED}:%"))}


def check(writes: GuardWrites | None, current: Mapping[str, Guard]) -> bool:
    """Whether every version ``writes`` expects is the current one."""
    return writes is None or all(current[name].version == version
                                 for name, version in writes.expect.items())


def advance(writes: GuardWrites, current: dict[str, Guard], changed: set[str],
            members: dict[tuple[str, str], dict[str, Any] | None]) -> None:
    """An accepted unit's writes, applied to ``current`` (for the units after it)."""
    touched = {*writes.add, *(guard for guard, _ in writes.put)}
    for name in touched:
        guard = current[name]
        current[name] = Guard(guard.version + 1, guard.total + writes.add.get(name, ZERO))
    changed.update(touched)
    members.update(writes.put)


def write(run: Run, p: str, current: Mapping[str, Guard], changed: Iterable[str],
          members: Mapping[tuple[str, str], dict[str, Any] | None]) -> None:
    """Upsert the changed guards and members (both dialects know ``ON CONFLICT``)."""
    for name in sorted(changed):
        guard = current[name]
        run(f"INSERT INTO {GUARDS} (name, version, total) VALUES ({p}, {p}, {p}) "
            "ON CONFLICT (name) DO UPDATE SET version = excluded.version, "
            "total = excluded.total", (name, guard.version, format_money(guard.total)))
    for (guard_name, member), data in members.items():
        if data is None:
            run(f"DELETE FROM {MEMBERS} WHERE guard = {p} AND member = {p}",
                (guard_name, member))
        else:
            run(f"INSERT INTO {MEMBERS} (guard, member, data) VALUES ({p}, {p}, {p}) "
                "ON CONFLICT (guard, member) DO UPDATE SET data = excluded.data",
                (guard_name, member, json.dumps(data, sort_keys=True)))


def replace_all(run: Run, p: str, totals: Mapping[str, Decimal],
                rows: Mapping[tuple[str, str], dict[str, Any]]) -> None:
    """Every guard rebuilt (``migrate``, ``import``): the members replaced, each total
    set, every guard one version on (a decision that read one before cannot commit)."""
    old = {r["name"]: int(r["version"]) for r in run(f"SELECT name, version FROM {GUARDS}", ())}
    run(f"DELETE FROM {MEMBERS}", ())
    run(f"DELETE FROM {GUARDS}", ())
    names = set(old) | set(totals) | {guard for guard, _ in rows}
    for name in sorted(names):
        run(f"INSERT INTO {GUARDS} (name, version, total) VALUES ({p}, {p}, {p})",
            (name, old.get(name, 0) + 1, format_money(totals.get(name, ZERO))))
    for (guard_name, member), data in sorted(rows.items()):
        run(f"INSERT INTO {MEMBERS} (guard, member, data) VALUES ({p}, {p}, {p})",
            (guard_name, member, json.dumps(data, sort_keys=True)))
