import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from domain.countries import COUNTRIES
from domain.events import EVENT_TYPES as EVENT_TABLE
from service.ledger.commands import InvalidRequest
from service.ledger.fields import Date, Money, MoneyOrZero, Pct, parse
from service.ledger.payloads import (
    DEAL_APPLICATION,
    EVENT_REQUEST,
    POLICY,
    POLICY_DECISION,
    POLICY_PROPOSAL,
    PROGRAM_AUTHORIZATION,
    PROGRAM_SUSPENSION,
)

EVENT_TYPES = tuple(EVENT_TABLE)
PayloadError = InvalidRequest
MONEY, MONEY_OR_ZERO = TypeAdapter(Money), TypeAdapter(MoneyOrZero)
PCT, DATE = TypeAdapter(Pct), TypeAdapter(Date)


PROGRAM_BODIES = {"PolicyProposed": POLICY_PROPOSAL, "PolicyAdopted": POLICY,
                  "PolicyWithdrawn": POLICY_DECISION, "ProgramAuthorized": PROGRAM_AUTHORIZATION,
                  "ProgramSuspended": PROGRAM_SUSPENSION}


def parse_event_data(type_name: str, data: object) -> dict[str, Any]:
    """``data`` checked as the server checks an event's payload; paths relative to it."""
    if type_name == "DealApplied":
        return parse(DEAL_APPLICATION, data).command().data
    if type_name in PROGRAM_BODIES:
        parsed: dict[str, Any] = parse(PROGRAM_BODIES[type_name], data).model_dump()
        return parsed
    try:
        return parse(EVENT_REQUEST, {"type": type_name, "data": data}).command().data
    except InvalidRequest as e:
        for error in e.extra["errors"]:  # type: ignore[attr-defined]
            error["field"] = error["field"].removeprefix("data").removeprefix(".")
        raise


def parse_money(text: object, *, allow_zero: bool = False) -> str:
    return parse(MONEY_OR_ZERO if allow_zero else MONEY, text)


def parse_pct(text: object) -> str:
    return parse(PCT, text)


def parse_date(text: object) -> str:
    return parse(DATE, text)

VALID: dict[str, dict[str, Any]] = {
    "DealApplied": {
        "application_number": "EXIM-2026-0001",
        "exporter": {"name": "Acme AI Systems", "country": "US"},
        "buyer": {"name": "Nordic Compute AB", "country": "SE"},
        "instrument": "direct_loan",
        "term": "long",
        "contract_value": "125000000",
        "financed_amount": "106250000.00",
        "tenor_years": 10,
        "items": [
            {"description": "H-class accelerators", "category": "accelerator",
             "eccn": "3A090.a", "quantity": 4000, "value": "100000000"},
            {"description": "Cluster networking", "category": "networking",
             "eccn": "5A002.z", "quantity": 1, "value": "25000000.5"},
        ],
        "us_content_pct": "92.5",
    },
    "LicenseRequested": {"application_ref": "Z1234567", "eccns": ["3A090.a", "4A090"]},
    "CommerceLicenseApproved": {
        "application_ref": "Z1234567", "license_number": "D1234567",
        "eccns": ["3A090.a"], "valid_until": "2028-02-29",
        "conditions": ["No re-export without BIS authorization."],
        "consignee": {"name": "Nordic Compute AB", "country": "SE"},
        "lines": [{"eccn": "3a090.A", "quantity": 4000, "value": "100000000"}],
    },
    "PartyScreened": {"party": "buyer", "list": "CSL", "list_date": "2026-12-01",
                      "result": "clear", "reference": "CSL-2026-12-01-77"},
    "CommerceLicenseDenied": {"application_ref": "Z1234567", "reason": "Diversion risk."},
    "BoardVoted": {
        "meeting_date": "2026-03-12", "votes_for": 3, "votes_against": 1, "abstentions": 0,
        "decision": "approved", "approved_amount": "100000000",
    },
    "DealFinanced": {
        "instrument": "direct_loan", "amount": "100000000.00", "exposure_fee_pct": "3.25",
        "interest_rate_pct": "4.1234", "final_maturity_date": "2036-03-31",
    },
    "FundsDisbursed": {"amount": "5000000", "reference": "WIRE-0001"},
    "RepaymentReceived": {"principal": "0", "interest": "125000.5", "reference": "PAY-0001"},
    "ClaimPaid": {"amount": "250000.00", "reference": "CLAIM-7"},
    "DealCancelled": {"reason": "Buyer withdrew.", "amount": "1000000"},
    "DealAmended": {"financed_amount": "100000000", "tenor_years": 9, "reason": "Resized."},
    "CommerceLicenseRevoked": {"license_number": "D1234567", "reason": "Diversion.",
                               "effective_date": "2027-01-01"},
    "RecoveryReceived": {"amount": "100000.00", "reference": "REC-1"},
    "EventReversed": {"version": 7, "reason": "Wire returned.", "return_reference": "RET-9"},
    "CongressionalNotified": {"notified_on": "2026-12-01", "amount": "170000000.00",
                              "reference": "EXIM-CN-2026-41"},
    "PolicyProposed": {"id": "2027-01-15", "effective_from": "2027-01-15", "embargoed": [],
                       "restricted_for_controlled": [], "controlled_eccn_patterns": [],
                       "authority": "Board resolution 2027-004"},
    "PolicyAdopted": {"id": "2027-01-15", "effective_from": "2027-01-15", "embargoed": [],
                      "restricted_for_controlled": [], "controlled_eccn_patterns": []},
    "PolicyWithdrawn": {"comment": "superseded"},
    "ProgramAuthorized": {"meeting_date": "2026-12-01", "votes_for": 4, "votes_against": 0,
                          "abstentions": 1, "effective_from": "2026-12-01",
                          "total_limit": "5000000000.00"},
    "ProgramSuspended": {"reason": "appropriations lapsed", "effective_from": "2026-12-10"},
}


