"""Effective-dated country and technology policy (SPEC §2 "Policy").

A version's content is compared and hashed in its normal form: country lists upper
case, sorted and without duplicates; ECCN patterns in the order given; absent optional
fields with their defaults. The versions in force are the ones adopted on the ledger's
program stream (``domain.program``); the two shipped versions are adopted on a new
ledger, and stand in for unknown ids when old events are folded.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

DEFAULT_MAX_BACKDATING_DAYS = 30
# v3 fields: left out of a version's normal form while they equal these defaults, so the
# shipped versions and every v2 version read, compare and hash as before
V3_DEFAULTS: dict[str, Any] = {
    "congressional_notice_threshold": "100000000.00",
    "notice_days": 35,
    "max_license_years": 4,
    "screening_max_age_days": 90,
}


@lru_cache(maxsize=8192)
def _matches(patterns: tuple[str, ...], upper: str) -> bool:
    """Whether an upper-case ECCN matches a pattern: each deal's items are judged on every
    event, against the few patterns of a version, so the answers are kept."""
    return any(fnmatchcase(upper, p.upper()) for p in patterns)


@dataclass(frozen=True)
class PolicyVersion:
    id: str
    effective_from: date
    embargoed: frozenset[str]
    restricted_for_controlled: frozenset[str]
    controlled_eccn_patterns: tuple[str, ...]
    designated_countries: frozenset[str] | None = None
    max_backdating_days: int = DEFAULT_MAX_BACKDATING_DAYS
    congressional_notice_threshold: Decimal = Decimal(V3_DEFAULTS["congressional_notice_threshold"])
    notice_days: int = V3_DEFAULTS["notice_days"]
    max_license_years: int = V3_DEFAULTS["max_license_years"]
    screening_max_age_days: int = V3_DEFAULTS["screening_max_age_days"]

    def is_controlled(self, eccn: str) -> bool:
        """Glob match, case-insensitive: ``*.Z`` means "ends in .z"."""
        return _matches(self.controlled_eccn_patterns, eccn.upper())

    def controlled(self, eccns: Iterable[str]) -> list[str]:
        """The controlled ECCNs among ``eccns``, upper case, sorted and unique."""
        return sorted({e.upper() for e in eccns if self.is_controlled(e)})

    def designates(self, country: str) -> bool:
        """Whether ``country`` may benefit: every destination while none are designated."""
        return self.designated_countries is None or country in self.designated_countries

    def normal_form(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "effective_from": self.effective_from.isoformat(),
            "embargoed": sorted(self.embargoed),
            "restricted_for_controlled": sorted(self.restricted_for_controlled),
            "controlled_eccn_patterns": list(self.controlled_eccn_patterns),
            "designated_countries": (None if self.designated_countries is None
                                     else sorted(self.designated_countries)),
            "max_backdating_days": self.max_backdating_days,
            **{name: value for name, value in self._v3_fields().items()
               if value != V3_DEFAULTS[name]},
        }

    def _v3_fields(self) -> dict[str, Any]:
        return {"congressional_notice_threshold": f"{self.congressional_notice_threshold:.2f}",
                "notice_days": self.notice_days, "max_license_years": self.max_license_years,
                "screening_max_age_days": self.screening_max_age_days}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> PolicyVersion:
        """A version from already validated data (a request, a file, a stored event)."""
        designated = data.get("designated_countries")
        return cls(
            id=data["id"],
            effective_from=date.fromisoformat(data["effective_from"]),
            embargoed=_countries(data["embargoed"]),
            restricted_for_controlled=_countries(data["restricted_for_controlled"]),
            controlled_eccn_patterns=tuple(data["controlled_eccn_patterns"]),
            designated_countries=None if designated is None else _countries(designated),
            max_backdating_days=data.get("max_backdating_days", DEFAULT_MAX_BACKDATING_DAYS),
            congressional_notice_threshold=Decimal(data.get(
                "congressional_notice_threshold", V3_DEFAULTS["congressional_notice_threshold"])),
            notice_days=data.get("notice_days", V3_DEFAULTS["notice_days"]),
            max_license_years=data.get("max_license_years", V3_DEFAULTS["max_license_years"]),
            screening_max_age_days=data.get("screening_max_age_days",
                                            V3_DEFAULTS["screening_max_age_days"]),
        )


def _countries(codes: Iterable[str]) -> frozenset[str]:
    return frozenset(code.upper() for code in codes)


_EMBARGOED = frozenset({"CU", "IR", "KP", "SY", "RU", "BY"})
# China and Macau, plus the U.S. arms-embargoed country group D:5
_CHINA_AND_D5 = frozenset({
    "AF", "BY", "CD", "CF", "CN", "CU", "ER", "HT", "IQ", "IR", "KH", "KP", "LB", "LY", "MM",
    "MO", "NI", "RU", "SD", "SO", "SS", "SY", "VE", "ZW",
})
_CONTROLLED = ("3A090*", "4A090*", "*.Z")

SHIPPED: tuple[PolicyVersion, ...] = (
    PolicyVersion("2025-05-13", date(2025, 5, 13), _EMBARGOED, _CHINA_AND_D5, _CONTROLLED),
    # The Export Administration Regulations have treated Hong Kong as China since 2020.
    PolicyVersion("2026-11-30", date(2026, 11, 30), _EMBARGOED, _CHINA_AND_D5 | {"HK"},
                  _CONTROLLED),
)


class PolicyBook:
    """Policy versions ordered by ``effective_from`` (one version a day)."""

    def __init__(self, versions: Iterable[PolicyVersion]) -> None:
        self._versions = tuple(sorted(versions, key=lambda v: v.effective_from))
        self._dates = [v.effective_from for v in self._versions]
        self._by_id = {v.id: v for v in self._versions}

    @property
    def versions(self) -> tuple[PolicyVersion, ...]:
        return self._versions

    def __bool__(self) -> bool:
        return bool(self._versions)

    def at(self, moment: datetime | date) -> PolicyVersion:
        """The version in force on ``moment``'s UTC date; before all of them, the earliest.
        An empty book answers with the shipped versions."""
        if not self._versions:
            return SHIPPED_BOOK.at(moment)
        day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
        index = bisect_right(self._dates, day) - 1
        return self._versions[max(index, 0)]

    def by_id(self, policy_id: str) -> PolicyVersion | None:
        return self._by_id.get(policy_id)

    def resolve(self, policy_id: str | None, moment: datetime | date) -> PolicyVersion:
        """The version an event names; an id this book lacks (an event older than its
        version's adoption) is a shipped version, by id or else in force at ``moment`` —
        never a version of this book, so every reader resolves it alike."""
        found = self.by_id(policy_id) if policy_id else None
        if found is not None:
            return found
        shipped = SHIPPED_BOOK.by_id(policy_id) if policy_id else None
        return shipped or SHIPPED_BOOK.at(moment)

    def with_versions(self, versions: Iterable[PolicyVersion]) -> PolicyBook:
        added = [v for v in versions if v.id not in self._by_id]
        return PolicyBook((*self._versions, *added)) if added else self


SHIPPED_BOOK = PolicyBook(SHIPPED)
