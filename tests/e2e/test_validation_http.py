"""Schema checks and authentication over HTTP: every bad request is a 4xx problem that
names what is wrong, and nothing is written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from service.settings import Settings
from tests.conftest import BOOTSTRAP, auth
from tests.support.factories import (
    BOARD_APPROVED,
    LICENSE_REQUESTED,
    application,
    apply_deal,
    assert_problem,
    deal_log,
    error_fields,
    headers_for,
    ledger_client,
    poster_headers,
    whole_log,
    writer_headers,
)


async def invalid_application(client: httpx.AsyncClient, body: Any, field: str,
                              **headers: str) -> dict[str, Any]:
    """POST /v1/deals must be a 422 validation_error naming ``field``, writing nothing."""
    r = await client.post("/v1/deals", json=body, headers=writer_headers(**headers))
    problem = assert_problem(r, 422, "validation_error")
    assert field in error_fields(problem), problem
    assert await deal_log(client) == []
    return problem


async def invalid_event(client: httpx.AsyncClient, deal_id: str, body: Any,
                        field: str) -> dict[str, Any]:
    before = await whole_log(client)
    r = await client.post(f"/v1/deals/{deal_id}/events", json=body, headers=poster_headers(body))
    problem = assert_problem(r, 422, "validation_error")
    assert field in error_fields(problem), problem
    assert await whole_log(client) == before
    return problem


@pytest.fixture
async def deal_id(client: httpx.AsyncClient) -> str:
    return str((await apply_deal(client))["deal_id"])


# --- the body as a whole --------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b'{"application_number": "EXIM-1",', b"", b"not json", b'{"a": NaN}',
     b'{"a": 1, "a": 2}', b"\xff\xfe{}"],
    ids=["truncated", "empty", "not_json", "nan", "duplicate_key", "not_utf8"],
)
async def test_a_body_that_is_not_json_is_refused(client: httpx.AsyncClient, raw: bytes):
    r = await client.post("/v1/deals", content=raw,
                          headers=writer_headers(**{"Content-Type": "application/json"}))
    problem = assert_problem(r, 422, "validation_error")
    assert "body" in error_fields(problem)
    assert await deal_log(client) == []


@pytest.mark.parametrize("body", [[], "a string", 42, None], ids=["list", "string", "number",
                                                                     "null"])
async def test_a_body_that_is_not_an_object_is_refused(client: httpx.AsyncClient, body: Any):
    await invalid_application(client, body, "body")


async def test_an_event_body_that_is_not_an_object_is_refused(
    client: httpx.AsyncClient, deal_id: str
):
    await invalid_event(client, deal_id, [{"type": "BoardVoted", "data": BOARD_APPROVED}], "body")


async def test_a_batch_body_that_is_not_an_object_of_events_is_refused(
    client: httpx.AsyncClient,
):
    for body, field in (([], "body"), ({"events": "many"}, "events"),
                        ({"events": [], "extra": 1}, "events")):
        r = await client.post("/v1/batches", json=body, headers=writer_headers())
        problem = assert_problem(r, 422, "validation_error")
        assert field in error_fields(problem)
    assert await deal_log(client) == []


# --- unknown and missing fields --------------------------------------------------------


async def test_an_unknown_top_level_field_is_refused(client: httpx.AsyncClient):
    await invalid_application(client, application(priority="high"), "priority")


async def test_an_actor_in_the_body_is_an_unknown_field_not_an_override(
    client: httpx.AsyncClient,
):
    await invalid_application(client, application(actor="someone-else"), "actor")


async def test_an_unknown_field_in_a_nested_object_is_refused(client: httpx.AsyncClient):
    body = application()
    body["exporter"]["city"] = "Santa Clara"
    await invalid_application(client, body, "exporter.city")


async def test_an_unknown_field_in_a_list_item_is_refused(client: httpx.AsyncClient):
    body = application()
    body["items"][1]["warranty"] = "3y"
    await invalid_application(client, body, "items[1].warranty")


async def test_an_unknown_field_in_an_event_envelope_is_refused(
    client: httpx.AsyncClient, deal_id: str
):
    await invalid_event(client, deal_id,
                        {"type": "BoardVoted", "data": BOARD_APPROVED, "note": "x"}, "note")


async def test_an_unknown_field_in_event_data_is_refused(
    client: httpx.AsyncClient, deal_id: str
):
    await invalid_event(client, deal_id,
                        {"type": "BoardVoted", "data": dict(BOARD_APPROVED, chair="Ann")},
                        "data.chair")


async def test_a_missing_required_field_is_named(client: httpx.AsyncClient):
    body = application()
    del body["financed_amount"]
    await invalid_application(client, body, "financed_amount")


async def test_every_bad_field_is_listed_at_once(client: httpx.AsyncClient):
    body = application(tenor_years="5", contract_value=10000000)
    body["buyer"]["country"] = "XX"
    problem = await invalid_application(client, body, "tenor_years")
    assert {"tenor_years", "contract_value", "buyer.country"} <= set(error_fields(problem))


async def test_an_approved_vote_needs_an_approved_amount(
    client: httpx.AsyncClient, deal_id: str
):
    data = {k: v for k, v in BOARD_APPROVED.items() if k != "approved_amount"}
    await invalid_event(client, deal_id, {"type": "BoardVoted", "data": data},
                        "data.approved_amount")


async def test_a_direct_loan_financing_needs_an_interest_rate(client: httpx.AsyncClient):
    deal = await apply_deal(client, application(instrument="direct_loan", term="long",
                                                tenor_years=10))
    data = {"instrument": "direct_loan", "amount": "8500000.00", "exposure_fee_pct": "2.25",
            "final_maturity_date": "2036-06-30"}
    await invalid_event(client, deal["deal_id"], {"type": "DealFinanced", "data": data},
                        "data.interest_rate_pct")


# --- scalars --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [10000000, 10000000.0, "1e7", "1E7", "-10000000.00", "+10000000.00",
     "١٠٠٠٠٠٠٠", "１０００００００", "10000000.000", "010000000.00", " 10000000.00",
     "1000000000000.01", "0", ""],
    ids=["json_integer", "json_float", "exponent", "upper_exponent", "negative", "plus_sign",
         "arabic_indic_digits", "fullwidth_digits", "three_places", "leading_zero",
         "leading_space", "over_a_trillion", "zero", "empty"],
)
async def test_money_must_be_a_plain_positive_decimal_string(
    client: httpx.AsyncClient, value: Any
):
    await invalid_application(client, application(contract_value=value), "contract_value")


async def test_money_in_event_data_must_be_a_string(client: httpx.AsyncClient, deal_id: str):
    await invalid_event(client, deal_id,
                        {"type": "BoardVoted", "data": dict(BOARD_APPROVED,
                                                             approved_amount=8500000)},
                        "data.approved_amount")


async def test_money_inside_items_is_checked_with_its_path(client: httpx.AsyncClient):
    body = application()
    body["items"][0]["value"] = "8e6"
    await invalid_application(client, body, "items[0].value")


async def test_a_repayment_of_nothing_is_refused(client: httpx.AsyncClient, deal_id: str):
    problem = await invalid_event(
        client, deal_id,
        {"type": "RepaymentReceived",
         "data": {"principal": "0", "interest": "0.00", "reference": "R-0"}},
        "data.principal")
    assert problem["status"] == 422


@pytest.mark.parametrize("value", [True, False, "5", 5.0, 0, 19],
                         ids=["true", "false", "string", "float", "zero", "nineteen"])
async def test_tenor_years_must_be_an_integer_from_1_to_18(
    client: httpx.AsyncClient, value: Any
):
    await invalid_application(client, application(tenor_years=value), "tenor_years")


async def test_a_vote_count_may_not_be_a_boolean(client: httpx.AsyncClient, deal_id: str):
    await invalid_event(client, deal_id,
                        {"type": "BoardVoted", "data": dict(BOARD_APPROVED, votes_against=True)},
                        "data.votes_against")


async def test_an_item_quantity_may_not_be_a_boolean(client: httpx.AsyncClient):
    body = application()
    body["items"][0]["quantity"] = True
    await invalid_application(client, body, "items[0].quantity")


@pytest.mark.parametrize("country", ["XX", "de", "DEU", "", 276, "ZZ"])
async def test_a_country_must_be_an_assigned_upper_case_alpha_2_code(
    client: httpx.AsyncClient, country: Any
):
    await invalid_application(client, application(buyer={"name": "B", "country": country}),
                              "buyer.country")


async def test_a_string_may_not_contain_nul(client: httpx.AsyncClient):
    await invalid_application(
        client, application(buyer={"name": "Rheinland\u0000GmbH", "country": "DE"}),
        "buyer.name")


async def test_a_name_may_not_be_blank(client: httpx.AsyncClient):
    await invalid_application(client, application(buyer={"name": "   ", "country": "DE"}),
                              "buyer.name")


async def test_a_name_of_201_characters_is_too_long(client: httpx.AsyncClient):
    await invalid_application(client, application(buyer={"name": "N" * 201, "country": "DE"}),
                              "buyer.name")


async def test_a_name_of_200_characters_is_accepted(client: httpx.AsyncClient):
    envelope = await apply_deal(client, application(buyer={"name": "N" * 200, "country": "DE"}))
    assert envelope["data"]["buyer"]["name"] == "N" * 200


async def test_a_reason_over_2000_characters_is_refused(
    client: httpx.AsyncClient, deal_id: str
):
    await invalid_event(client, deal_id,
                        {"type": "DealCancelled", "data": {"reason": "r" * 2001}}, "data.reason")


async def test_an_application_number_must_match_its_pattern(client: httpx.AsyncClient):
    await invalid_application(client, application(application_number="exim-lower"),
                              "application_number")


async def test_an_unknown_item_category_is_refused(client: httpx.AsyncClient):
    body = application()
    body["items"][0]["category"] = "quantum"
    await invalid_application(client, body, "items[0].category")


async def test_an_application_needs_at_least_one_item(client: httpx.AsyncClient):
    await invalid_application(client, application(items=[]), "items")


async def test_an_impossible_date_is_refused(client: httpx.AsyncClient, deal_id: str):
    await invalid_event(client, deal_id,
                        {"type": "BoardVoted", "data": dict(BOARD_APPROVED,
                                                             meeting_date="2026-02-30")},
                        "data.meeting_date")


# --- occurred_at, expected_version, headers --------------------------------------------


def moment(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_occurred_at_more_than_five_minutes_ahead_is_refused(client: httpx.AsyncClient):
    body = {**application(), "occurred_at": moment(timedelta(minutes=6))}
    await invalid_application(client, body, "occurred_at")


async def test_occurred_at_a_minute_ahead_is_tolerated(client: httpx.AsyncClient):
    when = moment(timedelta(minutes=1))
    envelope = await apply_deal(client, {**application(), "occurred_at": when})
    assert envelope["occurred_at"].startswith(when[:-1])


@pytest.mark.parametrize("value", ["2026-01-01", "2026-01-01T10:00:00", "yesterday", 1767261600,
                                   "2026-13-01T10:00:00Z"],
                         ids=["date_only", "no_zone", "words", "epoch", "month_13"])
async def test_occurred_at_must_be_an_rfc3339_timestamp_with_a_zone(
    client: httpx.AsyncClient, deal_id: str, value: Any
):
    await invalid_event(client, deal_id,
                        {"type": "BoardVoted", "data": BOARD_APPROVED, "occurred_at": value},
                        "occurred_at")


@pytest.mark.parametrize("value", [True, "1", -1, 1.0])
async def test_expected_version_must_be_a_non_negative_integer(
    client: httpx.AsyncClient, deal_id: str, value: Any
):
    await invalid_event(client, deal_id, {"type": "BoardVoted", "data": BOARD_APPROVED,
                                          "expected_version": value}, "expected_version")



async def test_an_idempotency_key_over_128_characters_is_refused(client: httpx.AsyncClient):
    r = await client.post("/v1/deals", json=application(),
                          headers=writer_headers(**{"Idempotency-Key": "k" * 129}))
    problem = assert_problem(r, 422, "validation_error")
    assert any("Idempotency-Key".lower() in f.lower() for f in error_fields(problem))
    assert await deal_log(client) == []


# --- event types and paths -------------------------------------------------------------


async def test_an_unknown_event_type_is_refused(client: httpx.AsyncClient, deal_id: str):
    await invalid_event(client, deal_id, {"type": "DealExploded", "data": {}}, "type")


async def test_an_event_without_a_type_is_refused(client: httpx.AsyncClient, deal_id: str):
    await invalid_event(client, deal_id, {"data": BOARD_APPROVED}, "type")


async def test_deal_applied_is_not_posted_as_a_deal_event(
    client: httpx.AsyncClient, deal_id: str
):
    await invalid_event(client, deal_id, {"type": "DealApplied", "data": application()}, "type")


async def test_a_malformed_deal_id_in_the_path_is_not_found(client: httpx.AsyncClient):
    r = await client.post("/v1/deals/not-a-uuid/events",
                          json={"type": "BoardVoted", "data": BOARD_APPROVED},
                          headers=writer_headers())
    assert_problem(r, 404, "not_found")
    r = await client.get("/v1/deals/not-a-uuid", headers=auth("reader"))
    assert_problem(r, 404, "not_found")
    assert await deal_log(client) == []


async def test_an_event_for_an_unknown_deal_is_not_found(client: httpx.AsyncClient):
    r = await client.post("/v1/deals/8d3e2a4e-9a0c-4a53-a3c7-0a0d1b2c3d4e/events",
                          json={"type": "BoardVoted", "data": BOARD_APPROVED},
                          headers=headers_for("BoardVoted"))
    assert_problem(r, 404, "not_found")
    assert await deal_log(client) == []


@pytest.mark.parametrize(
    ("path", "params"),
    [("/v1/events", {"limit": 0}), ("/v1/events", {"limit": 1001}),
     ("/v1/events", {"after": -1}), ("/v1/events", {"after": "x"}),
     ("/v1/deals", {}), ("/v1/deals/8d3e2a4e-9a0c-4a53-a3c7-0a0d1b2c3d4e", {"as_of": "soon"}),
     ("/v1/deals/8d3e2a4e-9a0c-4a53-a3c7-0a0d1b2c3d4e", {"version": 0})],
    ids=["limit_zero", "limit_over_1000", "negative_after", "after_not_a_number",
         "lookup_without_number", "as_of_not_a_time", "version_zero"],
)
async def test_bad_query_parameters_are_validation_errors(
    client: httpx.AsyncClient, path: str, params: dict[str, Any]
):
    r = await client.get(path, params=params, headers=auth("reader"))
    problem = assert_problem(r, 422, "validation_error")
    assert error_fields(problem)


# --- body size -------------------------------------------------------------------------


@pytest.fixture
async def small_body_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=database_url, bootstrap_keys=BOOTSTRAP,
                        max_body_bytes=1024)
    async with ledger_client(settings) as c:
        yield c


async def test_a_body_over_the_size_limit_is_refused_with_413(
    small_body_client: httpx.AsyncClient,
):
    body = application(buyer={"name": "B" * 200, "country": "DE"})
    body["items"][0]["description"] = "D" * 200
    body["items"][1]["description"] = "E" * 200
    r = await small_body_client.post("/v1/deals", json=body, headers=writer_headers())
    assert_problem(r, 413, "payload_too_large")
    assert await deal_log(small_body_client) == []


async def test_a_streamed_body_over_the_size_limit_is_refused_with_413(
    small_body_client: httpx.AsyncClient,
):
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 256

    r = await small_body_client.post("/v1/deals", content=chunks(),
                                     headers=writer_headers(**{"Content-Type": "application/json"}))
    assert_problem(r, 413, "payload_too_large")


async def test_a_body_under_the_size_limit_is_accepted(small_body_client: httpx.AsyncClient):
    body = application()
    assert len(httpx.Request("POST", "/", json=body).content) < 1024
    await apply_deal(small_body_client, body)


# --- authentication and roles ----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "Basic d3JpdGVyOnB3"},
     {"Authorization": "Bearer "}, {"Authorization": "writer-secret-0123456789"}],
    ids=["no_header", "unknown_key", "basic_scheme", "empty_bearer", "no_scheme"],
)
async def test_a_request_without_a_valid_key_is_unauthorized(
    client: httpx.AsyncClient, headers: dict[str, str]
):
    r = await client.post("/v1/deals", json=application(), headers=headers)
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].lower().startswith("bearer")
    r = await client.get("/v1/events", headers=headers)
    assert_problem(r, 401, "unauthorized")
    assert await deal_log(client) == []


@pytest.mark.parametrize("role", ["reader", "auditor"])
async def test_readers_and_auditors_may_post_nothing(client: httpx.AsyncClient, role: str):
    deal_id = (await apply_deal(client))["deal_id"]
    before = await whole_log(client)
    r = await client.post("/v1/deals", json=application(), headers=auth(role))
    assert_problem(r, 403, "event_not_permitted")
    r = await client.post(f"/v1/deals/{deal_id}/events",
                          json={"type": "BoardVoted", "data": BOARD_APPROVED}, headers=auth(role))
    assert_problem(r, 403, "event_not_permitted")
    r = await client.post("/v1/batches", json={"events": [{"type": "BoardVoted",
                                                           "deal_id": deal_id,
                                                           "data": BOARD_APPROVED}]},
                          headers=auth(role))
    assert assert_problem(r, 403, "event_not_permitted")["index"] == 0
    r = await client.post(f"/v1/deals/{deal_id}/events", json={"type": "Nonsense"},
                          headers=auth(role))
    assert_problem(r, 403, "forbidden")
    assert await whole_log(client) == before


async def test_an_admin_may_post(client: httpx.AsyncClient):
    r = await client.post("/v1/deals", json=application(), headers=auth("admin"))
    assert r.status_code == 201, r.text
    assert r.json()["actor"] == "admin-key"


@pytest.mark.parametrize("role", ["reader", "auditor", "writer", "admin"])
async def test_every_role_may_read_deals_and_the_log(client: httpx.AsyncClient, role: str):
    deal_id = (await apply_deal(client))["deal_id"]
    assert (await client.get(f"/v1/deals/{deal_id}", headers=auth(role))).status_code == 200
    assert (await client.get("/v1/events", headers=auth(role))).status_code == 200


async def test_authentication_is_checked_before_the_body(client: httpx.AsyncClient):
    r = await client.post("/v1/deals", content=b"{not json", headers=auth("reader"))
    assert_problem(r, 403, "event_not_permitted")  # the path says what it posts
    r = await client.post("/v1/batches", content=b"{not json", headers=auth("reader"))
    assert_problem(r, 403, "forbidden")
    r = await client.post("/v1/deals", content=b"{not json")
    assert_problem(r, 401, "unauthorized")


async def test_an_unknown_event_type_in_a_batch_is_named_by_its_item_path(
    client: httpx.AsyncClient, deal_id: str
):
    before = await whole_log(client)
    r = await client.post("/v1/batches", json={"events": [
        {"type": "LicenseRequested", "deal_id": deal_id, "data": LICENSE_REQUESTED},
        {"type": "DealExploded", "deal_id": deal_id, "data": {}}]}, headers=writer_headers())
    problem = assert_problem(r, 422, "validation_error")
    assert problem["index"] == 1
    assert error_fields(problem) == ["events[1].type"]
    assert await whole_log(client) == before


# --- no input ever produces a 5xx ------------------------------------------------------


@pytest.fixture
async def real_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Unexpected exceptions come back as the 500 a real client would see."""
    async with ledger_client(settings, raise_app_exceptions=False) as c:
        yield c


