"""Request bodies as strict pydantic models (SPEC §2 conventions), checked before any rule.

``parse`` validates a decoded body in one pass and words every error as SPEC's ``{field,
message}`` at the body's own path ("items[0].value", "data.amount"); an event's
``data.model_dump()`` is the canonical payload the domain records and hashes. The same
models generate the OpenAPI request schemas.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial, reduce
from typing import Annotated, Any, Literal, NoReturn, Self, TypeVar
from uuid import UUID

from pydantic import (
    MISSING,
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from domain.chain import RFC3339, parse_timestamp
from domain.countries import COUNTRIES
from domain.policy import PolicyVersion
from service.ledger.commands import Command, InvalidRequest

MONEY_MAX = Decimal("1000000000000")
NAME_MAX, TEXT_MAX = 200, 2000  # names and references; reasons and conditions
QUANTITY_MAX = 1_000_000_000  # SPEC is silent; bounded so sums stay in 64-bit columns
APPLICATION_NUMBER = re.compile(r"[A-Z0-9-]{3,32}", re.ASCII)
_MONEY = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,2})?", re.ASCII)
_PCT = re.compile(r"[0-9]{1,3}(\.[0-9]{1,4})?", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_ECCN = re.compile(r"[0-9A-Za-z][0-9A-Za-z.\-]{0,31}", re.ASCII)
_ECCN_PATTERN = re.compile(r"[0-9A-Za-z.*?\-]{1,32}", re.ASCII)
_COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)
_A_MONEY, _A_PCT = 'a decimal string like "1250000.00"', 'a decimal string like "2.5"'
REF = "#/components/schemas/"
T = TypeVar("T")


# --- errors --------------------------------------------------------------------------------


def refuse(message: str, at: str | int | None = None) -> NoReturn:
    """Refuse the value being validated, or its field ``at`` (pydantic prefixes the path)."""
    error = PydanticCustomError("invalid", "{message}", {"message": message})
    if at is None:
        raise error
    raise ValidationError.from_exception_data("request", [
        {"type": error, "loc": (at,), "input": None}])


def _require(ok: object, message: str, at: str | int | None = None) -> None:
    if not ok:
        refuse(message, at)


def _kind(value: object) -> str:
    kinds = ((type(None), "null"), (bool, "a boolean"), (int | float, "a JSON number"),
             (str, "a string"), (list, "a list"), (dict, "an object"))
    return next((name for t, name in kinds if isinstance(value, t)), type(value).__name__)


_MESSAGES = {  # pydantic's error types, worded with their context and the kind of input
    "missing": "is required", "extra_forbidden": "unknown field",
    "model_type": "must be an object, not {kind}", "list_type": "must be a list, not {kind}",
    "int_type": "must be a JSON integer, not {kind}",
    "int_parsing": "must be an integer", "uuid_parsing": "must be a UUID",
    "uuid_type": "must be a UUID", "literal_error": "must be one of {expected}",
    "string_unicode": "must not contain unpaired surrogates",
    "string_too_long": "must be at most {max_length} characters",
    "too_short": "must hold at least {min_length} items",
    "too_long": "must hold at most {max_length} items",
    "greater_than_equal": "must be at least {ge}", "less_than_equal": "must be at most {le}",
}


def field_error(error: ErrorDetails, loc: Iterable[str | int]) -> dict[str, str]:
    """One pydantic error as SPEC's ``{field, message}``, at ``loc`` ("" is "body")."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return {"field": path or "body", "message": _message(error)}


def _message(error: ErrorDetails) -> str:
    ctx = {**error.get("ctx", {}), "kind": _kind(error["input"])}
    if (error["type"], ctx.get("min_length")) == ("too_short", 1):
        return "must not be empty"
    if error["type"] == "literal_error":  # pydantic's "'a', 'b' or 'c'" as '"a", "b", "c"'
        ctx["expected"] = str(ctx["expected"]).replace("'", '"').replace(" or ", ", ")
    template = _MESSAGES.get(error["type"])
    return template.format(**ctx) if template else error["msg"]


