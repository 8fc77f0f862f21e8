"""``append``'s signature: one overload per event type, its ``Literal`` name -> its payload
``TypedDict``, so that a type checker refuses an unknown type or a payload of the wrong
shape. Written once for both clients: a sync client's answers an ``Envelope``, an async
one's a coroutine of it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, overload
from uuid import UUID

from exim_ledger_client import payloads as p

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from exim_ledger_client import AsyncLedgerClient, LedgerClient
    from exim_ledger_client.models import Envelope

R_co = TypeVar("R_co", covariant=True)
When = datetime | str | None


class Append(Protocol[R_co]):
    """``append(deal_id, type, data, expected_version=None, *, occurred_at=None,
    idempotency_key=None, correlation_id=None)``: record an event of ``type`` on the deal
    (``POST /v1/deals/{deal_id}/events``); with ``expected_version``, only if the deal is
    at that version (else ``version_conflict``)."""

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["DealAmended"],
                 data: p.DealAmendedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["LicenseRequested"],
                 data: p.LicenseRequestedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["CommerceLicenseApproved"],
                 data: p.CommerceLicenseApprovedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["CommerceLicenseDenied"],
                 data: p.CommerceLicenseDeniedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["CommerceLicenseRevoked"],
                 data: p.CommerceLicenseRevokedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["BoardVoted"],
                 data: p.BoardVotedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["CongressionalNotified"],
                 data: p.CongressionalNotifiedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["PartyScreened"],
                 data: p.PartyScreenedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["DealFinanced"],
                 data: p.DealFinancedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["FundsDisbursed"],
                 data: p.FundsDisbursedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["RepaymentReceived"],
                 data: p.RepaymentReceivedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["ClaimPaid"],
                 data: p.ClaimPaidData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["RecoveryReceived"],
                 data: p.RecoveryReceivedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["EventReversed"],
                 data: p.EventReversedData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...

    @overload
    def __call__(self, deal_id: UUID | str, type: Literal["DealCancelled"],
                 data: p.DealCancelledData, expected_version: int | None = None, *,
                 occurred_at: When = None, idempotency_key: str | None = None,
                 correlation_id: str | None = None) -> R_co: ...


class AppendOperation:
    """The ``append`` method of both clients (see ``_calls.Operation``)."""

    @overload
    def __get__(self, client: None, owner: type[Any]) -> AppendOperation: ...
    @overload
    def __get__(self, client: LedgerClient, owner: type[Any]) -> Append[Envelope]: ...
    @overload
    def __get__(self, client: AsyncLedgerClient, owner: type[Any]
                ) -> Append[Coroutine[Any, Any, Envelope]]: ...

    def __get__(self, client: LedgerClient | AsyncLedgerClient | None,
                owner: type[Any]) -> Any:
        from exim_ledger_client._calls import append

        return self if client is None else client._bind(append)
