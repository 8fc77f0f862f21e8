"""Typed results: dataclasses built from the API's JSON (SPEC §2-§4).

Money is ``Decimal``, timestamps are aware ``datetime``s, ids are ``UUID``s; every other
value is kept as the JSON gave it.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar, get_args, get_type_hints
from uuid import UUID

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")
_PARSERS: dict[Any, Callable[[Any], Any]] = {
    Decimal: Decimal, datetime: datetime.fromisoformat, date: date.fromisoformat, UUID: UUID,
}


def build(cls: type[D], raw: Mapping[str, Any]) -> D:
    """An instance of the dataclass ``cls`` from a JSON object: its fields converted by their
    types; the keys it has no field for go to its ``extra`` field, if it has one, else are
    ignored (a newer server may send more)."""
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values = {name: _convert(hints[name], raw[name]) for name in names if name in raw}
    if "extra" in names:
        values["extra"] = {k: v for k, v in raw.items() if k not in names}
    return cls(**values)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    kinds = get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    parser = next((_PARSERS[k] for k in kinds if k in _PARSERS), None)
    return parser(value) if parser else value


@dataclass(frozen=True)
class Envelope:
    """One event as stored and hashed (SPEC §3)."""

    event_id: UUID
    deal_id: UUID
    version: int
    position: int
    type: str
    data: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    source: str | None
    correlation_id: str | None
    idempotency_key: str | None
    policy_version: str
    prev_hash: str | None
    hash: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Envelope:
        return build(cls, raw)


def envelopes(raw: Mapping[str, Any]) -> list[Envelope]:
    """The envelopes of a ``{"events": [...]}`` body."""
    return [Envelope.from_json(e) for e in raw["events"]]


@dataclass(frozen=True)
class EventPage:
    """A page of the global log; ``next_after`` is where the next page starts."""

    events: list[Envelope]
    next_after: int

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> EventPage:
        return cls(envelopes(raw), raw["next_after"])


@dataclass(frozen=True)
class Deal:
    """A deal's derived state: SPEC's fields; every other key the server sends (the
    parties and ``end_user``, items, ``licenses`` with their consignee and lines, the latest
    ``screenings`` of each party, the board vote, ...) is kept in ``extra``."""

    deal_id: UUID
    application_number: str
    version: int
    stage: str
    license_status: str
    board_status: str
    buyer_country: str
    instrument: str
    term: str
    controlled_eccns: list[str]
    requested: Decimal
    approved: Decimal
    committed: Decimal
    disbursed: Decimal
    principal_repaid: Decimal
    interest_received: Decimal
    claims_paid: Decimal
    cancelled: Decimal
    recovered: Decimal
    outstanding: Decimal
    undisbursed: Decimal
    exposure: Decimal
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Deal:
        return build(cls, raw)


@dataclass(frozen=True)
class DealPage:
    """A page of ``GET /v1/portfolio/deals``: one row per deal, its derived state;
    ``next_cursor`` (None at the end) is the ``cursor`` of the next page."""

    deals: list[Deal]
    next_cursor: str | None
    position: int  # the last event the rows reflect

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> DealPage:
        return cls([Deal.from_json(d) for d in raw["deals"]], raw["next_cursor"],
                   raw["position"])


@dataclass(frozen=True)
class LicenseLine:
    eccn: str
    quantity: int
    value: Decimal


@dataclass(frozen=True)
class License:
    """An approved Commerce license (SPEC v3, ``GET /v1/licenses/{number}``), its
    ``status`` (valid | expired | revoked) judged on the server's day. A license approved
    before v3 has no ``consignee`` and no ``lines``: it covers its ECCNs without a limit."""

    license_number: str
    deal_id: UUID
    application_ref: str
    eccns: list[str]
    consignee: dict[str, str] | None
    lines: list[LicenseLine] | None
    valid_until: date
    status: str
    revoked_from: date | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> License:
        license_ = build(cls, raw)
        lines = raw.get("lines")
        return dataclasses.replace(license_, lines=None if lines is None else [
            build(LicenseLine, line) for line in lines])


@dataclass(frozen=True)
class LicensePage:
    """A page of ``GET /v1/licenses``, in the order the licenses were approved."""

    licenses: list[License]
    next_cursor: str | None
    position: int

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> LicensePage:
        return cls([License.from_json(lic) for lic in raw["licenses"]], raw["next_cursor"],
                   raw["position"])


@dataclass(frozen=True)
class Refusal:
    """A write refused to an authenticated key (403, 409 or 422), as stored once per
    request outside the event log (``GET /v1/refusals``). ``body_sha256`` is the SHA-256
    of the request's raw body (null when it was not read whole); the body is not kept."""

    recorded_at: datetime
    actor: str
    role: str
    source: str | None
    request_id: str | None
    deal_id: UUID | None
    application_number: str | None
    event_type: str | None
    code: str
    detail: str
    policy_version: str | None
    body_sha256: str | None


@dataclass(frozen=True)
class RefusalPage:
    """A page of ``GET /v1/refusals``, in the order the refusals were stored."""

    refusals: list[Refusal]
    next_cursor: str | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RefusalPage:
        return cls([build(Refusal, row) for row in raw["refusals"]], raw["next_cursor"])


