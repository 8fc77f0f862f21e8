"""Effective-dated country and technology policy (SPEC §2 "Policy")."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from typing import Any

from domain.countries import COUNTRIES

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KEYS = frozenset(
    {"id", "effective_from", "embargoed", "restricted_for_controlled", "controlled_eccn_patterns"}
)


@dataclass(frozen=True)
class PolicyVersion:
    id: str
    effective_from: date
    embargoed: frozenset[str]
    restricted_for_controlled: frozenset[str]
    controlled_eccn_patterns: tuple[str, ...]

    def is_controlled(self, eccn: str) -> bool:
        """Glob match, case-insensitive: ``*.Z`` means "ends in .z"."""
        upper = eccn.upper()
        return any(fnmatchcase(upper, p.upper()) for p in self.controlled_eccn_patterns)

    def controlled(self, eccns: Iterable[str]) -> list[str]:
        """The controlled ECCNs among ``eccns``, sorted and unique."""
        return sorted({e for e in eccns if self.is_controlled(e)})


DEFAULT_POLICY = PolicyVersion(
    id="2025-05-13",
    effective_from=date(2025, 5, 13),
    embargoed=frozenset({"CU", "IR", "KP", "SY", "RU", "BY"}),
    # China and Macau, plus the U.S. arms-embargoed country group D:5
    restricted_for_controlled=frozenset({
        "AF", "BY", "CD", "CF", "CN", "CU", "ER", "HT", "IQ", "IR", "KH", "KP", "LB", "LY", "MM",
        "MO", "NI", "RU", "SD", "SO", "SS", "SY", "VE", "ZW",
    }),
    controlled_eccn_patterns=("3A090*", "4A090*", "*.Z"),
)


class PolicyBook:
    """All known policy versions, ordered by ``effective_from``."""

    def __init__(self, versions: Iterable[PolicyVersion]) -> None:
        self._versions = tuple(sorted(versions, key=lambda v: v.effective_from))
        if not self._versions:
            raise ValueError("a policy book needs at least one version")
        self._dates = [v.effective_from for v in self._versions]
        self._by_id = {v.id: v for v in self._versions}

    @property
    def versions(self) -> tuple[PolicyVersion, ...]:
        return self._versions

    def at(self, moment: datetime) -> PolicyVersion:
        """The version in force on ``moment``'s UTC date; before all of them, the earliest."""
        day = moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
        index = bisect_right(self._dates, day) - 1
        return self._versions[max(index, 0)]

    def by_id(self, policy_id: str) -> PolicyVersion | None:
        return self._by_id.get(policy_id)


def load_policy_book(path: str | None) -> PolicyBook:
    """The default version plus the versions listed in the JSON file at ``path``.

    An entry identical to the built-in default is accepted (and counted once); any other
    repeated id or effective date is an error, so that ``PolicyBook.at`` is unambiguous.
    """
    if not path:
        return PolicyBook([DEFAULT_POLICY])
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as exc:
        raise ValueError(f"policy file {path}: cannot be read ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"policy file {path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, list):
        raise ValueError(f"policy file {path}: expected a JSON list of policy versions")
    versions = [DEFAULT_POLICY]
    for index, entry in enumerate(raw):
        version = _parse_version(entry, f"policy file {path}, entry {index}")
        if version == DEFAULT_POLICY:
            continue
        for known in versions:
            if known.id == version.id:
                raise ValueError(f"policy file {path}, entry {index}: duplicate id {version.id!r}")
            if known.effective_from == version.effective_from:
                raise ValueError(
                    f"policy file {path}, entry {index}: effective_from "
                    f"{version.effective_from} already used by {known.id!r}"
                )
        versions.append(version)
    return PolicyBook(versions)


def _parse_version(entry: Any, where: str) -> PolicyVersion:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object")
    missing = sorted(_KEYS - entry.keys())
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    unknown = sorted(entry.keys() - _KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    policy_id = entry["id"]
    if not isinstance(policy_id, str) or not policy_id.strip():
        raise ValueError(f"{where}: id must be a non-empty string")
    return PolicyVersion(
        id=policy_id,
        effective_from=_parse_date(entry["effective_from"], where),
        embargoed=_parse_countries(entry["embargoed"], f"{where}, embargoed"),
        restricted_for_controlled=_parse_countries(
            entry["restricted_for_controlled"], f"{where}, restricted_for_controlled"
        ),
        controlled_eccn_patterns=_parse_patterns(entry["controlled_eccn_patterns"], where),
    )


def _parse_date(value: Any, where: str) -> date:
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{where}: effective_from {value!r} is not a YYYY-MM-DD date")


def _parse_countries(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ValueError(f"{where}: expected a list of country codes")
    unknown = sorted({c for c in value if c not in COUNTRIES})
    if unknown:
        raise ValueError(f"{where}: unknown country code(s) {', '.join(unknown)}")
    return frozenset(value)


def _parse_patterns(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise ValueError(f"{where}: controlled_eccn_patterns must be a list of non-empty strings")
    return tuple(value)
