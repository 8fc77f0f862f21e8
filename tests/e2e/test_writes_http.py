"""Writes and reads over HTTP: the SPEC §3 envelope and hash chain, optimistic
concurrency, atomic batches, idempotency, time travel and the global log."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.conftest import auth
from tests.support.factories import (
    BOARD_APPROVED,
    ENVELOPE_KEYS,
    LICENSE_REQUESTED,
    append_all,
    application,
    apply_deal,
    assert_problem,
    batch_headers,
    days_ago,
    deal_log,
    event,
    financed_deal,
    headers_for,
    lifecycle_to_financed,
    post_event,
    recompute_hash,
    whole_log,
    writer_headers,
)

RECORDED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
DISBURSE = {"amount": "100000.00", "reference": "DISB-1"}


def vote(n: int) -> dict[str, Any]:
    return event("BoardVoted", **dict(BOARD_APPROVED, meeting_date=f"2026-06-{1 + n % 28:02d}"))


def amend(n: int) -> dict[str, Any]:
    """An origination event that can be repeated: the ``n``-th amendment of a deal."""
    return event("DealAmended", financed_amount=f"{8_000_000 + n}.00", reason=f"revision {n}")


def origination_steps() -> list[dict[str, Any]]:
    """What origination posts on a deal after applying: a batch of one desk's events."""
    return [amend(1), event("LicenseRequested", **LICENSE_REQUESTED)]


async def stream(client: httpx.AsyncClient, deal_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/deals/{deal_id}/events", headers=auth("reader"))
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"events"}
    events: list[dict[str, Any]] = r.json()["events"]
    return events


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


async def two_deals_with_history(client: httpx.AsyncClient) -> tuple[str, str]:
    first = await financed_deal(client)
    second = (await apply_deal(client))["deal_id"]
    await append_all(client, second, [event("LicenseRequested", **LICENSE_REQUESTED)])
    await append_all(client, first, [event("FundsDisbursed", **DISBURSE)])
    return first, second


# --- the envelope ----------------------------------------------------------------------


async def test_a_posted_deal_returns_its_envelope_with_every_spec_key(client: httpx.AsyncClient):
    body = application()
    r = await client.post("/v1/deals", json=body, headers=writer_headers())
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/json")
    env = r.json()
    assert set(env) == ENVELOPE_KEYS
    assert uuid.UUID(env["event_id"]) and uuid.UUID(env["deal_id"])
    assert r.headers["location"] == f"/v1/deals/{env['deal_id']}"
    assert env["version"] == 1
    assert env["position"] == 4, ("positions start at 1: the two shipped policies and the "
                                  "board's authorization of the program come first")
    assert env["type"] == "DealApplied"
    items = [{**item, "eccn": item["eccn"].upper()} for item in body["items"]]
    assert env["data"] == {**body, "items": items}, "ECCNs are stored upper case"
    assert env["actor"] == "writer-key"
    assert env["source"] is None and env["correlation_id"] is None
    assert env["idempotency_key"] is None
    assert env["policy_version"] == "2026-11-30"
    assert env["prev_hash"] is None
    assert re.fullmatch(r"[0-9a-f]{64}", env["hash"])
    assert RECORDED_AT.fullmatch(env["recorded_at"])


async def test_occurred_at_defaults_to_recorded_at(client: httpx.AsyncClient):
    env = await apply_deal(client)
    assert env["occurred_at"] == env["recorded_at"]


async def test_a_given_occurred_at_is_kept_as_the_same_instant(client: httpx.AsyncClient):
    when = days_ago(2, "+02:00")
    env = await apply_deal(client, {**application(), "occurred_at": when})
    assert parse(env["occurred_at"]) == parse(when)
    assert env["occurred_at"] != env["recorded_at"]


async def test_money_is_stored_and_returned_with_exactly_two_places(client: httpx.AsyncClient):
    body = application(contract_value="10000000", financed_amount="8000000.5")
    body["items"][0]["value"] = "8000000.0"
    env = await apply_deal(client, body)
    assert env["data"]["contract_value"] == "10000000.00"
    assert env["data"]["financed_amount"] == "8000000.50"
    assert env["data"]["items"][0]["value"] == "8000000.00"
    stored = (await stream(client, env["deal_id"]))[0]
    assert stored == env


