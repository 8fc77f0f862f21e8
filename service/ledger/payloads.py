"""Request bodies as strict pydantic models (SPEC §2 conventions), checked before any rule.

An event's ``data.model_dump()`` is the canonical payload the domain records and hashes;
``command()`` makes the ledger's ``Command`` of a body. The same models generate the
OpenAPI request schemas.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping
from functools import reduce
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    MISSING,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    create_model,
    model_validator,
)

from domain.events import EVENT_TYPES
from domain.policy import PolicyVersion
from service.ledger.commands import Command
from service.ledger.fields import (
    _POSITIVE,
    QUANTITY_MAX,
    ApplicationNumber,
    Category,
    Conditions,
    Country,
    Date,
    Eccn,
    EccnPattern,
    Eccns,
    Instrument,
    LicenseNumber,
    LicenseNumberRef,
    Money,
    MoneyOrZero,
    Name,
    Pct,
    PolicyCountries,
    Reason,
    Term,
    Timestamp,
    Votes,
    _kind,
    _require,
    anchored,
    refuse,
)

# --- event payloads (SPEC §2 table) --------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _printable_keys(cls, value: Any) -> Any:
        """Unknown keys are named in errors: odd ones (control characters, lone surrogates,
        overlong) are spelled as JSON first, as pydantic cannot report a lone surrogate."""
        if isinstance(value, dict) and not all(k.isprintable() and len(k) <= 100 for k in value):
            return {k if k.isprintable() and len(k) <= 100 else json.dumps(k[:100]): v
                    for k, v in value.items()}
        return value


class Party(Strict):
    name: Name
    country: Country


class Item(Strict):
    description: Name
    category: Category
    eccn: Eccn
    quantity: Annotated[int, Field(ge=1, le=QUANTITY_MAX)]
    value: Money
    classification_ref: Name | MISSING = Field(
        MISSING, description="the BIS classification ruling (CCATS): required for an "
                             "accelerator whose ECCN is not controlled")


class LicenseLine(Strict):
    eccn: Eccn
    quantity: Annotated[int, Field(ge=1, le=QUANTITY_MAX)]
    value: Money


class DealAppliedData(Strict):
    application_number: ApplicationNumber
    exporter: Party
    buyer: Party
    instrument: Instrument
    term: Term
    contract_value: Money
    financed_amount: Money
    tenor_years: Annotated[int, Field(ge=1, le=18)]
    items: Annotated[list[Item], Field(min_length=1, max_length=200)]
    us_content_pct: Pct
    end_user: Party | MISSING = Field(MISSING, description="the ultimate end user; default "
                                                           "the buyer")


class LicenseRequestedData(Strict):
    application_ref: Name
    eccns: Eccns


class CommerceLicenseApprovedData(Strict):
    """Every ECCN of eccns has exactly one line, and every line's ECCN is in eccns."""

    application_ref: Name
    license_number: LicenseNumber
    eccns: Eccns
    valid_until: Date
    conditions: Conditions | MISSING = MISSING
    consignee: Party
    lines: Annotated[list[LicenseLine], Field(min_length=1, max_length=200)]

    @model_validator(mode="after")
    def _a_line_per_eccn(self) -> Self:
        named = [line.eccn for line in self.lines]
        for index, eccn in enumerate(named):
            _require(eccn in self.eccns, f"{eccn} is not among eccns", at="lines")
            _require(eccn not in named[:index], f"{eccn} has more than one line", at="lines")
        missing = [eccn for eccn in self.eccns if eccn not in named]
        _require(not missing, f"no line for {', '.join(missing)}", at="lines")
        return self


class CommerceLicenseDeniedData(Strict):
    application_ref: Name
    reason: Reason


