"""For random valid histories, on SQLite and PostgreSQL: the read models after incremental
processing (random batch sizes, runner restarts in between) equal a full rebuild and the
reference model's fold of the events written (``tests/support/reference.py``), and the exposure
ledger balances after every batch."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from domain.stages import STAGES
from projections import exposure, portfolio
from projections.runner import Runner
from service.ledger.commands import Command, deal_id_for
from service.settings import Settings
from tests.support.factories import financing_for
from tests.support.projection_support import (
    NAMES,
    authorize,
    clean_database,
    ledger_and_engine,
    live_rows,
    new_runner,
    position,
    write,
)
from tests.support.reference import ReferenceDeal, comparable, text

COUNTRIES = ("DE", "FR", "JP", "BR", "IN", "GB", "CN")
CATEGORIES = ("accelerator", "server", "networking", "storage", "software", "model",
              "cloud_service", "data_center", "services")
UNCONTROLLED_ECCNS = ("5A992.c", "EAR99", "4A994.l")
CONTROLLED_ECCN = "3A090.a"
INSTRUMENTS = {"medium": ("insurance", "loan_guarantee"), "long": ("direct_loan", "loan_guarantee")}
MEDIUM_MAX = 10_000_000_00
ROW_FIGURES = ("requested", "approved", "committed", "disbursed", "outstanding", "undisbursed",
               "exposure")


def deal_id(deal: ReferenceDeal) -> str:
    return str(deal_id_for(deal.number))


# ---- drawing a valid history ------------------------------------------------------------

def draw_application(data: st.DataObject, number: str) -> dict[str, Any]:
    term = data.draw(st.sampled_from(("medium", "long")))
    instrument = data.draw(st.sampled_from(INSTRUMENTS[term]))
    country = data.draw(st.sampled_from(COUNTRIES))
    controlled = country != "CN" and data.draw(st.booleans())
    items = []
    for i in range(data.draw(st.integers(1, 3))):
        eccn = CONTROLLED_ECCN if controlled and i == 0 else data.draw(
            st.sampled_from(UNCONTROLLED_ECCNS))
        items.append((data.draw(st.sampled_from(CATEGORIES)), eccn,
                      data.draw(st.integers(1_00, 8_000_000_00))))
    contract = sum(v for _, _, v in items)
    ceiling = contract * 85 // 100
    if term == "medium":
        ceiling = min(ceiling, MEDIUM_MAX)
    tenor = data.draw(st.integers(1, 7) if term == "medium" else st.integers(8, 18))
    requested = amount_up_to(data, ceiling)
    return {
        "application_number": number,
        "exporter": {"name": "Cerebral Silicon Inc.", "country": "US"},
        "buyer": {"name": f"Buyer of {number}", "country": country},
        "instrument": instrument, "term": term,
        "contract_value": text(contract), "financed_amount": text(requested),
        "tenor_years": tenor,
        "items": [{"description": f"{c} {e}", "category": c, "eccn": e, "quantity": 1,
                   "value": text(v)} for c, e, v in items],
    }


def amount_up_to(data: st.DataObject, ceiling: int) -> int:
    return data.draw(st.one_of(st.just(ceiling), st.integers(1, ceiling)))


TODAY = datetime.now(UTC).date().isoformat()  # the events below occur when posted


def meeting(d: ReferenceDeal) -> str:
    """A board meeting for the deal's next event: in the past, and later than any earlier
    vote's (SPEC v3: one vote per meeting, in the order of the meetings)."""
    return (date.fromisoformat(TODAY) - timedelta(days=60 - d.version)).isoformat()


def licensed(d: ReferenceDeal) -> bool:
    """Whether the license gate passes today for the deal's controlled items."""
    return all(any(lic.valid_on(TODAY) and eccn in lic.eccns for lic in d.licenses.values())
               for eccn in d.controlled)


def reversible(d: ReferenceDeal) -> list[int]:
    """The money events whose reversal keeps every balance."""
    out = []
    for version in sorted(set(d.money) - d.reversed):
        trial = copy.deepcopy(d)
        trial.reversed.add(version)
        if trial.outstanding >= 0 and trial.undisbursed >= 0 and \
                trial.recovered <= trial.claims_paid:
            out.append(version)
    return out


