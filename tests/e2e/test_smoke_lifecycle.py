from __future__ import annotations

import httpx

from tests.conftest import auth
from tests.support.factories import application, event, headers_for, lifecycle_to_financed


async def test_a_deal_goes_from_application_to_repayment_over_http(client: httpx.AsyncClient):
    r = await client.post("/v1/deals", json=application(), headers=auth("writer"))
    assert r.status_code == 201, r.text
    deal_id = r.json()["deal_id"]
    assert r.headers["location"] == f"/v1/deals/{deal_id}"
    steps = lifecycle_to_financed() + [
        event("FundsDisbursed", amount="5000000", reference="DISB-1"),
        event("RepaymentReceived", principal="1000000", interest="125000.5", reference="REP-1"),
    ]
    for step in steps:
        r = await client.post(f"/v1/deals/{deal_id}/events", json=step,
                              headers=headers_for(step["type"]))
        assert r.status_code == 201, r.text
    r = await client.get(f"/v1/deals/{deal_id}", headers=auth("reader"))
    state = r.json()
    assert r.headers["etag"] == '"8"'  # applied, 5 steps to financing (a screening), 2 more
    assert state["stage"] == "repaying"
    assert state["outstanding"] == "4000000.00"
    assert state["undisbursed"] == "3500000.00"
    assert state["exposure"] == "7500000.00"
    assert state["interest_received"] == "125000.50"
