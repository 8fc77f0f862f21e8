"""Random deal histories against one Deal, corrections and license revocations included.

Whatever is posted, the aggregate's view equals the reference model's fold of the accepted
events (``tests/support/reference.py``), equals the projections' fold of their envelopes, survives
the event store's JSON mapping and a snapshot, no derived amount is ever negative, a
refused command changes nothing, and reversing a money event gives the figures of a history
that never had it.
"""

from __future__ import annotations

import contextlib
import copy
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
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from domain.chain import parse_timestamp
from domain.deal import EVENT_TYPES, Deal, EventMeta, target_of
from domain.errors import RuleViolation
from domain.money import MONEY_EFFECTS, ReversalTarget, money_effects
from domain.policy import SHIPPED_BOOK
from domain.replay import replay, reversal_targets_wanted
from domain.state import DealState, Stamp
from tests.support.reference import FIGURES, ReferenceDeal, comparable
from tests.unit.test_rules import CHIP, SERVER, application, judged, uncontrolled_application

OTHER = "4A090.B"
TIMES = ["2025-06-02T12:00:00.000000Z", "2026-03-02T12:00:00.000000Z",
         "2027-06-02T12:00:00.000000Z"]
# meeting dates: some before, some after the event times, some repeated
MEETINGS = ["2025-05-01", "2025-06-01", "2026-01-10", "2026-03-02", "2027-01-10"]
Command = tuple[str, dict[str, Any]]
Script = list[tuple[Command, str]]


def cents(n: int) -> str:
    return f"{Decimal(n) / 100:.2f}"


amounts = st.one_of(
    st.sampled_from(["850.00", "425.00", "100.00", "0.01", "1000.00"]),
    st.integers(1, 100_000).map(cents),
)
refs = st.sampled_from(["BIS-1", "BIS-2", "BIS-3"])
eccn_lists = st.lists(st.sampled_from([CHIP, SERVER, OTHER]), min_size=1, max_size=3, unique=True)
_CHIP = {"description": "c", "category": "accelerator", "eccn": CHIP, "quantity": 1}
_SERVER = {"description": "s", "category": "server", "eccn": SERVER, "quantity": 1}
_OTHER = {"description": "o", "category": "accelerator", "eccn": OTHER, "quantity": 1}


@st.composite
def votes(draw: st.DrawFn) -> dict[str, Any]:
    decision = draw(st.sampled_from(["approved", "rejected"]))
    cast = draw(st.one_of(st.sampled_from([(4, 1, 0), (1, 3, 1), (3, 0, 0)]),
                          st.tuples(st.integers(0, 4), st.integers(0, 3), st.integers(0, 2))))
    meeting = draw(st.sampled_from(MEETINGS))
    data: dict[str, Any] = {"meeting_date": meeting, "votes_for": cast[0],
                            "votes_against": cast[1], "abstentions": cast[2],
                            "decision": decision}
    if decision == "approved":
        data["approved_amount"] = draw(amounts)
    return data


