import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.chain import (
    HASHED_KEYS,
    canonical_json,
    content_hash,
    event_hash,
    format_timestamp,
    parse_timestamp,
)

ENVELOPE = {
    "event_id": "not hashed",
    "deal_id": "00000000-0000-0000-0000-000000000001",
    "version": 1,
    "position": 7,
    "type": "DealCancelled",
    "data": {"reason": "Käufer zog zurück"},
    "occurred_at": "2025-06-01T00:00:00.000000Z",
    "recorded_at": "2025-06-01T00:00:01.000000Z",
    "actor": "origination",
    "source": None,
    "correlation_id": "not hashed either",
    "prev_hash": None,
    "hash": "ignored",
}
# Written out by hand, and its digest taken with `sha256sum`.
CANONICAL = (
    '{"actor":"origination","data":{"reason":"Käufer zog zurück"},'
    '"deal_id":"00000000-0000-0000-0000-000000000001",'
    '"occurred_at":"2025-06-01T00:00:00.000000Z","prev_hash":null,'
    '"recorded_at":"2025-06-01T00:00:01.000000Z","source":null,'
    '"type":"DealCancelled","version":1}'
)
DIGEST = "f696652f2cd70ca091624deecacb6308bab0288a9532a44660b65b641f6a38b8"


def test_canonical_json_sorts_keys_drops_whitespace_and_keeps_non_ascii() -> None:
    assert canonical_json({"b": [1, {"d": None, "c": "é"}], "a": True}) == (
        '{"a":true,"b":[1,{"c":"é","d":null}]}'.encode()
    )


def test_the_hash_covers_exactly_the_hashed_keys() -> None:
    hashed = {k: ENVELOPE[k] for k in HASHED_KEYS}
    assert canonical_json(hashed) == CANONICAL.encode("utf-8")
    assert event_hash(ENVELOPE) == DIGEST


def test_the_hash_changes_when_any_hashed_value_changes() -> None:
    for key in HASHED_KEYS:
        assert event_hash({**ENVELOPE, key: "tampered"}) != DIGEST
    assert event_hash({**ENVELOPE, "correlation_id": "other", "position": 8}) == DIGEST


def test_timestamps_are_formatted_in_utc_with_six_fraction_digits() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2026, 11, 26, 16, 3, 7, tzinfo=plus_two)) == (
        "2026-11-26T14:03:07.000000Z"
    )
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)) == (
        "2026-01-02T03:04:05.123456Z"
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        format_timestamp(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T14:03:07Z", datetime(2026, 11, 26, 14, 3, 7, tzinfo=UTC)),
        ("2026-11-26T14:03:07.123456Z", datetime(2026, 11, 26, 14, 3, 7, 123456, tzinfo=UTC)),
        ("2026-11-26t14:03:07.5z", datetime(2026, 11, 26, 14, 3, 7, 500000, tzinfo=UTC)),
        ("2026-11-26T16:03:07.123456789+02:00", datetime(2026, 11, 26, 14, 3, 7, 123456, UTC)),
        ("2026-11-26T09:33:07-04:30", datetime(2026, 11, 26, 14, 3, 7, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps_parse_to_aware_datetimes(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed.tzinfo is not None
    assert parsed == expected


@pytest.mark.parametrize(
    "text",
    ["2026-11-26T14:03:07", "2026-11-26 14:03:07Z", "2026-13-01T00:00:00Z", "yesterday", ""],
)
def test_timestamps_without_a_zone_or_malformed_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_formatting_a_parsed_timestamp_round_trips() -> None:
    text = "2026-11-26T14:03:07.000001Z"
    assert format_timestamp(parse_timestamp(text)) == text


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**64, max_value=2**200)
    | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(JSON_VALUES)
def test_canonical_json_is_the_bytes_of_json_dumps_with_the_spec_arguments(value: object) -> None:
    try:
        expected = json.dumps(value, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: refused alike
        with pytest.raises(UnicodeEncodeError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


def test_content_hash_is_the_event_hash_of_the_hashed_keys_alone() -> None:
    assert content_hash({k: ENVELOPE[k] for k in HASHED_KEYS}) == DIGEST


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(HASHED_KEYS), JSON_VALUES))
def test_content_hash_is_the_sha256_of_json_dumps_with_the_spec_arguments(
    value: dict[str, object],
) -> None:
    try:
        expected = json.dumps(value, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            content_hash(value)
        return
    assert content_hash(value) == hashlib.sha256(expected).hexdigest()