def parse(adapter: TypeAdapter[T], raw: object, *, items: str | None = None) -> T:
    """``raw`` validated by ``adapter``, or ``InvalidRequest`` naming every bad field.

    With ``items`` (a list field of the body), errors inside that list are those of its
    first failing element only, with its ``index``, as SPEC's batches answer.
    """
    try:
        return adapter.validate_python(raw)
    except ValidationError as e:
        located = [(error, _index(error["loc"], items)) for error in e.errors()]
    outer = [field_error(error, error["loc"]) for error, i in located if i is None]
    if outer:
        raise InvalidRequest(outer)
    index = min(i for _, i in located if i is not None)
    raise InvalidRequest([field_error(error, error["loc"]) for error, i in located
                          if i == index], index=index)


def _index(loc: tuple[str | int, ...], items: str | None) -> int | None:
    index = loc[1] if len(loc) > 1 and loc[0] == items else None
    return index if isinstance(index, int) else None


# --- scalars -------------------------------------------------------------------------------


def _string(noun: str, check: Callable[[str], str], **doc: Any) -> tuple[Any, ...]:
    """Metadata of a JSON string: anything else is refused as not ``noun``; then ``check``
    words what is wrong with it, or returns it (normalised); ``doc`` is its JSON Schema."""

    def is_string(value: object) -> object:
        if not isinstance(value, str):  # the message only when refused: this runs per field
            refuse(f"must be {noun}, not {_kind(value)}")
        return value

    return BeforeValidator(is_string), AfterValidator(check), WithJsonSchema({
        "type": "string", **doc})


def anchored(regex: re.Pattern[str]) -> str:
    """The ECMA-262 ``pattern`` a JSON Schema needs for ``regex.fullmatch``."""
    return f"^(?:{regex.pattern})$"


def _money(allow_zero: bool, text: str) -> str:
    if not _MONEY.fullmatch(text):  # the hint only when refused: this runs per amount
        refuse(f"must be {_A_MONEY}{_money_hint(text)}")
    _require(Decimal(text) <= MONEY_MAX, f"must be at most {MONEY_MAX}")
    _require(allow_zero or Decimal(text) > 0, "must be greater than 0")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents:0<2}"


def _money_hint(text: str) -> str:
    hints = ((not text, "empty"), (text[:1] in ("+", "-"), "no sign"),
             (any(c in "eE" for c in text), "no exponent"),
             (any(c.isspace() for c in text), "no spaces"),
             (not text.isascii(), "ASCII digits only"),
             (len(text.partition(".")[2]) > 2, "at most 2 decimal places"),
             (text[:1] == "0" and text[1:2] not in ("", "."), "no leading zeros"))
    return next((f" ({hint})" for wrong, hint in hints if wrong), "")


def _pct(text: str) -> str:
    _require(_PCT.fullmatch(text), f"must be {_A_PCT} (up to 4 decimal places)")
    _require(Decimal(text) <= 100, "must be between 0 and 100")
    return text


def _text(text: str) -> str:
    _require(text.strip(), "must not be empty or blank")
    _require("\x00" not in text, "must not contain U+0000")
    return text


def _matching(regex: re.Pattern[str], message: str, text: str) -> str:
    _require(regex.fullmatch(text), message)
    return text


def _date(text: str) -> str:
    _require(_DATE.fullmatch(text), 'must be a date in the form YYYY-MM-DD, like "2026-01-31"')
    try:
        date.fromisoformat(text)
    except ValueError:
        refuse("must be a real calendar date")
    return text


def _country(value: object) -> object:
    _require(isinstance(value, str) and _COUNTRY.fullmatch(value),
             'must be an upper-case ISO 3166-1 alpha-2 code like "US"')
    _require(value in COUNTRIES, "is not an assigned ISO 3166-1 alpha-2 country code")
    return value