def valid(type_name: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID[type_name])
    data.update(changes)
    return data


def errors_of(type_name: str, data: object) -> list[dict[str, str]]:
    with pytest.raises(PayloadError) as caught:
        parse_event_data(type_name, data)
    errors: list[dict[str, str]] = caught.value.extra["errors"]  # type: ignore[assignment]
    return errors


def fields_of(type_name: str, data: object) -> list[str]:
    return [e["field"] for e in errors_of(type_name, data)]


def refuse_money(text: object) -> str:
    with pytest.raises(PayloadError) as caught:
        parse_money(text)
    message: str = caught.value.extra["errors"][0]["message"]  # type: ignore[index]
    return message


# --- every event type ---------------------------------------------------------------


def test_every_event_type_has_a_valid_example() -> None:
    assert set(VALID) == set(EVENT_TYPES)


@pytest.mark.parametrize("type_name", sorted(VALID))
def test_each_event_type_accepts_a_valid_example(type_name: str) -> None:
    result = parse_event_data(type_name, valid(type_name))
    assert list(result) == list(VALID[type_name])


def test_a_valid_deal_application_comes_back_canonical() -> None:
    result = parse_event_data("DealApplied", valid("DealApplied"))
    assert result["contract_value"] == "125000000.00"
    assert result["items"][1] == {
        "description": "Cluster networking", "category": "networking",
        "eccn": "5A002.Z", "quantity": 1, "value": "25000000.50",
    }
    assert result["us_content_pct"] == "92.5"
    assert result["exporter"] == {"name": "Acme AI Systems", "country": "US"}


def test_keys_come_back_in_schema_order_whatever_order_they_were_sent_in() -> None:
    sent = dict(reversed(list(valid("FundsDisbursed").items())))
    assert list(parse_event_data("FundsDisbursed", sent)) == ["amount", "reference"]


def test_optional_fields_are_absent_when_not_given() -> None:
    assert "end_user" not in parse_event_data("DealApplied", valid("DealApplied"))
    assert parse_event_data("DealCancelled", {"reason": "Withdrawn."}) == {"reason": "Withdrawn."}


def test_us_content_is_required_in_an_application() -> None:  # v3
    data = valid("DealApplied")
    del data["us_content_pct"]
    assert fields_of("DealApplied", data) == ["us_content_pct"]


