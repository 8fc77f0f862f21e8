"""Commerce licenses and party screenings as a deal holds them, and what they allow.

A deal's ``licenses`` are dicts (snapshot-friendly values): ``application_ref``,
``requested_eccns``, ``eccns``, ``status`` (requested | approved | denied) and, once
approved, ``license_number`` (upper case), ``valid_until``, and from v3 ``consignee`` and
``lines`` [{``eccn``, ``quantity``, ``value``}]; a revoked one has ``revoked``
{``effective_date``, ``reason``}. A license approved before v3 has no lines: it covers its
ECCNs without a quantity or value limit.

A deal's ``screenings`` hold, per party and list, the latest screening recorded: the
rules read the latest result against each list, and the newest ``list_date``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from domain.money import ZERO, format_money

License = Mapping[str, Any]
Gate = tuple[str, str]
PARTIES = ("buyer", "end_user")


# -- licenses ---------------------------------------------------------------------------


def party_key(party: Mapping[str, str]) -> str:
    """Parties are the same when their country is and their names are, compared without
    regard to case and to outer spaces."""
    return f"{party['country']}:{party['name'].strip().casefold()}"


def license_key(number: str) -> str:
    """License numbers compare without regard to case."""
    return number.upper()


def covering(licenses: Iterable[License], eccn: str) -> list[License]:
    """The approved licenses that name ``eccn``."""
    return [lic for lic in licenses if lic["status"] == "approved" and eccn in lic["eccns"]]


def revoked_by(license_: License, on: str) -> bool:
    revoked = license_.get("revoked")
    return revoked is not None and bool(revoked["effective_date"] <= on)


def valid_on(license_: License, on: str) -> bool:
    return bool(license_["valid_until"] >= on and not revoked_by(license_, on))


def valid_on_all(license_: License, dates: Sequence[str]) -> bool:
    return all(valid_on(license_, on) for on in dates)


def license_gate(licenses: Sequence[License], items: Iterable[Mapping[str, Any]],
                 controlled: Iterable[str], dates: Sequence[str]) -> Gate | None:
    """SPEC's license gate for the ``controlled`` ECCNs, valid on every one of ``dates``
    (v3: the event's date and the day it is recorded): the first of
    ``commerce_license_required``, ``_revoked``, ``_expired`` and (v3)
    ``license_quantity_exceeded`` that applies, with a detail; None when it passes."""
    controlled = sorted(set(controlled))
    uncovered = [e for e in controlled if not covering(licenses, e)]
    if uncovered:
        return ("commerce_license_required",
                f"no approved Commerce license covers controlled ECCN(s) {', '.join(uncovered)}")
    shown = " and ".join(sorted(set(dates)))
    invalid = [e for e in controlled
               if not any(valid_on_all(lic, dates) for lic in covering(licenses, e))]
    latest = max(dates)
    revoked = [e for e in invalid if any(revoked_by(lic, latest) for lic in covering(licenses, e))]
    if revoked:
        return ("commerce_license_revoked",
                f"no license covering {', '.join(revoked)} is valid on {shown}: revoked")
    if invalid:
        return ("commerce_license_expired",
                f"every license covering {', '.join(invalid)} has expired by {shown}")
    return _quantity_gate(licenses, items, controlled, dates)


def _quantity_gate(licenses: Sequence[License], items: Iterable[Mapping[str, Any]],
                   controlled: Sequence[str], dates: Sequence[str]) -> Gate | None:
    needed = totals_by_eccn(items)
    for eccn in controlled:
        valid = [lic for lic in covering(licenses, eccn) if valid_on_all(lic, dates)]
        if any("lines" not in lic for lic in valid):
            continue  # approved before v3: no quantity or value limit
        lines = [line for lic in valid for line in lic["lines"] if line["eccn"] == eccn]
        quantity = sum(line["quantity"] for line in lines)
        value = sum((Decimal(line["value"]) for line in lines), ZERO)
        want_quantity, want_value = needed.get(eccn, (0, ZERO))
        if want_quantity > quantity or want_value > value:
            return ("license_quantity_exceeded",
                    f"the deal's items of {eccn} come to {want_quantity} units worth "
                    f"{format_money(want_value)}; its valid licenses cover {quantity} units "
                    f"worth {format_money(value)}")
    return None


def totals_by_eccn(items: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, Decimal]]:
    """The total quantity and value of each ECCN over ``items``."""
    totals: dict[str, tuple[int, Decimal]] = {}
    for item in items:
        quantity, value = totals.get(item["eccn"], (0, ZERO))
        totals[item["eccn"]] = (quantity + item["quantity"], value + Decimal(item["value"]))
    return totals


def license_status(licenses: Sequence[License], items: Iterable[Mapping[str, Any]],
                   controlled: Iterable[str], on: str, last_status: str | None) -> str:
    """``not_required`` without controlled ECCNs; else ``revoked`` or ``expired`` when the
    gate would answer so on ``on``; ``partially_approved`` when some controlled ECCN has an
    approved license and some none; else the latest decision or request, or
    ``required``."""
    controlled = sorted(set(controlled))
    if not controlled:
        return "not_required"
    gate = license_gate(licenses, items, controlled, (on,))
    if gate is not None and gate[0] == "commerce_license_revoked":
        return "revoked"
    if gate is not None and gate[0] == "commerce_license_expired":
        return "expired"
    covered = [bool(covering(licenses, e)) for e in controlled]
    if any(covered) and not all(covered):
        return "partially_approved"
    return last_status or "required"


def revocation(license_: License, effective: str) -> bool:
    """Whether a revocation effective on ``effective`` changes ``license_``: it is not
    revoked yet, or only from a later date (an earlier date replaces it)."""
    revoked = license_.get("revoked")
    return revoked is None or effective < revoked["effective_date"]


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def license_view(license_: License, today: str) -> dict[str, Any]:
    """A license as ``GET /v1/licenses/{number}`` shows it, its status judged ``today``."""
    revoked = license_.get("revoked")
    if revoked_by(license_, today):
        status = "revoked"
    elif license_["valid_until"] < today:
        status = "expired"
    else:
        status = "valid"
    return {"license_number": license_["license_number"],
            "application_ref": license_["application_ref"],
            "eccns": list(license_["eccns"]),
            "consignee": license_.get("consignee"),
            "lines": license_.get("lines"),
            "valid_until": license_["valid_until"],
            "status": status,
            "revoked_from": revoked["effective_date"] if revoked else None}


# -- screenings -------------------------------------------------------------------------


def screening_key(party: str, list_name: str) -> str:
    """One entry per party and list; lists compare without regard to case."""
    return f"{party}|{list_name.strip().upper()}"


def latest_screenings(screenings: Mapping[str, Mapping[str, Any]], party: str,
                      one_party: bool) -> list[Mapping[str, Any]]:
    """The latest screening of ``party`` against each list. When the end user is the
    buyer (``one_party``), a screening recorded for either serves both."""
    latest: dict[str, Mapping[str, Any]] = {}
    for key, screening in screenings.items():
        who, list_name = key.split("|", 1)
        if who != party and not one_party:
            continue
        kept = latest.get(list_name)
        if kept is None or screening["version"] > kept["version"]:
            latest[list_name] = screening
    return [latest[name] for name in sorted(latest)]


def screening_age(latest: Sequence[Mapping[str, Any]], on: str) -> int:
    """Days from the newest ``list_date`` among ``latest`` to ``on``."""
    newest = max(s["list_date"] for s in latest)
    return (date.fromisoformat(on) - date.fromisoformat(newest)).days

