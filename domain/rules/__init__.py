"""Business rules: ``check_*`` guards that raise ``RuleViolation`` with the SPEC's codes.

Each guard checks one rule; the ``Deal`` command methods call them in SPEC order. One
module per topic; every guard is re-exported here, so ``rules.check_quorum`` reads the
same wherever it is called.
"""

from __future__ import annotations

from domain.rules.application import (
    INSTRUMENTS_BY_TERM,
    MAX_FINANCED_SHARE,
    MEDIUM_TERM_MAX_AMOUNT,
    MEDIUM_TERM_MAX_TENOR,
    check_buyer_is_foreign,
    check_controlled_items_allowed,
    check_destination_designated,
    check_destination_not_embargoed,
    check_exporter_is_us,
    check_financed_share,
    check_instrument_offered_for_term,
    check_items_sum,
    check_term,
    check_terms,
    check_us_content,
)
from domain.rules.board import (
    DIRECTORS,
    QUORUM,
    check_approved_amount,
    check_decision_matches_votes,
    check_quorum,
    check_vote_count,
)
from domain.rules.common import (
    CLOCK_SKEW,
    Judgement,
    check_at_most,
    check_backdating,
    check_deal_open,
    check_financed,
    check_not_before_previous_event,
    check_not_financed,
)
from domain.rules.financing import (
    check_amount_within_approval,
    check_board_approved,
    check_instrument_matches,
    check_maturity,
)
from domain.rules.licenses import (
    check_eccns_in_deal,
    check_eccns_in_request,
    check_license_found,
    check_license_gate,
    check_license_not_revoked,
    check_license_ref_unused,
    check_license_requested,
    check_license_undecided,
)
from domain.rules.servicing import (
    check_cancellation,
    check_claim,
    check_claims_applicable,
    check_disbursement,
    check_recovery,
    check_repayment,
    check_reversal_keeps_balances,
    check_reversal_target,
)

__all__ = [
    "CLOCK_SKEW",
    "DIRECTORS",
    "INSTRUMENTS_BY_TERM",
    "Judgement",
    "MAX_FINANCED_SHARE",
    "MEDIUM_TERM_MAX_AMOUNT",
    "MEDIUM_TERM_MAX_TENOR",
    "QUORUM",
    "check_amount_within_approval",
    "check_approved_amount",
    "check_at_most",
    "check_backdating",
    "check_board_approved",
    "check_buyer_is_foreign",
    "check_cancellation",
    "check_claim",
    "check_claims_applicable",
    "check_controlled_items_allowed",
    "check_deal_open",
    "check_decision_matches_votes",
    "check_destination_designated",
    "check_destination_not_embargoed",
    "check_disbursement",
    "check_eccns_in_deal",
    "check_eccns_in_request",
    "check_exporter_is_us",
    "check_financed",
    "check_financed_share",
    "check_instrument_matches",
    "check_instrument_offered_for_term",
    "check_items_sum",
    "check_license_found",
    "check_license_gate",
    "check_license_not_revoked",
    "check_license_ref_unused",
    "check_license_requested",
    "check_license_undecided",
    "check_maturity",
    "check_not_before_previous_event",
    "check_not_financed",
    "check_quorum",
    "check_recovery",
    "check_repayment",
    "check_reversal_keeps_balances",
    "check_reversal_target",
    "check_term",
    "check_terms",
    "check_us_content",
    "check_vote_count",
]