@pytest.mark.parametrize(("lines", "why"), [
    ([], "must not be empty"),
    ([{"eccn": "4A090", "quantity": 1, "value": "1"}], "not among eccns"),
    ([{"eccn": "3A090.A", "quantity": 1, "value": "1"},
      {"eccn": "3a090.a", "quantity": 1, "value": "1"}], "more than one line"),
    ([{"eccn": "3A090.A", "quantity": 0, "value": "1"}], "at least 1"),
])
def test_a_license_s_lines_match_its_eccns_one_each(lines: list[Any], why: str) -> None:  # v3
    errors = errors_of("CommerceLicenseApproved", valid("CommerceLicenseApproved", lines=lines))
    assert [e["field"].split("[")[0] for e in errors] == ["lines"], errors
    assert why in errors[0]["message"]


def test_every_eccn_of_a_license_needs_a_line() -> None:  # v3
    data = valid("CommerceLicenseApproved", eccns=["3A090.a", "4A090"])
    errors = errors_of("CommerceLicenseApproved", data)
    assert errors == [{"field": "lines", "message": "no line for 4A090"}]


@pytest.mark.parametrize("number", ["", "D 555", "D_555", "D" * 41, "Ｄ-1"])
def test_a_license_number_is_1_to_40_letters_digits_and_dashes(number: str) -> None:  # v3
    data = valid("CommerceLicenseApproved", license_number=number)
    assert fields_of("CommerceLicenseApproved", data) == ["license_number"]


def test_a_license_number_is_stored_upper_case() -> None:  # v3
    parsed = parse_event_data("CommerceLicenseApproved",
                              valid("CommerceLicenseApproved", license_number="d-55a"))
    assert parsed["license_number"] == "D-55A"
    assert parsed["lines"][0]["eccn"] == "3A090.A"


def test_an_unknown_event_type_is_refused_on_the_type_field() -> None:
    assert fields_of("DealRenamed", {}) == ["type"]


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    assert errors_of("ClaimPaid", ["amount"]) == [
        {"field": "", "message": "must be an object, not a list"},
    ]


# --- money --------------------------------------------------------------------------


@pytest.mark.parametrize(("given_text", "normalized"), [
    ("5", "5.00"), ("5.5", "5.50"), ("5.05", "5.05"), ("0.01", "0.01"),
    ("1000000000000", "1000000000000.00"), ("1000000000000.00", "1000000000000.00"),
])
def test_money_is_normalized_to_exactly_two_places(given_text: str, normalized: str) -> None:
    assert parse_money(given_text) == normalized


def test_money_sent_as_a_json_number_is_refused() -> None:
    assert "not a JSON number" in refuse_money(1250000.0)
    assert "not a JSON number" in refuse_money(1250000)
    assert fields_of("FundsDisbursed", valid("FundsDisbursed", amount=5000000.0)) == ["amount"]


@pytest.mark.parametrize("text", ["1e6", "1E6", "1.5e3"])
def test_money_with_an_exponent_is_refused(text: str) -> None:
    assert "exponent" in refuse_money(text)


@pytest.mark.parametrize("text", ["+5", "-5", "-0.01"])
def test_money_with_a_sign_is_refused(text: str) -> None:
    assert "sign" in refuse_money(text)


@pytest.mark.parametrize("text", ["١٢٣", "5.٥٠", "１２３", "৫"])
def test_money_with_non_ascii_digits_is_refused(text: str) -> None:
    assert "ASCII" in refuse_money(text)


@pytest.mark.parametrize("text", [" 5", "5 ", "5\n", "1 000"])
def test_money_with_whitespace_is_refused(text: str) -> None:
    refuse_money(text)


@pytest.mark.parametrize("text", ["", "05", "5.", ".5", "5.123", "5,00", "NaN", "Infinity", "0x10"])
def test_money_in_any_other_shape_is_refused(text: str) -> None:
    refuse_money(text)


@pytest.mark.parametrize("value", [True, None, ["5"], {"amount": "5"}])
def test_money_of_another_json_kind_is_refused(value: object) -> None:
    refuse_money(value)


def test_money_over_the_maximum_is_refused() -> None:
    assert "at most" in refuse_money("1000000000000.01")
    assert "at most" in refuse_money("99999999999999")


