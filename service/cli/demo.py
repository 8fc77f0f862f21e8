"""``exim-ledger demo``: a realistic portfolio, written through the ledger's own use cases.

Each demo deal is scripted from a fixed seed (its script does not depend on how many deals
are asked for): plausible parties, goods and amounts that obey the program's rules, a
target stage (the first deals take every stage of SPEC's table once), and business times
spread over the last 30 days, never running backwards within a deal. The events pass the
API's own request schemas and ``Ledger.submit``, in batches, like ``POST /v1/batches``,
each posted by the desk whose business it is (SPEC v3, Desks): origination applies,
licensing records Commerce's decisions, the board votes, servicing moves the money, and a
second servicing key reverses (never the key that posted the event it undoes). A deal's
events are written in its order, one desk's run of them at a time. Deals already on the
ledger are left alone, so a second run adds nothing.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from service.cli.setup import ledger_session

if TYPE_CHECKING:
    from domain.policy import PolicyVersion
    from service.ledger.application import Ledger

app = typer.Typer()

SEED = "exim-ledger demo 1"
PREFIX = "DEMO-"
WINDOW_DAYS = 29.0  # inside the 30 days an event may be backdated
MAX_EVENTS = 20  # a deal's events share its time span in this many slots
BATCH_LIMIT = 1000
SOURCE = "exim-ledger demo"


class Desk(NamedTuple):  # who posts: the actor, and the role it has
    name: str
    role: str


DESKS = {role: Desk(f"demo-{role}", role)
         for role in ("origination", "licensing", "board", "servicing")}
ORIGINATION, SERVICING = DESKS["origination"], DESKS["servicing"]
REVERSING = Desk("demo-servicing-2", "servicing")  # four eyes: not the reversed event's key
STAGE_WEIGHTS = {
    "applied": 6, "license_pending": 7, "license_denied": 3, "license_approved": 5,
    "license_revoked": 2, "board_approved": 6, "board_rejected": 3, "financed": 8,
    "disbursing": 18, "repaying": 22, "repaid": 8, "claimed": 4, "cancelled": 8,
}
EXPORTERS = (
    "Cerebral Silicon Inc.", "Lattice Ridge Systems Inc.", "Tensorforge Corp.",
    "Bluewater Photonics LLC", "Sierra Compute Corp.", "Cascadia Accelerators Inc.",
    "Prairie Data Systems LLC", "Ironwood Networks Inc.", "Blue Mesa Storage Inc.",
    "Kestrel AI Software LLC", "Redwood Inference Labs Inc.", "Chesapeake Cloud Works Inc.",
)
BUYERS = {
    "DE": ("Rheinland Rechenzentrum GmbH", "Bayerische KI-Cloud AG"),
    "FR": ("Calcul Atlantique SAS", "Nuage Lumière SA"),
    "GB": ("Thames Compute Ltd", "Pennine Data Centres plc"),
    "JP": ("Sakura Compute KK", "Kansai AI Infrastructure KK"),
    "KR": ("Hanbit Cloud Co., Ltd.", "Busan Data Center Co., Ltd."),
    "IN": ("Deccan AI Cloud Pvt Ltd", "Ganga Datacentres Ltd"),
    "SG": ("Straits Compute Pte Ltd",), "AE": ("Gulf Inference Systems LLC",),
    "SA": ("Najd Digital Infrastructure Co.",), "BR": ("Cerrado Computação S.A.",),
    "MX": ("Cómputo del Bajío S.A. de C.V.",), "CA": ("Laurentian AI Compute Inc.",),
    "AU": ("Southern Cross Compute Pty Ltd",), "NL": ("Polder Datacenters B.V.",),
    "SE": ("Norrland Kraft & Data AB",), "PL": ("Wisła Obliczenia Sp. z o.o.",),
    "IL": ("Carmel Compute Ltd",), "TW": ("Formosa AI Cloud Co., Ltd.",),
    "CL": ("Atacama Datos SpA",), "ID": ("Nusantara Komputasi PT",),
    "KE": ("Rift Valley Data Centres Ltd",), "ZA": ("Highveld Compute (Pty) Ltd",),
}
REVOCATION_REASONS = ("end-use check found a diversion risk", "the consignee was listed")
DENIAL_REASONS = ("end-user could not be verified", "insufficient end-use assurances")
FEES, RATES = ("1.10", "1.85", "2.25", "3.40", "4.75"), ("4.125", "4.625", "5.250")
APPROVING = ((5, 0, 0), (4, 1, 0), (3, 1, 1), (4, 0, 1), (3, 0, 2))  # for, against, abstain
REJECTING = ((1, 3, 1), (2, 3, 0), (0, 4, 1), (2, 2, 1))
LICENSE_OUTCOMES = {"license_pending": "requested", "license_denied": "denied",
                    "license_approved": "approved", "license_revoked": "revoked"}


class Product(NamedTuple):
    description: str
    category: str
    eccn: str
    low: int  # unit price range, USD
    high: int


ADVANCED = (
    Product("AI training accelerators", "accelerator", "3A090.a", 25_000, 40_000),
    Product("AI inference accelerators", "accelerator", "3A090.b", 8_000, 15_000),
    Product("8-way GPU training servers", "server", "4A090.a", 250_000, 400_000),
)
GENERAL = (
    Product("Rack servers", "server", "5A992.c", 15_000, 40_000),
    Product("Spine-leaf network switches", "networking", "5A991.b", 20_000, 60_000),
    Product("NVMe storage arrays", "storage", "5A992.c", 80_000, 200_000),
    Product("Cluster management software licences", "software", "5D992.c", 1_000, 5_000),
    Product("Pretrained language model licence", "model", "EAR99", 500_000, 3_000_000),
    Product("Managed GPU cloud capacity (1,000 GPU-hours)", "cloud_service", "EAR99",
            2_000, 4_000),
    Product("Modular data hall", "data_center", "EAR99", 2_000_000, 6_000_000),
    Product("Installation and operator training", "services", "EAR99", 100_000, 900_000),
)


def money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def thousands(amount: Decimal) -> Decimal:
    return (amount / 1000).to_integral_value(ROUND_DOWN) * 1000


def share(amount: Decimal, low: float, high: float, rng: random.Random) -> Decimal:
    """A round part of ``amount``, between ``low`` and ``high`` of it (at least 1,000)."""
    return max(Decimal(1000), thousands(amount * Decimal(str(round(rng.uniform(low, high), 3)))))


def years_after(day: date, years: int) -> date:
    return day.replace(year=day.year + years, day=min(day.day, 28))


class DemoDeal:
    """One demo deal: its terms, and its events as batch items in business order."""

    def __init__(self, index: int, stage: str, now: datetime, policy: PolicyVersion) -> None:
        self.rng = rng = random.Random(f"{SEED}/{index}")
        self.number = f"{PREFIX}{index:05d}"
        self._start = now - timedelta(days=rng.uniform(1.0, WINDOW_DAYS))
        self._slot = (now - timedelta(minutes=10) - self._start) / MAX_EVENTS
        self.items: list[dict[str, Any]] = []
        self.desks: list[Desk] = []  # who posts each item
        self._next = self._moment()
        self.term = "long" if rng.random() < 0.35 else "medium"
        self.instrument = rng.choice(("insurance", "loan_guarantee") if self.term == "medium"
                                     else ("direct_loan", "loan_guarantee"))
        if stage == "claimed" and self.instrument == "direct_loan":
            self.instrument = "loan_guarantee"  # claims are paid on guarantees and insurance
        advanced = stage in LICENSE_OUTCOMES or rng.random() < 0.6
        self.goods = self._goods(advanced)
        self.controlled = policy.controlled(p["eccn"] for p in self.goods)
        contract = sum((Decimal(p["value"]) for p in self.goods), Decimal(0))
        limit = Decimal(10_000_000) if self.term == "medium" else contract
        self.requested = min(share(contract, 0.7, 0.85, rng), limit)
        self.contract = contract
        self.tenor = rng.randint(8, 15) if self.term == "long" else rng.randint(2, 7)
        self.approved = self.committed = self.disbursed = self.repaid = self.claims = Decimal(0)

    @property
    def day(self) -> date:
        """The business date of the next event."""
        return self._next.date()

    @property
    def outstanding(self) -> Decimal:
        return self.disbursed - self.repaid - self.claims

    def post(self, type_name: str, desk: Desk | None = None, /, **data: Any) -> int:
        """Add the next event, posted by ``desk`` (default: its type's); its version."""
        from domain.desks import desk_of

        item = {"type": type_name, "data": data, "occurred_at": _rfc3339(self._next)}
        if self.items:
            item["application_number"] = self.number
        self.items.append(item)
        self.desks.append(desk or DESKS[desk_of(type_name) or ""])
        self._next = self._moment()
        return len(self.items)

    def _moment(self) -> datetime:
        """When the next event occurs: in its own slot of the deal's span, so later."""
        slots = len(self.items) + self.rng.uniform(0, 0.5)
        assert slots < MAX_EVENTS
        return self._start + slots * self._slot

    def _goods(self, advanced: bool) -> list[dict[str, Any]]:
        rng = self.rng
        target = rng.uniform(1.5e6, 11e6) if self.term == "medium" else rng.uniform(15e6, 250e6)
        lines = rng.sample(GENERAL, rng.randint(1, 3))
        if advanced:
            lines.insert(0, rng.choice(ADVANCED))
        weights = [rng.uniform(1, 3) * (3 if p in ADVANCED else 1) for p in lines]
        goods = []
        for product, weight in zip(lines, weights, strict=True):
            price = rng.randrange(product.low, product.high, 500)
            quantity = max(1, round(target * weight / sum(weights) / price))
            goods.append({"description": product.description, "category": product.category,
                          "eccn": product.eccn, "quantity": quantity,
                          "value": money(Decimal(price * quantity))})
        return goods

    # ---- the lifecycle, one method an event ---------------------------------------------

    def apply(self) -> None:
        data = {
            "application_number": self.number,
            "exporter": {"name": self.rng.choice(EXPORTERS), "country": "US"},
            "buyer": self._buyer(),
            "instrument": self.instrument, "term": self.term,
            "contract_value": money(self.contract), "financed_amount": money(self.requested),
            "tenor_years": self.tenor, "items": self.goods,
        }
        if self.rng.random() < 0.5:
            data["us_content_pct"] = f"{self.rng.uniform(85, 100):.1f}"
        self.post("DealApplied", **data)

    def _buyer(self) -> dict[str, str]:
        country = self.rng.choice(sorted(BUYERS))
        return {"name": self.rng.choice(BUYERS[country]), "country": country}

    def amend(self) -> None:
        self.requested = share(self.requested, 0.85, 0.95, self.rng)
        self.post("DealAmended", financed_amount=money(self.requested),
                  reason="the buyer raised its cash payment")

    def license(self, outcome: str) -> None:
        """Ask BIS for a license of the controlled items, if any, and record its fate."""
        if not self.controlled:
            return
        if outcome == "approved" and self.rng.random() < 0.1:
            self.license("denied")  # refused first; the exporter filed again
        ref = self._ref("BIS")
        self.post("LicenseRequested", application_ref=ref, eccns=self.controlled)
        if outcome == "denied":
            self.post("CommerceLicenseDenied", application_ref=ref,
                      reason=self.rng.choice(DENIAL_REASONS))
        elif outcome in ("approved", "revoked"):
            number = self._ref("D")
            self.post("CommerceLicenseApproved", application_ref=ref, license_number=number,
                      eccns=self.controlled, valid_until=years_after(self.day, 2).isoformat())
            if outcome == "revoked":
                self.post("CommerceLicenseRevoked", license_number=number,
                          reason=self.rng.choice(REVOCATION_REASONS))

    def vote(self, approve: bool) -> None:
        """A rejection is of the meeting the day before (so that a later approval, perhaps
        the same day, is of another meeting); a long-term approval follows a notice to
        Congress of the amount applied for, 40 days before its meeting."""
        votes_for, against, abstaining = self.rng.choice(APPROVING if approve else REJECTING)
        meeting = self.day if approve else self.day - timedelta(days=1)
        data: dict[str, Any] = {"meeting_date": meeting.isoformat(), "votes_for": votes_for,
                                "votes_against": against, "abstentions": abstaining,
                                "decision": "approved" if approve else "rejected"}
        if approve:
            self.approved = self.requested if self.rng.random() < 0.7 else share(
                self.requested, 0.9, 0.98, self.rng)
            data["approved_amount"] = money(self.approved)
            if self.term == "long":
                self.post("CongressionalNotified",
                          notified_on=(meeting - timedelta(days=40)).isoformat(),
                          amount=money(self.requested), reference=self._ref("CN"))
        self.post("BoardVoted", **data)

    def finance(self) -> None:
        self.committed = self.approved
        data = {"instrument": self.instrument, "amount": money(self.committed),
                "exposure_fee_pct": self.rng.choice(FEES),
                "final_maturity_date": years_after(self.day, self.tenor).isoformat()}
        if self.instrument == "direct_loan":
            data["interest_rate_pct"] = self.rng.choice(RATES)
        self.post("DealFinanced", **data)

    def disburse(self, amount: Decimal) -> int:
        self.disbursed += amount
        return self.post("FundsDisbursed", amount=money(amount), reference=self._ref("WIRE"))

    def reverse_duplicate_wire(self) -> None:
        """A wire sent twice: the bank returned the second one."""
        amount = share(self.committed - self.disbursed, 0.1, 0.3, self.rng)
        version = self.disburse(amount)
        self.disbursed -= amount
        self.post("EventReversed", REVERSING, version=version,
                  reason="duplicate wire returned by the bank",
                  return_reference=self._ref("RETURN"))

    def repay(self, principal: Decimal) -> None:
        interest = (self.outstanding * Decimal("0.0125")).quantize(Decimal("0.01"))
        self.repaid += principal
        self.post("RepaymentReceived", principal=money(principal), interest=money(interest),
                  reference=self._ref("PAY"))

    def claim(self, amount: Decimal) -> None:
        self.claims += amount
        self.post("ClaimPaid", amount=money(amount), reference=self._ref("CLAIM"))

    def recover(self) -> None:
        self.post("RecoveryReceived", amount=money(share(self.claims, 0.1, 0.5, self.rng)),
                  reference=self._ref("REC"))

    def cancel(self, amount: Decimal | None = None) -> None:
        """Before financing: close the deal; after: cancel ``amount`` (default: all) of
        the commitment not yet disbursed."""
        data = {"reason": self.rng.choice(("the buyer withdrew", "the project was deferred"))}
        if amount is not None:
            data["amount"] = money(amount)
        self.post("DealCancelled", SERVICING if self.committed else ORIGINATION, **data)

    def _ref(self, kind: str) -> str:
        return f"{kind}-{self.number}-{len(self.items) + 1}"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def play(deal: DemoDeal, stage: str) -> None:
    """The events that take ``deal`` to ``stage``."""
    rng = deal.rng
    deal.apply()
    if rng.random() < 0.15:
        deal.amend()
    if stage == "applied":
        return
    if stage in LICENSE_OUTCOMES:
        deal.license(LICENSE_OUTCOMES[stage])
        return
    deal.license("approved")
    if stage == "cancelled" and rng.random() < 0.5:
        deal.cancel()  # before financing: the deal is closed
        return
    if stage == "board_rejected" or rng.random() < 0.1:
        deal.vote(approve=False)  # a later vote replaces it
    if stage == "board_rejected":
        return
    deal.vote(approve=True)
    if stage == "board_approved":
        return
    deal.finance()
    _after_financing(deal, stage, rng)


def _after_financing(deal: DemoDeal, stage: str, rng: random.Random) -> None:
    committed = deal.committed
    if stage == "cancelled":
        deal.cancel()  # the whole commitment, before any disbursement
    elif stage == "disbursing":
        deal.disburse(share(committed, 0.3, 0.6, rng))
        if rng.random() < 0.3:
            deal.reverse_duplicate_wire()
    elif stage == "repaying":
        deal.disburse(share(committed, 0.5, 0.9, rng))
        deal.repay(share(deal.disbursed, 0.1, 0.4, rng))
        if deal.instrument != "direct_loan" and rng.random() < 0.2:
            deal.claim(share(deal.outstanding, 0.1, 0.3, rng))
    elif stage in ("repaid", "claimed"):
        first = share(committed, 0.4, 0.7, rng)
        deal.disburse(first)
        if rng.random() < 0.3:
            deal.cancel(committed - first)  # the rest was not needed
        else:
            deal.disburse(committed - first)
        if stage == "claimed":
            deal.repay(share(deal.outstanding, 0.1, 0.5, rng))
            deal.claim(deal.outstanding)
            if rng.random() < 0.6:
                deal.recover()
        else:
            deal.repay(share(deal.outstanding, 0.3, 0.6, rng))
            deal.repay(deal.outstanding)


def stage_of(index: int) -> str:
    """The target stage of the demo's ``index``-th deal: the first deals take every stage
    once (in a seeded order), the rest by ``STAGE_WEIGHTS``."""
    stages = sorted(STAGE_WEIGHTS)
    random.Random(SEED).shuffle(stages)
    if index <= len(stages):
        return stages[index - 1]
    rng = random.Random(f"{SEED}/stage/{index}")
    return rng.choices(list(STAGE_WEIGHTS), weights=list(STAGE_WEIGHTS.values()))[0]


def scripts(indexes: Sequence[int], now: datetime, policy: PolicyVersion) -> list[DemoDeal]:
    deals = []
    for index in indexes:
        stage = stage_of(index)
        deal = DemoDeal(index, stage, now, policy)
        play(deal, stage)
        deals.append(deal)
    return deals


def runs(deal: DemoDeal) -> Iterator[tuple[Desk, list[dict[str, Any]]]]:
    """The deal's events in runs of consecutive events one desk posts."""
    for desk, run in groupby(zip(deal.desks, deal.items, strict=True), key=itemgetter(0)):
        yield desk, [item for _, item in run]


def batches(deals: Sequence[DemoDeal]) -> Iterator[tuple[Desk, list[dict[str, Any]]]]:
    """The deals' events as batches of one desk's, each of at most ``BATCH_LIMIT``: the
    first run of every deal, then the second, and so on, so that each deal's events are
    written in its order; a run is never split."""
    waves = [list(runs(deal)) for deal in deals]
    for wave in range(max(map(len, waves), default=0)):
        now = sorted((r[wave] for r in waves if wave < len(r)), key=itemgetter(0))  # stable
        for desk, desk_runs in groupby(now, key=itemgetter(0)):
            batch: list[dict[str, Any]] = []
            for _, items in desk_runs:
                if len(batch) + len(items) > BATCH_LIMIT:
                    yield desk, batch
                    batch = []
                batch += items
            yield desk, batch


def write(ledger: Ledger, desk: Desk, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Post ``items`` as one batch by ``desk``: checked by the API's schemas and desks,
    decided by the ledger."""
    from domain.desks import check_may_post
    from service.ledger.commands import Context, Rendering
    from service.ledger.fields import parse
    from service.ledger.payloads import BATCH

    for index, item in enumerate(items):
        check_may_post(desk.role, item["type"], index=index)
    batch = parse(BATCH, {"events": items}, items="events")
    commands = [item.command(f"events[{i}].") for i, item in enumerate(batch.events)]
    render = Rendering(201, body="events")
    context = Context(actor=desk.name, source=SOURCE)
    return ledger.submit(commands, context, render).envelopes


def load(ledger: Ledger, count: int) -> list[dict[str, Any]]:
    """Write the first ``count`` demo deals that are not on the ledger yet; the envelopes
    written."""
    from service.ledger.commands import deal_id_for

    missing = [i for i in range(1, count + 1)
               if not ledger.store.stream_version(deal_id_for(f"{PREFIX}{i:05d}"))]
    now = ledger.clock()
    deals = scripts(missing, now, ledger.policy_book().at(now))
    authorized = authorize(ledger, now) if deals else []
    return authorized + [envelope for desk, items in batches(deals)
                         for envelope in write(ledger, desk, items)]


def authorize(ledger: Ledger, now: datetime) -> list[dict[str, Any]]:
    """The board's authorization of the program (SPEC v3: none, no financing), from
    before the demo's first event, unless one is in force over its whole span."""
    from domain.program import PROGRAM_AUTHORIZED, PROGRAM_ID
    from service.ledger.commands import Command, Context, Rendering

    start = (now - timedelta(days=WINDOW_DAYS + 1)).date()
    program = ledger.program(fresh=True)
    if program.authorization_on(start) and program.authorization_on(now.date()):
        return []
    data = {"meeting_date": start.isoformat(), "votes_for": 4, "votes_against": 0,
            "abstentions": 1, "effective_from": start.isoformat(),
            "total_limit": "1000000000000.00"}
    board = DESKS["board"]
    return ledger.submit([Command(PROGRAM_AUTHORIZED, data, deal_id=PROGRAM_ID)],
                         Context(actor=board.name, source=SOURCE),
                         Rendering(201)).envelopes


PROGRAM_ID = UUID(int=0)  # the program stream: its authorization is no demo deal


@app.command()
def demo(
    deals: Annotated[int, typer.Option("--deals", min=1, max=10_000,
                                       help="how many demo deals")] = 300,
) -> None:
    """Load a realistic demo portfolio: every stage, with licenses, board votes, money
    movements, corrections and cancellations, dated over the last 30 days. A second run
    adds nothing."""
    started = time.monotonic()
    with ledger_session(start=True) as (ledger, _, _settings):
        written = load(ledger, deals)
        deal_ids = {UUID(envelope["deal_id"]) for envelope in written} - {PROGRAM_ID}
        stages = Counter(ledger.deal_state(deal_id)["stage"] for deal_id in deal_ids)
    if not written:
        typer.echo(f"the {deals} demo deals are on the ledger already: added nothing")
        return
    typer.echo(f"added {len(deal_ids)} demo deals ({len(written)} events, up to position "
               f"{written[-1]['position']}) in {time.monotonic() - started:.1f} s")
    table = Table("stage", "deals", title="the new deals by stage")
    for stage in STAGE_WEIGHTS:
        table.add_row(stage, str(stages[stage]))
    Console().print(table)
