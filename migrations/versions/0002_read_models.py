"""Read models: projection positions and the deals, portfolio, exposure and audit tables
(each in two slots, a and b, so a rebuild can swap a fresh copy in atomically).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from projections.audit import AuditProjection
from projections.deals import DealsProjection
from projections.exposure import ExposureProjection
from projections.portfolio import PortfolioProjection
from projections.positions import metadata as positions_metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMAS = (DealsProjection.schema, PortfolioProjection.schema, ExposureProjection.schema,
           AuditProjection.schema)


def upgrade() -> None:
    bind = op.get_bind()
    positions_metadata.create_all(bind)
    for schema in SCHEMAS:
        schema.metadata.create_all(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for schema in reversed(SCHEMAS):
        schema.metadata.drop_all(bind)
    positions_metadata.drop_all(bind)
