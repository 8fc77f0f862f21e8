import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from domain.policy import DEFAULT_POLICY, PolicyBook, PolicyVersion, load_policy_book

LATER = {
    "id": "2026-01-01",
    "effective_from": "2026-01-01",
    "embargoed": ["CU", "IR", "KP", "SY", "RU", "BY", "VE"],
    "restricted_for_controlled": ["CN", "MO", "AE"],
    "controlled_eccn_patterns": ["3A090*", "4A090*", "5A992*"],
}


def write(tmp_path: Path, content: object) -> str:
    path = tmp_path / "policy.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_the_default_policy_is_the_spec_version() -> None:
    assert DEFAULT_POLICY.id == "2025-05-13"
    assert DEFAULT_POLICY.effective_from == date(2025, 5, 13)
    assert DEFAULT_POLICY.embargoed == {"CU", "IR", "KP", "SY", "RU", "BY"}
    assert {"CN", "MO", "ZW"} <= DEFAULT_POLICY.restricted_for_controlled
    assert len(DEFAULT_POLICY.restricted_for_controlled) == 24


@pytest.mark.parametrize(
    ("eccn", "controlled"),
    [
        ("3A090", True),
        ("3A090.a", True),
        ("4a090.b", True),
        ("5A992.z", True),
        ("0D521.Z", True),
        ("5A992.c", False),
        ("EAR99", False),
        ("3A09", False),
        ("5A002.za", False),
        ("13A090", False),
    ],
)
def test_controlled_eccns_match_the_patterns_case_insensitively(
    eccn: str, controlled: bool
) -> None:
    assert DEFAULT_POLICY.is_controlled(eccn) is controlled


def test_without_a_file_the_book_holds_only_the_default() -> None:
    assert load_policy_book(None).versions == (DEFAULT_POLICY,)


def test_the_version_in_force_is_the_latest_effective_on_the_utc_date(tmp_path: Path) -> None:
    book = load_policy_book(write(tmp_path, [LATER]))
    assert book.at(datetime(2025, 12, 31, 23, 59, tzinfo=UTC)).id == "2025-05-13"
    assert book.at(datetime(2026, 1, 1, 0, 0, tzinfo=UTC)).id == "2026-01-01"
    east = timezone(timedelta(hours=3))
    assert book.at(datetime(2026, 1, 1, 2, 0, tzinfo=east)).id == "2025-05-13"
    assert book.at(datetime(2030, 6, 1, tzinfo=UTC)).id == "2026-01-01"


def test_before_the_earliest_version_the_earliest_applies(tmp_path: Path) -> None:
    book = load_policy_book(write(tmp_path, [LATER]))
    assert book.at(datetime(1999, 1, 1, tzinfo=UTC)) == DEFAULT_POLICY


def test_loaded_versions_keep_their_data_and_can_be_found_by_id(tmp_path: Path) -> None:
    book = load_policy_book(write(tmp_path, [LATER]))
    later = book.by_id("2026-01-01")
    assert later == PolicyVersion(
        id="2026-01-01",
        effective_from=date(2026, 1, 1),
        embargoed=frozenset(LATER["embargoed"]),
        restricted_for_controlled=frozenset({"CN", "MO", "AE"}),
        controlled_eccn_patterns=("3A090*", "4A090*", "5A992*"),
    )
    assert later.is_controlled("5A992.c")
    assert book.by_id("nope") is None


def test_versions_are_ordered_by_effective_date_whatever_the_file_order(tmp_path: Path) -> None:
    earlier = {**LATER, "id": "2024", "effective_from": "2024-01-01"}
    book = load_policy_book(write(tmp_path, [LATER, earlier]))
    assert [v.id for v in book.versions] == ["2024", "2025-05-13", "2026-01-01"]


def test_repeating_the_default_verbatim_is_accepted(tmp_path: Path) -> None:
    default = {
        "id": "2025-05-13",
        "effective_from": "2025-05-13",
        "embargoed": sorted(DEFAULT_POLICY.embargoed),
        "restricted_for_controlled": sorted(DEFAULT_POLICY.restricted_for_controlled),
        "controlled_eccn_patterns": list(DEFAULT_POLICY.controlled_eccn_patterns),
    }
    assert load_policy_book(write(tmp_path, [default, LATER])).versions[0] == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ({"id": "x"}, "expected a JSON list"),
        (["x"], "expected an object"),
        ([{k: v for k, v in LATER.items() if k != "embargoed"}], "missing key(s) embargoed"),
        ([{**LATER, "extra": 1}], "unknown key(s) extra"),
        ([{**LATER, "id": ""}], "id must be a non-empty string"),
        ([{**LATER, "effective_from": "2026-02-30"}], "effective_from '2026-02-30'"),
        ([{**LATER, "effective_from": "20260101"}], "is not a YYYY-MM-DD date"),
        ([LATER, {**LATER, "effective_from": "2027-01-01"}], "duplicate id '2026-01-01'"),
        ([{**LATER, "id": "2025-05-13"}], "duplicate id '2025-05-13'"),
        ([LATER, {**LATER, "id": "other"}], "effective_from 2026-01-01 already used"),
        ([{**LATER, "embargoed": ["CU", "XX", "uk"]}], "unknown country code(s) XX, uk"),
        ([{**LATER, "restricted_for_controlled": "CN"}], "expected a list of country codes"),
        ([{**LATER, "controlled_eccn_patterns": [""]}], "list of non-empty strings"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_problem(
    tmp_path: Path, content: object, problem: str
) -> None:
    with pytest.raises(ValueError) as error:
        load_policy_book(write(tmp_path, content))
    assert problem in str(error.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be read"):
        load_policy_book(str(tmp_path / "absent.json"))


def test_an_empty_book_is_refused() -> None:
    with pytest.raises(ValueError):
        PolicyBook([])
