"""Random command sequences against one Deal.

Whatever is posted, the aggregate's view equals the reference model's fold of the accepted
events (``tests/reference.py``), equals the projections' fold of their envelopes, survives
the event store's JSON mapping and a snapshot, and a refused command changes nothing.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.deal import EVENT_TYPES, Deal, EventMeta
from domain.errors import RuleViolation
from domain.policy import DEFAULT_POLICY, PolicyBook
from domain.state import DealState
from projections.folding import apply_event
from tests.reference import ReferenceDeal, comparable
from tests.unit.test_rules import CHIP, SERVER, application, uncontrolled_application

OTHER = "4A090.b"
TIMES = ["2025-06-02T12:00:00.000000Z", "2027-06-02T12:00:00.000000Z"]
Command = tuple[str, dict[str, Any]]


def cents(n: int) -> str:
    return f"{Decimal(n) / 100:.2f}"


amounts = st.one_of(
    st.sampled_from(["850.00", "425.00", "100.00", "0.01", "1000.00"]),
    st.integers(1, 100_000).map(cents),
)
refs = st.sampled_from(["BIS-1", "BIS-2", "BIS-3"])
eccn_lists = st.lists(st.sampled_from([CHIP, SERVER, OTHER]), min_size=1, max_size=3, unique=True)


@st.composite
def votes(draw: st.DrawFn) -> dict[str, Any]:
    decision = draw(st.sampled_from(["approved", "rejected"]))
    cast = draw(
        st.one_of(
            st.sampled_from([(4, 1, 0), (1, 3, 1), (3, 0, 0)]),
            st.tuples(st.integers(0, 4), st.integers(0, 3), st.integers(0, 2)),
        )
    )
    data: dict[str, Any] = {
        "meeting_date": "2025-06-01",
        "votes_for": cast[0],
        "votes_against": cast[1],
        "abstentions": cast[2],
        "decision": decision,
    }
    if decision == "approved":
        data["approved_amount"] = draw(amounts)
    return data


@st.composite
def cancellations(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {"reason": "withdrawn"}
    if draw(st.booleans()):
        data["amount"] = draw(amounts)
    return data


SAME = "the deal's instrument"
payloads: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "LicenseRequested": st.fixed_dictionaries(
        {"application_ref": refs, "eccns": st.one_of(st.just([CHIP]), eccn_lists)}
    ),
    "CommerceLicenseApproved": st.fixed_dictionaries(
        {
            "application_ref": refs,
            "license_number": st.just("L-1"),
            "eccns": st.one_of(st.just([CHIP]), eccn_lists),
            "valid_until": st.sampled_from(["2026-12-31", "2030-01-01"]),
        }
    ),
    "CommerceLicenseDenied": st.fixed_dictionaries(
        {"application_ref": refs, "reason": st.just("risk")}
    ),
    "BoardVoted": votes(),
    "DealFinanced": st.fixed_dictionaries(
        {
            "instrument": st.sampled_from([SAME, SAME, "insurance", "direct_loan"]),
            "amount": amounts,
            "exposure_fee_pct": st.just("1.5"),
            "final_maturity_date": st.just("2032-01-01"),
        }
    ),
    "FundsDisbursed": st.fixed_dictionaries({"amount": amounts, "reference": st.just("D")}),
    "RepaymentReceived": st.fixed_dictionaries(
        {
            "principal": st.one_of(st.just("0.00"), amounts),
            "interest": st.sampled_from(["0.00", "12.34"]),
            "reference": st.just("R"),
        }
    ),
    "ClaimPaid": st.fixed_dictionaries({"amount": amounts, "reference": st.just("C")}),
    "DealCancelled": cancellations(),
}
WEIGHTS = {"FundsDisbursed": 4, "RepaymentReceived": 4, "CommerceLicenseDenied": 1}
WEIGHTED = [name for name in payloads for _ in range(WEIGHTS.get(name, 2))]
WEIGHTED.remove("DealCancelled")
commands: st.SearchStrategy[Command] = st.sampled_from(WEIGHTED).flatmap(
    lambda name: payloads[name].map(lambda data: (name, data))
)
APPROVAL = {"application_ref": "BIS-1", "license_number": "L", "eccns": [CHIP]}
HAPPY_PATH: list[Command] = [
    ("LicenseRequested", {"application_ref": "BIS-1", "eccns": [CHIP]}),
    ("CommerceLicenseApproved", {**APPROVAL, "valid_until": "2030-01-01"}),
    (
        "BoardVoted",
        {
            "meeting_date": "2025-06-01",
            "votes_for": 3,
            "votes_against": 0,
            "abstentions": 0,
            "decision": "approved",
            "approved_amount": "850.00",
        },
    ),
    (
        "DealFinanced",
        {
            "instrument": SAME,
            "amount": "850.00",
            "exposure_fee_pct": "1",
            "final_maturity_date": "2030-01-01",
        },
    ),
]


@st.composite
def scripts(draw: st.DrawFn) -> list[tuple[Command, str]]:
    prefix = [(c, TIMES[0]) for c in HAPPY_PATH] if draw(st.booleans()) else []
    return prefix + draw(
        st.lists(st.tuples(commands, st.sampled_from(TIMES)), min_size=4, max_size=30)
    )


_CHIP = {"description": "c", "category": "accelerator", "eccn": CHIP, "quantity": 1}
_SERVER = {"description": "s", "category": "server", "eccn": SERVER, "quantity": 1}
applications = st.sampled_from(
    [
        application(
            contract_value="1000.00",
            financed_amount="850.00",
            items=[{**_CHIP, "value": "600.00"}, {**_SERVER, "value": "400.00"}],
        ),
        application(instrument="loan_guarantee"),
        application(term="long", instrument="direct_loan", tenor_years=10),
        uncontrolled_application(term="long", instrument="loan_guarantee", tenor_years=9),
    ]
)


def envelopes(deal: Deal) -> list[dict[str, Any]]:
    return [
        {
            "deal_id": str(deal.id),
            "version": e.originator_version,
            "position": e.originator_version,
            "type": type(e).__name__,
            "data": e.data,
            "occurred_at": e.occurred_at,
            "recorded_at": f"2025-06-02T12:00:{e.originator_version:02d}.000000Z",
            "policy_version": e.policy_version,
        }
        for e in deal.pending_events
        if isinstance(e, Deal.Event)
    ]


def mapper() -> Mapper[uuid.UUID]:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def fold(envelopes: list[dict[str, Any]]) -> dict[str, Any]:
    """The view the projections derive from a deal's envelopes."""
    state: DealState | None = None
    for envelope in envelopes:
        state = apply_event(state, envelope, PolicyBook([DEFAULT_POLICY]))
    assert state is not None
    return state.derived_view(envelopes[0]["deal_id"], envelopes[-1]["version"])