async def test_the_actor_is_the_key_name_and_source_and_correlation_come_from_headers(
    client: httpx.AsyncClient,
):
    deal_id = (await apply_deal(client))["deal_id"]
    r = await post_event(client, deal_id, "LicenseRequested", LICENSE_REQUESTED,
                         headers={**auth("admin"), "X-Source-System": "origsys",
                                  "X-Correlation-ID": "corr-42"})
    assert r.status_code == 201, r.text
    env = r.json()
    assert (env["actor"], env["source"], env["correlation_id"]) == ("admin-key", "origsys",
                                                                     "corr-42")
    assert (await stream(client, deal_id))[-1] == env


async def test_versions_are_gapless_and_positions_increase_across_deals(
    client: httpx.AsyncClient,
):
    first, second = await two_deals_with_history(client)
    log = await whole_log(client)
    positions = [e["position"] for e in log]
    assert positions == sorted(set(positions))
    for deal_id in (first, second):
        events = await stream(client, deal_id)
        assert [e["version"] for e in events] == list(range(1, len(events) + 1))
        assert [e for e in log if e["deal_id"] == deal_id] == events


async def test_recorded_at_has_microseconds_in_utc_and_never_decreases_with_position(
    client: httpx.AsyncClient,
):
    await two_deals_with_history(client)
    log = await whole_log(client)
    stamps = [e["recorded_at"] for e in log]
    assert all(RECORDED_AT.fullmatch(s) for s in stamps)
    assert stamps == sorted(stamps)


async def test_every_hash_can_be_recomputed_from_the_envelope_alone(
    client: httpx.AsyncClient,
):
    body = application(buyer={"name": "Société Générale d'Informatique — 東京", "country": "FR"})
    deal_id = await financed_deal(client, body)
    await append_all(client, deal_id, [event("FundsDisbursed", amount="1.00", reference="Ω-1")])
    await two_deals_with_history(client)
    log = await whole_log(client)
    heads: dict[str, str | None] = {}
    for env in log:
        assert env["hash"] == recompute_hash(env), env
        assert env["prev_hash"] == heads.get(env["deal_id"]), env
        heads[env["deal_id"]] = env["hash"]
    assert (await stream(client, deal_id))[0]["data"]["buyer"]["name"] == body["buyer"]["name"]


async def test_the_events_of_a_batch_chain_to_each_other(client: httpx.AsyncClient):
    body = application()
    items = [{"type": "DealApplied", "data": body}] + [
        dict(step, application_number=body["application_number"])
        for step in origination_steps()]
    r = await client.post("/v1/batches", json={"events": items}, headers=auth("origination"))
    assert r.status_code == 201, r.text
    envs = r.json()["events"]
    assert envs[0]["prev_hash"] is None
    for prev, env in zip(envs, envs[1:], strict=False):
        assert env["prev_hash"] == prev["hash"]
        assert env["hash"] == recompute_hash(env)


# --- optimistic concurrency ------------------------------------------------------------