@dataclass(frozen=True)
class Figures:
    """Sums of the per-deal figures over a set of deals."""

    deals: int
    requested: Decimal
    approved: Decimal
    committed: Decimal
    disbursed: Decimal
    outstanding: Decimal
    exposure: Decimal
    recovered: Decimal = Decimal("0.00")
    claims_paid: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class CategoryFigures:
    deals: int  # deals with an item of the category
    item_value: Decimal


@dataclass(frozen=True)
class Portfolio:
    """``GET /v1/portfolio``; each breakdown maps its key (a country, an instrument, ...)
    to its figures."""

    position: int
    totals: Figures
    by_stage: dict[str, int]
    by_country: dict[str, Figures]
    by_instrument: dict[str, Figures]
    by_term: dict[str, Figures]
    by_category: dict[str, CategoryFigures]
    as_of: datetime | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Portfolio:
        def rows(key: str, kind: type[D]) -> dict[str, D]:
            return {row[key]: build(kind, row) for row in raw[f"by_{key}"]}

        return cls(raw["position"], build(Figures, raw["totals"]), dict(raw["by_stage"]),
                   rows("country", Figures), rows("instrument", Figures), rows("term", Figures),
                   rows("category", CategoryFigures), _convert(datetime, raw.get("as_of")))


@dataclass(frozen=True)
class Policy:
    """An adopted policy version, with who adopted it, when, and its event's hash; for an
    approved proposal, its authority, proposer and the proposal's hash (v3)."""

    id: str
    effective_from: date
    embargoed: list[str]
    restricted_for_controlled: list[str]
    controlled_eccn_patterns: list[str]
    designated_countries: list[str] | None
    max_backdating_days: int
    adopted_at: datetime
    adopted_by: str
    hash: str
    position: int
    congressional_notice_threshold: str = "100000000.00"
    notice_days: int = 35
    max_license_years: int = 4
    screening_max_age_days: int = 90
    authority: str | None = None
    proposed_by: str | None = None
    proposal_hash: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Proposal:
    """A policy version proposed and not yet approved or withdrawn (v3: four eyes)."""

    id: str
    effective_from: date
    authority: str
    proposed_at: datetime
    proposed_by: str
    hash: str
    data: dict[str, Any]  # the version in its normal form, and the authority


@dataclass(frozen=True)
class Policies:
    policies: list[Policy]  # by effective date
    in_force: str  # the id of the version in force today
    proposed: list[Proposal] = field(default_factory=list)  # pending approval

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Policies:
        return cls([build(Policy, p) for p in raw["policies"]], raw["in_force"],
                   [build(Proposal, p) for p in raw.get("proposed", [])])


@dataclass(frozen=True)
class CountryCommitment:
    country: str
    committed: Decimal
    limit: Decimal | None
    available: Decimal | None


@dataclass(frozen=True)
class ProgramStatus:
    """``GET /v1/program``: the authorization in force today (its data, ``recorded_at``),
    whether the program is suspended, and the committed totals against its limits."""

    authorization: dict[str, Any] | None
    suspended: bool
    committed: Decimal
    total_limit: Decimal | None
    available: Decimal | None
    by_country: list[CountryCommitment]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ProgramStatus:
        status = build(cls, raw)
        return dataclasses.replace(status, by_country=[build(CountryCommitment, row)
                                                       for row in raw["by_country"]])


@dataclass(frozen=True)
class Verification:
    """``GET /v1/audit/verify``: ``failures`` lists at most 1000 of ``failures_total``."""

    ok: bool
    events_checked: int
    failures: list[dict[str, Any]]
    failures_total: int

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Verification:
        return build(cls, raw)


@dataclass(frozen=True)
class Account:
    """One account of the exposure ledger (authorised, undisbursed, outstanding, ...)."""

    account: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


@dataclass(frozen=True)
class Reconciliation:
    """The exposure ledger's postings balance, and agree with the portfolio's figures
    (``portfolio_*`` and ``detail``: None when they were not compared, and why)."""

    position: int
    debits: Decimal
    credits: Decimal
    balanced: bool
    ledger_exposure: Decimal
    ledger_committed: Decimal
    ok: bool
    portfolio_exposure: Decimal | None = None
    portfolio_committed: Decimal | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ProgramExposure:
    """``GET /v1/exposure``: the program's accounts and their reconciliation."""

    position: int
    accounts: list[Account]
    reconciliation: Reconciliation

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ProgramExposure:
        return cls(raw["position"], [build(Account, a) for a in raw["accounts"]],
                   build(Reconciliation, raw["reconciliation"]))


@dataclass(frozen=True)
class Posting:
    """One line of a double entry: ``entry`` groups the lines of one event's posting."""

    position: int
    entry: int
    kind: str
    account: str
    debit: Decimal
    credit: Decimal
    recorded_at: datetime


@dataclass(frozen=True)
class DealExposure:
    """``GET /v1/exposure/deals/{id}``: one deal's balances by account, and its postings."""

    deal_id: UUID
    position: int
    balances: dict[str, Decimal]
    postings: list[Posting]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> DealExposure:
        return cls(UUID(raw["deal_id"]), raw["position"],
                   {k: Decimal(v) for k, v in raw["balances"].items()},
                   [build(Posting, p) for p in raw["postings"]])
