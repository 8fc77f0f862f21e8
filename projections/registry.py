"""Every projection the service runs, given the ledger's policy book."""

from __future__ import annotations

from typing import Literal, get_args

from projections.audit import AuditProjection
from projections.base import Projection
from projections.deals import DealsProjection
from projections.dealstates import DealStates
from projections.exposure import ExposureProjection
from projections.folding import PolicyProvider
from projections.merkle_log import MerkleProjection
from projections.portfolio import PortfolioProjection

# The projections' names, known without building one (``rebuild`` offers them as choices).
ProjectionName = Literal["deals", "portfolio", "exposure", "audit", "merkle"]
NAMES: tuple[str, ...] = get_args(ProjectionName)


def read_models(policies: PolicyProvider) -> list[Projection]:
    """The read models; those folded from deals' states share one store of them."""
    states = DealStates()
    return [
        DealsProjection(policies, states),
        PortfolioProjection(policies, states),
        ExposureProjection(policies, states),
        AuditProjection(),
        MerkleProjection(),
    ]