async def test_a_stale_expected_version_is_a_version_conflict(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    await append_all(client, deal_id, [vote(1)])
    before = await whole_log(client)
    r = await post_event(client, deal_id, "BoardVoted", BOARD_APPROVED, expected_version=1)
    problem = assert_problem(r, 409, "version_conflict")
    assert problem["current_version"] == 2
    assert await whole_log(client) == before


async def test_a_stale_if_match_is_a_version_conflict(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    await append_all(client, deal_id, [vote(1)])
    r = await post_event(client, deal_id, "BoardVoted", BOARD_APPROVED,
                         headers=headers_for("BoardVoted", **{"If-Match": '"1"'}))
    assert assert_problem(r, 409, "version_conflict")["current_version"] == 2
    assert len(await deal_log(client)) == 2


async def test_the_current_version_is_accepted_by_body_or_if_match(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    r = await post_event(client, deal_id, "BoardVoted", vote(1)["data"], expected_version=1)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    etag = (await client.get(f"/v1/deals/{deal_id}", headers=auth("reader"))).headers["etag"]
    assert etag == '"2"'
    r = await post_event(client, deal_id, "BoardVoted", vote(2)["data"],
                         headers=headers_for("BoardVoted", **{"If-Match": etag}))
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 3


async def test_a_version_conflict_is_checked_before_the_business_rules(
    client: httpx.AsyncClient,
):
    deal_id = (await apply_deal(client))["deal_id"]
    await append_all(client, deal_id, [vote(1)])
    r = await post_event(client, deal_id, "FundsDisbursed", DISBURSE, expected_version=1)
    assert_problem(r, 409, "version_conflict")


# --- batches ---------------------------------------------------------------------------


async def test_a_batch_applies_a_deal_and_refers_to_it_by_application_number(
    client: httpx.AsyncClient,
):
    body = application()
    items = [{"type": "DealApplied", "data": body}] + [
        dict(step, application_number=body["application_number"])
        for step in lifecycle_to_financed()]
    envs = []
    for desk in (items[:2], items[2:4], items[4:5], items[5:]):  # each desk its own batch
        r = await client.post("/v1/batches", json={"events": desk}, headers=batch_headers(desk))
        assert r.status_code == 201, r.text
        envs += r.json()["events"]
    assert [e["type"] for e in envs] == [i["type"] for i in items]
    assert [e["version"] for e in envs] == [1, 2, 3, 4, 5, 6]
    assert len({e["deal_id"] for e in envs}) == 1
    assert envs == await deal_log(client)
    r = await client.get("/v1/deals", params={"application_number": body["application_number"]},
                         headers=auth("reader"))
    assert r.json()["stage"] == "financed"


async def test_a_batch_may_span_several_deals_by_id_and_number(client: httpx.AsyncClient):
    existing = (await apply_deal(client))["deal_id"]
    body = application()
    items = [
        {**amend(1), "deal_id": existing},
        {"type": "DealApplied", "data": body},
        {"type": "LicenseRequested", "application_number": body["application_number"],
         "data": LICENSE_REQUESTED},
        {"type": "LicenseRequested", "deal_id": existing, "data": LICENSE_REQUESTED,
         "expected_version": 2},
    ]
    r = await client.post("/v1/batches", json={"events": items}, headers=writer_headers())
    assert r.status_code == 201, r.text
    envs = r.json()["events"]
    assert [(e["deal_id"] == existing, e["version"]) for e in envs] == [
        (True, 2), (False, 1), (False, 2), (True, 3)]
    positions = [e["position"] for e in envs]
    assert positions == sorted(positions)


@pytest.mark.parametrize("failing_index", [0, 2, 4])
async def test_a_batch_with_a_failing_item_writes_nothing_and_names_its_index(
    client: httpx.AsyncClient, failing_index: int
):
    deal_id = (await apply_deal(client))["deal_id"]
    before = await whole_log(client)
    items: list[dict[str, Any]] = [{**amend(n), "deal_id": deal_id} for n in range(5)]
    items[failing_index] = {"type": "FundsDisbursed", "deal_id": deal_id, "data": DISBURSE}
    r = await client.post("/v1/batches", json={"events": items}, headers=writer_headers())
    problem = assert_problem(r, 422, "not_financed")
    assert problem["index"] == failing_index
    assert await whole_log(client) == before


async def test_a_schema_error_in_a_batch_names_its_index_and_path(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    before = await whole_log(client)
    items = [{"type": "BoardVoted", "deal_id": deal_id, "data": BOARD_APPROVED},
             {"type": "BoardVoted", "deal_id": deal_id,
              "data": dict(BOARD_APPROVED, approved_amount=1)}]
    r = await client.post("/v1/batches", json={"events": items}, headers=auth("board"))
    problem = assert_problem(r, 422, "validation_error")
    assert problem["index"] == 1
    assert [e["field"] for e in problem["errors"]] == ["events[1].data.approved_amount"]
    assert await whole_log(client) == before


async def test_a_version_conflict_inside_a_batch_names_its_index(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    items = [{"type": "BoardVoted", "deal_id": deal_id, "data": BOARD_APPROVED},
             {"type": "BoardVoted", "deal_id": deal_id, "data": BOARD_APPROVED,
              "expected_version": 1}]
    r = await client.post("/v1/batches", json={"events": items}, headers=auth("board"))
    problem = assert_problem(r, 409, "version_conflict")
    assert problem["index"] == 1 and problem["current_version"] == 2
    assert len(await deal_log(client)) == 1


async def test_a_batch_applying_the_same_number_twice_is_a_duplicate(client: httpx.AsyncClient):
    body = application()
    items = [{"type": "DealApplied", "data": body}, {"type": "DealApplied", "data": body}]
    r = await client.post("/v1/batches", json={"events": items}, headers=writer_headers())
    assert assert_problem(r, 409, "duplicate_application")["index"] == 1
    assert await deal_log(client) == []


async def test_a_batch_item_for_an_unknown_number_is_not_found(client: httpx.AsyncClient):
    items = [{"type": "BoardVoted", "application_number": "EXIM-NOPE", "data": BOARD_APPROVED}]
    r = await client.post("/v1/batches", json={"events": items}, headers=auth("board"))
    assert assert_problem(r, 404, "not_found")["index"] == 0


async def test_a_batch_of_1000_events_is_accepted(client: httpx.AsyncClient):
    body = application()
    items = [{"type": "DealApplied", "data": body}] + [
        dict(amend(n), application_number=body["application_number"]) for n in range(999)]
    r = await client.post("/v1/batches", json={"events": items}, headers=writer_headers())
    assert r.status_code == 201, r.text[:500]
    envs = r.json()["events"]
    assert [e["version"] for e in envs] == list(range(1, 1001))
    state = (await client.get(f"/v1/deals/{envs[0]['deal_id']}", headers=auth("reader"))).json()
    assert state["version"] == 1000
    assert len(await deal_log(client)) == 1000


async def test_a_batch_of_1001_events_is_refused(client: httpx.AsyncClient):
    body = application()
    items = [{"type": "DealApplied", "data": body}] + [
        dict(amend(n), application_number=body["application_number"]) for n in range(1000)]
    r = await client.post("/v1/batches", json={"events": items}, headers=writer_headers())
    problem = assert_problem(r, 422, "validation_error")
    assert "events" in [e["field"] for e in problem["errors"]]
    assert await deal_log(client) == []


# --- idempotency -----------------------------------------------------------------------


async def test_a_retried_request_with_the_same_key_replays_the_original_response(
    client: httpx.AsyncClient,
):
    body = application()
    headers = writer_headers(**{"Idempotency-Key": "apply-1"})
    first = await client.post("/v1/deals", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotency-replayed" not in first.headers
    assert first.json()["idempotency_key"] == "apply-1"
    log = await whole_log(client)
    again = await client.post("/v1/deals", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotency-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert await whole_log(client) == log


async def test_a_retried_event_with_the_same_key_is_written_once(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    headers = headers_for("BoardVoted", **{"Idempotency-Key": "vote-1"})
    first = await post_event(client, deal_id, "BoardVoted", BOARD_APPROVED, headers=headers)
    again = await post_event(client, deal_id, "BoardVoted", BOARD_APPROVED, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["idempotency-replayed"] == "true"
    assert [e["version"] for e in await stream(client, deal_id)] == [1, 2]


async def test_a_retried_batch_with_the_same_key_is_written_once(client: httpx.AsyncClient):
    body = application()
    batch = {"events": [{"type": "DealApplied", "data": body},
                        dict(amend(1), application_number=body["application_number"])]}
    headers = writer_headers(**{"Idempotency-Key": "batch-1"})
    first = await client.post("/v1/batches", json=batch, headers=headers)
    again = await client.post("/v1/batches", json=batch, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["idempotency-replayed"] == "true"
    assert len(await deal_log(client)) == 2


async def test_the_same_key_with_another_body_is_refused(client: httpx.AsyncClient):
    headers = writer_headers(**{"Idempotency-Key": "apply-2"})
    first = await client.post("/v1/deals", json=application(), headers=headers)
    assert first.status_code == 201
    log = await whole_log(client)
    r = await client.post("/v1/deals", json=application(), headers=headers)
    assert_problem(r, 409, "idempotency_key_reused")
    assert await whole_log(client) == log


async def test_a_bound_key_is_refused_as_reused_before_its_new_body_is_judged(
    client: httpx.AsyncClient,
):
    headers = writer_headers(**{"Idempotency-Key": "apply-3"})
    assert (await client.post("/v1/deals", json=application(), headers=headers)).status_code == 201
    r = await client.post("/v1/deals", json=application(tenor_years="5"), headers=headers)
    assert_problem(r, 409, "idempotency_key_reused")


async def test_the_same_key_on_another_path_is_refused(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    other = (await apply_deal(client))["deal_id"]
    headers = headers_for("BoardVoted", **{"Idempotency-Key": "vote-2"})
    first = await post_event(client, deal_id, "BoardVoted", BOARD_APPROVED, headers=headers)
    assert first.status_code == 201
    r = await post_event(client, other, "BoardVoted", BOARD_APPROVED, headers=headers)
    assert_problem(r, 409, "idempotency_key_reused")
    assert [e["version"] for e in await stream(client, other)] == [1]


async def test_a_business_rule_rejection_is_replayed_even_after_the_state_changed(
    client: httpx.AsyncClient,
):
    body = application()
    deal_id = (await apply_deal(client, body))["deal_id"]
    headers = writer_headers(**{"Idempotency-Key": "disburse-early"})
    first = await post_event(client, deal_id, "FundsDisbursed", DISBURSE, headers=headers)
    assert_problem(first, 422, "not_financed")
    await append_all(client, deal_id, lifecycle_to_financed())
    log = await whole_log(client)
    again = await post_event(client, deal_id, "FundsDisbursed", DISBURSE, headers=headers)
    assert_problem(again, 422, "not_financed")
    assert again.content == first.content
    assert again.headers["idempotency-replayed"] == "true"
    assert await whole_log(client) == log


async def test_a_schema_error_binds_nothing_so_a_corrected_retry_succeeds(
    client: httpx.AsyncClient,
):
    body = application(contract_value=10000000)
    headers = writer_headers(**{"Idempotency-Key": "apply-typo"})
    first = await client.post("/v1/deals", json=body, headers=headers)
    assert_problem(first, 422, "validation_error")
    again = await client.post("/v1/deals", json=body, headers=headers)
    assert_problem(again, 422, "validation_error")
    assert "idempotency-replayed" not in again.headers
    fixed = await client.post("/v1/deals", json=dict(body, contract_value="10000000.00"),
                              headers=headers)
    assert fixed.status_code == 201, fixed.text
    assert "idempotency-replayed" not in fixed.headers
    assert len(await deal_log(client)) == 1


async def test_a_version_conflict_binds_nothing(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    await append_all(client, deal_id, [vote(1)])
    headers = headers_for("BoardVoted", **{"Idempotency-Key": "stale-vote"})
    r = await post_event(client, deal_id, "BoardVoted", vote(2)["data"], headers=headers,
                         expected_version=1)
    assert_problem(r, 409, "version_conflict")
    r = await post_event(client, deal_id, "BoardVoted", vote(2)["data"], headers=headers,
                         expected_version=2)
    assert r.status_code == 201, r.text
    assert "idempotency-replayed" not in r.headers


async def test_a_forbidden_request_binds_nothing(client: httpx.AsyncClient):
    body = application()
    key = {"Idempotency-Key": "shared-key"}
    r = await client.post("/v1/deals", json=body, headers={**auth("reader"), **key})
    assert_problem(r, 403, "event_not_permitted")
    r = await client.post("/v1/deals", json=body, headers={**auth("board"), **key})
    assert_problem(r, 403, "event_not_permitted")
    r = await client.post("/v1/deals", json=body, headers=writer_headers(**key))
    assert r.status_code == 201, r.text
    assert "idempotency-replayed" not in r.headers


async def test_a_duplicate_application_is_not_bound_to_its_key(client: httpx.AsyncClient):
    body = application()
    await apply_deal(client, body)
    headers = writer_headers(**{"Idempotency-Key": "dup"})
    r = await client.post("/v1/deals", json=body, headers=headers)
    assert_problem(r, 409, "duplicate_application")
    r = await client.post("/v1/deals", json=application(), headers=headers)
    assert r.status_code == 201, r.text


# --- reads -----------------------------------------------------------------------------


async def test_a_deal_can_be_read_as_of_any_earlier_version(client: httpx.AsyncClient):
    deal_id = await financed_deal(client)
    await append_all(client, deal_id, [event("FundsDisbursed", **DISBURSE)])
    expected_stages = ["applied", "license_pending", "license_approved", "license_approved",
                       "board_approved", "financed", "disbursing"]  # screened: no new stage
    for version, stage in enumerate(expected_stages, start=1):
        r = await client.get(f"/v1/deals/{deal_id}", params={"version": version},
                             headers=auth("reader"))
        assert r.status_code == 200, r.text
        assert (r.json()["version"], r.json()["stage"]) == (version, stage)
        assert r.headers["etag"] == f'"{version}"'
    r = await client.get(f"/v1/deals/{deal_id}", params={"version": 8}, headers=auth("reader"))
    assert_problem(r, 404, "not_found")


async def test_a_deal_can_be_read_as_of_the_recorded_at_of_each_of_its_events(
    client: httpx.AsyncClient,
):
    deal_id = await financed_deal(client)
    events = await stream(client, deal_id)
    for env in events:
        expected = max(e["version"] for e in events if e["recorded_at"] <= env["recorded_at"])
        r = await client.get(f"/v1/deals/{deal_id}", params={"as_of": env["recorded_at"]},
                             headers=auth("reader"))
        assert r.status_code == 200, r.text
        assert r.json()["version"] == expected
        by_version = await client.get(f"/v1/deals/{deal_id}", params={"version": expected},
                                      headers=auth("reader"))
        assert r.json() == by_version.json()


async def test_as_of_accepts_any_zone_offset(client: httpx.AsyncClient):
    env = await apply_deal(client)
    shifted = parse(env["recorded_at"]).astimezone(timezone(timedelta(hours=-5))).isoformat()
    assert shifted.endswith("-05:00")
    r = await client.get(f"/v1/deals/{env['deal_id']}", params={"as_of": shifted},
                         headers=auth("reader"))
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1


async def test_a_deal_read_as_of_before_its_first_event_is_not_found(
    client: httpx.AsyncClient,
):
    env = await apply_deal(client)
    r = await client.get(f"/v1/deals/{env['deal_id']}",
                         params={"as_of": "2020-01-01T00:00:00Z"}, headers=auth("reader"))
    assert_problem(r, 404, "not_found")


async def test_a_deal_is_found_by_its_application_number(client: httpx.AsyncClient):
    body = application()
    env = await apply_deal(client, body)
    r = await client.get("/v1/deals", params={"application_number": body["application_number"]},
                         headers=auth("reader"))
    assert r.status_code == 200, r.text
    state = r.json()
    assert (state["deal_id"], state["application_number"], state["version"]) == (
        env["deal_id"], body["application_number"], 1)
    assert state["requested"] == "8500000.00"
    r = await client.get("/v1/deals", params={"application_number": "EXIM-UNKNOWN"},
                         headers=auth("reader"))
    assert_problem(r, 404, "not_found")


async def test_an_unknown_deal_has_no_state_and_no_events(client: httpx.AsyncClient):
    unknown = str(uuid.uuid4())
    assert_problem(await client.get(f"/v1/deals/{unknown}", headers=auth("reader")),
                   404, "not_found")
    assert_problem(await client.get(f"/v1/deals/{unknown}/events", headers=auth("reader")),
                   404, "not_found")


async def test_a_deal_stream_lists_its_events_in_version_order(client: httpx.AsyncClient):
    deal_id = await financed_deal(client)
    events = await stream(client, deal_id)
    assert [e["type"] for e in events] == ["DealApplied", "LicenseRequested",
                                           "CommerceLicenseApproved", "PartyScreened",
                                           "BoardVoted", "DealFinanced"]
    assert all(set(e) == ENVELOPE_KEYS for e in events)


async def test_paging_the_global_log_sees_every_event_exactly_once(client: httpx.AsyncClient):
    await two_deals_with_history(client)
    await two_deals_with_history(client)
    everything = (await client.get("/v1/events", params={"limit": 1000},
                                   headers=auth("reader"))).json()["events"]
    assert len(everything) == 21  # and the two shipped policies, the board's authorization
    seen: list[dict[str, Any]] = []
    after = 0
    for _ in range(100):
        r = await client.get("/v1/events", params={"after": after, "limit": 3},
                             headers=auth("reader"))
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"events", "next_after"}
        assert len(page["events"]) <= 3
        if not page["events"]:
            assert page["next_after"] == after
            break
        assert all(e["position"] > after for e in page["events"])
        seen += page["events"]
        after = page["next_after"]
        assert after == page["events"][-1]["position"]
    assert seen == everything
    assert len({e["event_id"] for e in seen}) == len(seen)


async def test_a_new_event_appears_after_the_last_page(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    page = (await client.get("/v1/events", params={"after": 0},
                             headers=auth("reader"))).json()
    env = (await append_all(client, deal_id, [vote(1)]))[0]
    r = await client.get("/v1/events", params={"after": page["next_after"]},
                         headers=auth("reader"))
    assert r.json()["events"] == [env]