def test_zero_money_is_refused_unless_the_field_allows_it() -> None:
    assert "greater than 0" in refuse_money("0.00")
    assert parse_money("0", allow_zero=True) == "0.00"
    assert fields_of("DealCancelled", {"reason": "x", "amount": "0"}) == ["amount"]


MONEY_TEXT = st.from_regex(r"(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?", fullmatch=True).filter(
    lambda text: Decimal(text) <= Decimal("1000000000000")
)


@given(MONEY_TEXT)
def test_any_valid_money_string_round_trips_to_an_equal_two_place_value(text: str) -> None:
    normalized = parse_money(text, allow_zero=True)
    assert Decimal(normalized) == Decimal(text)
    assert normalized.partition(".")[2].isdigit() and len(normalized.partition(".")[2]) == 2
    assert parse_money(normalized, allow_zero=True) == normalized


# --- percentages, integers, dates ---------------------------------------------------


@pytest.mark.parametrize("text", ["0", "100", "100.0000", "3.25", "007.5"])
def test_percentages_from_0_to_100_are_returned_as_given(text: str) -> None:
    assert parse_pct(text) == text


@pytest.mark.parametrize("value", ["100.0001", "101", "-1", "1.23456", "1e2", 3.25, "", " 5"])
def test_percentages_outside_the_shape_or_range_are_refused(value: object) -> None:
    with pytest.raises(PayloadError):
        parse_pct(value)


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_not_an_integer(value: bool) -> None:
    errors = errors_of("BoardVoted", valid("BoardVoted", abstentions=value))
    assert errors == [{"field": "abstentions", "message": "must be a JSON integer, not a boolean"}]


@pytest.mark.parametrize("value", ["3", 3.0, None])
def test_an_integer_sent_as_a_string_float_or_null_is_refused(value: object) -> None:
    assert fields_of("BoardVoted", valid("BoardVoted", votes_for=value)) == ["votes_for"]


@pytest.mark.parametrize(("field", "value"), [
    ("tenor_years", 0), ("tenor_years", 19), ("tenor_years", -1),
])
def test_tenor_outside_1_to_18_years_is_refused(field: str, value: int) -> None:
    assert fields_of("DealApplied", valid("DealApplied", **{field: value})) == [field]


def test_votes_must_be_between_0_and_1000() -> None:
    assert fields_of("BoardVoted", valid("BoardVoted", votes_against=-1)) == ["votes_against"]
    assert fields_of("BoardVoted", valid("BoardVoted", votes_against=1001)) == ["votes_against"]


def test_an_item_quantity_below_one_is_refused() -> None:
    data = valid("DealApplied")
    data["items"][0]["quantity"] = 0
    assert fields_of("DealApplied", data) == ["items[0].quantity"]


@pytest.mark.parametrize("text", ["2026-02-29", "2026-13-01", "2026-1-31", "20260131",
                                  "2026-01-31T00:00:00", "２０２６-01-31", "0000-01-01"])
def test_a_date_that_is_not_a_real_yyyy_mm_dd_date_is_refused(text: str) -> None:
    with pytest.raises(PayloadError):
        parse_date(text)


def test_a_leap_day_is_a_real_date() -> None:
    assert parse_date("2028-02-29") == "2028-02-29"


# --- countries, strings, enums, ECCNs -----------------------------------------------


def test_the_country_list_holds_the_249_assigned_codes_and_no_user_assigned_ones() -> None:
    assert len(COUNTRIES) == 249
    assert {"US", "CN", "MO", "SS", "BQ", "AX"} <= COUNTRIES
    assert not {"XK", "UK", "EU", "SU", "YU"} & COUNTRIES


@pytest.mark.parametrize("country", ["XK", "ZZ", "us", "USA", "U", "", 1])
def test_a_bad_country_is_refused(country: object) -> None:
    data = valid("DealApplied", buyer={"name": "Buyer", "country": country})
    assert fields_of("DealApplied", data) == ["buyer.country"]


def test_a_string_containing_nul_is_refused() -> None:
    errors = errors_of("ClaimPaid", valid("ClaimPaid", reference="CLAIM\x007"))
    assert errors == [{"field": "reference", "message": "must not contain U+0000"}]