def _policy_country(value: object) -> object:
    _require(isinstance(value, str) and re.fullmatch("[A-Za-z]{2}", value, re.ASCII),
             'must be an ISO 3166-1 alpha-2 code like "US"')
    assert isinstance(value, str)
    _require(value.upper() in COUNTRIES, "is not an assigned ISO 3166-1 alpha-2 country code")
    return value.upper()


def _moment(value: object) -> datetime:
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        refuse("must be an RFC 3339 timestamp with a zone offset")
    try:
        return parse_timestamp(value).astimezone(UTC)
    except (ValueError, OverflowError):  # no such day or hour; or beyond years 1-9999 in UTC
        refuse("not a valid date and time")


def _unique(eccns: list[str]) -> list[str]:
    for i, eccn in enumerate(eccns):
        _require(eccn not in eccns[:i], f"duplicates eccns[{eccns.index(eccn)}]", at=i)
    return eccns


# The schema's patterns hold the bounds too, so that what it accepts the checks accept.
_CENTS = r"(?:\.[0-9]{1,2})?"
_UP_TO_MAX = rf"[1-9][0-9]{{0,11}}{_CENTS}|1000000000000(?:\.0{{1,2}})?"
_POSITIVE = re.compile(rf"0\.(?:0[1-9]|[1-9][0-9]?)|{_UP_TO_MAX}", re.ASCII)
_NON_NEGATIVE = re.compile(rf"0{_CENTS}|{_UP_TO_MAX}", re.ASCII)
_PCT_DOC = re.compile(r"(?:[0-9]{1,2}|0[0-9]{2})(?:\.[0-9]{1,4})?|100(?:\.0{1,4})?", re.ASCII)
# Python's str.isspace() set, which _text's strip() removes (ECMA's \s differs a little).
_SPACE = ("\\t\\n\\x0b\\x0c\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f"
          "\\u205f\\u3000")
_MONEY_DOC = {"examples": ["1250000.00"]}
_TEXT_DOC = {"minLength": 1, "pattern": f"^[^\\x00]*[^{_SPACE}\\x00][^\\x00]*$",
             "description": "not blank; no U+0000"}
Money = Annotated[str, *_string(_A_MONEY, partial(_money, False), **_MONEY_DOC,
                                pattern=anchored(_POSITIVE),
                                description=f"USD, greater than 0, at most {MONEY_MAX}")]
MoneyOrZero = Annotated[str, *_string(_A_MONEY, partial(_money, True), **_MONEY_DOC,
                                      pattern=anchored(_NON_NEGATIVE),
                                      description=f"USD, 0 to {MONEY_MAX}")]
Pct = Annotated[str, *_string(_A_PCT, _pct, pattern=anchored(_PCT_DOC), examples=["2.5"],
                              description="a percentage, 0 to 100")]
# max_length first: pydantic's own check of it also refuses lone surrogates
Name = Annotated[str, Field(max_length=NAME_MAX), *_string(
    "a string", _text, maxLength=NAME_MAX, **_TEXT_DOC)]
Reason = Annotated[str, Field(max_length=TEXT_MAX), *_string(
    "a string", _text, maxLength=TEXT_MAX, **_TEXT_DOC)]
Eccn = Annotated[str, *_string("a string", lambda text: _matching(
    _ECCN, 'must be an ECCN like "3A090.a" or "EAR99" (1-32 characters)', text).upper(),
    pattern=anchored(_ECCN), description="compared without regard to case, stored upper case")]
ApplicationNumber = Annotated[str, *_string("a string", partial(
    _matching, APPLICATION_NUMBER, "must be 3-32 characters of A-Z, 0-9 and -"),
    pattern=anchored(APPLICATION_NUMBER))]
Date = Annotated[str, *_string('a date string like "2026-01-31"', _date, format="date")]
Country = Annotated[str, BeforeValidator(_country), WithJsonSchema({
    "type": "string", "enum": sorted(COUNTRIES), "description": "ISO 3166-1 alpha-2"})]
