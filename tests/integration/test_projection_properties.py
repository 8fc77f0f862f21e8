"""For random valid histories, on SQLite and PostgreSQL: the read models after incremental
processing (random batch sizes, runner restarts in between) equal a full rebuild and the
reference model's fold of the events written (``tests/support/reference.py``), and the exposure
ledger balances after every batch."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
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
from tests.support.reference import ReferenceDeal, cents, comparable, text

COUNTRIES = ("DE", "FR", "JP", "BR", "IN", "GB", "CN")
CATEGORIES = ("accelerator", "server", "networking", "storage", "software", "model",
              "cloud_service", "data_center", "services")
UNCONTROLLED_ECCNS = ("5A992.c", "EAR99", "4A994.l")
CONTROLLED_ECCN = "3A090.a"
INSTRUMENTS = {"medium": ("insurance", "loan_guarantee"), "long": ("direct_loan", "loan_guarantee")}
MEDIUM_MAX = 10_000_000_00
ROW_FIGURES = ("requested", "approved", "committed", "disbursed", "outstanding", "undisbursed",
               "exposure")
LISTS = ("CSL", "csl", "SDN", "DPL")  # lists compare without regard to case
SCREENING_MAX_AGE_DAYS = 90  # the shipped policies' (SPEC v3)
EARLIEST_REVOCATION = -30  # days from today a drawn revocation may take effect


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
                      data.draw(st.integers(1_00, 8_000_000_00)), data.draw(st.integers(1, 64))))
    contract = sum(v for _, _, v, _ in items)
    ceiling = contract * 85 // 100
    if term == "medium":
        ceiling = min(ceiling, MEDIUM_MAX)
    tenor = data.draw(st.integers(1, 7) if term == "medium" else st.integers(8, 18))
    requested = amount_up_to(data, ceiling)
    content = data.draw(st.integers(85_00, 100_00))  # a percentage: the most financed is 85
    buyer = {"name": f"Buyer of {number}", "country": country}
    return {
        "application_number": number,
        "exporter": {"name": "Cerebral Silicon Inc.", "country": "US"},
        "buyer": buyer,
        "instrument": instrument, "term": term,
        "contract_value": text(contract), "financed_amount": text(requested),
        "tenor_years": tenor, "us_content_pct": text(content),
        "items": [{"description": f"{c} {e}", "category": c, "eccn": e, "quantity": q,
                   "value": text(v), **classification(c, e)} for c, e, v, q in items],
        **draw_end_user(data, number, buyer, controlled),
    }


def classification(category: str, eccn: str) -> dict[str, str]:
    """An accelerator whose ECCN is not controlled names its BIS ruling (SPEC v3)."""
    return {"classification_ref": "CCATS G123456"} if category == "accelerator" and \
        eccn != CONTROLLED_ECCN else {}


def draw_end_user(data: st.DataObject, number: str, buyer: dict[str, str],
                  controlled: bool) -> dict[str, Any]:
    """No end user (the buyer), another one (never where controlled items may not go), or
    the buyer named again in other letters (the same party)."""
    kind = data.draw(st.sampled_from(("buyer", "buyer", "other", "same")))
    if kind == "buyer":
        return {}
    if kind == "same":
        return {"end_user": {"name": buyer["name"].upper(), "country": buyer["country"]}}
    countries = [c for c in COUNTRIES if not (controlled and c == "CN")]
    return {"end_user": {"name": f"End user of {number}",
                         "country": data.draw(st.sampled_from(countries))}}


def amount_up_to(data: st.DataObject, ceiling: int) -> int:
    return data.draw(st.one_of(st.just(ceiling), st.integers(1, ceiling)))


TODAY = datetime.now(UTC).date().isoformat()  # the events below occur when posted


def meeting(d: ReferenceDeal) -> str:
    """A board meeting for the deal's next event: in the past, and later than any earlier
    vote's (SPEC v3: one vote per meeting, in the order of the meetings)."""
    return (date.fromisoformat(TODAY) - timedelta(days=60 - d.version)).isoformat()


@dataclass
class DrawnDeal(ReferenceDeal):
    """The reference deal, and what drawing its next event must know besides (rules the
    view does not show): each approved license's lines, by application_ref then ECCN, as
    (quantity, value in cents), and each screening's list date and result, by (party,
    LIST) as the reference keys them; and the SPEC v3 situations it went through, for the
    generator's guard."""
    lines: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    listed: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    end_party: dict[str, str] = field(default_factory=dict)
    went_through: set[str] = field(default_factory=set)

    def apply(self, type_name: str, data: Mapping[str, Any], day: str = "") -> None:
        if type_name in ("DealFinanced", "FundsDisbursed") and any(
                not any(covers(self.lines[ref][eccn], needed(self, eccn))
                        for ref in self.valid_licenses(eccn)) for eccn in self.controlled):
            self.went_through.add("money on several licenses' lines")  # none covers alone
        if type_name == "CommerceLicenseRevoked" and any(
                lic.revoked_from for lic in self.licenses.values()
                if lic.number == data["license_number"]):
            self.went_through.add("revocation moved earlier")
        super().apply(type_name, data, day)
        if type_name == "CommerceLicenseApproved":
            self.lines[data["application_ref"]] = {
                line["eccn"].upper(): (line["quantity"], cents(line["value"]))
                for line in data["lines"]}
        elif type_name == "PartyScreened":
            party = data["party"] if self.end_user is not None else "buyer"
            self.listed[(party, data["list"].strip().upper())] = (data["list_date"],
                                                                   data["result"])
            self.went_through.add(f"{data['result']} screening")
            if party == "end_user":
                self.went_through.add("end user screened")
            if data["list_date"] < days_from_today(-SCREENING_MAX_AGE_DAYS):
                self.went_through.add("stale screening")

    def valid_licenses(self, eccn: str) -> list[str]:
        """The application_refs of the licenses covering ``eccn`` that are valid today."""
        return [ref for ref, lic in self.licenses.items()
                if lic.valid_on(TODAY) and eccn in lic.eccns]


