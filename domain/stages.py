"""The stages a deal passes through (SPEC "Derived deal state"), in the order the portfolio
lists them."""

from __future__ import annotations

STAGES = (
    "applied", "license_pending", "license_approved", "license_denied", "license_revoked",
    "license_expired", "license_partial",
    "board_approved", "board_rejected", "board_stale", "financed", "disbursing", "repaying",
    "repaid", "claimed", "cancelled",
)

# A deal's license_status: what its licenses allow, the policy in force judging which of its
# items are controlled.
LICENSE_STATUSES = (
    "not_required", "required", "requested", "approved", "partially_approved", "expired",
    "denied", "revoked",
)