def next_event(data: st.DataObject, d: ReferenceDeal) -> tuple[str, dict[str, Any]] | None:
    """One valid next event for the deal as the reference sees it, or None to stop."""
    options = ["stop"]  # weights below lean towards progress, so money events are common
    approved = [ref for ref, lic in d.licenses.items() if lic.status == "approved"]
    if not d.closed and not d.financed:
        options += ["request_license", "vote_against", "close", "amend"]
        options += ["vote_for"] * (1 if d.board == "approved" else 3)
        if any(lic.status == "requested" for lic in d.licenses.values()):
            options += ["approve_license"] * 3 + ["deny_license"]
        if d.board == "approved" and licensed(d) and min(d.approved, d.requested) > 0:
            options += ["finance"] * 6
    if approved and not d.closed:
        options += ["revoke"]
    if d.financed:
        if d.committed - d.cancelled - d.disbursed > 0 and licensed(d):
            options += ["disburse"] * 3
        if d.outstanding > 0:
            options += ["repay"] * 2 + (["claim"] * 2 if d.instrument != "direct_loan" else [])
        if d.claims_paid > d.recovered:
            options += ["recover"] * 2
        if reversible(d):
            options += ["reverse"] * 2
        if d.undisbursed > 0:
            options += ["cancel_part"]
    kind = data.draw(st.sampled_from(options))
    eccn = CONTROLLED_ECCN if d.controlled else d.items[0][1]
    if kind == "stop":
        return None
    if kind == "request_license":
        return "LicenseRequested", {"application_ref": f"Z-{len(d.licenses) + 1}",
                                    "eccns": [eccn]}
    if kind in ("approve_license", "deny_license"):
        pending = sorted(r for r, lic in d.licenses.items() if lic.status == "requested")
        ref = data.draw(st.sampled_from(pending))
        if kind == "deny_license":
            return "CommerceLicenseDenied", {"application_ref": ref, "reason": "diversion risk"}
        return "CommerceLicenseApproved", {"application_ref": ref, "license_number": f"D-{ref}",
                                           "eccns": [eccn], "valid_until": "2030-12-31"}
    if kind == "revoke":
        number = d.licenses[data.draw(st.sampled_from(approved))].number
        if all(lic.revoked_from for lic in d.licenses.values() if lic.number == number):
            return None
        later = data.draw(st.booleans())  # from a date still ahead, or at once
        return "CommerceLicenseRevoked", {"license_number": number, "reason": "diversion",
                                          **({"effective_date": "2099-01-01"} if later else {})}
    if kind == "amend":
        ceiling = d.contract * 85 // 100
        if d.term == "medium":
            ceiling = min(ceiling, MEDIUM_MAX)
        return "DealAmended", {"financed_amount": text(amount_up_to(data, ceiling)),
                               "reason": "resized"}
    if kind == "vote_for":
        return "BoardVoted", {"meeting_date": meeting(d), "votes_for": 4, "votes_against": 1,
                              "abstentions": 0, "decision": "approved",
                              "approved_amount": text(amount_up_to(data, d.requested))}
    if kind == "vote_against":
        return "BoardVoted", {"meeting_date": meeting(d), "votes_for": 1, "votes_against": 2,
                              "abstentions": 1, "decision": "rejected"}
    if kind == "close":
        return "DealCancelled", {"reason": "buyer withdrew"}
    if kind == "finance":
        amount = amount_up_to(data, min(d.approved, d.requested))
        return "DealFinanced", financing_for(d.instrument, amount=text(amount),
                                             final_maturity_date=maturity(d))
    if kind == "disburse":
        amount = amount_up_to(data, d.committed - d.cancelled - d.disbursed)
        return "FundsDisbursed", {"amount": text(amount), "reference": f"D{d.version}"}
    if kind == "repay":
        principal = data.draw(st.one_of(st.just(d.outstanding), st.integers(0, d.outstanding)))
        interest = data.draw(st.integers(0 if principal else 1, 50_000_00))
        return "RepaymentReceived", {"principal": text(principal), "interest": text(interest),
                                     "reference": f"R{d.version}"}
    if kind == "claim":
        amount = amount_up_to(data, d.outstanding)
        return "ClaimPaid", {"amount": text(amount), "reference": f"C{d.version}"}
    if kind == "recover":
        amount = amount_up_to(data, d.claims_paid - d.recovered)
        return "RecoveryReceived", {"amount": text(amount), "reference": f"V{d.version}"}
    if kind == "reverse":  # by another key than the money event's (write's servicing2)
        version = data.draw(st.sampled_from(reversible(d)))
        evidence = ({"return_reference": f"RET{version}"}
                    if d.money[version][0] == "FundsDisbursed" else {})
        return "EventReversed", {"version": version, "reason": "posted in error", **evidence}
    if data.draw(st.booleans()):  # the whole undisbursed commitment
        return "DealCancelled", {"reason": "no longer needed"}
    amount = data.draw(st.integers(1, d.undisbursed))
    return "DealCancelled", {"reason": "no longer needed", "amount": text(amount)}


