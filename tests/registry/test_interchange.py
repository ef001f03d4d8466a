"""Every validation rule of the interchange contract, with its message."""

from __future__ import annotations

import datetime

import pytest

from saebom.registry.interchange import COLUMNS, RowInvalid, header_problems, neutralise, parse_row

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 11, 30)


def problems(**cells: str) -> dict[str, str]:
    row = {"record_id": "R-1", "arrival_date": "2023-05-02", **cells}
    with pytest.raises(RowInvalid) as caught:
        parse_row(row, today=TODAY)
    return {p.column: p.message for p in caught.value.problems}


def test_a_full_row_parses_codes_and_labels() -> None:
    data = parse_row(
        {
            "record_id": " R-7 ",
            "sex": "여",
            "arrival_date": "2023-05",
            "birth_year": "1990",
            "origin_province": "Ryanggang",
            "occupation": "노동자",
            "education": "secondary",
            "elite_category": "none",
            "left_north_date": "2019",
            "transit_countries": "CN; Laos;태국",
            "route": "via_china",
            "reasons": "economic_hardship;동반탈북",
            "protection": "Hanawon",
            "name_ko": "리 설희",
            "name_en": "Ri  Sol-hui",
            "date_of_birth": "1990-03-04",
        },
        today=TODAY,
    )
    assert (data.record_id, data.sex, data.origin_province, data.occupation) == (
        "R-7",
        "F",
        "ryanggang",
        "worker",
    )
    assert data.transit_countries == ["CN", "LA", "TH"]
    assert data.reasons == ["economic_hardship", "accompanying_family"]
    assert str(data.arrival) == "2023-05" and str(data.left_north) == "2019"
    assert data.name_en == "Ri Sol-hui" and data.protection == "hanawon"


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        ({"record_id": ""}, "record_id", "is required"),
        ({"record_id": "x" * 65}, "record_id", "longer than 64"),
        ({"arrival_date": ""}, "arrival_date", "is required"),
        ({"arrival_date": "05/02/2023"}, "arrival_date", "is not YYYY, YYYY-MM or YYYY-MM-DD"),
        ({"arrival_date": "2023-02-30"}, "arrival_date", "is not a real date"),
        ({"arrival_date": "2027-01"}, "arrival_date", "between 1945 and today"),
        ({"arrival_date": "1901"}, "arrival_date", "between 1945 and today"),
        ({"sex": "X"}, "sex", "is not one of M, F"),
        ({"origin_province": "Seoul"}, "origin_province", "is not one of north_hamgyong"),
        ({"occupation": "pilot"}, "occupation", "is not one of managerial"),
        ({"education": "phd"}, "education", "is not one of preschool"),
        ({"elite_category": "spy"}, "elite_category", "is not one of none"),
        ({"route": "air"}, "route", "is not one of via_china"),
        ({"protection": "maybe"}, "protection", "is not one of hanawon"),
        ({"reasons": "boredom"}, "reasons", "is not one of economic_hardship"),
        ({"reasons": "other;기타"}, "reasons", "is listed twice"),
        ({"transit_countries": "CN;XX"}, "transit_countries", "is not a known country"),
        ({"birth_year": "90"}, "birth_year", "is not a four-digit year"),
        ({"birth_year": "2024"}, "birth_year", "between 1900 and the arrival year"),
        (
            {"birth_year": "1991", "date_of_birth": "1990-01-01"},
            "birth_year",
            "does not match the year of date_of_birth",
        ),
        ({"date_of_birth": "1990-05"}, "date_of_birth", "must be a full date"),
        ({"left_north_date": "2024"}, "left_north_date", "is after the arrival date"),
        ({"name_ko": "가" * 201}, "name_ko", "longer than 200"),
        ({"name_en": "Kim\x00Chol"}, "name_en", "control characters"),
        ({"name_ko": "김\n철수"}, "name_ko", "control characters"),
        ({"birth_year": "198²"}, "birth_year", "is not a four-digit year"),
        ({"date_of_birth": "1899-12-31"}, "date_of_birth", "between 1900 and today"),
    ],
)
def test_each_rule_names_its_column(cells: dict[str, str], column: str, message: str) -> None:
    found = problems(**cells)
    assert column in found and message in found[column]


def test_every_problem_of_a_row_is_reported_at_once() -> None:
    found = problems(sex="X", birth_year="abc", route="air")
    assert set(found) == {"sex", "birth_year", "route"}


def test_same_year_arrival_and_departure_is_allowed() -> None:
    data = parse_row(
        {"record_id": "R", "arrival_date": "2023", "left_north_date": "2023-11"}, today=TODAY
    )
    assert data.left_north is not None


def test_birth_year_comes_from_date_of_birth() -> None:
    data = parse_row(
        {"record_id": "R", "arrival_date": "2023", "date_of_birth": "1988-02-03"}, today=TODAY
    )
    assert data.birth_year == 1988


def test_header_rules() -> None:
    assert header_problems(list(COLUMNS)) == []
    found = {
        (p.column, p.message.split(";")[0]) for p in header_problems(["sex", "sex", "nickname"])
    }
    assert ("sex", "this column appears twice") in found
    assert ("nickname", "unknown column") in found
    assert ("record_id", "required column is missing") in found
    assert ("arrival_date", "required column is missing") in found


@pytest.mark.parametrize("text", ["=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(A1)"])
def test_formulas_are_neutralised_and_restored(text: str) -> None:
    guarded = neutralise(text)
    assert guarded.startswith("'") and guarded[1:] == text
    data = parse_row({"record_id": "R", "arrival_date": "2023", "name_en": guarded}, today=TODAY)
    assert data.name_en == " ".join(text.split())


def test_birth_dates_before_1945_are_fine() -> None:
    data = parse_row(
        {"record_id": "R", "arrival_date": "1995", "date_of_birth": "1925-05-29"}, today=TODAY
    )
    assert data.birth_year == 1925


def test_identity_values_are_never_quoted_in_errors() -> None:
    found = problems(date_of_birth="1990-02-31", birth_year="1991")
    assert "1990-02-31" not in found["date_of_birth"] and "the value" in found["date_of_birth"]


def test_names_without_latin_letters_get_no_romanised_index() -> None:
    from saebom.registry.names import romanised_name_key

    assert romanised_name_key("김철수", 1980) == "" and romanised_name_key("—", 1980) == ""
    assert romanised_name_key("Kim Chol-su", 1980) != ""