def test_a_string_with_an_unpaired_surrogate_is_refused() -> None:
    assert fields_of("ClaimPaid", valid("ClaimPaid", reference="CLAIM\ud8007")) == ["reference"]


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_an_empty_or_blank_string_is_refused(text: str) -> None:
    assert fields_of("CommerceLicenseDenied", valid("CommerceLicenseDenied", reason=text)) == [
        "reason",
    ]


def test_names_and_references_are_bounded_at_200_characters() -> None:
    assert parse_event_data("ClaimPaid", valid("ClaimPaid", reference="R" * 200))
    assert fields_of("ClaimPaid", valid("ClaimPaid", reference="R" * 201)) == ["reference"]
    data = valid("DealApplied", exporter={"name": "N" * 201, "country": "US"})
    assert fields_of("DealApplied", data) == ["exporter.name"]


def test_reasons_and_conditions_are_bounded_at_2000_characters() -> None:
    assert parse_event_data("DealCancelled", {"reason": "r" * 2000})
    assert fields_of("DealCancelled", {"reason": "r" * 2001}) == ["reason"]
    data = valid("CommerceLicenseApproved", conditions=["ok", "c" * 2001])
    assert fields_of("CommerceLicenseApproved", data) == ["conditions[1]"]


def test_at_most_100_conditions_are_accepted() -> None:
    data = valid("BoardVoted", conditions=["c"] * 101)
    assert fields_of("BoardVoted", data) == ["conditions"]
    assert parse_event_data("BoardVoted", valid("BoardVoted", conditions=["c"] * 100))


def test_strings_are_returned_as_given() -> None:
    data = valid("DealCancelled", reason="  Käufer zog zurück — 撤回  ")
    assert parse_event_data("DealCancelled", data)["reason"] == data["reason"]


@pytest.mark.parametrize("number", ["AB", "exim-1", "A" * 33, "EXIM 1", "EXIM_1", 12345])
def test_a_malformed_application_number_is_refused(number: object) -> None:
    data = valid("DealApplied", application_number=number)
    assert fields_of("DealApplied", data) == ["application_number"]


@pytest.mark.parametrize(("field", "value"), [
    ("instrument", "grant"), ("term", "short"), ("instrument", "Insurance"),
])
def test_an_unknown_enum_value_is_refused(field: str, value: str) -> None:
    assert fields_of("DealApplied", valid("DealApplied", **{field: value})) == [field]


def test_an_unknown_item_category_is_refused() -> None:
    data = valid("DealApplied")
    data["items"][1]["category"] = "robots"
    assert fields_of("DealApplied", data) == ["items[1].category"]


@pytest.mark.parametrize("eccn", ["3A090.a", "4A090", "EAR99", "ear99", "5A002.z", "0A521",
                                  "3a090.a.1", "5E002.b"])
def test_well_formed_eccns_are_accepted(eccn: str) -> None:
    assert parse_event_data("LicenseRequested", {"application_ref": "Z1", "eccns": [eccn]})


@pytest.mark.parametrize("eccn", ["", ".3A090", "3A090 a", "3A090/a", "E" * 33, "３A090", 3090,
                                  "3A-090.a", "0Y521", "3F090", "3A09", "3A0900", "3A090.",
                                  "3A090..a", "EAR9", "EAR991", "A3090"])
def test_malformed_eccns_are_refused(eccn: object) -> None:
    data = {"application_ref": "Z1", "eccns": ["EAR99", eccn]}
    assert fields_of("LicenseRequested", data) == ["eccns[1]"]


def test_an_empty_or_oversized_or_repeating_eccn_list_is_refused() -> None:
    assert fields_of("LicenseRequested", valid("LicenseRequested", eccns=[])) == ["eccns"]
    many = [f"3A{i:03d}" for i in range(201)]
    assert fields_of("LicenseRequested", valid("LicenseRequested", eccns=many)) == ["eccns"]
    repeated = valid("LicenseRequested", eccns=["4A090", "3A090.a", "4A090"])
    assert errors_of("LicenseRequested", repeated) == [
        {"field": "eccns[2]", "message": "duplicates eccns[0]"},
    ]


