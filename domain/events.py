"""Every event type, once: its payload's shape, what it records, and its refusals in order.

A payload is stored as the canonical JSON dict ``data`` (the value the API returns and the
hash covers); the ``TypedDict`` named after its event (``BoardVotedData``) is its shape.
The API's request models, the OpenAPI descriptions, the client and ``docs/domain.md`` are
checked against ``EVENT_TYPES`` (``tests/unit/test_event_table.py``; the docs' table is
written by ``tools/gen_domain_docs.py``).

``codes`` lists each problem ``code`` a post of the event can be answered with, in the
order they are checked, the first that holds being the answer: ``validation_error`` (the
schema; an ``occurred_at`` ahead of the clock), then, for an event on an existing deal,
``not_found`` and ``version_conflict`` (``expected_version``), the rules every such event
shares (SPEC §2: ``deal_closed`` first, then business time), and the event's own rules in
SPEC order. ``idempotency_key_reused`` may answer any post and is not listed.
"""

# No ``from __future__ import annotations``: a TypedDict reads ``NotRequired`` from its
# evaluated annotations (Python 3.11).
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

# -- payloads (SPEC §2) -------------------------------------------------------------------


class Party(TypedDict):
    name: str
    country: str


class Item(TypedDict):
    description: str
    category: str
    eccn: str
    quantity: int
    value: str
    classification_ref: NotRequired[str]  # v3: an uncontrolled accelerator's BIS ruling


class LicenseLine(TypedDict):
    eccn: str
    quantity: int
    value: str


class DealAppliedData(TypedDict):
    application_number: str
    exporter: Party
    buyer: Party
    instrument: str
    term: str
    contract_value: str
    financed_amount: str
    tenor_years: int
    items: list[Item]
    us_content_pct: NotRequired[str]  # v3: required in a new application
    end_user: NotRequired[Party]  # v3: default the buyer


class DealAmendedData(TypedDict):
    """Any non-empty subset of the amendable terms, and why."""

    contract_value: NotRequired[str]
    financed_amount: NotRequired[str]
    tenor_years: NotRequired[int]
    items: NotRequired[list[Item]]
    us_content_pct: NotRequired[str]
    reason: str


class LicenseRequestedData(TypedDict):
    application_ref: str
    eccns: list[str]


class CommerceLicenseApprovedData(TypedDict):
    application_ref: str
    license_number: str
    eccns: list[str]
    valid_until: str
    conditions: NotRequired[list[str]]
    consignee: NotRequired[Party]  # v3: required in a new approval, as are the lines
    lines: NotRequired[list[LicenseLine]]


class CommerceLicenseDeniedData(TypedDict):
    application_ref: str
    reason: str


class CommerceLicenseRevokedData(TypedDict):
    license_number: str
    reason: str
    effective_date: NotRequired[str]


class BoardVotedData(TypedDict):
    meeting_date: str
    votes_for: int
    votes_against: int
    abstentions: int
    decision: str
    approved_amount: NotRequired[str]
    conditions: NotRequired[list[str]]


class DealFinancedData(TypedDict):
    instrument: str
    amount: str
    exposure_fee_pct: str
    interest_rate_pct: NotRequired[str]
    final_maturity_date: str


class FundsDisbursedData(TypedDict):
    amount: str
    reference: str


class RepaymentReceivedData(TypedDict):
    principal: str
    interest: str
    reference: str


class ClaimPaidData(TypedDict):
    amount: str
    reference: str


class RecoveryReceivedData(TypedDict):
    amount: str
    reference: str


class CongressionalNotifiedData(TypedDict):
    notified_on: str
    amount: str
    reference: str


class PartyScreenedData(TypedDict):
    party: str
    list: str
    list_date: str
    result: str
    reference: str


class EventReversedData(TypedDict):
    version: int
    reason: str
    return_reference: NotRequired[str]


class DealCancelledData(TypedDict):
    reason: str
    amount: NotRequired[str]


class PolicyVersionData(TypedDict):
    """A policy version as posted; stored in normal form, absent fields with their
    defaults (``designated_countries`` null, ``max_backdating_days`` 30), the v3 fields
    left out while they equal theirs."""

    id: str
    effective_from: str
    embargoed: list[str]
    restricted_for_controlled: list[str]
    controlled_eccn_patterns: list[str]
    designated_countries: NotRequired[list[str] | None]
    max_backdating_days: NotRequired[int]
    congressional_notice_threshold: NotRequired[str]
    notice_days: NotRequired[int]
    max_license_years: NotRequired[int]
    screening_max_age_days: NotRequired[int]


