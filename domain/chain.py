"""Pure hashing of the event chain (SPEC §3): canonical JSON, event hash, timestamps."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

HASHED_KEYS = (
    "deal_id",
    "version",
    "type",
    "data",
    "occurred_at",
    "recorded_at",
    "actor",
    "source",
    "prev_hash",
)

# The one RFC 3339 grammar (a date-time with a zone offset): stored timestamps and the API's.
RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


# The very encoder ``json.dumps`` builds for these arguments, built once: same bytes.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# Its C core, built once too and without the cycle check, for ``content_hash``: the values
# it hashes come from ``json.loads`` or an event's fields, which never hold a cycle.
_C_ENCODER = json.encoder.c_make_encoder  # type: ignore[attr-defined]  # not in typeshed
_PLAIN = None if _C_ENCODER is None else _C_ENCODER(
    None, _CANONICAL.default, json.encoder.encode_basestring, None, ":", ",", True, False, True)


def canonical_json(obj: Any) -> bytes:
    """Keys sorted, no whitespace, non-ASCII kept as is, UTF-8."""
    return _CANONICAL.encode(obj).encode("utf-8")


def event_hash(envelope: Mapping[str, Any]) -> str:
    """Lowercase hex SHA-256 of the canonical JSON of the envelope's hashed keys."""
    return content_hash({k: envelope[k] for k in HASHED_KEYS})


def content_hash(hashed: Mapping[str, Any]) -> str:
    """``event_hash`` of a mapping that holds exactly the ``HASHED_KEYS`` (and no cycle)."""
    text = _CANONICAL.encode(hashed) if _PLAIN is None else "".join(_PLAIN(hashed, 0))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def format_timestamp(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC; naive datetimes are refused."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"timestamp {dt.isoformat()} has no time zone")
    utc = dt.astimezone(UTC)  # strftime's %Y does not pad years before 1000 to 4 digits
    return f"{utc.year:04d}" + utc.strftime("-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp with ``Z`` or a numeric offset into an aware datetime.

    Fractions beyond microseconds are truncated; anything else raises ``ValueError``.
    """
    match = RFC3339.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not an RFC 3339 timestamp with a zone offset")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if zulu:
        tz: timezone = UTC
    else:
        hours, minutes = int(off_h), int(off_m)
        if hours > 23 or minutes > 59:
            raise ValueError(f"{value!r} has an invalid zone offset")
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if sign == "-" else offset)
    return datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz
    )
