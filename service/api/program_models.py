"""The program stream's response models: policy versions (adopted and proposed) and the
program's authorization with the committed totals it limits."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from service.api.responses import Hex

Amount = Annotated[str, Field(pattern=r"^-?(0|[1-9][0-9]*)\.[0-9]{2}$")]


class PolicyVersion(BaseModel):
    model_config = ConfigDict(extra="allow")  # v3 fields, when they differ from defaults

    id: str
    effective_from: date
    embargoed: list[str]
    restricted_for_controlled: list[str]
    controlled_eccn_patterns: list[str]
    designated_countries: list[str] | None
    max_backdating_days: int


class Adoption(PolicyVersion):
    data: dict[str, Any] = Field(description="the PolicyAdopted event's data: the version in "
                                             "normal form and, for an approved proposal, its "
                                             "authority, proposed_by and proposal_hash")
    adopted_at: datetime
    adopted_by: str = Field(description="who adopted it: the approver, or system")
    hash: Hex = Field(description="the PolicyAdopted event's hash")
    event_id: UUID
    position: int
    version: int = Field(description="the PolicyAdopted event's version on the program stream")


class Proposal(PolicyVersion):
    data: dict[str, Any] = Field(description="the PolicyProposed event's data: the version "
                                             "in normal form and its authority")
    authority: str
    proposed_at: datetime
    proposed_by: str
    hash: Hex = Field(description="the PolicyProposed event's hash")
    event_id: UUID
    position: int
    version: int


class Policies(BaseModel):
    policies: list[Adoption] = Field(description="by effective date")
    in_force: str = Field(description="the id of the version in force today")
    proposed: list[Proposal] = Field(description="proposals pending approval, in the order "
                                                 "proposed")


class Authorization(BaseModel):
    model_config = ConfigDict(extra="allow")

    meeting_date: date
    votes_for: int
    votes_against: int
    abstentions: int
    effective_from: date
    expires_on: date | None = None
    total_limit: Amount
    country_limits: dict[str, str] | None = None
    recorded_at: datetime
    recorded_by: str
    hash: Hex


class CountryCommitment(BaseModel):
    country: str
    committed: Amount
    limit: Amount | None = Field(description="the authorization's limit for it, if any")
    available: Amount | None = Field(description="limit − committed, if limited")


class ProgramStatus(BaseModel):
    authorization: Authorization | None = Field(
        description="the authorization in force today, or null")
    suspended: bool = Field(description="whether a suspension in force today was not lifted "
                                        "by a later authorization")
    committed: Amount = Field(description="the sum over financed deals of committed − "
                                          "cancelled")
    total_limit: Amount | None
    available: Amount | None = Field(description="total_limit − committed")
    by_country: list[CountryCommitment]