class BoardVotedData(Strict):
    """approved_amount is required when the decision is approved, refused when rejected."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"decision": {"const": "approved"}}, "required": ["approved_amount"]},
        {"properties": {"decision": {"const": "rejected"}},
         "not": {"required": ["approved_amount"]}}]})

    meeting_date: Date
    votes_for: Votes
    votes_against: Votes
    abstentions: Votes
    decision: Literal["approved", "rejected"]
    approved_amount: Money | MISSING = MISSING
    conditions: Conditions | MISSING = MISSING

    @model_validator(mode="after")
    def _amount_iff_approved(self) -> Self:
        given = self.approved_amount is not MISSING
        _require(given or self.decision != "approved", "is required when approved",
                 at="approved_amount")
        _require(not given or self.decision != "rejected", "is not allowed when rejected",
                 at="approved_amount")
        return self


class DealFinancedData(Strict):
    """interest_rate_pct is required for a direct_loan."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"instrument": {"enum": ["insurance", "loan_guarantee"]}}},
        {"required": ["interest_rate_pct"]}]})

    instrument: Instrument
    amount: Money
    exposure_fee_pct: Pct
    interest_rate_pct: Pct | MISSING = MISSING
    final_maturity_date: Date

    @model_validator(mode="after")
    def _rate_for_direct_loans(self) -> Self:
        _require(self.instrument != "direct_loan" or self.interest_rate_pct is not MISSING,
                 "is required for direct_loan", at="interest_rate_pct")
        return self


class FundsDisbursedData(Strict):
    amount: Money
    reference: Name


class RepaymentReceivedData(Strict):
    """principal and interest are not both 0."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"principal": {"pattern": anchored(_POSITIVE)}}},
        {"properties": {"interest": {"pattern": anchored(_POSITIVE)}}}]})

    principal: MoneyOrZero
    interest: MoneyOrZero
    reference: Name

    @model_validator(mode="after")
    def _not_nothing(self) -> Self:
        _require(self.principal != "0.00" or self.interest != "0.00",
                 "principal and interest are both 0", at="principal")
        return self


class ClaimPaidData(FundsDisbursedData):
    pass


class DealCancelledData(Strict):
    reason: Reason
    amount: Money | MISSING = MISSING


class CommerceLicenseRevokedData(Strict):
    """effective_date defaults to the date the revocation occurred."""

    license_number: LicenseNumberRef
    reason: Reason
    effective_date: Date | MISSING = MISSING


class RecoveryReceivedData(FundsDisbursedData):
    pass


class DealAmendedData(Strict):
    """Any non-empty subset of the amendable terms, and why."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 2})

    contract_value: Money | MISSING = MISSING
    financed_amount: Money | MISSING = MISSING
    tenor_years: Annotated[int, Field(ge=1, le=18)] | MISSING = MISSING
    items: Annotated[list[Item], Field(min_length=1, max_length=200)] | MISSING = MISSING
    us_content_pct: Pct | MISSING = MISSING
    reason: Reason

    @model_validator(mode="after")
    def _amends_something(self) -> Self:
        _require(self.model_fields_set - {"reason"},
                 "name at least one term to amend: contract_value, financed_amount, "
                 "tenor_years, items or us_content_pct")
        return self


class CongressionalNotifiedData(Strict):
    notified_on: Date
    amount: Money
    reference: Name


class PartyScreenedData(Strict):
    party: Literal["buyer", "end_user"]
    list: Annotated[Name, Field(description='the denied-party list, e.g. "CSL" (the '
                                            'Consolidated Screening List)')]
    list_date: Date
    result: Literal["clear", "match"]
    reference: Name


class EventReversedData(Strict):
    version: Annotated[int, Field(ge=1, le=2**62, description="the money event to reverse")]
    reason: Reason
    return_reference: Name | MISSING = Field(
        MISSING, description="the bank's reference for the returned funds: required to "
                             "reverse a FundsDisbursed")


