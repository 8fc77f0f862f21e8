"""The Python client (``exim_ledger_client``) against a real ``exim-ledger serve``: a whole
lifecycle, batches, time travel, read-your-writes, paging and problems, sync and async
(the client is the same whatever the store, so the server runs on SQLite); and, on a fake
transport, a gateway's error page and a server that is down."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack, ExitStack
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from exim_ledger_client import (
    AsyncLedgerClient,
    Envelope,
    LedgerClient,
    LedgerProblem,
    LedgerUnavailable,
    Retry,
    verify_consistency,
    verify_inclusion,
    verify_signature,
)

from tests.conftest import KEYS, auth
from tests.support.factories import (
    AUTHORIZATION,
    application,
    event,
    financing_for,
    key_for,
    lifecycle_to_financed,
    screening,
    uncontrolled_application,
)
from tests.support.live_server import LiveServer, migrated_sqlite

END_USER = {"name": "Lyon Calcul Intensif SAS", "country": "FR"}


@pytest.fixture
def live_database_url(tmp_path: Path) -> str:
    return migrated_sqlite(tmp_path)


def desk_clients(url: str, stack: ExitStack) -> dict[str, LedgerClient]:
    """A client for each desk, with its key and the desk as its source system."""
    return {desk: stack.enter_context(LedgerClient(url, KEYS[desk], source=desk))
            for desk in ("origination", "licensing", "board", "servicing")}


def test_a_deal_lives_its_whole_life_through_the_client(live_server: LiveServer):
    with ExitStack() as stack:
        desks = desk_clients(live_server.url, stack)
        ledger = desks["origination"]
        desks["board"].authorize_program(AUTHORIZATION)  # no financing without (SPEC v3)
        body = application(end_user=END_USER)  # licensed for it, and screened with the buyer
        applied = ledger.apply(body)
        deal_id = applied.deal_id
        steps = [*lifecycle_to_financed(body),
                 event("FundsDisbursed", amount="5000000", reference="WIRE-1")]
        for version, step in enumerate(steps, start=1):
            last = desks[key_for(step["type"])].append(deal_id, step["type"], step["data"],
                                                       expected_version=version)
        last = desks["servicing"].append(deal_id, "RepaymentReceived", {
            "principal": "1000000", "interest": "62500", "reference": "PAY-1"},
            occurred_at=datetime.now(UTC))
        deal = ledger.deal(deal_id)
        with pytest.raises(LedgerProblem) as conflict:
            ledger.append(deal_id, "DealCancelled", {"reason": "late"}, expected_version=1)
        portfolio = ledger.portfolio(min_position=last.position)
        earlier = ledger.deal(deal_id, as_of=applied.recorded_at)
        auditor = stack.enter_context(LedgerClient(live_server.url, KEYS["auditor"]))
        whole, one = auditor.verify(), auditor.verify(deal_id)
        policies = ledger.policies()
    assert (applied.version, applied.type, applied.source) == (1, "DealApplied", "origination")
    assert (last.version, last.prev_hash is not None) == (9, True)
    assert (deal.version, deal.stage, deal.license_status) == (9, "repaying", "approved")
    assert (deal.outstanding, deal.exposure) == (Decimal("4000000.00"), Decimal("7500000.00"))
    assert deal.extra["buyer"] == {"name": "Rheinland Rechenzentrum GmbH", "country": "DE"}
    assert deal.extra["end_user"] == END_USER
    assert [s["result"] for party in ("buyer", "end_user")
            for s in deal.extra["screenings"][party]] == ["clear", "clear"]
    [license_] = deal.extra["licenses"]
    assert (license_["consignee"], license_["lines"]) == (END_USER, [
        {"eccn": "3A090.A", "quantity": 64, "value": "8000000.00"}])
    assert (conflict.value.status, conflict.value.code) == (409, "version_conflict")
    assert conflict.value.body["current_version"] == 9
    assert portfolio.position >= last.position
    assert (portfolio.totals.deals, portfolio.by_stage["repaying"]) == (1, 1)
    assert portfolio.by_country["DE"].exposure == deal.exposure
    assert (earlier.version, earlier.stage) == (1, "applied")
    assert (whole.ok, whole.events_checked, one.events_checked) == (True, last.position, 9)
    assert policies.in_force in [p.id for p in policies.policies] and len(policies.policies) == 2


async def test_the_async_client_posts_a_batch_once_and_reads_it_back(live_server: LiveServer):
    body = uncontrolled_application()
    number = body["application_number"]
    items = [{"type": "DealApplied", "data": body},
             {**event("PartyScreened", **screening()), "application_number": number},
             {**event("BoardVoted", meeting_date="2026-06-01", votes_for=3, votes_against=0,
                      abstentions=0, decision="approved", approved_amount="8500000"),
              "application_number": number},
             {**event("DealFinanced", **financing_for("loan_guarantee")),
              "application_number": number}]
    async with AsyncExitStack() as stack:
        board = await stack.enter_async_context(
            AsyncLedgerClient(live_server.url, KEYS["board"]))
        await board.authorize_program(AUTHORIZATION)  # no financing without (SPEC v3)

        async def each_desk_posts_its_batch() -> list[Envelope]:
            written = []
            for item in items:  # each item is another desk's: a batch of one
                desk = await stack.enter_async_context(
                    AsyncLedgerClient(live_server.url, KEYS[key_for(item["type"])]))
                written += await desk.batch([item], idempotency_key=f"batch-{number}")
            return written

        written = await each_desk_posts_its_batch()
        again = await each_desk_posts_its_batch()
        ledger = await stack.enter_async_context(
            AsyncLedgerClient(live_server.url, KEYS["reader"]))
        deal = await ledger.deal(written[0].deal_id)
        portfolio = await ledger.portfolio(min_position=written[-1].position)
        log = [e async for e in ledger.events(after=written[0].position - 1, limit=1)]
    assert [e.version for e in written] == [1, 2, 3, 4] and again == written
    assert (deal.stage, deal.committed) == ("financed", Decimal("8500000.00"))
    assert portfolio.totals.committed == deal.committed
    assert log == written  # the replayed batch wrote nothing


def test_policies_take_two_admins_and_the_board_authorizes_and_suspends_the_program(
    live_server: LiveServer,
):
    today = datetime.now(UTC).date()
    version = {"id": "P-CLIENT", "effective_from": (today + timedelta(days=30)).isoformat(),
               "embargoed": ["KP"], "restricted_for_controlled": ["CN"],
               "controlled_eccn_patterns": ["3A090*"]}
    with ExitStack() as stack:
        admin, admin2, board, reader = (
            stack.enter_context(LedgerClient(live_server.url, KEYS[name]))
            for name in ("admin", "admin2", "board", "reader"))
        proposed = admin.propose_policy(version, "Federal Register 91 FR 1234")
        pending = reader.policies().proposed
        with pytest.raises(LedgerProblem) as self_approval:
            admin.approve_policy("P-CLIENT")
        adopted = admin2.approve_policy("P-CLIENT", "checked")
        policies = reader.policies()
        admin.propose_policy({**version, "id": "P-LATER", "effective_from": (
            today + timedelta(days=60)).isoformat()}, "Board resolution 7")
        withdrawn = admin2.withdraw_policy("P-LATER", "superseded")

        unauthorized = reader.program()
        authorized = board.authorize_program({**AUTHORIZATION, "total_limit": "30000000.00",
                                              "country_limits": {"DE": "20000000.00"}})
        desks = desk_clients(live_server.url, stack)
        deal_id = desks["origination"].apply(application()).deal_id
        for step in lifecycle_to_financed():
            desks[key_for(step["type"])].append(deal_id, step["type"], step["data"])
        financed = reader.program()
        suspended_envelope = board.suspend_program({"reason": "appropriations lapsed",
                                                    "effective_from": today.isoformat()})
        suspended = reader.program()
        second = desks["origination"].apply(uncontrolled_application()).deal_id
        desks["licensing"].append(second, "PartyScreened", screening())
        desks["board"].append(second, "BoardVoted", {
            "meeting_date": today.isoformat(), "votes_for": 3, "votes_against": 0,
            "abstentions": 0, "decision": "approved", "approved_amount": "8500000"})
        with pytest.raises(LedgerProblem) as refused:  # within the limits, but suspended
            desks["servicing"].append(second, "DealFinanced", financing_for("loan_guarantee"))
    assert (proposed.type, proposed.data["authority"]) == (
        "PolicyProposed", "Federal Register 91 FR 1234")
    assert [(p.id, p.proposed_by, p.hash) for p in pending] == [
        ("P-CLIENT", "admin-key", proposed.hash)]
    assert (self_approval.value.status, self_approval.value.code) == (
        403, "policy_self_approval")
    assert (adopted.type, adopted.actor, adopted.data["proposal_hash"]) == (
        "PolicyAdopted", "admin2-key", proposed.hash)
    row = next(p for p in policies.policies if p.id == "P-CLIENT")
    assert (row.adopted_by, row.proposed_by, row.authority, row.effective_from) == (
        "admin2-key", "admin-key", "Federal Register 91 FR 1234", date.fromisoformat(
            version["effective_from"]))
    assert policies.proposed == []
    assert (withdrawn.type, withdrawn.data) == (
        "PolicyWithdrawn", {"id": "P-LATER", "comment": "superseded"})
    assert (unauthorized.authorization, unauthorized.suspended) == (None, False)
    assert (authorized.type, authorized.actor) == ("ProgramAuthorized", "board-key")
    assert financed.authorization is not None
    assert financed.authorization["total_limit"] == "30000000.00"
    assert (financed.committed, financed.total_limit, financed.available) == (
        Decimal("8500000.00"), Decimal("30000000.00"), Decimal("21500000.00"))
    assert [(c.country, c.committed, c.limit, c.available) for c in financed.by_country] == [
        ("DE", Decimal("8500000.00"), Decimal("20000000.00"), Decimal("11500000.00"))]
    assert suspended_envelope.type == "ProgramSuspended"
    assert (suspended.authorization, suspended.suspended) == (None, True)
    assert (refused.value.status, refused.value.code) == (422, "program_not_authorized")


def test_problems_carry_the_code_status_detail_and_each_bad_field(live_server: LiveServer):
    with LedgerClient(live_server.url, KEYS["writer"]) as ledger:
        with pytest.raises(LedgerProblem) as embargoed:
            ledger.apply(application(buyer={"name": "Tehran Compute", "country": "IR"}))
        with pytest.raises(LedgerProblem) as malformed:
            ledger.apply(application(contract_value=10000000, tenor_years="5"))
    assert (embargoed.value.status, embargoed.value.code) == (422, "destination_embargoed")
    assert "IR" in embargoed.value.detail and embargoed.value.errors == []
    assert (malformed.value.status, malformed.value.code) == (422, "validation_error")
    assert [e["field"] for e in malformed.value.errors] == ["contract_value", "tenor_years"]


async def test_async_problems_name_the_failing_batch_item_and_unknown_deals(
    live_server: LiveServer,
):
    items = [{"type": "DealApplied", "data": application()},
             {**event("FundsDisbursed", amount="1", reference="W-1"), "deal_id": str(uuid.uuid4())}]
    async with AsyncLedgerClient(live_server.url, KEYS["admin"]) as ledger:
        with pytest.raises(LedgerProblem) as unknown_item:
            await ledger.batch(items)
        with pytest.raises(LedgerProblem) as unknown:
            await ledger.deal(uuid.uuid4())
    assert (unknown_item.value.status, unknown_item.value.body["index"]) == (404, 1)
    assert (unknown.value.status, unknown.value.code) == (404, "not_found")


def test_events_pages_through_the_whole_log_to_its_end(live_server: LiveServer):
    with LedgerClient(live_server.url, KEYS["writer"]) as ledger:
        written = [ledger.apply(application()) for _ in range(5)]
        paged = list(ledger.events(limit=2))
        tail = list(ledger.events(after=written[2].position))
    log = httpx.get(f"{live_server.url}/v1/events", params={"limit": 1000},
                    headers=auth("reader")).json()["events"]
    assert [e.position for e in paged] == [e["position"] for e in log]
    assert [e.hash for e in paged] == [e["hash"] for e in log]
    assert paged[-5:] == written and tail == written[3:]


def test_an_error_that_is_no_problem_and_a_dead_server_are_reported_as_such():
    tries: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        tries.append(request)
        if request.method == "GET":
            return httpx.Response(502, text="<html>Bad Gateway</html>")
        raise httpx.ConnectError("connection refused", request=request)

    transport = httpx.MockTransport(gateway)
    with LedgerClient("http://ledger", "secret", transport=transport,
                      retry=Retry(attempts=3, backoff=0.001)) as ledger:
        with pytest.raises(LedgerProblem) as bad_gateway:
            ledger.deal(uuid.uuid4())
        with pytest.raises(LedgerUnavailable) as dead:
            ledger.apply(application())
    assert (bad_gateway.value.status, bad_gateway.value.code) == (502, "http_error")
    assert "Bad Gateway" in bad_gateway.value.detail
    posts = [r for r in tries if r.method == "POST"]
    assert len(posts) == 3 and len({r.headers["idempotency-key"] for r in posts}) == 1
    assert dead.value.idempotency_key == posts[0].headers["idempotency-key"]
    assert isinstance(dead.value.__cause__, httpx.ConnectError)
    assert tries[0].headers["authorization"] == "Bearer secret"


def test_a_deal_s_events_exposure_and_proofs_read_through_the_client(live_server: LiveServer):
    with ExitStack() as stack:
        desks = desk_clients(live_server.url, stack)
        desks["board"].authorize_program(AUTHORIZATION)
        body = application(end_user=END_USER)
        applied = desks["origination"].apply(body, correlation_id="intake-1")
        deal_id = applied.deal_id
        steps = [*lifecycle_to_financed(body),
                 event("FundsDisbursed", amount=Decimal("5000000"), reference="WIRE-1")]
        for version, step in enumerate(steps, start=1):
            last = desks[key_for(step["type"])].append(deal_id, step["type"], step["data"],
                                                       expected_version=version)
        reader = stack.enter_context(LedgerClient(live_server.url, KEYS["reader"]))
        events = reader.deal_events(deal_id)
        found = reader.deal_by_application(body["application_number"])
        program = reader.exposure(min_position=last.position)
        one = reader.deal_exposure(deal_id, min_position=last.position)
        auditor = stack.enter_context(LedgerClient(live_server.url, KEYS["auditor"]))
        old = auditor.digest(min_position=applied.position)
        new = auditor.digest(min_position=last.position)
        key = auditor.public_key()
        proof = auditor.proof(applied.event_id, tree_size=new.tree_size)
        consistent = auditor.consistency(old.tree_size, new.tree_size)
    assert applied.correlation_id == "intake-1"
    assert [e.version for e in events] == list(range(1, last.version + 1))
    assert (events[0], events[-1]) == (applied, last)
    assert events[-1].data["amount"] == "5000000.00"
    assert (found.deal_id, found.version, found.stage) == (deal_id, last.version, "disbursing")
    assert program.reconciliation.ok and program.position >= last.position
    assert (one.deal_id, one.postings[-1].position) == (deal_id, last.position)
    assert one.balances["outstanding"] == Decimal("5000000.00")
    assert verify_inclusion(proof, applied.hash, new.root)
    assert not verify_inclusion(proof, last.hash, new.root)
    assert verify_consistency(consistent, old.root, new.root)
    try:
        assert verify_signature(new, key) and verify_signature(old, key)
    except ImportError:
        pytest.skip("cryptography is not installed: the signature was not checked")