def applied(body: dict[str, Any]) -> DrawnDeal:
    deal = DrawnDeal.applied(body, TODAY)
    assert isinstance(deal, DrawnDeal)
    deal.end_party = dict(body.get("end_user") or body["buyer"])
    return deal


def days_from_today(days: int) -> str:
    return (date.fromisoformat(TODAY) + timedelta(days=days)).isoformat()


def needed(d: DrawnDeal, eccn: str) -> tuple[int, int]:
    """The deal's total quantity and value (cents) of ``eccn``."""
    return d.quantities.get(eccn, 0), sum(v for _, e, v in d.items if e == eccn)


def covers(line: tuple[int, int], need: tuple[int, int]) -> bool:
    return line[0] >= need[0] and line[1] >= need[1]


def licensed(d: DrawnDeal) -> bool:
    """Whether the license gate passes today for the deal's controlled items: a valid
    covering license, and the lines of the valid ones cover the items (SPEC v3)."""
    for eccn in d.controlled:
        lines = [d.lines[ref][eccn] for ref in d.valid_licenses(eccn)]
        total = (sum(q for q, _ in lines), sum(v for _, v in lines))
        if not lines or not covers(total, needed(d, eccn)):
            return False
    return True


def parties(d: DrawnDeal) -> list[str]:
    return ["buyer"] if d.end_user is None else ["buyer", "end_user"]


def unscreened(d: DrawnDeal, party: str) -> list[str] | None:
    """None when the party rules pass today for ``party``: screened, no latest screening
    a match, the newest list date of its latest screenings recent enough; else the lists
    to screen it against again (its matches; [] for any list)."""
    latest = {name: found for (who, name), found in d.listed.items() if who == party}
    matched = [name for name, (_, result) in latest.items() if result == "match"]
    if not latest or matched:
        return matched
    newest = date.fromisoformat(max(day for day, _ in latest.values()))
    if (date.fromisoformat(TODAY) - newest).days > SCREENING_MAX_AGE_DAYS:
        return []
    return None


def screened(d: DrawnDeal) -> bool:
    return all(unscreened(d, party) is None for party in parties(d))


def cleared(d: DrawnDeal) -> bool:
    """Whether money may leave EXIM today as far as licenses and parties go."""
    return licensed(d) and screened(d)


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


def next_event(data: st.DataObject, d: DrawnDeal) -> tuple[str, dict[str, Any]] | None:
    """One valid next event for the deal as the reference sees it, or None to stop."""
    options = ["stop"]  # weights below lean towards progress, so money events are common
    revocable = [ref for ref, lic in d.licenses.items() if lic.status == "approved" and (
        lic.revoked_from is None or lic.revoked_from > days_from_today(EARLIEST_REVOCATION))]
    pending = sorted(r for r, lic in d.licenses.items() if lic.status == "requested")
    if not d.closed:
        # SPEC v3: licenses and screenings go on after financing (a replacement license, a
        # fresh screening before a disbursement)
        if not licensed(d):  # another license, or a replacement after financing
            options += ["request_license"] * (1 if pending else 4)
        elif not d.financed:
            options += ["request_license"]
        options += ["screen"] * (1 if screened(d) else 4)
        if pending:
            options += ["approve_license"] * (2 if licensed(d) else 5) + ["deny_license"]
        if revocable:
            options += ["revoke"]
    if not d.closed and not d.financed:
        options += ["vote_against", "close", "amend"]
        options += ["vote_for"] * (1 if d.board == "approved" else 3)
        if d.board == "approved" and cleared(d) and min(d.approved, d.requested) > 0:
            options += ["finance"] * 6
    if d.financed:
        if d.committed - d.cancelled - d.disbursed > 0 and cleared(d):
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
    if kind == "deny_license":
        return "CommerceLicenseDenied", {"application_ref": data.draw(st.sampled_from(pending)),
                                         "reason": "diversion risk"}
    if kind == "approve_license":
        return "CommerceLicenseApproved", draw_approval(data, d, data.draw(st.sampled_from(
            pending)), eccn)
    if kind == "revoke":
        return draw_revocation(data, d, data.draw(st.sampled_from(revocable)))
    if kind == "screen":
        return "PartyScreened", draw_screening(data, d)
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


