"""The demo's deals: each scripted from a fixed seed (its script does not depend on how many
deals are asked for), with plausible parties, goods and amounts that obey the program's
rules, a target stage, and business times spread over the last 30 days, never running
backwards within a deal. Each event names the desk that posts it (SPEC v3, Desks).

SPEC v3's rules shape the scripts: every application states its U.S. content, an
accelerator whose ECCN is not controlled carries its classification ruling, and some
deals name an end user abroad (a buyer in Germany for a data centre in France, say). A
license is approved for the end user as consignee, with a line per controlled ECCN that
covers the deal's items, under a number no other deal holds. The licensing desk screens
the buyer, and the end user when it is another, before the board votes, so every
financing and disbursement finds them screened; the deals that stop before then are not
screened yet (``exim-ledger deals unscreened`` lists them).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from domain.licensing import totals_by_eccn
from domain.state import normal_items

if TYPE_CHECKING:
    from domain.policy import PolicyVersion

SEED = "exim-ledger demo 1"
PREFIX = "DEMO-"
WINDOW_DAYS = 29.0  # inside the 30 days an event may be backdated
MAX_EVENTS = 20  # a deal's events share its time span in this many slots


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
# a buyer that names an end user in another country: (its country, its name)
END_USERS = {
    "DE": ("FR", "Lyon Calcul Intensif SAS"), "NL": ("BE", "Flandre AI Datacenters NV"),
    "GB": ("IE", "Liffey Compute Ltd"), "SG": ("MY", "Johor Compute Sdn Bhd"),
}
SCREENING_LIST = "CSL"  # the Consolidated Screening List
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
    # below 3A090's thresholds: BIS said so in a classification ruling (CCATS)
    Product("Edge inference accelerator cards", "accelerator", "5A992.c", 1_500, 4_000),
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
        self.goods = self._goods(advanced, policy)
        self.controlled = policy.controlled(p["eccn"] for p in self.goods)
        contract = sum((Decimal(p["value"]) for p in self.goods), Decimal(0))
        limit = Decimal(10_000_000) if self.term == "medium" else contract
        self.requested = min(share(contract, 0.7, 0.85, rng), limit)
        self.contract = contract
        self.tenor = rng.randint(8, 15) if self.term == "long" else rng.randint(2, 7)
        self.approved = self.committed = self.disbursed = self.repaid = self.claims = Decimal(0)
        self.buyer: dict[str, str] = {}
        self.end_user: dict[str, str] | None = None  # None: the buyer is the end user

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

    def _goods(self, advanced: bool, policy: PolicyVersion) -> list[dict[str, Any]]:
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
            item = {"description": product.description, "category": product.category,
                    "eccn": product.eccn, "quantity": quantity,
                    "value": money(Decimal(price * quantity))}
            if product.category == "accelerator" and not policy.is_controlled(product.eccn):
                item["classification_ref"] = f"G{rng.randrange(100_000, 1_000_000)}"
            goods.append(item)
        return goods

    # ---- the lifecycle, one method an event ---------------------------------------------

    def apply(self) -> None:
        rng = self.rng
        country = rng.choice(sorted(BUYERS))
        self.buyer = {"name": rng.choice(BUYERS[country]), "country": country}
        data = {
            "application_number": self.number,
            "exporter": {"name": rng.choice(EXPORTERS), "country": "US"},
            "buyer": self.buyer,
            "instrument": self.instrument, "term": self.term,
            "contract_value": money(self.contract), "financed_amount": money(self.requested),
            "tenor_years": self.tenor, "items": self.goods,
            "us_content_pct": f"{rng.uniform(85, 100):.1f}",
        }
        if country in END_USERS and rng.random() < 0.5:
            abroad, name = END_USERS[country]
            self.end_user = data["end_user"] = {"name": name, "country": abroad}
        self.post("DealApplied", **data)

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
            number = self._ref("D")  # the deal's number and the event's: no other deal's
            totals = totals_by_eccn(normal_items(self.goods))  # by upper-case ECCN
            lines = [{"eccn": eccn, "quantity": totals[eccn][0], "value": money(totals[eccn][1])}
                     for eccn in self.controlled]
            self.post("CommerceLicenseApproved", application_ref=ref, license_number=number,
                      eccns=self.controlled, valid_until=years_after(self.day, 2).isoformat(),
                      consignee=dict(self.end_user or self.buyer), lines=lines)
            if outcome == "revoked":
                self.post("CommerceLicenseRevoked", license_number=number,
                          reason=self.rng.choice(REVOCATION_REASONS))

    def screen(self) -> None:
        """The licensing desk screens the buyer, and the end user when it is another,
        against the latest Consolidated Screening List: clear."""
        for party in ("buyer", "end_user") if self.end_user else ("buyer",):
            listed = self.day - timedelta(days=self.rng.randint(0, 6))
            self.post("PartyScreened", party=party, list=SCREENING_LIST,
                      list_date=listed.isoformat(), result="clear",
                      reference=self._ref(SCREENING_LIST))

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
    deal.screen()
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