def maturity(d: ReferenceDeal) -> str:
    """A final maturity within the tenor (plus one year) of today."""
    year = int(TODAY[:4]) + d.tenor
    return f"{year}-06-15"


def draw_history(data: st.DataObject) -> tuple[list[ReferenceDeal], list[list[Command]]]:
    """Deals, and their commands interleaved and grouped into submits."""
    deals: list[ReferenceDeal] = []
    queues: list[list[Command]] = []
    for i in range(data.draw(st.integers(1, 5), label="deals")):
        body = draw_application(data, f"PROP-{i + 1}")
        deal = ReferenceDeal.applied(body, TODAY)
        commands = [Command("DealApplied", body)]
        for _ in range(data.draw(st.integers(0, 9))):
            drawn = next_event(data, deal)
            if drawn is None:
                break
            deal.apply(*drawn, TODAY)
            commands.append(Command(drawn[0], drawn[1], deal_id=UUID(deal_id(deal))))
        deals.append(deal)
        queues.append(commands)
    order: list[Command] = []
    while any(queues):
        queue = data.draw(st.sampled_from([q for q in queues if q]))
        order.append(queue.pop(0))
    submits: list[list[Command]] = []
    while order:
        size = data.draw(st.integers(1, 4))
        submits.append(order[:size])
        order = order[size:]
    return deals, submits


# ---- processing ---------------------------------------------------------------------------

def assert_ledger_balances(runner: Runner) -> None:
    with runner.engine.connect() as conn:
        tables, _ = runner.active(conn, "exposure")
        sums = exposure.totals(conn, tables)
    assert sums["debits"] == sums["credits"], sums
    check = runner.reading.reconcile()
    assert check["ok"], check


def process(data: st.DataObject, runner: Runner, restart: Any, steps: int | None) -> Runner:
    """Random batches of random projections, alone or several together in one transaction;
    ``steps`` of them, or until all caught up. A restart (a new Runner on the same
    database) may come between any two batches."""
    done = 0
    while steps is None or done < steps:
        head = runner.head()
        behind = [n for n in NAMES if position(runner, n) < head]
        if not behind:
            return runner
        name = data.draw(st.sampled_from(behind))
        limit = data.draw(st.integers(1, 7))
        if data.draw(st.booleans()):
            others = data.draw(st.lists(st.sampled_from(NAMES), unique=True))
            assert runner.step_together(sorted({name, *others}), limit=limit) > 0
        else:
            assert runner.step(name, limit=limit) > 0
        assert_ledger_balances(runner)
        if data.draw(st.integers(0, 4)) == 0:
            runner = restart()
        done += 1
        assert done < 1000, "processing did not converge"
    return runner


# ---- the reference's fold ------------------------------------------------------------------

def expected_portfolio(deals: list[ReferenceDeal], at: int) -> dict[str, Any]:
    def figures(group: list[ReferenceDeal]) -> dict[str, Any]:
        return {"deals": len(group), **{k: text(sum(d.figures()[k] for d in group))
                                        for k in portfolio.SUMS}}

    out: dict[str, Any] = {"position": at, "totals": figures(deals),
                           "by_stage": {s: sum(d.stage == s for d in deals) for s in STAGES}}
    for dim in ("country", "instrument", "term"):
        keys = sorted({getattr(d, dim) for d in deals})
        out[f"by_{dim}"] = [{dim: k, **figures([d for d in deals if getattr(d, dim) == k])}
                            for k in keys]
    categories = sorted({c for d in deals for c in d.category_values()})
    out["by_category"] = [
        {"category": c, "deals": sum(c in d.category_values() for d in deals),
         "item_value": text(sum(d.category_values().get(c, 0) for d in deals))}
        for c in categories]
    return out