@st.composite
def cancellations(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {"reason": "withdrawn"}
    if draw(st.booleans()):
        data["amount"] = draw(amounts)
    return data


@st.composite
def amendments(draw: st.DrawFn) -> dict[str, Any]:
    """New terms for the 1,000.00 contracts below; some break the application's rules."""
    data: dict[str, Any] = {"reason": "corrected"}
    if draw(st.booleans()):
        data["financed_amount"] = draw(st.sampled_from(["700.00", "850.00", "900.00"]))
    if draw(st.booleans()):
        kind = draw(st.sampled_from([_CHIP, _SERVER, _OTHER]))
        data["items"] = [{**kind, "value": "1000.00"}]
        data["contract_value"] = "1000.00"
    if len(data) == 1:
        data["tenor_years"] = draw(st.sampled_from([3, 5, 9]))
    return data


@st.composite
def approvals(draw: st.DrawFn) -> dict[str, Any]:
    """A license approval with a line per ECCN: quantities and values around the items'
    (some short of them), a consignee mostly in the buyer's country."""
    eccns = draw(st.one_of(st.just([CHIP]), eccn_lists))
    lines = [{"eccn": e, "quantity": draw(st.sampled_from([1, 1, 2, 100])),
              "value": draw(st.sampled_from(["1000.00", "1000.00", "600.00", "0.01"]))}
             for e in eccns]
    country = draw(st.sampled_from(["DE", "DE", "DE", "FR"]))
    return {"application_ref": draw(refs),
            "license_number": draw(st.sampled_from(["L-1", "L-2", "l-1"])),
            "eccns": eccns, "valid_until": draw(st.sampled_from(
                ["2025-12-31", "2026-12-31", "2029-01-01", "2031-01-01"])),
            "consignee": {"name": "Datacenter GmbH", "country": country}, "lines": lines}


SAME = "the deal's instrument"
payloads: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "DealAmended": amendments(),
    "LicenseRequested": st.fixed_dictionaries(
        {"application_ref": refs, "eccns": st.one_of(st.just([CHIP]), eccn_lists)}),
    "CommerceLicenseApproved": approvals(),
    "CommerceLicenseDenied": st.fixed_dictionaries(
        {"application_ref": refs, "reason": st.just("risk")}),
    "CommerceLicenseRevoked": st.fixed_dictionaries(
        {"license_number": st.sampled_from(["L-1", "L-2", "l-2"]), "reason": st.just("diversion")},
        optional={"effective_date": st.sampled_from(
            ["2025-01-01", "2026-06-01", "2027-06-01", "2031-01-01"])}),
    "PartyScreened": st.fixed_dictionaries({
        "party": st.sampled_from(["buyer", "buyer", "end_user"]),
        "list": st.sampled_from(["CSL", "EL", "csl "]),
        "list_date": st.sampled_from(["2025-03-01", "2025-06-01", "2026-03-01", "2027-06-01"]),
        "result": st.sampled_from(["clear", "clear", "clear", "match"]),
        "reference": st.just("S")}),
    "BoardVoted": votes(),
    "DealFinanced": st.fixed_dictionaries({
        "instrument": st.sampled_from([SAME, SAME, "insurance", "direct_loan"]),
        "amount": amounts, "exposure_fee_pct": st.just("1.5"),
        "final_maturity_date": st.sampled_from(["2031-01-01", "2040-01-01"])}),
    "FundsDisbursed": st.fixed_dictionaries({"amount": amounts, "reference": st.just("D")}),
    "RepaymentReceived": st.fixed_dictionaries({
        "principal": st.one_of(st.just("0.00"), amounts),
        "interest": st.sampled_from(["0.00", "12.34"]), "reference": st.just("R")}),
    "ClaimPaid": st.fixed_dictionaries({"amount": amounts, "reference": st.just("C")}),
    "RecoveryReceived": st.fixed_dictionaries({"amount": amounts, "reference": st.just("V")}),
    "EventReversed": st.fixed_dictionaries(
        {"version": st.integers(1, 30), "reason": st.just("posted in error")},
        optional={"return_reference": st.just("RET-1")}),
    "DealCancelled": cancellations(),
}
WEIGHTS = {"FundsDisbursed": 4, "RepaymentReceived": 3, "ClaimPaid": 3, "RecoveryReceived": 3,
           "EventReversed": 4, "CommerceLicenseDenied": 1}
WEIGHTED = [name for name in payloads for _ in range(WEIGHTS.get(name, 2))]
WEIGHTED.remove("DealCancelled")
commands: st.SearchStrategy[Command] = st.sampled_from(WEIGHTED).flatmap(
    lambda name: payloads[name].map(lambda data: (name, data)))
HAPPY_PATH: list[Command] = [
    ("LicenseRequested", {"application_ref": "BIS-1", "eccns": [CHIP]}),
    ("CommerceLicenseApproved", {"application_ref": "BIS-1", "license_number": "L-1",
                                 "eccns": [CHIP], "valid_until": "2029-01-01",
                                 "consignee": {"name": "Datacenter GmbH", "country": "DE"},
                                 "lines": [{"eccn": CHIP, "quantity": 1, "value": "1000.00"}]}),
    ("PartyScreened", {"party": "buyer", "list": "CSL", "list_date": "2025-06-01",
                       "result": "clear", "reference": "S"}),
    ("BoardVoted", {"meeting_date": "2025-06-01", "votes_for": 3, "votes_against": 0,
                    "abstentions": 0, "decision": "approved", "approved_amount": "850.00"}),
    ("DealFinanced", {"instrument": SAME, "amount": "850.00", "exposure_fee_pct": "1",
                      "final_maturity_date": "2030-01-01"}),
    ("FundsDisbursed", {"amount": "850.00", "reference": "D"}),
]


@st.composite
def scripts(draw: st.DrawFn) -> Script:
    prefix = [(c, TIMES[0]) for c in HAPPY_PATH] if draw(st.integers(0, 3)) else []
    times = st.sampled_from(TIMES)
    return prefix + draw(st.lists(st.tuples(commands, times), min_size=4, max_size=30))


