"""The items of ``batch``: one ``TypedDict`` per event type, its ``Literal`` name with its
payload, so that a type checker refuses an unknown type, a payload of another type's shape
or a float amount in a batch as it does in ``append``. Each item names its deal by
``deal_id`` or ``application_number`` (a ``DealApplied`` item creates its deal, and later
items may refer to it by application number)."""

from __future__ import annotations

from typing import Literal, Required, TypedDict

from exim_ledger_client import payloads as p


class _Item(TypedDict, total=False):
    deal_id: str
    application_number: str
    expected_version: int
    occurred_at: str


class DealAppliedItem(_Item, total=False):
    type: Required[Literal["DealApplied"]]
    data: Required[p.DealAppliedData]


class DealAmendedItem(_Item, total=False):
    type: Required[Literal["DealAmended"]]
    data: Required[p.DealAmendedData]


class LicenseRequestedItem(_Item, total=False):
    type: Required[Literal["LicenseRequested"]]
    data: Required[p.LicenseRequestedData]


class CommerceLicenseApprovedItem(_Item, total=False):
    type: Required[Literal["CommerceLicenseApproved"]]
    data: Required[p.CommerceLicenseApprovedData]


class CommerceLicenseDeniedItem(_Item, total=False):
    type: Required[Literal["CommerceLicenseDenied"]]
    data: Required[p.CommerceLicenseDeniedData]


class CommerceLicenseRevokedItem(_Item, total=False):
    type: Required[Literal["CommerceLicenseRevoked"]]
    data: Required[p.CommerceLicenseRevokedData]


class BoardVotedItem(_Item, total=False):
    type: Required[Literal["BoardVoted"]]
    data: Required[p.BoardVotedData]


class CongressionalNotifiedItem(_Item, total=False):
    type: Required[Literal["CongressionalNotified"]]
    data: Required[p.CongressionalNotifiedData]


class PartyScreenedItem(_Item, total=False):
    type: Required[Literal["PartyScreened"]]
    data: Required[p.PartyScreenedData]


class DealFinancedItem(_Item, total=False):
    type: Required[Literal["DealFinanced"]]
    data: Required[p.DealFinancedData]


class FundsDisbursedItem(_Item, total=False):
    type: Required[Literal["FundsDisbursed"]]
    data: Required[p.FundsDisbursedData]


class RepaymentReceivedItem(_Item, total=False):
    type: Required[Literal["RepaymentReceived"]]
    data: Required[p.RepaymentReceivedData]


class ClaimPaidItem(_Item, total=False):
    type: Required[Literal["ClaimPaid"]]
    data: Required[p.ClaimPaidData]


class RecoveryReceivedItem(_Item, total=False):
    type: Required[Literal["RecoveryReceived"]]
    data: Required[p.RecoveryReceivedData]


class EventReversedItem(_Item, total=False):
    type: Required[Literal["EventReversed"]]
    data: Required[p.EventReversedData]


class DealCancelledItem(_Item, total=False):
    type: Required[Literal["DealCancelled"]]
    data: Required[p.DealCancelledData]


BatchItem = (DealAppliedItem | DealAmendedItem | LicenseRequestedItem
             | CommerceLicenseApprovedItem | CommerceLicenseDeniedItem
             | CommerceLicenseRevokedItem | BoardVotedItem | CongressionalNotifiedItem
             | PartyScreenedItem | DealFinancedItem | FundsDisbursedItem
             | RepaymentReceivedItem | ClaimPaidItem | RecoveryReceivedItem | EventReversedItem
             | DealCancelledItem)
