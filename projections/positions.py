"""Where each projection stands in the global log, and which slot readers use."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

positions = sa.Table(
    "projection_positions",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("slot", sa.String(1), nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)
