"""Schema checks of event payloads (SPEC §2 conventions), before any business rule.

`parse_event_data` turns decoded JSON into the canonical payload the domain records
and hashes, or raises `PayloadError` listing every bad field. Field paths are
relative to the payload root ("items[0].value"); "" is the root itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from domain.countries import COUNTRIES

MONEY_MAX = Decimal("1000000000000")
NAME_MAX = 200  # names, references, descriptions, license numbers
TEXT_MAX = 2000  # reasons, conditions
ITEMS_MAX = 200
ECCNS_MAX = 200
CONDITIONS_MAX = 100
VOTES_MAX = 1000
QUANTITY_MAX = 1_000_000_000  # SPEC is silent; bounded so sums stay in 64-bit columns

INSTRUMENTS = ("insurance", "loan_guarantee", "direct_loan")
TERMS = ("medium", "long")
DECISIONS = ("approved", "rejected")
CATEGORIES = (
    "accelerator", "server", "networking", "storage", "software",
    "model", "cloud_service", "data_center", "services",
)

_MONEY = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,2})?", re.ASCII)
_PCT = re.compile(r"[0-9]{1,3}(\.[0-9]{1,4})?", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_ECCN = re.compile(r"[0-9A-Za-z][0-9A-Za-z.\-]{0,31}", re.ASCII)
_APPLICATION_NUMBER = re.compile(r"[A-Z0-9-]{3,32}", re.ASCII)
_COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)
_SURROGATE = re.compile("[\ud800-\udfff]")
_MONEY_EXAMPLE = 'a decimal string like "1250000.00"'

Errors = list[dict[str, str]]


class PayloadError(Exception):
    """The payload failed its schema; `errors` holds one {field, message} per problem."""

    def __init__(self, errors: Errors) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field'] or '(payload)'}: {e['message']}" for e in errors))


class _Invalid(Exception):
    pass


class _Bad:
    """Marks a value that failed; its error is already recorded."""


_BAD = _Bad()

Check = Callable[[object, str, Errors], Any]
JsonSchema = dict[str, Any]


@dataclass(frozen=True, eq=False)
class Validator:
    """A check, and the JSON Schema that describes what it accepts (service/openapi.py
    publishes it), built side by side from the same constants so the two cannot drift."""

    check: Check
    json_schema: JsonSchema

    def __call__(self, value: object, path: str, errors: Errors) -> Any:
        return self.check(value, path, errors)


def anchored(regex: re.Pattern[str]) -> str:
    """The ECMA-262 `pattern` a JSON Schema needs for `regex.fullmatch`."""
    return f"^(?:{regex.pattern})$"


def _leaf(check: Callable[[object], Any], json_schema: JsonSchema) -> Validator:
    def validate(value: object, path: str, errors: Errors) -> Any:
        try:
            return check(value)
        except _Invalid as exc:
            errors.append({"field": path, "message": str(exc)})
            return _BAD

    return Validator(validate, json_schema)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a JSON number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- scalar checks -----------------------------------------------------------------


def _money_text(value: object, allow_zero: bool) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"must be {_MONEY_EXAMPLE}, not {_kind(value)}")
    if not _MONEY.fullmatch(value):
        raise _Invalid(f"must be {_MONEY_EXAMPLE}{_money_hint(value)}")
    amount = Decimal(value)
    if amount > MONEY_MAX:
        raise _Invalid("must be at most 1000000000000")
    if amount == 0 and not allow_zero:
        raise _Invalid("must be greater than 0")
    whole, _, cents = value.partition(".")
    return f"{whole}.{cents:0<2}"


def _money_hint(text: str) -> str:
    if not text:
        return " (empty)"
    if text[0] in "+-":
        return " (no sign)"
    if any(c in "eE" for c in text):
        return " (no exponent)"
    if any(c.isspace() for c in text):
        return " (no spaces)"
    if not text.isascii():
        return " (ASCII digits only)"
    if "." in text and len(text.partition(".")[2]) > 2:
        return " (at most 2 decimal places)"
    if len(text) > 1 and text[0] == "0" and text[1] != ".":
        return " (no leading zeros)"
    return ""


def _pct_text(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid(f'must be a decimal string like "2.5", not {_kind(value)}')
    if not _PCT.fullmatch(value):
        raise _Invalid('must be a decimal string like "2.5" (up to 4 decimal places)')
    if Decimal(value) > 100:
        raise _Invalid("must be between 0 and 100")
    return value


def _money(*, allow_zero: bool = False) -> Validator:
    low = "0" if allow_zero else "greater than 0"
    return _leaf(lambda value: _money_text(value, allow_zero), {
        "type": "string", "pattern": anchored(_MONEY), "examples": ["1250000.00"],
        "description": f"USD amount as a decimal string, {low}, at most {MONEY_MAX}",
    })


def _string(max_len: int) -> Validator:
    def check(value: object) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"must be a string, not {_kind(value)}")
        if not value.strip():
            raise _Invalid("must not be empty or blank")
        if len(value) > max_len:
            raise _Invalid(f"must be at most {max_len} characters")
        if "\x00" in value:
            raise _Invalid("must not contain U+0000")
        if _SURROGATE.search(value):
            raise _Invalid("must not contain unpaired surrogates")
        return value

    return _leaf(check, {
        "type": "string", "minLength": 1, "maxLength": max_len, "pattern": r"\S",
        "description": "not blank; no U+0000",
    })


def _pattern(regex: re.Pattern[str], message: str) -> Validator:
    def check(value: object) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"must be a string, not {_kind(value)}")
        if not regex.fullmatch(value):
            raise _Invalid(message)
        return value

    return _leaf(check, {"type": "string", "pattern": anchored(regex)})


def _one_of(choices: tuple[str, ...]) -> Validator:
    listed = ", ".join(f'"{c}"' for c in choices)

    def check(value: object) -> str:
        if not isinstance(value, str) or value not in choices:
            raise _Invalid(f"must be one of {listed}")
        return value

    return _leaf(check, {"type": "string", "enum": list(choices)})


def _integer(low: int, high: int) -> Validator:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"must be a JSON integer, not {_kind(value)}")
        if not low <= value <= high:
            raise _Invalid(f"must be between {low} and {high}")
        return value

    return _leaf(check, {"type": "integer", "minimum": low, "maximum": high})


def _date_text(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid(f'must be a date string like "2026-01-31", not {_kind(value)}')
    if not _DATE.fullmatch(value):
        raise _Invalid('must be a date in the form YYYY-MM-DD, like "2026-01-31"')
    try:
        date.fromisoformat(value)
    except ValueError:
        raise _Invalid("must be a real calendar date") from None
    return value


def _country_text(value: object) -> str:
    if not isinstance(value, str) or not _COUNTRY.fullmatch(value):
        raise _Invalid("must be an upper-case ISO 3166-1 alpha-2 code like \"US\"")
    if value not in COUNTRIES:
        raise _Invalid("is not an assigned ISO 3166-1 alpha-2 country code")
    return value


_date = _leaf(_date_text, {"type": "string", "format": "date", "examples": ["2026-01-31"]})
_country = _leaf(_country_text, {
    "type": "string", "pattern": anchored(_COUNTRY),
    "description": "ISO 3166-1 alpha-2 code, upper case (an unassigned code is refused)",
})
_pct = _leaf(_pct_text, {
    "type": "string", "pattern": anchored(_PCT), "examples": ["2.5"],
    "description": "percentage as a decimal string, 0 to 100",
})
_eccn = _pattern(_ECCN, 'must be an ECCN like "3A090.a" or "EAR99" (1-32 characters)')
_name = _string(NAME_MAX)
_text = _string(TEXT_MAX)


# --- containers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    validate: Validator
    required: bool = True


def _key_path(path: str, key: object) -> str:
    key = key if isinstance(key, str) else repr(key)
    if not key.isprintable() or _SURROGATE.search(key) or len(key) > 100:
        key = json.dumps(key[:100])  # keep odd keys printable and encodable in errors
    return f"{path}.{key}" if path else key


def object_schema(fields: tuple[Field, ...]) -> JsonSchema:
    """The JSON Schema of an object holding exactly `fields` (unknown keys refused)."""
    return {
        "type": "object",
        "properties": {f.name: f.validate.json_schema for f in fields},
        "required": [f.name for f in fields if f.required],
        "additionalProperties": False,
    }


def _object(fields: tuple[Field, ...]) -> Validator:
    known = {f.name for f in fields}

    def validate(value: object, path: str, errors: Errors) -> Any:
        if not isinstance(value, dict):
            errors.append({"field": path, "message": f"must be an object, not {_kind(value)}"})
            return _BAD
        result: dict[str, Any] = {}
        for f in fields:
            if f.name in value:
                parsed = f.validate(value[f.name], _key_path(path, f.name), errors)
                if parsed is not _BAD:
                    result[f.name] = parsed
            elif f.required:
                errors.append({"field": _key_path(path, f.name), "message": "is required"})
        for key in value:
            if key not in known:
                errors.append({"field": _key_path(path, key), "message": "unknown field"})
        return result

    return Validator(validate, object_schema(fields))


def _list_of(item: Validator, *, low: int, high: int, unique: bool = False) -> Validator:
    def validate(value: object, path: str, errors: Errors) -> Any:
        if not isinstance(value, list):
            errors.append({"field": path, "message": f"must be a list, not {_kind(value)}"})
            return _BAD
        if not low <= len(value) <= high:
            size = "must not be empty" if low == 1 and not value else ""
            errors.append({"field": path, "message": size or f"must hold {low} to {high} items"})
            return _BAD  # items of an oversized list are not checked one by one
        result: list[Any] = []
        seen: dict[Any, int] = {}
        for i, element in enumerate(value):
            parsed = item(element, f"{path}[{i}]", errors)
            if unique and isinstance(parsed, str) and parsed in seen:
                message = f"duplicates {path}[{seen[parsed]}]"
                errors.append({"field": f"{path}[{i}]", "message": message})
            elif isinstance(parsed, str):
                seen[parsed] = i
            result.append(parsed)
        return result

    json_schema: JsonSchema = {"type": "array", "items": item.json_schema,
                               "minItems": low, "maxItems": high}
    if unique:
        json_schema["uniqueItems"] = True
    return Validator(validate, json_schema)


_party = _object((Field("name", _name), Field("country", _country)))
_item = _object((
    Field("description", _name),
    Field("category", _one_of(CATEGORIES)),
    Field("eccn", _eccn),
    Field("quantity", _integer(1, QUANTITY_MAX)),
    Field("value", _money()),
))
_eccns = _list_of(_eccn, low=1, high=ECCNS_MAX, unique=True)
_conditions = Field("conditions", _list_of(_text, low=0, high=CONDITIONS_MAX), required=False)


# --- event schemas ------------------------------------------------------------------

Rule = Callable[[dict[str, Any], dict[str, Any], Errors], None]


def _board_amount_rule(raw: dict[str, Any], parsed: dict[str, Any], errors: Errors) -> None:
    """approved_amount is required when the decision is approved, refused when rejected."""
    decision = parsed.get("decision")
    if decision == "approved" and "approved_amount" not in raw:
        errors.append({"field": "approved_amount", "message": "is required when approved"})
    if decision == "rejected" and "approved_amount" in raw:
        errors.append({"field": "approved_amount", "message": "is not allowed when rejected"})


def _interest_rate_rule(raw: dict[str, Any], parsed: dict[str, Any], errors: Errors) -> None:
    """interest_rate_pct is required for a direct_loan."""
    if parsed.get("instrument") == "direct_loan" and "interest_rate_pct" not in raw:
        errors.append({"field": "interest_rate_pct", "message": "is required for direct_loan"})


def _repayment_rule(raw: dict[str, Any], parsed: dict[str, Any], errors: Errors) -> None:
    """principal and interest are not both 0."""
    if parsed.get("principal") == "0.00" and parsed.get("interest") == "0.00":
        errors.append({"field": "principal", "message": "principal and interest are both 0"})


@dataclass(frozen=True)
class _Schema:
    fields: tuple[Field, ...]
    rule: Rule | None = None


_AMOUNT_AND_REFERENCE = _Schema((Field("amount", _money()), Field("reference", _name)))

SCHEMAS: dict[str, _Schema] = {
    "DealApplied": _Schema((
        Field("application_number", _pattern(
            _APPLICATION_NUMBER, "must be 3-32 characters of A-Z, 0-9 and -")),
        Field("exporter", _party),
        Field("buyer", _party),
        Field("instrument", _one_of(INSTRUMENTS)),
        Field("term", _one_of(TERMS)),
        Field("contract_value", _money()),
        Field("financed_amount", _money()),
        Field("tenor_years", _integer(1, 18)),
        Field("items", _list_of(_item, low=1, high=ITEMS_MAX)),
        Field("us_content_pct", _pct, required=False),
    )),
    "LicenseRequested": _Schema((Field("application_ref", _name), Field("eccns", _eccns))),
    "CommerceLicenseApproved": _Schema((
        Field("application_ref", _name),
        Field("license_number", _name),
        Field("eccns", _eccns),
        Field("valid_until", _date),
        _conditions,
    )),
    "CommerceLicenseDenied": _Schema((Field("application_ref", _name), Field("reason", _text))),
    "BoardVoted": _Schema((
        Field("meeting_date", _date),
        Field("votes_for", _integer(0, VOTES_MAX)),
        Field("votes_against", _integer(0, VOTES_MAX)),
        Field("abstentions", _integer(0, VOTES_MAX)),
        Field("decision", _one_of(DECISIONS)),
        Field("approved_amount", _money(), required=False),
        _conditions,
    ), _board_amount_rule),
    "DealFinanced": _Schema((
        Field("instrument", _one_of(INSTRUMENTS)),
        Field("amount", _money()),
        Field("exposure_fee_pct", _pct),
        Field("interest_rate_pct", _pct, required=False),
        Field("final_maturity_date", _date),
    ), _interest_rate_rule),
    "FundsDisbursed": _AMOUNT_AND_REFERENCE,
    "RepaymentReceived": _Schema((
        Field("principal", _money(allow_zero=True)),
        Field("interest", _money(allow_zero=True)),
        Field("reference", _name),
    ), _repayment_rule),
    "ClaimPaid": _AMOUNT_AND_REFERENCE,
    "DealCancelled": _Schema((
        Field("reason", _text),
        Field("amount", _money(), required=False),
    )),
}

EVENT_TYPES: tuple[str, ...] = tuple(SCHEMAS)


# --- public API ---------------------------------------------------------------------


def parse_event_data(type_name: str, raw: object) -> dict[str, Any]:
    """Validate `raw` as the payload of `type_name`; return the canonical dict."""
    schema = SCHEMAS.get(type_name) if isinstance(type_name, str) else None
    if schema is None:
        raise PayloadError([{
            "field": "type", "message": f"must be one of {', '.join(EVENT_TYPES)}",
        }])
    errors: Errors = []
    parsed = _object(schema.fields)(raw, "", errors)
    if schema.rule is not None and isinstance(raw, dict):
        schema.rule(raw, parsed, errors)
    if errors:
        raise PayloadError(errors)
    result: dict[str, Any] = parsed
    return result


def _single(check: Callable[[object], str], value: object, field: str) -> str:
    try:
        return check(value)
    except _Invalid as exc:
        raise PayloadError([{"field": field, "message": str(exc)}]) from None


def parse_money(value: object, field: str = "amount", *, allow_zero: bool = False) -> str:
    """A money string normalized to 2 places ("5" -> "5.00"), or PayloadError."""
    return _single(lambda v: _money_text(v, allow_zero), value, field)


def parse_pct(value: object, field: str = "pct") -> str:
    """A percentage string 0-100 with up to 4 decimals, returned as given, or PayloadError."""
    return _single(_pct_text, value, field)


def parse_date(value: object, field: str = "date") -> str:
    """A real calendar date written YYYY-MM-DD, returned as given, or PayloadError."""
    return _single(_date_text, value, field)