def assert_read_models_match_the_fold(runner: Runner, ledger: Any, deals: list[ReferenceDeal],
                                      written: list[dict[str, Any]]) -> None:
    head = written[-1]["position"]
    by_id = {deal_id(d): d for d in deals}
    last_position = {e["deal_id"]: e["position"] for e in written}
    with runner.engine.connect() as conn:
        t, at = runner.active(conn, "deals")
        assert at == head
        rows = {r.deal_id: r for r in conn.execute(sa.select(t.deals))}
        assert set(rows) == set(by_id)
        for key, d in by_id.items():
            row = rows[key]
            assert (row.stage, row.country, row.instrument, row.term) == (
                d.stage, d.country, d.instrument, d.term), d
            assert {k: getattr(row, k) for k in ROW_FIGURES} == {
                k: d.figures()[k] for k in ROW_FIGURES}, d
            assert (row.version, row.position) == (d.version, last_position[key])
            view = json.loads(row.view)
            assert view == ledger.deal_state(UUID(key))
            assert comparable(view) == d.view()
        categories = {(r.deal_id, r.category): r.item_value
                      for r in conn.execute(sa.select(t.categories))}
        assert categories == {(deal_id(d), c): v for d in deals
                              for c, v in d.category_values().items()}

        t, at = runner.active(conn, "portfolio")
        expected = expected_portfolio(deals, head)
        assert portfolio.read(conn, t, at) == expected
        assert portfolio.from_events(written, ledger.policy_book()) == expected

        t, at = runner.active(conn, "exposure")
        sums = exposure.totals(conn, t)
        assert sums["exposure"] == sum(d.exposure for d in deals)
        assert sums["committed"] == sum(d.committed for d in deals)
        for d in deals:
            balances = exposure.deal_balances(conn, t, deal_id(d))
            assert {k: balances.get(k, "0.00") for k in ("authorised", "undisbursed",
                                                         "outstanding")} == {
                "authorised": text(d.approved), "undisbursed": text(d.undisbursed),
                "outstanding": text(d.outstanding)}, (d, balances)

        t, at = runner.active(conn, "audit")
        entries = [(r.position, r.event_id, r.deal_id, r.version, r.type, r.actor, r.hash)
                   for r in conn.execute(sa.select(t.entries).order_by(t.entries.c.position))]
        assert entries == [(e["position"], e["event_id"], e["deal_id"], e["version"], e["type"],
                            e["actor"], e["hash"]) for e in written]


# ---- the property -------------------------------------------------------------------------

@hypothesis_settings(max_examples=25, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])
@given(data=st.data())
def test_incremental_processing_with_restarts_equals_a_rebuild_and_an_independent_fold(
    settings: Settings, data: st.DataObject,
) -> None:
    clean_database(settings)
    deals, submits = draw_history(data)
    phases = sorted(data.draw(st.lists(st.integers(0, len(submits)), max_size=2)))
    with ledger_and_engine(settings) as (ledger, engine):
        def restart() -> Runner:
            return new_runner(settings, ledger, engine)

        runner = restart()
        authorize(ledger)  # the board's authorization of the program comes first (SPEC v3)
        written: list[dict[str, Any]] = ledger.log(0, 10)[0]
        start = 0
        for end in [*phases, len(submits)]:
            for commands in submits[start:end]:
                written += write(ledger, commands)
            start = end
            runner = process(data, runner, restart, data.draw(st.integers(0, 12)))
        runner = process(data, runner, restart, None)

        assert all(position(runner, n) == written[-1]["position"] for n in NAMES)
        assert_read_models_match_the_fold(runner, ledger, deals, written)
        incremental = {n: live_rows(runner, n) for n in NAMES}
        rebuilder = restart()
        for name in NAMES:
            assert rebuilder.rebuild(name) == written[-1]["position"]
        assert {n: live_rows(rebuilder, n) for n in NAMES} == incremental
        # small batches, so deals carry their in-memory state from one batch to the next
        rebuilder.rebuild_batch_size = data.draw(st.integers(1, 8))
        assert rebuilder.rebuild_all() == written[-1]["position"]
        assert {n: live_rows(rebuilder, n) for n in NAMES} == incremental
        assert_ledger_balances(rebuilder)
        assert_read_models_match_the_fold(rebuilder, ledger, deals, written)


def test_the_model_draws_histories_the_ledger_accepts_on_every_path() -> None:
    """A guard on the generator itself: it must reach financing and the money events.
    A recovery is rare (a claim on a guarantee, then money back): 300 histories missed it
    for most seeds, 1000 reach it."""
    seen: set[str] = set()

    @hypothesis_settings(max_examples=1000, deadline=None, database=None, derandomize=True)
    @given(data=st.data())
    def collect(data: st.DataObject) -> None:
        _, submits = draw_history(data)
        seen.update(c.type for commands in submits for c in commands)

    collect()
    assert {"DealFinanced", "FundsDisbursed", "RepaymentReceived", "ClaimPaid",
            "DealCancelled", "CommerceLicenseDenied", "CommerceLicenseRevoked", "DealAmended",
            "RecoveryReceived", "EventReversed"} <= seen, seen