applications = st.sampled_from([
    application(contract_value="1000.00", financed_amount="850.00",
                items=[{**_CHIP, "value": "600.00"}, {**_SERVER, "value": "400.00"}]),
    application(instrument="loan_guarantee", contract_value="1000.00", financed_amount="850.00",
                items=[{**_CHIP, "value": "1000.00"}]),
    application(term="long", instrument="direct_loan", tenor_years=10),
    uncontrolled_application(term="long", instrument="loan_guarantee", tenor_years=9),
    application(contract_value="1000.00", financed_amount="850.00",
                items=[{**_CHIP, "value": "500.00"}, {**_OTHER, "value": "500.00"}]),
    application(contract_value="1000.00", financed_amount="850.00",
                end_user={"name": "Rechenzentrum SARL", "country": "FR"},
                items=[{**_CHIP, "value": "1000.00"}]),
])


def run(data: dict[str, Any], script: Script) -> tuple[Deal, ReferenceDeal, list[int]]:
    """Post ``script`` to a new deal, each event judged at its own time; the deal, the
    reference fold of what was accepted, and which script steps were accepted."""
    deal = Deal.apply_for(uuid.uuid4(), data, EventMeta("e0", TIMES[0], "t"), judged())
    model = ReferenceDeal.applied(data, TIMES[0][:10])
    accepted = []
    for step, ((type_name, payload), at) in enumerate(script):
        before, version = deal.view(SHIPPED_BOOK), deal.version
        if payload.get("instrument") == SAME:
            payload = {**payload, "instrument": data["instrument"]}
        # every other step by a second key, so some reversals are by another key than
        # their target's and some by the same
        actor = "t" if step % 2 else "t2"
        try:
            deal.handle(type_name, payload, EventMeta("e", at, actor),
                        judged(at, now=parse_timestamp(at), actor=actor))
        except RuleViolation:
            assert (deal.view(SHIPPED_BOOK), deal.version) == (before, version)
            assert len(deal.pending_events) == version
        else:
            model.apply(type_name, payload, at[:10])
            accepted.append(step)
    return deal, model, accepted


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(applications, scripts())
def test_the_view_is_the_fold_of_the_accepted_events(data: dict[str, Any],
                                                     script: Script) -> None:
    deal, model, _ = run(data, script)
    view = deal.view(SHIPPED_BOOK)
    assert comparable(view) == model.view()
    event(view["stage"])
    event(f"license_status {view['license_status']}")
    assert all(Decimal(view[name]) >= 0 for name in FIGURES)


def money_types(deal: Deal) -> dict[int, str]:
    """Deal version -> type, for the deal's money events."""
    return {e.originator_version: type(e).__name__ for e in deal.pending_events
            if isinstance(e, Deal.Event) and money_effects(type(e).__name__, e.data)}


def money_steps(deal: Deal, accepted: list[int]) -> dict[int, int]:
    """Deal version -> script step, for the accepted money events."""
    versions = {step: version for version, step in enumerate(accepted, start=2)}
    return {versions[step]: step for step in accepted if versions[step] in money_types(deal)}


def without_step(script: Script, step: int, version: int) -> Script:
    """``script`` less its step ``step``, which posted the deal's ``version``: the later
    reversals renumbered to name the events they named (one naming the step, none)."""
    later = []
    for (type_name, payload), at in script[step + 1:]:
        named = payload.get("version", 0) if type_name == "EventReversed" else 0
        if named >= version:
            payload = {**payload, "version": named - 1 if named > version else 0}
        later.append(((type_name, payload), at))
    return script[:step] + later


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(applications, scripts(), st.data())
def test_reversing_a_money_event_gives_the_figures_of_never_having_posted_it(
    data: dict[str, Any], script: Script, draw: st.DataObject
) -> None:
    deal, _, accepted = run(data, script)
    money = money_steps(deal, accepted)
    assume(money)
    version = draw.draw(st.sampled_from(sorted(money)))
    assume(version not in deal.reversed_versions)
    try:
        last = TIMES[-1]
        deal.handle("EventReversed", {"version": version, "reason": "error",
                                      "return_reference": "RET-1"},
                    EventMeta("e", last, "auditor-2"),
                    judged(last, now=parse_timestamp(last), actor="auditor-2"))
    except RuleViolation as error:
        assert error.code == "reversal_breaks_balances"
        event("refused: reversal_breaks_balances")
        return
    without = without_step(script, money[version], version)
    other, _, kept = run(data, without)
    # only where the rest of history was accepted alike is "never posted" comparable
    assume(kept == [s - (s > money[version]) for s in accepted if s != money[version]])
    reversed_view, never_view = deal.view(SHIPPED_BOOK), other.view(SHIPPED_BOOK)
    assert {n: reversed_view[n] for n in FIGURES} == {n: never_view[n] for n in FIGURES}
    assert reversed_view["stage"] == never_view["stage"]
    event(f"compared after reversing {money_types(deal)[version]}")