_ANY_CASE = "|".join("".join(f"[{c}{c.lower()}]" for c in code) for code in sorted(COUNTRIES))
PolicyCountries = Annotated[list[Annotated[str, BeforeValidator(_policy_country), WithJsonSchema({
    "type": "string", "pattern": f"^(?:{_ANY_CASE})$", "description": "an assigned ISO 3166-1 "
    "alpha-2 code in either case, stored upper case"})]], Field(max_length=len(COUNTRIES))]
EccnPattern = Annotated[str, *_string("a string", partial(
    _matching, _ECCN_PATTERN, 'must be an ECCN or a glob like "3A090*" (1-32 characters)'),
    pattern=anchored(_ECCN_PATTERN))]
Timestamp = Annotated[datetime, BeforeValidator(_moment)]
Votes = Annotated[int, Field(ge=0, le=1000)]
Eccns = Annotated[list[Eccn], Field(min_length=1, max_length=200, json_schema_extra={
    "uniqueItems": True}), AfterValidator(_unique)]
Conditions = Annotated[list[Reason], Field(max_length=100)]
Instrument = Literal["insurance", "loan_guarantee", "direct_loan"]


# --- event payloads (SPEC §2 table) --------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _printable_keys(cls, value: Any) -> Any:
        """Unknown keys are named in errors: odd ones (control characters, lone surrogates,
        overlong) are spelled as JSON first, as pydantic cannot report a lone surrogate."""
        if isinstance(value, dict) and not all(k.isprintable() and len(k) <= 100 for k in value):
            return {k if k.isprintable() and len(k) <= 100 else json.dumps(k[:100]): v
                    for k, v in value.items()}
        return value


class Party(Strict):
    name: Name
    country: Country


class Item(Strict):
    description: Name
    category: Literal["accelerator", "server", "networking", "storage", "software", "model",
                      "cloud_service", "data_center", "services"]
    eccn: Eccn
    quantity: Annotated[int, Field(ge=1, le=QUANTITY_MAX)]
    value: Money


class DealAppliedData(Strict):
    application_number: ApplicationNumber
    exporter: Party
    buyer: Party
    instrument: Instrument
    term: Literal["medium", "long"]
    contract_value: Money
    financed_amount: Money
    tenor_years: Annotated[int, Field(ge=1, le=18)]
    items: Annotated[list[Item], Field(min_length=1, max_length=200)]
    us_content_pct: Pct | MISSING = MISSING


class LicenseRequestedData(Strict):
    application_ref: Name
    eccns: Eccns


class CommerceLicenseApprovedData(Strict):
    application_ref: Name
    license_number: Name
    eccns: Eccns
    valid_until: Date
    conditions: Conditions | MISSING = MISSING


class CommerceLicenseDeniedData(Strict):
    application_ref: Name
    reason: Reason


class BoardVotedData(Strict):
    """approved_amount is required when the decision is approved, refused when rejected."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"decision": {"const": "approved"}}, "required": ["approved_amount"]},
        {"properties": {"decision": {"const": "rejected"}},
         "not": {"required": ["approved_amount"]}}]})

    meeting_date: Date
    votes_for: Votes
    votes_against: Votes
    abstentions: Votes
    decision: Literal["approved", "rejected"]
    approved_amount: Money | MISSING = MISSING
    conditions: Conditions | MISSING = MISSING

    @model_validator(mode="after")
    def _amount_iff_approved(self) -> Self:
        given = self.approved_amount is not MISSING
        _require(given or self.decision != "approved", "is required when approved",
                 at="approved_amount")
        _require(not given or self.decision != "rejected", "is not allowed when rejected",
                 at="approved_amount")
        return self


class DealFinancedData(Strict):
    """interest_rate_pct is required for a direct_loan."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"instrument": {"enum": ["insurance", "loan_guarantee"]}}},
        {"required": ["interest_rate_pct"]}]})

    instrument: Instrument
    amount: Money
    exposure_fee_pct: Pct
    interest_rate_pct: Pct | MISSING = MISSING
    final_maturity_date: Date

    @model_validator(mode="after")
    def _rate_for_direct_loans(self) -> Self:
        _require(self.instrument != "direct_loan" or self.interest_rate_pct is not MISSING,
                 "is required for direct_loan", at="interest_rate_pct")
        return self