class PolicyProposedData(PolicyVersionData):
    authority: str


class PolicyAdoptedData(PolicyVersionData):
    """v3: an approved proposal also records its ``authority``, who proposed it and the
    proposal event's hash (shipped and bootstrap versions have none)."""

    authority: NotRequired[str]
    proposed_by: NotRequired[str]
    proposal_hash: NotRequired[str]
    comment: NotRequired[str]


class PolicyWithdrawnData(TypedDict):
    id: str
    comment: NotRequired[str]


class ProgramAuthorizedData(TypedDict):
    meeting_date: str
    votes_for: int
    votes_against: int
    abstentions: int
    effective_from: str
    expires_on: NotRequired[str]
    total_limit: str
    country_limits: NotRequired[dict[str, str]]


class ProgramSuspendedData(TypedDict):
    reason: str
    effective_from: str


# -- the table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EventType:
    name: str
    payload: type
    description: str
    codes: tuple[str, ...]
    stream: Literal["deal", "program"] = "deal"
    # (v3) fields a new post must give that events stored before may lack
    required_in_posts: tuple[str, ...] = ()

    @property
    def doc(self) -> str:
        """The description and the codes, as the API documents a post of the event."""
        return f"{self.description} Refused, in the order checked, with: {', '.join(self.codes)}."


ON_A_DEAL = ("validation_error", "not_found", "version_conflict",
             "deal_closed", "occurred_before_previous_event", "backdated_beyond_window")
LICENSE_GATE = ("commerce_license_required", "commerce_license_revoked",
                "commerce_license_expired", "license_quantity_exceeded")
PARTY_RULES = ("party_not_screened", "denied_party", "party_screening_stale")
COUNTRY_RULES = ("destination_embargoed", "destination_not_designated",
                 "controlled_items_to_restricted_destination")
NOTICE = ("congressional_notice_required", "notice_period_not_elapsed",
          "notice_amount_exceeded")
PROGRAM_LIMITS = ("program_not_authorized", "program_limit_exceeded",
                  "country_limit_exceeded")
POLICY_DATES = ("policy_retroactive", "policy_id_taken", "policy_date_taken")
TERMS = ("buyer_not_foreign", "instrument_not_offered_for_term", "term_mismatch",
         "financed_share_exceeds_limit", "financed_exceeds_us_content",
         "items_do_not_sum_to_contract_value", *COUNTRY_RULES,
         "classification_evidence_required")


def _table(*types: EventType) -> dict[str, EventType]:
    return {t.name: t for t in types}