EVENT_DATA: dict[str, type[Strict]] = {m.__name__.removesuffix("Data"): m for m in (
    DealAppliedData, DealAmendedData, LicenseRequestedData, CommerceLicenseApprovedData,
    CommerceLicenseDeniedData, CommerceLicenseRevokedData, BoardVotedData,
    CongressionalNotifiedData, PartyScreenedData, DealFinancedData,
    FundsDisbursedData, RepaymentReceivedData, ClaimPaidData, RecoveryReceivedData,
    EventReversedData, DealCancelledData)}


class PolicyVersionBody(Strict):
    """A policy version (SPEC §2 Policy), compared and hashed in its normal form."""

    id: Name
    effective_from: Date
    embargoed: PolicyCountries
    restricted_for_controlled: PolicyCountries
    controlled_eccn_patterns: Annotated[list[EccnPattern], Field(max_length=200)]
    designated_countries: PolicyCountries | None | MISSING = Field(
        MISSING, description="the beneficiary destinations; null or absent: every "
                             "destination not otherwise barred")
    max_backdating_days: Annotated[int, Field(ge=0, le=3650)] | MISSING = Field(
        MISSING, description="how far back events may be dated (default 30)")
    congressional_notice_threshold: Money | MISSING = Field(
        MISSING, description="a long-term deal above it, with its buyer's other approvals "
                             "within 365 days, needs notice to Congress (default "
                             "100000000.00)")
    notice_days: Annotated[int, Field(ge=0, le=3650)] | MISSING = Field(
        MISSING, description="days from the notice before the board may approve (default 35)")
    max_license_years: Annotated[int, Field(ge=1, le=50)] | MISSING = Field(
        MISSING, description="the longest validity of a license, in years (default 4)")
    screening_max_age_days: Annotated[int, Field(ge=0, le=3650)] | MISSING = Field(
        MISSING, description="the oldest a party screening may be (default 90)")

    def version(self) -> PolicyVersion:
        return PolicyVersion.from_data(self.model_dump())


class PolicyProposalBody(PolicyVersionBody):
    """A policy version proposed, and the act it carries out."""

    authority: Annotated[Name, Field(description="the act the version carries out, e.g. a "
                                                 "Federal Register citation or a board "
                                                 "resolution")]

    def data(self) -> dict[str, Any]:
        return {**self.version().normal_form(), "authority": self.authority}


class PolicyDecisionBody(Strict):
    """An approval or a withdrawal of a pending proposal: ``{}`` or a comment."""

    comment: Reason | MISSING = MISSING


class ProgramAuthorizedData(Strict):
    """The board's vote on the program: for must exceed against."""

    meeting_date: Date
    votes_for: Votes
    votes_against: Votes
    abstentions: Votes
    effective_from: Date
    expires_on: Date | MISSING = Field(MISSING, description="after effective_from; in force "
                                                            "up to and including it")
    total_limit: Money
    country_limits: dict[Country, Money] | MISSING = MISSING

    @model_validator(mode="after")
    def _expires_after_start(self) -> Self:
        if self.expires_on is not MISSING:
            _require(str(self.expires_on) > str(self.effective_from),
                     "must be after effective_from", at="expires_on")
        return self


class ProgramSuspendedData(Strict):
    reason: Reason
    effective_from: Date


for _type, _model in {**EVENT_DATA, "PolicyAdopted": PolicyVersionBody,
                      "PolicyProposed": PolicyProposalBody,
                      "ProgramAuthorized": ProgramAuthorizedData,
                      "ProgramSuspended": ProgramSuspendedData}.items():
    # what each event records is said once, in domain.events; the model adds its constraints
    _model.__doc__ = " ".join(filter(None, [EVENT_TYPES[_type].description, _model.__doc__]))


# --- request bodies ------------------------------------------------------------------------

_OCCURRED_AT = Field(None, description="RFC 3339 with a zone offset, at most 5 minutes ahead "
                     "of the server's clock; default: when recorded")