class FundsDisbursedData(Strict):
    amount: Money
    reference: Name


class RepaymentReceivedData(Strict):
    """principal and interest are not both 0."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"principal": {"pattern": anchored(_POSITIVE)}}},
        {"properties": {"interest": {"pattern": anchored(_POSITIVE)}}}]})

    principal: MoneyOrZero
    interest: MoneyOrZero
    reference: Name

    @model_validator(mode="after")
    def _not_nothing(self) -> Self:
        _require(self.principal != "0.00" or self.interest != "0.00",
                 "principal and interest are both 0", at="principal")
        return self


class ClaimPaidData(FundsDisbursedData):
    pass


class DealCancelledData(Strict):
    reason: Reason
    amount: Money | MISSING = MISSING


class CommerceLicenseRevokedData(Strict):
    """effective_date defaults to the date the revocation occurred."""

    license_number: Name
    reason: Reason
    effective_date: Date | MISSING = MISSING


class RecoveryReceivedData(FundsDisbursedData):
    pass


class DealAmendedData(Strict):
    """Any non-empty subset of the amendable terms, and why."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 2})

    contract_value: Money | MISSING = MISSING
    financed_amount: Money | MISSING = MISSING
    tenor_years: Annotated[int, Field(ge=1, le=18)] | MISSING = MISSING
    items: Annotated[list[Item], Field(min_length=1, max_length=200)] | MISSING = MISSING
    us_content_pct: Pct | MISSING = MISSING
    reason: Reason

    @model_validator(mode="after")
    def _amends_something(self) -> Self:
        _require(self.model_fields_set - {"reason"},
                 "name at least one term to amend: contract_value, financed_amount, "
                 "tenor_years, items or us_content_pct")
        return self


class EventReversedData(Strict):
    version: Annotated[int, Field(ge=1, le=2**62, description="the money event to reverse")]
    reason: Reason


EVENT_DATA: dict[str, type[Strict]] = {m.__name__.removesuffix("Data"): m for m in (
    DealAppliedData, DealAmendedData, LicenseRequestedData, CommerceLicenseApprovedData,
    CommerceLicenseDeniedData, CommerceLicenseRevokedData, BoardVotedData, DealFinancedData,
    FundsDisbursedData, RepaymentReceivedData, ClaimPaidData, RecoveryReceivedData,
    EventReversedData, DealCancelledData)}


class PolicyVersionBody(Strict):
    """A policy version (SPEC §2 Policy), compared and hashed in its normal form."""

    id: Name
    effective_from: Date
    embargoed: PolicyCountries
    restricted_for_controlled: PolicyCountries
    controlled_eccn_patterns: Annotated[list[EccnPattern], Field(max_length=200)]
    designated_countries: PolicyCountries | None | MISSING = Field(
        MISSING, description="the beneficiary destinations; null or absent: every "
                             "destination not otherwise barred")
    max_backdating_days: Annotated[int, Field(ge=0, le=3650)] | MISSING = Field(
        MISSING, description="how far back events may be dated (default 30)")

    def version(self) -> PolicyVersion:
        return PolicyVersion.from_data(self.model_dump())


# --- request bodies ------------------------------------------------------------------------

_OCCURRED_AT = Field(None, description="RFC 3339 with a zone offset, at most 5 minutes ahead "
                     "of the server's clock; default: when recorded")


class DealApplication(DealAppliedData):
    """POST /v1/deals: the DealApplied data, and when it occurred."""

    occurred_at: Timestamp | None = _OCCURRED_AT

    def command(self) -> Command:
        data = self.model_dump(exclude={"occurred_at"})
        return Command("DealApplied", data, occurred_at=self.occurred_at)


class EventBody(Strict):
    type: str
    data: Strict
    occurred_at: Timestamp | None = _OCCURRED_AT
    expected_version: Annotated[int, Field(ge=0, le=2**62)] | None = Field(
        None, description="409 version_conflict unless the deal is at this version")

    def command(self, prefix: str = "", **target: Any) -> Command:
        return Command(self.type, self.data.model_dump(), occurred_at=self.occurred_at,
                       expected_version=self.expected_version, prefix=prefix, **target)