def test_a_deal_needs_between_1_and_200_items() -> None:
    assert fields_of("DealApplied", valid("DealApplied", items=[])) == ["items"]
    item = VALID["DealApplied"]["items"][0]
    assert fields_of("DealApplied", valid("DealApplied", items=[item] * 201)) == ["items"]
    assert parse_event_data("DealApplied", valid("DealApplied", items=[item] * 200))


# --- shape ---------------------------------------------------------------------------


def test_an_unknown_field_is_refused_by_name() -> None:
    errors = errors_of("FundsDisbursed", valid("FundsDisbursed", memo="hi"))
    assert errors == [{"field": "memo", "message": "unknown field"}]


def test_an_unknown_field_inside_a_nested_object_is_refused_by_path() -> None:
    data = valid("DealApplied")
    data["items"][0]["unit_price"] = "25000.00"
    data["exporter"]["duns"] = "123"
    assert fields_of("DealApplied", data) == ["exporter.duns", "items[0].unit_price"]


def test_a_missing_required_field_is_refused_by_name() -> None:
    data = valid("DealFinanced")
    del data["final_maturity_date"]
    assert errors_of("DealFinanced", data) == [
        {"field": "final_maturity_date", "message": "is required"},
    ]


def test_a_non_object_where_an_object_belongs_is_refused() -> None:
    data = valid("DealApplied", exporter="Acme", items=["H100"])
    assert fields_of("DealApplied", data) == ["exporter", "items[0]"]


def test_a_non_list_where_a_list_belongs_is_refused() -> None:
    data = valid("LicenseRequested", eccns="3A090.a")
    assert errors_of("LicenseRequested", data) == [
        {"field": "eccns", "message": "must be a list, not a string"},
    ]


def test_null_for_an_optional_field_is_refused_rather_than_dropped() -> None:
    assert fields_of("DealCancelled", {"reason": "x", "amount": None}) == ["amount"]


def test_several_errors_are_reported_at_once() -> None:
    data = valid("DealApplied", contract_value=125000000.0, tenor_years=True, note="x")
    data["buyer"] = {"name": "", "country": "XK"}
    data["items"][1]["value"] = "-1"
    del data["term"]
    assert fields_of("DealApplied", data) == [
        "buyer.name", "buyer.country", "term", "contract_value", "tenor_years",
        "items[1].value", "note",
    ]


def test_an_odd_unknown_key_is_named_in_a_printable_form() -> None:
    [error] = errors_of("ClaimPaid", valid("ClaimPaid", **{"a\ud800\x00": 1}))
    assert error["field"] == '"a\\ud800\\u0000"'
    error["field"].encode("utf-8")


# --- cross-field rules ---------------------------------------------------------------


def test_an_approved_vote_needs_an_approved_amount() -> None:
    data = valid("BoardVoted")
    del data["approved_amount"]
    assert errors_of("BoardVoted", data) == [
        {"field": "approved_amount", "message": "is required when approved"},
    ]


def test_a_rejected_vote_must_not_carry_an_approved_amount() -> None:
    data = valid("BoardVoted", decision="rejected", votes_for=1, votes_against=3)
    assert fields_of("BoardVoted", data) == ["approved_amount"]
    del data["approved_amount"]
    assert "approved_amount" not in parse_event_data("BoardVoted", data)


def test_a_direct_loan_financing_needs_an_interest_rate() -> None:
    data = valid("DealFinanced")
    del data["interest_rate_pct"]
    assert fields_of("DealFinanced", data) == ["interest_rate_pct"]


def test_other_financings_may_omit_the_interest_rate() -> None:
    data = valid("DealFinanced", instrument="loan_guarantee")
    del data["interest_rate_pct"]
    assert "interest_rate_pct" not in parse_event_data("DealFinanced", data)


def test_a_repayment_of_nothing_is_refused() -> None:
    data = valid("RepaymentReceived", principal="0.00", interest="0")
    assert fields_of("RepaymentReceived", data) == ["principal"]


