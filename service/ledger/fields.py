"""The scalar types of request bodies (SPEC §2 conventions), and ``parse``, which
validates a decoded body in one pass and words every error as SPEC's ``{field, message}``
at the body's own path ("items[0].value", "data.amount")."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import Annotated, Any, Literal, NoReturn, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from domain.chain import RFC3339, parse_timestamp
from domain.countries import COUNTRIES
from service.ledger.commands import InvalidRequest

MONEY_MAX = Decimal("1000000000000")
NAME_MAX, TEXT_MAX = 200, 2000  # names and references; reasons and conditions
QUANTITY_MAX = 1_000_000_000  # SPEC is silent; bounded so sums stay in 64-bit columns
APPLICATION_NUMBER = re.compile(r"[A-Z0-9-]{3,32}", re.ASCII)
_MONEY = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,2})?", re.ASCII)
_PCT = re.compile(r"[0-9]{1,3}(\.[0-9]{1,4})?", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_ECCN = re.compile(r"[Ee][Aa][Rr]99|[0-9][A-Ea-e][0-9]{3}(?:\.[A-Za-z0-9]+)*", re.ASCII)
LICENSE_NUMBER = re.compile(r"[A-Za-z0-9-]{1,40}", re.ASCII)
_ECCN_PATTERN = re.compile(r"[0-9A-Za-z.*?\-]{1,32}", re.ASCII)
_COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)
_A_MONEY, _A_PCT = 'a decimal string like "1250000.00"', 'a decimal string like "2.5"'
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
Eccn = Annotated[str, Field(max_length=64), *_string("a string", lambda text: _matching(
    _ECCN, 'must be an ECCN like "3A090.a" (a digit, a letter A-E, three digits, then '
    '".part"s) or "EAR99"', text).upper(),
    pattern=anchored(_ECCN), maxLength=64,
    description="compared without regard to case, stored upper case")]
LicenseNumber = Annotated[str, *_string("a string", lambda text: _matching(
    LICENSE_NUMBER, "must be 1-40 characters of A-Z, a-z, 0-9 and -", text).upper(),
    pattern=anchored(LICENSE_NUMBER), description="compared without regard to case, stored "
    "upper case")]
# a revocation may name a license approved before v3, whose number was any name
LicenseNumberRef = Annotated[str, Field(max_length=NAME_MAX), *_string(
    "a string", lambda text: _text(text).upper(), maxLength=NAME_MAX, **_TEXT_DOC)]
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
Eccns = Annotated[list[Eccn], Field(
    min_length=1, max_length=200, description="unique without regard to case",
    json_schema_extra={"uniqueItems": True}), AfterValidator(_unique)]
Conditions = Annotated[list[Reason], Field(max_length=100)]
Instrument = Literal["insurance", "loan_guarantee", "direct_loan"]
Term = Literal["medium", "long"]
Category = Literal["accelerator", "server", "networking", "storage", "software", "model",
                   "cloud_service", "data_center", "services"]
