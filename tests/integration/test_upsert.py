"""The projections' one upsert, on SQLite and PostgreSQL: insert, set or add, in batches
larger than SQLite's limit on bound parameters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from projections.base import upsert
from service.db import create_engine
from service.settings import Settings

ROWS = 12_000  # x 3 columns: more parameters than one SQLite statement may bind
metadata = sa.MetaData()
probe = sa.Table(
    "upsert_probe",
    metadata,
    sa.Column("key", sa.String(16), primary_key=True),
    sa.Column("debit", sa.BigInteger, nullable=False),
    sa.Column("credit", sa.BigInteger, nullable=False),
)


@pytest.fixture
def engine(settings: Settings) -> Iterator[sa.Engine]:
    engine = create_engine(settings)
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def rows(keys: range, debit: int, credit: int) -> list[dict[str, object]]:
    return [{"key": f"k{i}", "debit": debit, "credit": credit} for i in keys]


def table_rows(conn: sa.Connection) -> dict[str, tuple[int, int]]:
    return {key: (debit, credit) for key, debit, credit in conn.execute(sa.select(probe))}


def test_new_keys_are_inserted_and_taken_keys_set(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        upsert(conn, probe, rows(range(ROWS), 1, 2))
        upsert(conn, probe, rows(range(ROWS // 2, ROWS + 10), 5, 6))
        found = table_rows(conn)
    assert len(found) == ROWS + 10
    assert found["k0"] == (1, 2) and found[f"k{ROWS // 2}"] == (5, 6)
    assert found[f"k{ROWS + 9}"] == (5, 6)


def test_with_add_the_values_are_added_to_taken_keys(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        upsert(conn, probe, rows(range(ROWS), 1, 2), add=True)
        upsert(conn, probe, rows(range(0, ROWS + 2, 2), 10, -1), add=True)
        found = table_rows(conn)
    assert len(found) == ROWS + 1
    assert (found["k0"], found["k1"], found[f"k{ROWS}"]) == ((11, 1), (1, 2), (10, -1))


def test_no_rows_write_nothing(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        upsert(conn, probe, [])
        assert table_rows(conn) == {}
