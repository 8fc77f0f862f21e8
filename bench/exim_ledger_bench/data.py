"""Deals valid under the v3 rules, dated from today: what every scenario writes.

Each deal's license names its buyer as consignee, with a line that covers its accelerators,
under a number made of the deal's application number (license numbers are unique across
the ledger); the licensing desk screens the buyer before the board votes, so the financing
and every disbursement find it screened."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

COUNTRIES = ("DE", "FR", "JP", "BR", "IN")
ACCELERATORS = {"eccn": "3A090.a", "quantity": 64, "value": "8000000.00"}  # the controlled line
DISBURSEMENT = "1.00"  # small enough that a deal takes millions of them


def _years_on(day: date, years: int) -> str:
    return day.replace(year=day.year + years, day=min(day.day, 28)).isoformat()


def application(number: str, i: int) -> dict[str, Any]:
    """A ``DealApplied`` body; ``i`` varies the buyer's country, the term and instrument."""
    long_term = i % 3 == 0
    return {
        "application_number": number,
        "exporter": {"name": "Cerebral Silicon Inc.", "country": "US"},
        "buyer": {"name": f"Buyer {i}", "country": COUNTRIES[i % len(COUNTRIES)]},
        "instrument": "direct_loan" if long_term else ("insurance", "loan_guarantee")[i % 2],
        "term": "long" if long_term else "medium",
        "contract_value": "10000000.00", "financed_amount": "8500000.00",
        "tenor_years": 10 if long_term else 5,
        "us_content_pct": "90",
        "items": [
            {"description": "AI accelerators", "category": "accelerator", **ACCELERATORS},
            {"description": "Rack servers", "category": ("server", "storage")[i % 2],
             "eccn": "5A992.c", "quantity": 8, "value": "2000000.00"},
        ],
    }


def setup(i: int, body: dict[str, Any], today: date) -> list[tuple[str, dict[str, Any]]]:
    """Licensed, screened, approved and financed, with a maturity inside the tenor window."""
    financing: dict[str, Any] = {
        "instrument": body["instrument"], "amount": "8000000.00", "exposure_fee_pct": "2.25",
        "final_maturity_date": _years_on(today, body["tenor_years"])}
    if body["instrument"] == "direct_loan":
        financing["interest_rate_pct"] = "4.125"
    return [
        ("LicenseRequested", {"application_ref": f"Z-{i}", "eccns": ["3A090.a"]}),
        ("CommerceLicenseApproved", {"application_ref": f"Z-{i}",
                                     "license_number": f"L-{body['application_number']}",
                                     "eccns": ["3A090.a"], "valid_until": _years_on(today, 3),
                                     "consignee": dict(body["buyer"]),
                                     "lines": [dict(ACCELERATORS)]}),
        ("PartyScreened", {"party": "buyer", "list": "CSL", "list_date": today.isoformat(),
                           "result": "clear", "reference": f"CSL-{i}"}),
        ("BoardVoted", {"meeting_date": today.isoformat(), "votes_for": 4,
                        "votes_against": 1, "abstentions": 0, "decision": "approved",
                        "approved_amount": "8500000.00"}),
        ("DealFinanced", financing),
    ]


def money_life() -> list[tuple[str, dict[str, Any]]]:
    """After financing: drawn twice, repaid twice, the undrawn rest cancelled."""
    return [
        ("FundsDisbursed", {"amount": "3000000.00", "reference": "D1"}),
        ("FundsDisbursed", {"amount": "3000000.00", "reference": "D2"}),
        ("RepaymentReceived", {"principal": "1000000.00", "interest": "90000.00",
                               "reference": "R1"}),
        ("RepaymentReceived", {"principal": "1000000.00", "interest": "80000.00",
                               "reference": "R2"}),
        ("DealCancelled", {"reason": "undrawn balance released", "amount": "2000000.00"}),
    ]


def number(prefix: str, i: int) -> str:
    return f"{prefix}-{i:07d}"


def desk_of(item: dict[str, Any]) -> str:
    """Who posts the item: its type's desk; from the financing on, servicing (who then
    cancels what stays undrawn)."""
    from domain.desks import desk_of as of_type

    servicing = item["type"] in ("DealFinanced", *(t for t, _ in money_life()))
    return "servicing" if servicing else of_type(item["type"]) or "servicing"


def batch_items(prefix: str, i: int, *, full: bool) -> list[dict[str, Any]]:
    """Deal ``i`` as ``POST /v1/batches`` items: its setup, and with ``full`` its money life."""
    today = datetime.now(UTC).date()
    body = application(number(prefix, i), i)
    later = setup(i, body, today) + (money_life() if full else [])
    return [{"type": "DealApplied", "data": body}] + [
        {"type": t, "application_number": body["application_number"], "data": d}
        for t, d in later]


def batches(prefix: str, deals: int, per_batch: int, *, full: bool, desk: str
            ) -> Iterator[list[dict[str, Any]]]:
    """Batch bodies' event lists of the events ``desk`` posts (SPEC v3 desks), at most
    ``per_batch`` events each, never splitting a deal's."""
    pending: list[dict[str, Any]] = []
    for i in range(deals):
        items = [item for item in batch_items(prefix, i, full=full)
                 if desk_of(item) == desk]
        if pending and len(pending) + len(items) > per_batch:
            yield pending
            pending = []
        pending += items
    if pending:
        yield pending


def disbursement(n: int) -> dict[str, Any]:
    """The request the write scenarios repeat: a one-dollar drawing."""
    return {"type": "FundsDisbursed", "data": {"amount": DISBURSEMENT, "reference": f"W{n}"}}


def money_event(deal_id: str, n: int) -> dict[str, Any]:
    """A long deal's ``n``-th money event as a batch item: drawings of 2.00 and repayments
    of 1.00 in turn, so that 5,000 of them stay far inside the financed amount."""
    if n % 2 == 0:
        return {"type": "FundsDisbursed", "deal_id": deal_id,
                "data": {"amount": "2.00", "reference": f"L{n}"}}
    return {"type": "RepaymentReceived", "deal_id": deal_id,
            "data": {"principal": "1.00", "interest": "0.10", "reference": f"L{n}"}}