def run(data: dict[str, Any], script: list[tuple[Command, str]]) -> tuple[Deal, ReferenceDeal]:
    deal = Deal.apply_for(uuid.uuid4(), data, EventMeta("e0", TIMES[0], "t"), DEFAULT_POLICY)
    model = ReferenceDeal.applied(data)
    for (type_name, payload), at in script:
        before, version = deal.view(), deal.version
        if payload.get("instrument") == SAME:
            payload = {**payload, "instrument": data["instrument"]}
        try:
            deal.handle(type_name, payload, EventMeta("e", at, "t"), DEFAULT_POLICY)
        except RuleViolation:
            assert (deal.view(), deal.version) == (before, version)
            assert len(deal.pending_events) == version
        else:
            model.apply(type_name, payload)
    return deal, model


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(applications, scripts())
def test_the_view_is_the_fold_of_the_accepted_events(
    data: dict[str, Any], script: list[tuple[Command, str]]
) -> None:
    deal, model = run(data, script)
    view = deal.view()
    assert comparable(view) == model.view()
    event(view["stage"])
    assert all(Decimal(view[k]) >= 0 for k in ("outstanding", "undisbursed", "exposure"))


@settings(max_examples=50, deadline=None)
@given(applications, scripts())
def test_fold_of_envelopes_stored_events_and_snapshots_agree_with_the_aggregate(
    data: dict[str, Any], script: list[tuple[Command, str]]
) -> None:
    deal, _ = run(data, script)
    stamped = envelopes(deal)
    expected = {**deal.view(), "applied_at": stamped[0]["recorded_at"]}
    assert fold(stamped) == {**expected, "updated_at": stamped[-1]["recorded_at"]}

    codec = mapper()
    replayed: Deal | None = None
    for stored in [codec.to_stored_event(e) for e in deal.pending_events]:
        replayed = codec.to_domain_event(stored).mutate(replayed)  # type: ignore[attr-defined]
    assert replayed is not None and replayed.view() == deal.view()

    snapshot = codec.to_domain_event(codec.to_stored_event(Snapshot.take(deal)))
    restored = snapshot.mutate(None)  # type: ignore[attr-defined]
    assert restored.view() == deal.view()


def test_the_fold_prefers_the_controlled_eccns_kept_with_the_stored_event() -> None:
    deal, _ = run(application(), [])
    [applied] = envelopes(deal)
    assert fold([applied])["controlled_eccns"] == [CHIP]
    assert fold([{**applied, "controlled_eccns": []}])["license_status"] == "not_required"


def test_the_fold_refuses_a_stream_not_starting_with_an_application() -> None:
    deal, _ = run(application(), [(HAPPY_PATH[0], TIMES[0])])
    _, requested = envelopes(deal)
    with pytest.raises(ValueError):
        fold([requested])


def test_event_topics_stay_pinned_to_the_spec_type_names() -> None:
    """Stored events are resolved by topic: no refactoring may change one."""
    topics = {name: getattr(Deal, name).TOPIC for name in EVENT_TYPES}
    assert topics == {name: f"domain.deal:Deal.{name}" for name in EVENT_TYPES}
    assert Deal.Created is Deal.DealApplied