BEYOND_64_BITS = "100000000000000000000"


@pytest.mark.parametrize(
    ("path", "params"),
    [("/v1/deals/{deal_id}", {"version": BEYOND_64_BITS}),
     ("/v1/events", {"after": BEYOND_64_BITS}),
     ("/v1/deals/{deal_id}", {"as_of": "0001-01-01T00:00:00+01:00"}),
     ("/v1/deals/{deal_id}", {"as_of": "9999-12-31T23:59:59-01:00"})],
    ids=["version_beyond_64_bits", "after_beyond_64_bits", "as_of_before_year_1_in_utc",
         "as_of_after_year_9999_in_utc"],
)
async def test_an_extreme_read_parameter_is_a_validation_error(
    real_client: httpx.AsyncClient, path: str, params: dict[str, str]
):
    deal_id = (await apply_deal(real_client))["deal_id"]
    r = await real_client.get(path.format(deal_id=deal_id), params=params,
                              headers=auth("reader"))
    problem = assert_problem(r, 422, "validation_error")
    assert error_fields(problem) == list(params)


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"],
                         ids=["before_year_1_in_utc", "after_year_9999_in_utc"])
async def test_an_occurred_at_outside_the_representable_range_is_a_validation_error(
    real_client: httpx.AsyncClient, when: str
):
    deal_id = (await apply_deal(real_client))["deal_id"]
    before = await whole_log(real_client)
    r = await post_event_raw(real_client, f"/v1/deals/{deal_id}/events",
                             {"type": "BoardVoted", "data": BOARD_APPROVED, "occurred_at": when})
    problem = assert_problem(r, 422, "validation_error")
    assert error_fields(problem) == ["occurred_at"]
    assert await whole_log(real_client) == before


async def test_an_application_number_with_a_lone_surrogate_in_a_batch_is_a_validation_error(
    real_client: httpx.AsyncClient,
):
    r = await post_event_raw(real_client, "/v1/batches", {"events": [
        {"type": "BoardVoted", "application_number": "EXIM-\ud800", "data": BOARD_APPROVED}]})
    problem = assert_problem(r, 422, "validation_error")
    assert (problem["index"], error_fields(problem)) == (0, ["events[0].application_number"])


async def post_event_raw(client: httpx.AsyncClient, path: str, body: Any) -> httpx.Response:
    """JSON with \\u escapes (lone surrogates cannot be sent as UTF-8)."""
    import json

    return await client.post(path, content=json.dumps(body).encode("ascii"),
                             headers=poster_headers(body,
                                                    **{"Content-Type": "application/json"}))
