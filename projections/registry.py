"""Every projection the service runs, built from the policy book."""

from __future__ import annotations

from domain.policy import PolicyBook
from projections.audit import AuditProjection
from projections.base import Projection
from projections.deals import DealsProjection
from projections.exposure import ExposureProjection
from projections.merkle_log import MerkleProjection
from projections.portfolio import PortfolioProjection


def read_models(policies: PolicyBook) -> list[Projection]:
    return [
        DealsProjection(policies),
        PortfolioProjection(policies),
        ExposureProjection(policies),
        AuditProjection(),
        MerkleProjection(),
    ]