def draw_approval(data: st.DataObject, d: DrawnDeal, ref: str, eccn: str) -> dict[str, Any]:
    """An approval under a number no other deal holds, its consignee the end user, valid
    for up to SPEC v3's four years, its line covering the deal's items of ``eccn``, part
    of them, or the rest the valid licenses leave (when they cover some)."""
    quantity, value = needed(d, eccn.upper())
    held = [d.lines[ref][eccn.upper()] for ref in d.valid_licenses(eccn.upper())]
    kind = data.draw(st.sampled_from(("whole", "part") + ("rest",) * 3 * bool(held)))
    if kind == "part":
        line = (data.draw(st.integers(1, quantity)), data.draw(st.integers(1, value)))
    elif kind == "rest":
        line = (max(quantity - sum(q for q, _ in held), 1), max(value - sum(v for _, v in held), 1))
    else:
        line = (quantity + data.draw(st.integers(0, 3)), value + data.draw(st.integers(0, 100)))
    return {"application_ref": ref, "license_number": f"D-{d.number}-{ref}", "eccns": [eccn],
            "valid_until": days_from_today(data.draw(st.integers(1, 4 * 365))),
            "consignee": {"name": d.end_party["name"], "country": d.end_party["country"]},
            "lines": [{"eccn": eccn, "quantity": line[0], "value": text(line[1])}]}


def draw_revocation(data: st.DataObject, d: DrawnDeal, ref: str) -> tuple[str, dict[str, Any]]:
    """A revocation from today (no ``effective_date``), a date ahead or one past; when the
    license is already revoked, from an earlier date than its current one (SPEC v3: it
    moves earlier)."""
    lic = d.licenses[ref]
    latest = 400
    if lic.revoked_from is not None:
        latest = (date.fromisoformat(lic.revoked_from) - date.fromisoformat(TODAY)).days - 1
    days = data.draw(st.integers(EARLIEST_REVOCATION, latest))
    effective = {} if days == 0 and data.draw(st.booleans()) else {
        "effective_date": days_from_today(days)}
    return "CommerceLicenseRevoked", {"license_number": lic.number, "reason": "diversion",
                                      **effective}


def draw_screening(data: st.DataObject, d: DrawnDeal) -> dict[str, Any]:
    """A screening, most often of a party the rules stop (against a list it matched), of
    the end user too when it is the buyer (it serves both), listed today or up to 120
    days ago (around the 90 days a financing allows), most often clear."""
    stopped = {p: lists for p in parties(d) if (lists := unscreened(d, p)) is not None}
    if stopped and data.draw(st.integers(0, 3)):
        party = data.draw(st.sampled_from(sorted(stopped)))
        lists = stopped[party] or list(LISTS)
    else:
        party, lists = data.draw(st.sampled_from(("buyer", "buyer", "end_user"))), list(LISTS)
    age = data.draw(st.sampled_from((0, 0, 0, 1, 30, 89, 90, 91, 120)))
    return {"party": party, "list": data.draw(st.sampled_from(lists)),
            "list_date": days_from_today(-age),
            "result": data.draw(st.sampled_from(("clear",) * 7 + ("match",))),
            "reference": f"S-{d.number}-{d.version}"}


def maturity(d: ReferenceDeal) -> str:
    """A final maturity within the tenor (plus one year) of today."""
    year = int(TODAY[:4]) + d.tenor
    return f"{year}-06-15"


def draw_history(data: st.DataObject) -> tuple[list[DrawnDeal], list[list[Command]]]:
    """Deals, and their commands interleaved and grouped into submits."""
    deals: list[DrawnDeal] = []
    queues: list[list[Command]] = []
    for i in range(data.draw(st.integers(1, 5), label="deals")):
        body = draw_application(data, f"PROP-{i + 1}")
        deal = applied(body)
        commands = [Command("DealApplied", body)]
        for _ in range(data.draw(st.integers(0, 18))):
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
    """A guard on the generator itself: it must reach financing and the money events, and
    SPEC v3's licenses with lines (money that needed several licenses' lines), moving
    revocations (one moved earlier) and screenings (a match, a stale one, an end user's).
    A recovery is rare (a claim on a guarantee, then money back): 300 histories missed it
    for most seeds, 1000 reach it."""
    seen: set[str] = set()

    @hypothesis_settings(max_examples=1000, deadline=None, database=None, derandomize=True)
    @given(data=st.data())
    def collect(data: st.DataObject) -> None:
        deals, submits = draw_history(data)
        seen.update(c.type for commands in submits for c in commands)
        seen.update(feature for d in deals for feature in d.went_through)

    collect()
    assert {"DealFinanced", "FundsDisbursed", "RepaymentReceived", "ClaimPaid",
            "DealCancelled", "CommerceLicenseDenied", "CommerceLicenseRevoked", "DealAmended",
            "RecoveryReceived", "EventReversed", "PartyScreened",
            "money on several licenses' lines", "revocation moved earlier", "clear screening",
            "match screening", "stale screening", "end user screened"} <= seen, seen
