"""Every projection the service runs, given the ledger's policy book."""

from __future__ import annotations

from projections.audit import AuditProjection
from projections.base import Projection
from projections.deals import DealsProjection
from projections.exposure import ExposureProjection
from projections.folding import PolicyProvider
from projections.merkle_log import MerkleProjection
from projections.portfolio import PortfolioProjection


def read_models(policies: PolicyProvider) -> list[Projection]:
    return [
        DealsProjection(policies),
        PortfolioProjection(policies),
        ExposureProjection(policies),
        AuditProjection(),
        MerkleProjection(),
    ]