def test_a_repayment_may_be_interest_only_or_principal_only() -> None:
    result = parse_event_data("RepaymentReceived", valid("RepaymentReceived", interest="0.5"))
    assert (result["principal"], result["interest"]) == ("0.00", "0.50")
    data = valid("RepaymentReceived", principal="10", interest="0")
    assert parse_event_data("RepaymentReceived", data)["interest"] == "0.00"


# --- v2 payloads and policy versions ----------------------------------------------------


def test_eccns_are_stored_upper_case_wherever_they_are_given() -> None:
    data = valid("DealApplied")
    data["items"][0]["eccn"] = "3a090.a"
    assert parse_event_data("DealApplied", data)["items"][0]["eccn"] == "3A090.A"
    result = parse_event_data("LicenseRequested", {"application_ref": "Z1", "eccns": ["4a090"]})
    assert result["eccns"] == ["4A090"]


def test_eccns_differing_only_in_case_are_the_same_eccn() -> None:
    assert errors_of("LicenseRequested", {"application_ref": "Z1",
                                          "eccns": ["3A090.a", "3a090.A"]}) == [
        {"field": "eccns[1]", "message": "duplicates eccns[0]"}]


def test_an_amendment_must_name_a_term_and_a_reason() -> None:
    assert errors_of("DealAmended", {"reason": "nothing"}) == [{
        "field": "", "message": "name at least one term to amend: contract_value, "
        "financed_amount, tenor_years, items or us_content_pct"}]
    assert fields_of("DealAmended", {"tenor_years": 5}) == ["reason"]
    assert fields_of("DealAmended", {"tenor_years": 5, "term": "long", "reason": "x"}) == ["term"]


def test_an_amendment_keeps_only_what_it_names() -> None:
    assert parse_event_data("DealAmended", {"tenor_years": 4, "reason": "r"}) == {
        "tenor_years": 4, "reason": "r"}


def test_a_reversal_names_a_version_as_an_integer() -> None:
    assert fields_of("EventReversed", {"version": "7", "reason": "x"}) == ["version"]
    assert fields_of("EventReversed", {"version": 0, "reason": "x"}) == ["version"]


def test_a_revocation_date_is_optional_and_a_real_date() -> None:
    data = {"license_number": "L", "reason": "r"}
    assert "effective_date" not in parse_event_data("CommerceLicenseRevoked", data)
    assert fields_of("CommerceLicenseRevoked", {**data, "effective_date": "2027-02-30"}) == [
        "effective_date"]


POLICY_BODY = {"id": "2027-01-01", "effective_from": "2027-01-01", "embargoed": ["ru", "CU"],
               "restricted_for_controlled": ["CN"], "controlled_eccn_patterns": ["3A090*"]}


def test_a_policy_version_comes_back_in_its_normal_form() -> None:
    from service.ledger.payloads import POLICY

    version = parse(POLICY, {**POLICY_BODY, "designated_countries": ["jp", "DE", "JP"]})
    assert version.version().normal_form() == {
        "id": "2027-01-01", "effective_from": "2027-01-01", "embargoed": ["CU", "RU"],
        "restricted_for_controlled": ["CN"], "controlled_eccn_patterns": ["3A090*"],
        "designated_countries": ["DE", "JP"], "max_backdating_days": 30}


@pytest.mark.parametrize(("changes", "field"), [
    ({"embargoed": ["XK"]}, "embargoed[0]"), ({"effective_from": "2027-13-01"}, "effective_from"),
    ({"max_backdating_days": -1}, "max_backdating_days"), ({"id": " "}, "id"),
    ({"controlled_eccn_patterns": ["3A090 *"]}, "controlled_eccn_patterns[0]"),
    ({"designated_countries": "DE"}, "designated_countries"), ({"extra": 1}, "extra"),
])
def test_a_malformed_policy_version_is_refused_by_field(changes: dict[str, Any],
                                                        field: str) -> None:
    from service.ledger.payloads import POLICY

    with pytest.raises(InvalidRequest) as caught:
        parse(POLICY, {**POLICY_BODY, **changes})
    errors: list[dict[str, str]] = caught.value.extra["errors"]  # type: ignore[assignment]
    assert [e["field"] for e in errors] == [field]
