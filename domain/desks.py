"""Desks (SPEC v3): which role may post which event type.

Each decision belongs to the desk that makes it in the world: Commerce (BIS) decides
licenses and screenings, the board votes, origination takes applications, servicing moves
money. ``writer`` and ``admin`` keep what they may post of the earlier versions, but no
longer the licensing and board decisions, so that no single key can manufacture both a
license and a vote. ``reader`` and ``auditor`` post nothing.

Types the ledger does not record yet are listed too: the table is the contract, and a type
added to ``domain.events`` is covered the day it appears.
"""

from __future__ import annotations

from domain.errors import LedgerError

DESK_ROLES = ("origination", "licensing", "board", "servicing")

LICENSING = frozenset({"licensing"})
BOARD = frozenset({"board"})
ORIGINATION = frozenset({"origination", "writer", "admin"})
SERVICING = frozenset({"servicing", "writer", "admin"})
CLOSING = ORIGINATION | SERVICING


def _desk(posters: frozenset[str], *types: str) -> dict[str, frozenset[str]]:
    return dict.fromkeys(types, posters)


POSTERS: dict[str, frozenset[str]] = {
    **_desk(LICENSING, "CommerceLicenseApproved", "CommerceLicenseDenied",
            "CommerceLicenseRevoked", "PartyScreened"),
    **_desk(BOARD, "BoardVoted", "CongressionalNotified", "ProgramAuthorized",
            "ProgramSuspended"),
    **_desk(ORIGINATION, "DealApplied", "DealAmended", "LicenseRequested"),
    **_desk(SERVICING, "DealFinanced", "FundsDisbursed", "RepaymentReceived", "ClaimPaid",
            "RecoveryReceived", "EventReversed"),
    **_desk(CLOSING, "DealCancelled"),
}
"""Each event type a key posts, and the roles that may post it (SPEC §2, Desks)."""


def posters(event_type: str) -> frozenset[str]:
    """The roles that may post ``event_type``; none for a type the table does not name."""
    return POSTERS.get(event_type, frozenset())


def may_post(role: str, event_type: str) -> bool:
    return role in posters(event_type)


class EventNotPermitted(LedgerError):
    """403: the key's role may not post the event type (an ``index`` in a batch)."""

    def __init__(self, role: str, event_type: str, **extra: object) -> None:
        roles = sorted(posters(event_type))
        allowed = " or ".join(filter(None, (", ".join(roles[:-1]), *roles[-1:])))
        who = f"only {allowed} keys do" if roles else "no key does"
        super().__init__(
            "event_not_permitted",
            f"a key of role {role!r} may not post {event_type}: {who}",
            status=403, event_type=event_type, role=role, **extra)


def check_may_post(role: str, event_type: str, **extra: object) -> None:
    """Refuse with ``EventNotPermitted`` unless ``role`` may post ``event_type``."""
    if not may_post(role, event_type):
        raise EventNotPermitted(role, event_type, **extra)


def postable_by(role: str) -> frozenset[str]:
    """The event types ``role`` may post (none for ``reader`` and ``auditor``)."""
    return frozenset(t for t, roles in POSTERS.items() if role in roles)


def desk_of(event_type: str) -> str | None:
    """The desk role whose business ``event_type`` is, when one desk alone decides it or it
    is one desk's routine (``DealCancelled`` is origination's before financing)."""
    roles = posters(event_type)
    return next((desk for desk in DESK_ROLES if desk in roles), None)
