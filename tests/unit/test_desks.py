"""The desks' table (SPEC v3): who may post which event type."""

from __future__ import annotations

import pytest

from domain import desks
from domain.desks import DESK_ROLES, EventNotPermitted, check_may_post, may_post, posters
from domain.events import EVENT_TYPES

DEAL_TYPES = [t.name for t in EVENT_TYPES.values() if t.stream == "deal"]
EVERY_ROLE = ("admin", "writer", "auditor", "reader", *DESK_ROLES)
SPEC_TABLE = {  # SPEC §2, Desks (v3), as written there
    ("CommerceLicenseApproved", "CommerceLicenseDenied", "CommerceLicenseRevoked",
     "PartyScreened"): {"licensing"},
    ("BoardVoted", "CongressionalNotified", "ProgramAuthorized", "ProgramSuspended"): {"board"},
    ("DealApplied", "DealAmended", "LicenseRequested"): {"origination", "writer", "admin"},
    ("DealFinanced", "FundsDisbursed", "RepaymentReceived", "ClaimPaid", "RecoveryReceived",
     "EventReversed"): {"servicing", "writer", "admin"},
    ("DealCancelled",): {"origination", "servicing", "writer", "admin"},
}


@pytest.mark.parametrize("type_name", DEAL_TYPES)
def test_every_deal_event_type_has_its_posters(type_name: str) -> None:
    assert posters(type_name), f"{type_name} is in domain.events but not in domain.desks"


def test_the_table_is_specs_table() -> None:
    spec = {t: frozenset(roles) for types, roles in SPEC_TABLE.items() for t in types}
    assert spec == desks.POSTERS


@pytest.mark.parametrize("role", EVERY_ROLE)
def test_may_post_agrees_with_posters(role: str) -> None:
    for type_name in desks.POSTERS:
        assert may_post(role, type_name) == (role in posters(type_name))


def test_no_role_both_licenses_and_votes() -> None:
    licensing = posters("CommerceLicenseApproved")
    assert not licensing & posters("BoardVoted")
    assert not (posters("DealFinanced") & licensing)


def test_readers_and_auditors_post_nothing() -> None:
    assert desks.postable_by("reader") == desks.postable_by("auditor") == frozenset()


def test_a_writer_keeps_every_type_but_the_licensing_and_board_decisions() -> None:
    assert desks.postable_by("writer") == frozenset(desks.POSTERS) - {
        t for t, roles in desks.POSTERS.items() if roles <= {"licensing", "board"}}


def test_an_unknown_type_has_no_posters() -> None:
    assert posters("NoSuchEvent") == frozenset()
    assert not may_post("admin", "NoSuchEvent")


def test_a_refusal_names_the_type_and_the_role() -> None:
    with pytest.raises(EventNotPermitted) as refused:
        check_may_post("writer", "BoardVoted", index=2)
    error = refused.value
    assert (error.code, error.status) == ("event_not_permitted", 403)
    assert error.extra == {"event_type": "BoardVoted", "role": "writer", "index": 2}
    assert "writer" in error.detail and "BoardVoted" in error.detail
    check_may_post("board", "BoardVoted")


def test_each_desk_type_has_a_desk() -> None:
    assert desks.desk_of("CommerceLicenseDenied") == "licensing"
    assert desks.desk_of("BoardVoted") == "board"
    assert desks.desk_of("LicenseRequested") == "origination"
    assert desks.desk_of("EventReversed") == "servicing"
    assert desks.desk_of("NoSuchEvent") is None


def test_the_rulebook_tells_the_same_table() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "domain.md").read_text("utf-8")
    section = text.split("## Desks: who may record what", 1)[1].split("\n## ", 1)[0]
    told = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 2:
            roles = frozenset(r.strip("` ") for r in cells[0].split(","))
            told.update(dict.fromkeys((t.strip("` ") for t in cells[1].split(",")), roles))
    assert told == desks.POSTERS
