"""Typed Python client of the ExportAI Deal Ledger: ``LedgerClient`` and its async twin
``AsyncLedgerClient``. Results are dataclasses (``models``); a refusal raises
``LedgerProblem``. It depends on httpx only."""

from exim_ledger_client._async import AsyncLedgerClient
from exim_ledger_client._core import NO_RETRY, Retry
from exim_ledger_client._sync import LedgerClient
from exim_ledger_client.errors import LedgerProblem
from exim_ledger_client.models import (
    CategoryFigures,
    Deal,
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
    ProgramStatus,
    Proposal,
    Refusal,
    RefusalPage,
    Verification,
)

__all__ = [
    "NO_RETRY", "AsyncLedgerClient", "CategoryFigures", "Deal", "DealPage", "Envelope",
    "EventPage", "Figures", "LedgerClient", "LedgerProblem", "License", "LicenseLine",
    "LicensePage", "Policies", "Policy", "Portfolio", "ProgramStatus", "Proposal", "Refusal",
    "RefusalPage", "Retry", "Verification",
]
