"""Typed Python client of the ExportAI Deal Ledger: ``LedgerClient`` and its async twin
``AsyncLedgerClient``. Payloads are ``TypedDict``s (``payloads``), results are dataclasses
(``models``, ``proofs``); a refusal raises ``LedgerProblem``, no answer at all
``LedgerUnavailable``. It depends on httpx only."""

from exim_ledger_client._async import AsyncLedgerClient
from exim_ledger_client._core import NO_RETRY, Retry
from exim_ledger_client._sync import LedgerClient
from exim_ledger_client.batch import BatchItem
from exim_ledger_client.errors import LedgerProblem, LedgerUnavailable
from exim_ledger_client.models import (
    Account,
    CategoryFigures,
    Deal,
    DealExposure,
    DealPage,
    Envelope,
    EventPage,
    Figures,
    License,
    LicenseLine,
    LicensePage,
    Policies,
    Policy,
    Portfolio,
    Posting,
    ProgramExposure,
    ProgramStatus,
    Proposal,
    Reconciliation,
    Refusal,
    RefusalPage,
    Verification,
)
from exim_ledger_client.payloads import EventPayload, EventType
from exim_ledger_client.proofs import (
    ConsistencyProof,
    Digest,
    InclusionProof,
    PublicKey,
    verify_consistency,
    verify_inclusion,
    verify_signature,
)

__all__ = [
    "NO_RETRY", "Account", "AsyncLedgerClient", "BatchItem", "CategoryFigures",
    "ConsistencyProof", "Deal",
    "DealExposure", "DealPage", "Digest", "Envelope", "EventPage", "EventPayload",
    "EventType", "Figures", "InclusionProof", "LedgerClient", "LedgerProblem",
    "LedgerUnavailable", "License", "LicenseLine", "LicensePage", "Policies", "Policy",
    "Portfolio", "Posting", "ProgramExposure", "ProgramStatus", "Proposal", "PublicKey",
    "Reconciliation", "Refusal", "RefusalPage", "Retry", "Verification", "verify_consistency",
    "verify_inclusion", "verify_signature",
]
