"""The stages a deal passes through (SPEC "Derived deal state"), in the order the portfolio
lists them."""

from __future__ import annotations

STAGES = (
    "applied", "license_pending", "license_approved", "license_denied", "license_revoked",
    "license_expired", "license_partial",
    "board_approved", "board_rejected", "board_stale", "financed", "disbursing", "repaying",
    "repaid", "claimed", "cancelled",
)
