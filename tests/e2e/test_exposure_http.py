from __future__ import annotations

from decimal import Decimal

import httpx

from tests.conftest import auth
from tests.support.factories import application, event, headers_for, lifecycle_to_financed


async def test_a_deals_postings_balance_and_its_balances_are_its_figures(
    client: httpx.AsyncClient,
):
    r = await client.post("/v1/deals", json=application(), headers=auth("writer"))
    deal_id = r.json()["deal_id"]
    steps = lifecycle_to_financed() + [
        event("FundsDisbursed", amount="5000000", reference="D-1"),
        event("RepaymentReceived", principal="1000000", interest="50000", reference="R-1"),
        event("DealCancelled", reason="buyer scaled the order down", amount="500000"),
    ]
    for step in steps:
        r = await client.post(f"/v1/deals/{deal_id}/events", json=step,
                              headers=headers_for(step["type"]))
        assert r.status_code == 201, r.text
    position = r.json()["position"]

    r = await client.get(f"/v1/exposure/deals/{deal_id}",
                         params={"min_position": position}, headers=auth("reader"))
    assert r.status_code == 200, r.text
    ledger = r.json()
    debits = sum(Decimal(p["debit"]) for p in ledger["postings"])
    credits = sum(Decimal(p["credit"]) for p in ledger["postings"])
    assert debits == credits
    assert {p["kind"] for p in ledger["postings"]} == {
        "authorised", "committed", "disbursed", "repaid", "interest", "cancelled"}

    state = (await client.get(f"/v1/deals/{deal_id}", headers=auth("reader"))).json()
    assert ledger["balances"]["outstanding"] == state["outstanding"] == "4000000.00"
    assert ledger["balances"]["undisbursed"] == state["undisbursed"] == "3000000.00"
    assert ledger["balances"]["authorised"] == state["approved"]


async def test_the_program_view_reconciles_with_the_portfolio(client: httpx.AsyncClient):
    r = await client.post("/v1/deals", json=application(), headers=auth("writer"))
    deal_id = r.json()["deal_id"]
    for step in lifecycle_to_financed():
        r = await client.post(f"/v1/deals/{deal_id}/events", json=step,
                              headers=headers_for(step["type"]))
    position = r.json()["position"]
    r = await client.get("/v1/exposure", params={"min_position": position},
                         headers=auth("reader"))
    assert r.status_code == 200, r.text
    body = r.json()
    commitments = next(a for a in body["accounts"] if a["account"] == "program:commitments")
    assert commitments["balance"] == "-8500000.00"
    assert body["reconciliation"]["balanced"] is True


async def test_the_listed_accounts_add_up_to_the_ledgers_totals(client: httpx.AsyncClient):
    for money in ([], [event("FundsDisbursed", amount="5000000", reference="D-1"),
                       event("RepaymentReceived", principal="1000000", interest="50000",
                             reference="R-1")]):
        r = await client.post("/v1/deals", json=application(), headers=auth("writer"))
        deal_id = r.json()["deal_id"]
        for step in lifecycle_to_financed() + money:
            r = await client.post(f"/v1/deals/{deal_id}/events", json=step,
                                  headers=headers_for(step["type"]))
            assert r.status_code == 201, r.text
    r = await client.get("/v1/exposure", params={"min_position": r.json()["position"]},
                         headers=auth("reader"))
    assert r.status_code == 200, r.text
    body = r.json()
    accounts = {a["account"]: a for a in body["accounts"]}
    totals = body["reconciliation"]

    def listed(side: str, names: tuple[str, ...] | None = None) -> Decimal:
        return sum((Decimal(accounts[n][side]) for n in names or accounts), Decimal(0))

    assert listed("debit") == Decimal(totals["debits"]) > 0
    assert listed("credit") == Decimal(totals["credits"])
    assert listed("balance") == 0
    deals = ("deal:*:undisbursed", "deal:*:outstanding")
    assert listed("balance", deals) == Decimal(totals["ledger_exposure"])
    assert accounts["deal:*:outstanding"]["balance"] == "4000000.00"
    assert -Decimal(accounts["program:commitments"]["balance"]) == Decimal(
        totals["ledger_committed"])
    assert totals["ok"] is True
