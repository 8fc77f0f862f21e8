"""Verification decodes each stored state as ``json.loads`` of its bytes would."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.integrity.verification import _loads

OBJECTS = st.dictionaries(st.text(max_size=6), st.text() | st.integers() | st.none(),
                          min_size=1, max_size=4)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"])


def outcome(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError as e:
        return type(e)


def assert_decodes_as_json_loads(raw: bytes) -> None:
    expected = outcome(raw)
    if isinstance(expected, type):
        with pytest.raises(expected):
            _loads(raw)
    else:
        assert _loads(raw) == expected


@settings(max_examples=300)
@given(OBJECTS, ENCODINGS, st.booleans())
def test_stored_bytes_decode_as_json_loads_decodes_them(
    obj: dict[str, object], encoding: str, ascii_only: bool,
) -> None:
    text = json.dumps(obj, ensure_ascii=ascii_only)
    try:
        raw = text.encode(encoding, "surrogatepass")
    except UnicodeEncodeError:
        return
    assert_decodes_as_json_loads(raw)


@pytest.mark.parametrize("raw", [
    b'{"a":"\xed\xa0\x80"}',  # an encoded surrogate: json.loads lets it pass
    b'{"a":"\xff"}',  # not UTF-8 at all
    b'{"a":1',  # cut short
    b'{"',
    b"[1]",
    b'{"a":1} ',  # whitespace after the object
    b'{"a":1}x',  # data after the object
])
def test_bytes_that_are_not_plain_utf8_objects_decode_as_json_loads_decodes_them(
    raw: bytes,
) -> None:
    assert_decodes_as_json_loads(raw)