class DealApplication(DealAppliedData):
    """POST /v1/deals: the DealApplied data, and when it occurred."""

    occurred_at: Timestamp | None = _OCCURRED_AT

    def command(self) -> Command:
        data = self.model_dump(exclude={"occurred_at"})
        return Command("DealApplied", data, occurred_at=self.occurred_at)


class EventBody(Strict):
    type: str
    data: Strict
    occurred_at: Timestamp | None = _OCCURRED_AT
    expected_version: Annotated[int, Field(ge=0, le=2**62)] | None = Field(
        None, description="409 version_conflict unless the deal is at this version")

    def command(self, prefix: str = "", **target: Any) -> Command:
        return Command(self.type, self.data.model_dump(), occurred_at=self.occurred_at,
                       expected_version=self.expected_version, prefix=prefix, **target)


class BatchItem(EventBody):
    deal_id: Annotated[UUID, Field(strict=False)] | None = None
    application_number: ApplicationNumber | None = None

    def command(self, prefix: str = "", **target: Any) -> Command:
        return super().command(prefix, deal_id=self.deal_id,
                               application_number=self.application_number, **target)


class DealBatchItem(BatchItem):
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": [name], "properties": {name: {"type": "string"}}}
        for name in ("deal_id", "application_number")]})

    @model_validator(mode="after")
    def _names_its_deal(self) -> Self:
        _require(self.deal_id is not None or self.application_number is not None,
                 "deal_id or application_number is required", at="deal_id")
        return self


def _variant(base: type[EventBody], type_name: str, suffix: str) -> type[EventBody]:
    tag: Any = Literal[type_name]
    return create_model(f"{type_name}{suffix}", __base__=base,
                        type=(tag, ...), data=(EVENT_DATA[type_name], ...),
                        __doc__=EVENT_TYPES[type_name].doc)


def _by_type(variants: Mapping[str, type[EventBody]]) -> PlainValidator:
    """Validate a body as the variant its ``type`` names; documented as their ``oneOf``."""
    listed = ", ".join(variants)

    def validate(value: object) -> EventBody:
        if not isinstance(value, dict):
            refuse(f"must be an object, not {_kind(value)}")
        _require("type" in value, "is required", at="type")
        variant = variants.get(value["type"]) if isinstance(value["type"], str) else None
        if variant is None:
            elsewhere = " (DealApplied is posted to /v1/deals)" * (value["type"] == "DealApplied")
            refuse(f"must be one of {listed}{elsewhere}", at="type")
        return variant.model_validate(value)

    union: Any = Annotated[reduce(operator.or_, variants.values()), Field(discriminator="type")]
    return PlainValidator(validate, json_schema_input_type=union)


_DEAL_EVENTS = [t for t in EVENT_DATA if t != "DealApplied"]
EventRequest = Annotated[EventBody, _by_type({
    t: _variant(EventBody, t, "Event") for t in _DEAL_EVENTS})]
BatchEvent = Annotated[BatchItem, _by_type({
    "DealApplied": _variant(BatchItem, "DealApplied", "BatchItem"),
    **{t: _variant(DealBatchItem, t, "BatchItem") for t in _DEAL_EVENTS}})]


class Batch(Strict):
    events: Annotated[list[BatchEvent], Field(min_length=1, max_length=1000)]


DEAL_APPLICATION, EVENT_REQUEST = TypeAdapter(DealApplication), TypeAdapter(EventRequest)
BATCH = TypeAdapter(Batch)
POLICY = TypeAdapter(PolicyVersionBody)
POLICY_PROPOSAL = TypeAdapter(PolicyProposalBody)
POLICY_DECISION = TypeAdapter(PolicyDecisionBody)
PROGRAM_AUTHORIZATION = TypeAdapter(ProgramAuthorizedData)
PROGRAM_SUSPENSION = TypeAdapter(ProgramSuspendedData)
POLICY_FILE = TypeAdapter(list[PolicyVersionBody])