class BatchItem(EventBody):
    deal_id: Annotated[UUID, Field(strict=False)] | None = None
    application_number: ApplicationNumber | None = None

    def command(self, prefix: str = "", **target: Any) -> Command:
        return super().command(prefix, deal_id=self.deal_id,
                               application_number=self.application_number, **target)


class DealBatchItem(BatchItem):
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": [name], "properties": {name: {"type": "string"}}}
        for name in ("deal_id", "application_number")]})

    @model_validator(mode="after")
    def _names_its_deal(self) -> Self:
        _require(self.deal_id is not None or self.application_number is not None,
                 "deal_id or application_number is required", at="deal_id")
        return self


def _variant(base: type[EventBody], type_name: str, suffix: str) -> type[EventBody]:
    tag: Any = Literal[type_name]
    return create_model(f"{type_name}{suffix}", __base__=base,
                        type=(tag, ...), data=(EVENT_DATA[type_name], ...))


def _by_type(variants: Mapping[str, type[EventBody]]) -> PlainValidator:
    """Validate a body as the variant its ``type`` names; documented as their ``oneOf``."""
    listed = ", ".join(variants)

    def validate(value: object) -> EventBody:
        if not isinstance(value, dict):
            refuse(f"must be an object, not {_kind(value)}")
        _require("type" in value, "is required", at="type")
        variant = variants.get(value["type"]) if isinstance(value["type"], str) else None
        if variant is None:
            elsewhere = " (DealApplied is posted to /v1/deals)" * (value["type"] == "DealApplied")
            refuse(f"must be one of {listed}{elsewhere}", at="type")
        return variant.model_validate(value)

    union: Any = Annotated[reduce(operator.or_, variants.values()), Field(discriminator="type")]
    return PlainValidator(validate, json_schema_input_type=union)


_DEAL_EVENTS = [t for t in EVENT_DATA if t != "DealApplied"]
EventRequest = Annotated[EventBody, _by_type({
    t: _variant(EventBody, t, "Event") for t in _DEAL_EVENTS})]
BatchEvent = Annotated[BatchItem, _by_type({
    "DealApplied": _variant(BatchItem, "DealApplied", "BatchItem"),
    **{t: _variant(DealBatchItem, t, "BatchItem") for t in _DEAL_EVENTS}})]


class Batch(Strict):
    events: Annotated[list[BatchEvent], Field(min_length=1, max_length=1000)]


DEAL_APPLICATION, EVENT_REQUEST = TypeAdapter(DealApplication), TypeAdapter(EventRequest)
BATCH = TypeAdapter(Batch)
POLICY = TypeAdapter(PolicyVersionBody)
POLICY_FILE = TypeAdapter(list[PolicyVersionBody])


# --- OpenAPI -------------------------------------------------------------------------------


def json_schema(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    return adapter.json_schema(ref_template=REF + "{model}")


def request_body(adapter: TypeAdapter[Any], name: str, **media: Any) -> dict[str, Any]:
    """``openapi_extra`` of a route that reads its JSON body itself (see ``read_json``):
    a reference to the component ``name``, defined among the ``$defs`` to hoist."""
    schema = json_schema(adapter)
    defs = {**schema.pop("$defs", {}), name: schema}
    content = {"application/json": {"schema": {"$ref": REF + name, "$defs": defs}, **media}}
    return {"requestBody": {"required": True, "content": content}}


def hoist_definitions(document: dict[str, Any], components: dict[str, Any]) -> None:
    """Add ``components``; move the ``$defs`` of theirs and of each request body into
    components/schemas, where their ``$ref``s point."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components)
    bodies = [media["schema"] for operations in document["paths"].values()
              for operation in operations.values()
              for media in operation.get("requestBody", {}).get("content", {}).values()]
    for schema in [*bodies, *components.values()]:
        schemas.update(schema.pop("$defs", {}))