EVENT_TYPES: dict[str, EventType] = _table(
    EventType("DealApplied", DealAppliedData,
              "An application for financing: the parties, the instrument, the terms and the "
              "items; it opens the deal.",
              ("validation_error", "version_conflict", "backdated_beyond_window",
               "exporter_not_us", *TERMS, "duplicate_application"),
              required_in_posts=("us_content_pct",)),
    EventType("DealAmended", DealAmendedData,
              "Terms corrected before financing, judged again by the application's rules.",
              (*ON_A_DEAL, "already_financed", *TERMS)),
    EventType("LicenseRequested", LicenseRequestedData,
              "An export license applied for at Commerce (BIS) for some of the deal's ECCNs.",
              (*ON_A_DEAL, "eccn_not_in_deal", "license_already_requested")),
    EventType("CommerceLicenseApproved", CommerceLicenseApprovedData,
              "Commerce approved a requested license, for some of its ECCNs, until a date: "
              "its number, its consignee, and its lines (quantity and value per ECCN).",
              (*ON_A_DEAL, "license_not_requested", "license_already_decided",
               "eccn_not_in_deal", "license_number_taken", "license_validity_invalid",
               "license_consignee_mismatch"),
              required_in_posts=("consignee", "lines")),
    EventType("CommerceLicenseDenied", CommerceLicenseDeniedData,
              "Commerce denied a requested license.",
              (*ON_A_DEAL, "license_not_requested", "license_already_decided")),
    EventType("CommerceLicenseRevoked", CommerceLicenseRevokedData,
              "Commerce revoked an approved license from a date; allowed after financing. An "
              "earlier date replaces a later one.",
              (*ON_A_DEAL, "license_not_found", "license_already_revoked")),
    EventType("BoardVoted", BoardVotedData,
              "The board's vote on the deal, at a meeting that took place; a later meeting's "
              "vote replaces an earlier one until financing. An approval covers the "
              "financed amount, tenor and quantities it saw.",
              (*ON_A_DEAL, "already_financed", "meeting_in_future",
               "meeting_already_recorded", "meeting_out_of_order", "no_quorum",
               "too_many_votes", "decision_contradicts_votes",
               "approved_amount_exceeds_request", *NOTICE)),
    EventType("CongressionalNotified", CongressionalNotifiedData,
              "EXIM notified Congress of a long-term deal before the board's final "
              "consideration (12 U.S.C. 635a(c)(10)).",
              (*ON_A_DEAL, "already_financed", "notice_in_future")),
    EventType("PartyScreened", PartyScreenedData,
              "The buyer or the end user screened against a denied-party list (e.g. the "
              "Consolidated Screening List); allowed after financing.",
              (*ON_A_DEAL, "screening_in_future")),
    EventType("DealFinanced", DealFinancedData,
              "EXIM committed to the deal: the instrument, the amount, the fee and the final "
              "maturity.",
              (*ON_A_DEAL, "already_financed", "board_approval_required",
               "board_approval_stale", "amount_exceeds_board_approval",
               "instrument_mismatch", *LICENSE_GATE, *PARTY_RULES, *COUNTRY_RULES,
               *PROGRAM_LIMITS,
               "maturity_outside_tenor")),
    EventType("FundsDisbursed", FundsDisbursedData,
              "Money paid out under the commitment.",
              (*ON_A_DEAL, "not_financed", "disbursement_exceeds_commitment", *LICENSE_GATE,
               *PARTY_RULES, "destination_embargoed",
               "controlled_items_to_restricted_destination")),
    EventType("RepaymentReceived", RepaymentReceivedData,
              "Principal and interest repaid by the buyer.",
              (*ON_A_DEAL, "not_financed", "repayment_exceeds_outstanding")),
    EventType("ClaimPaid", ClaimPaidData,
              "EXIM paid a claim under an insurance policy or a guarantee.",
              (*ON_A_DEAL, "not_financed", "claims_not_applicable",
               "claim_exceeds_outstanding")),
    EventType("RecoveryReceived", RecoveryReceivedData,
              "Money recovered after a claim was paid.",
              (*ON_A_DEAL, "not_financed", "no_claim_to_recover", "recovery_exceeds_claims")),
    EventType("EventReversed", EventReversedData,
              "A money event of the deal, named by its version, undone: its amounts no "
              "longer count.",
              (*ON_A_DEAL, "reversal_target_invalid", "already_reversed",
               "reversal_by_same_actor", "reversal_evidence_required",
               "reversal_breaks_balances")),
    EventType("DealCancelled", DealCancelledData,
              "Before financing, the deal closed; after it, some or all of the undisbursed "
              "commitment cancelled.",
              (*ON_A_DEAL, "amount_not_allowed_before_financing",
               "cancellation_exceeds_undisbursed")),
    EventType("PolicyProposed", PolicyProposedData,
              "A policy version proposed by an admin, under an authority; another admin "
              "adopts it or it is withdrawn.",
              ("validation_error", *POLICY_DATES), stream="program"),
    EventType("PolicyAdopted", PolicyAdoptedData,
              "A country and technology policy version adopted, on the program stream: a "
              "proposal approved by another key (or a shipped or bootstrap version).",
              ("validation_error", "policy_not_pending", "policy_self_approval",
               *POLICY_DATES), stream="program"),
    EventType("PolicyWithdrawn", PolicyWithdrawnData,
              "A pending policy proposal withdrawn; its id and date are free again.",
              ("validation_error", "policy_not_pending"), stream="program"),
    EventType("ProgramAuthorized", ProgramAuthorizedData,
              "The board's vote authorizing the program from a date, with its total "
              "limit and country limits; it lifts an earlier suspension.",
              ("validation_error", "no_quorum", "too_many_votes",
               "decision_contradicts_votes", "meeting_in_future"), stream="program"),
    EventType("ProgramSuspended", ProgramSuspendedData,
              "The board suspended the program from a date: no deal is financed while no "
              "authorization is in force.",
              ("validation_error", "suspension_retroactive"), stream="program"),
)
