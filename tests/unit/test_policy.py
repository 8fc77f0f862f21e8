"""Policy versions: the shipped ones, the normal form, and which version is in force."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from domain.policy import SHIPPED, SHIPPED_BOOK, PolicyBook, PolicyVersion

FIRST, SECOND = SHIPPED
D5 = {"AF", "BY", "CD", "CF", "CN", "CU", "ER", "HT", "IQ", "IR", "KH", "KP", "LB", "LY", "MM",
      "MO", "NI", "RU", "SD", "SO", "SS", "SY", "VE", "ZW"}
LATER = PolicyVersion.from_data({
    "id": "2027-01-01", "effective_from": "2027-01-01",
    "embargoed": ["CU", "IR", "KP", "SY", "RU", "BY", "VE"],
    "restricted_for_controlled": ["CN", "MO", "AE"],
    "controlled_eccn_patterns": ["3A090*", "4A090*", "5A992*"],
    "designated_countries": ["DE", "JP"],
})


def test_the_first_shipped_version_is_the_programs_original_policy() -> None:
    assert (FIRST.id, FIRST.effective_from) == ("2025-05-13", date(2025, 5, 13))
    assert FIRST.embargoed == {"CU", "IR", "KP", "SY", "RU", "BY"}
    assert FIRST.restricted_for_controlled == D5
    assert FIRST.controlled_eccn_patterns == ("3A090*", "4A090*", "*.Z")
    assert (FIRST.designated_countries, FIRST.max_backdating_days) == (None, 30)


def test_the_second_shipped_version_adds_hong_kong_to_the_restricted_destinations() -> None:
    assert (SECOND.id, SECOND.effective_from) == ("2026-11-30", date(2026, 11, 30))
    assert SECOND.restricted_for_controlled == D5 | {"HK"}
    assert SECOND.normal_form() == {**FIRST.normal_form(), "id": "2026-11-30",
                                    "effective_from": "2026-11-30",
                                    "restricted_for_controlled": sorted(D5 | {"HK"})}


@pytest.mark.parametrize(
    ("eccn", "controlled"),
    [("3A090", True), ("3A090.a", True), ("4a090.b", True), ("5A992.z", True),
     ("0D521.Z", True), ("5A992.c", False), ("EAR99", False), ("3A09", False),
     ("5A002.za", False), ("13A090", False)],
)
def test_controlled_eccns_match_the_patterns_case_insensitively(
    eccn: str, controlled: bool
) -> None:
    assert FIRST.is_controlled(eccn) is controlled


def test_controlled_eccns_are_named_upper_case_once_each() -> None:
    assert FIRST.controlled(["3a090.a", "3A090.A", "EAR99"]) == ["3A090.A"]


def test_the_normal_form_sorts_and_upper_cases_countries_and_keeps_pattern_order() -> None:
    version = PolicyVersion.from_data({
        "id": "x", "effective_from": "2027-02-01", "embargoed": ["ru", "CU", "RU"],
        "restricted_for_controlled": ["mo", "CN"], "controlled_eccn_patterns": ["*.Z", "3A090*"],
        "designated_countries": ["jp", "DE"]})
    assert version.normal_form() == {
        "id": "x", "effective_from": "2027-02-01", "embargoed": ["CU", "RU"],
        "restricted_for_controlled": ["CN", "MO"], "controlled_eccn_patterns": ["*.Z", "3A090*"],
        "designated_countries": ["DE", "JP"], "max_backdating_days": 30}
    assert PolicyVersion.from_data(version.normal_form()) == version


def test_without_designated_countries_every_destination_is_designated() -> None:
    assert FIRST.designates("VN") and FIRST.designates("CN")
    assert LATER.designates("JP") and not LATER.designates("VN")


def test_the_version_in_force_is_the_latest_effective_on_the_utc_date() -> None:
    book = PolicyBook([*SHIPPED, LATER])
    assert book.at(datetime(2026, 11, 29, 23, 59, tzinfo=UTC)).id == "2025-05-13"
    assert book.at(datetime(2026, 11, 30, 0, 0, tzinfo=UTC)).id == "2026-11-30"
    assert book.at(datetime(2027, 1, 1, tzinfo=UTC)).id == "2027-01-01"
    east = timezone(timedelta(hours=5))
    assert book.at(datetime(2027, 1, 1, 3, 0, tzinfo=east)).id == "2026-11-30"
    assert book.at(date(2027, 1, 1)) == LATER


def test_before_the_earliest_version_the_earliest_is_in_force() -> None:
    assert SHIPPED_BOOK.at(datetime(1999, 1, 1, tzinfo=UTC)) == FIRST


def test_an_empty_book_answers_with_the_shipped_versions() -> None:
    assert PolicyBook([]).at(date(2027, 1, 1)) == SECOND
    assert not PolicyBook([])


def test_an_event_names_its_version_and_an_unknown_name_falls_back_to_a_shipped_one() -> None:
    book = PolicyBook([FIRST, LATER])
    assert book.resolve("2027-01-01", date(2025, 6, 1)) == LATER
    assert book.resolve("2026-11-30", date(2027, 6, 1)) == SECOND
    assert book.resolve("from-an-old-file", date(2026, 12, 1)) == SECOND
    assert book.resolve(None, date(2025, 6, 1)) == FIRST


def test_a_book_grows_by_versions_it_does_not_hold_yet() -> None:
    book = PolicyBook([FIRST]).with_versions([LATER, FIRST])
    assert book.versions == (FIRST, LATER)