def envelopes(deal: Deal) -> list[dict[str, Any]]:
    return [
        {"deal_id": str(deal.id), "version": e.originator_version,
         "position": e.originator_version, "type": type(e).__name__, "data": e.data,
         "occurred_at": e.occurred_at, "actor": e.actor,
         "recorded_at": f"2025-06-02T12:00:{e.originator_version:02d}.000000Z",
         "policy_version": e.policy_version}
        for e in deal.pending_events if isinstance(e, Deal.Event)
    ]


def mapper() -> Mapper[uuid.UUID]:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def fold(envelopes: list[dict[str, Any]]) -> dict[str, Any]:
    """The view a fold of a deal's envelopes derives, as the projections fold them: each
    reversal given its target, looked up by version."""
    if envelopes[0]["type"] != "DealApplied":
        raise ValueError("a deal's envelopes start with its DealApplied")
    by_version = {e["version"]: e for e in envelopes}
    state = DealState()
    for e in envelopes:
        target = None
        if e["type"] == "EventReversed":
            target = ReversalTarget.from_envelope(by_version[e["data"]["version"]])
        stamp = Stamp(e["version"], e["occurred_at"], e["recorded_at"], e["policy_version"])
        state.evolve(e["type"], e["data"], stamp, target)
    return state.view_under(state.policy_in(SHIPPED_BOOK), envelopes[0]["deal_id"],
                            envelopes[-1]["version"])


@settings(max_examples=50, deadline=None)
@given(applications, scripts())
def test_fold_of_envelopes_stored_events_and_snapshots_agree_with_the_aggregate(
    data: dict[str, Any], script: Script
) -> None:
    deal, _, _ = run(data, script)
    stamped = envelopes(deal)
    expected = {**deal.view(SHIPPED_BOOK), "applied_at": stamped[0]["recorded_at"]}
    assert fold(stamped) == {**expected, "updated_at": stamped[-1]["recorded_at"]}

    codec = mapper()
    decoded = [codec.to_domain_event(codec.to_stored_event(e)) for e in deal.pending_events]
    replayed = replay(None, decoded)
    assert replayed is not None and replayed.view(SHIPPED_BOOK) == deal.view(SHIPPED_BOOK)
    assert set(vars(replayed)) == set(vars(deal))

    snapshot = codec.to_domain_event(codec.to_stored_event(Snapshot.take(deal)))
    restored = snapshot.mutate(None)  # type: ignore[attr-defined]
    assert restored.view(SHIPPED_BOOK) == deal.view(SHIPPED_BOOK)

    # from a snapshot halfway, the later reversals' earlier targets read "from the store"
    half = len(decoded) // 2
    if half:
        later = decoded[half:]
        stored = {e.originator_version: e for e in decoded}
        targets = {v: target_of(stored[v]) for v in reversal_targets_wanted(later)}
        resumed = replay(replay(None, decoded[:half]), later, targets)
        assert resumed is not None and resumed.view(SHIPPED_BOOK) == deal.view(SHIPPED_BOOK)


def test_the_fold_refuses_a_stream_not_starting_with_an_application() -> None:
    deal, _, _ = run(application(), [(HAPPY_PATH[0], TIMES[0])])
    _, requested = envelopes(deal)
    with pytest.raises(ValueError):
        fold([requested])


def test_every_money_event_type_can_be_reversed() -> None:
    assert set(MONEY_EFFECTS) == {"FundsDisbursed", "RepaymentReceived", "ClaimPaid",
                                  "RecoveryReceived"}


def test_event_topics_stay_pinned_to_the_spec_type_names() -> None:
    """Stored events are resolved by topic: no refactoring may change one."""
    topics = {name: getattr(Deal, name).TOPIC for name in EVENT_TYPES}
    assert topics == {name: f"domain.deal:Deal.{name}" for name in EVENT_TYPES}
    assert Deal.Created is Deal.DealApplied


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(applications, scripts())
def test_a_fork_decides_without_changing_the_deal_it_was_forked_from(
        data: dict[str, Any], script: Script) -> None:
    deal = Deal.apply_for(uuid.uuid4(), data, EventMeta("e0", TIMES[0], "t"), judged())
    stored = {e.originator_version: e for e in deal.collect_events()}
    for (type_name, payload), at in script:
        if payload.get("instrument") == SAME:
            payload = {**payload, "instrument": data["instrument"]}
        before = copy.deepcopy(vars(deal))
        fork = deal.fork()
        named = stored.get(payload.get("version", 0))  # as a loader reads it from the store
        target = target_of(named) if type_name == "EventReversed" and named else None
        with contextlib.suppress(RuleViolation):
            fork.handle(type_name, payload, EventMeta("e", at, "t"),
                        judged(at, now=parse_timestamp(at)), target)
        assert vars(deal) == before
        assert set(vars(fork)) == set(vars(deal))  # nothing transient stays behind
        stored.update({e.originator_version: e for e in fork.collect_events()})
        deal = fork
