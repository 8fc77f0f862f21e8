"""The licenses read model's queries on SQLite and PostgreSQL: the status filter in SQL
judges as ``license_view`` does on every side of each date, and a number two deals hold
(approved before v3) answers with the one approved first."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from domain.licensing import license_view
from projections.base import Tables
from projections.deals import DealsProjection
from projections.licenses import find, query
from service.db import create_engine
from service.settings import Settings

TODAY = "2027-03-15"
DATES = ("2027-03-14", TODAY, "2027-03-16")


@pytest.fixture
def engine(settings: Settings) -> Iterator[sa.Engine]:
    engine = create_engine(settings)
    try:
        yield engine
    finally:
        engine.dispose()


def row(number: str, deal: int, position: int, valid_until: str,
        revoked_from: str | None) -> dict[str, object]:
    return {"license_number": number, "deal_id": f"00000000-0000-5000-8000-{deal:012d}",
            "approved_position": position, "application_ref": f"Z-{position}",
            "valid_until": valid_until, "revoked_from": revoked_from,
            "license": json.dumps({"eccns": ["3A090.A"], "consignee": None, "lines": None})}


def test_the_status_filter_judges_as_the_license_view(engine: sa.Engine):
    t: Tables = DealsProjection.schema["a"]
    grid = list(itertools.product(DATES, (None, *DATES)))
    rows = [row(f"G-{n}", n, n + 1, valid, revoked)
            for n, (valid, revoked) in enumerate(grid)]
    with engine.begin() as conn:
        conn.execute(t.licenses.insert(), rows)
    with engine.connect() as conn:
        every, _ = query(conn, t, TODAY, limit=1000)
        for status in ("valid", "expired", "revoked"):
            found, _ = query(conn, t, TODAY, status=status, limit=1000)
            assert [lic["license_number"] for lic in found] == [
                lic["license_number"] for lic in every if lic["status"] == status], status
    expected = {f"G-{n}": license_view(
        {"license_number": "", "application_ref": "", "eccns": [], "valid_until": valid,
         **({"revoked": {"effective_date": revoked}} if revoked else {})}, TODAY)["status"]
        for n, (valid, revoked) in enumerate(grid)}
    assert {lic["license_number"]: lic["status"] for lic in every} == expected
    assert set(expected.values()) == {"valid", "expired", "revoked"}


def test_a_number_two_deals_hold_answers_with_the_one_approved_first(engine: sa.Engine):
    t: Tables = DealsProjection.schema["a"]
    with engine.begin() as conn:
        conn.execute(t.licenses.insert(), [row("L-1", 2, 40, "2029-12-31", None),
                                           row("L-1", 1, 12, "2028-12-31", "2027-01-01")])
    with engine.connect() as conn:
        first = find(conn, t, "l-1", TODAY)
        assert first is not None
        assert (first["deal_id"], first["status"], first["revoked_from"]) == (
            "00000000-0000-5000-8000-000000000001", "revoked", "2027-01-01")
        assert find(conn, t, "L-2", TODAY) is None
        both, cursor = query(conn, t, TODAY)
        assert [lic["deal_id"][-1] for lic in both] == ["1", "2"] and cursor is None
