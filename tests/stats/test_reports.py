"""Reports over the registry: counts in the database, the Ministry layout, reconciliation,
formats, and every public output path through disclosure control."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation

from saebom.accounts.models import Agency, User
from saebom.core.actors import system_actor
from saebom.core.exceptions import PermissionDenied, SaebomError
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.registry.importing import arrivals_import
from saebom.registry.models import Arrival
from saebom.registry.official import SHIPPED_SERIES, official_series_import
from saebom.stats.output import render
from saebom.stats.reports import arrivals_report, ministry_layout, reconciliation
from tests.registry.helpers import csv_bytes, row

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded(make_user: Callable[..., User]) -> User:
    """A small registry: 2022 and 2023, women and men, a few provinces, one elite arrival."""
    officer = make_user(Role.INTAKE_OFFICER)
    rows = []
    n = 0
    for year, sex, count, province in (
        (2022, "F", 30, "ryanggang"),
        (2022, "M", 25, "north_hamgyong"),
        (2023, "F", 40, "ryanggang"),
        (2023, "M", 3, "pyongyang"),
        (1997, "M", 6, "north_hamgyong"),
        (2000, "F", 7, "ryanggang"),
    ):
        for _ in range(count):
            n += 1
            rows.append(
                row(
                    n,
                    sex=sex,
                    arrival_date=f"{year}-03-0{1 + n % 8}",
                    birth_year=str(year - 30),
                    origin_province=province,
                    left_north_date=str(year - 2),
                    reasons="economic_hardship;other" if n % 2 else "other",
                    elite_category="diplomat" if n == 60 else "none",
                )
            )
    arrivals_import(actor=officer, data=csv_bytes(rows), filename="a.csv")
    return officer


def cells(report: object) -> dict[tuple[str, ...], int | None]:
    return {r.keys: r.count for r in report.rows}  # type: ignore[attr-defined]


def test_counts_by_year_and_sex_with_ministry_periods(loaded: User) -> None:
    report = arrivals_report(actor=loaded, by="year,sex")
    assert cells(report) == {
        ("~1998", "M"): 6,
        ("1999-2001", "F"): 7,
        ("2022", "F"): 30,
        ("2022", "M"): 25,
        ("2023", "F"): 40,
        ("2023", "M"): 3,
    }
    layout = ministry_layout(report)
    assert [(r.period, r.total, r.cumulative) for r in layout] == [
        ("~1998", 6, 6),
        ("1999-2001", 7, 13),
        ("2022", 55, 68),
        ("2023", 43, 111),
    ]
    assert layout[-1].female_share == "93.0%"


def test_multi_valued_dimensions_count_per_person_per_value(loaded: User) -> None:
    with translation.override("en"):
        report = arrivals_report(actor=loaded, by="reasons")
    assert cells(report) == {("economic_hardship",): 56, ("other",): 111}
    assert any("counted once per value" in note for note in report.notes)


def test_computed_dimensions(loaded: User) -> None:
    assert cells(arrivals_report(actor=loaded, by="age_group")) == {("30-39",): 111}
    assert cells(arrivals_report(actor=loaded, by="years_in_third_countries")) == {("1-2",): 111}
    assert cells(arrivals_report(actor=loaded, by="quarter")) == {("1",): 111}
    assert cells(arrivals_report(actor=loaded, by="elite")) == {("no",): 110, ("yes",): 1}


def test_year_filters(loaded: User) -> None:
    assert cells(arrivals_report(actor=loaded, by="year", year_from=2023)) == {("2023",): 43}
    assert cells(arrivals_report(actor=loaded, by="year", year_to=2001)) == {
        ("~1998",): 6,
        ("1999-2001",): 7,
    }


def test_exact_reports_keep_small_counts_for_those_allowed(loaded: User) -> None:
    assert cells(arrivals_report(actor=loaded, by="year,sex"))[("2023", "M")] == 3
    assert not AuditEvent.objects.filter(action="export", object_type="statistics").exists()


def test_public_reports_suppress_and_are_audited(loaded: User) -> None:
    report = arrivals_report(actor=loaded, by="year,sex", public=True)
    shown = {r.keys: r.display for r in report.rows}
    assert shown[("2023", "M")] == "<5"
    assert shown[("2023", "F")] == "x"  # otherwise 43 - 40 would give it away
    assert AuditEvent.objects.filter(action="export", object_type="statistics").count() == 1


def test_researchers_only_ever_get_public_output(
    loaded: User, make_user: Callable[..., User]
) -> None:
    report = arrivals_report(actor=make_user(Role.RESEARCHER), by="year,sex", public=False)
    assert report.public and cells(report)[("2023", "M")] is None


def test_elite_is_a_band_in_public_and_categories_are_admin_only(
    loaded: User, make_user: Callable[..., User]
) -> None:
    public = arrivals_report(actor=loaded, by="elite", public=True)
    assert {r.keys: r.display for r in public.rows}[("yes",)] == "<10"
    with pytest.raises(SaebomError, match="never published"):
        arrivals_report(actor=loaded, by="elite_category", public=True)
    with pytest.raises(PermissionDenied):
        arrivals_report(actor=make_user(Role.STATISTICIAN), by="elite_category")
    admin_view = arrivals_report(actor=make_user(Role.ADMIN), by="elite_category")
    assert cells(admin_view)[("diplomat",)] == 1


def test_other_agencies_are_not_counted_for_agency_roles(
    loaded: User, make_user: Callable[..., User], other_agency: Agency
) -> None:
    stranger = make_user(Role.INTAKE_OFFICER, agency=other_agency)
    assert arrivals_report(actor=stranger, by="year").rows == []
    assert (
        sum(
            c or 0
            for c in cells(arrivals_report(actor=make_user(Role.STATISTICIAN), by="year")).values()
        )
        == 111
    )


def test_bad_dimensions_are_refused() -> None:
    for by, message in (
        ("", "at least one"),
        ("year,colour", "unknown dimension"),
        ("sex,sex", "each dimension once"),
    ):
        with pytest.raises(SaebomError, match=message):
            arrivals_report(actor=system_actor(), by=by)


def test_formats(loaded: User) -> None:
    report = arrivals_report(actor=loaded, by="year,sex", public=True)
    lines = [
        line for line in render(report, "csv").decode().splitlines() if not line.startswith("#")
    ]
    assert lines[0] == "year,sex,count" and "2023,M,<5" in lines
    items = json.loads(render(report, "json"))
    assert {"year": "2023", "sex": "M", "count": None, "suppressed": True, "display": "<5"} in items
    html = render(report, "html", lang="ko").decode()
    assert "<svg" in html and "<figcaption>" in html and 'lang="ko"' in html
    assert render(report, "xlsx")[:2] == b"PK"
    assert "Cumulative" in render(report, "table").decode()


def test_reconciliation_against_the_official_series(loaded: User) -> None:
    official_series_import(actor=system_actor(), data=SHIPPED_SERIES.read_bytes())
    rows = {(r.period, r.sex): r for r in reconciliation(actor=loaded)}
    assert rows[("2023", "F")].registry == 40 and rows[("2023", "F")].official == 164
    assert (
        rows[("2023", "F")].difference == -124
        and round(rows[("2023", "F")].coverage or 0, 3) == 0.244
    )
    assert rows[("2024", "M")].registry == 0


def test_every_public_path_goes_through_disclosure_control(
    loaded: User, client: Client, make_user: Callable[..., User]
) -> None:
    """The public web page, the public API, the researcher's page and API, --public: none shows
    the 3 men of 2023."""
    with override_settings(SAEBOM_PUBLIC_STATS=True):
        page = client.get(reverse("public_statistics") + "?by=year,sex").content.decode()
        api = client.get("/api/v1/public/stats/arrivals?by=year,sex").json()
    assert ">3<" not in page and "&lt;5" in page
    assert {
        "keys": {"year": "2023", "sex": "M"},
        "count": None,
        "suppressed": True,
        "display": "<5",
    } in api["cells"]
    researcher = make_user(Role.RESEARCHER)
    browser = Client()
    browser.force_login(researcher)
    listing = browser.get(reverse("stats:statistics") + "?first=year&second=sex").content.decode()
    assert "&lt;5" in listing
    download = browser.get(
        reverse("stats:download") + "?first=year&second=sex&format=csv"
    ).content.decode()
    assert "2023,M,<5" in download
    from saebom.accounts.services import api_token_create

    token = api_token_create(actor=researcher, name="t").secret
    body = client.get(
        "/api/v1/stats/arrivals?by=year,sex", HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    assert body["public"] is True
    assert all(
        c["count"] is None for c in body["cells"] if c["keys"] == {"year": "2023", "sex": "M"}
    )


def test_public_page_is_off_by_default(client: Client, db: None) -> None:
    assert client.get(reverse("public_statistics")).status_code == 404
    assert client.get("/api/v1/public/stats/arrivals?by=year").status_code == 404


def test_statistics_page_for_statisticians(loaded: User, client_for: Callable[..., Client]) -> None:
    client = client_for(Role.STATISTICIAN)
    html = client.get(reverse("stats:statistics") + "?first=year&second=sex").content.decode()
    assert 'src="data:image/svg+xml;base64,' in html and "<figcaption>" in html
    assert "93.0%" in html
    assert client.get(reverse("stats:reconciliation")).status_code == 200


def test_roles_without_statistics_are_refused(client_for: Callable[..., Client]) -> None:
    assert client_for(Role.CASEWORKER).get(reverse("stats:statistics")).status_code == 403
    assert client_for(Role.RESEARCHER).get(reverse("stats:reconciliation")).status_code == 403


def test_csv_download_parses(loaded: User, client_for: Callable[..., Client]) -> None:
    response = client_for(Role.STATISTICIAN).get(
        reverse("stats:download") + "?first=origin_province&format=csv"
    )
    lines = [line for line in response.content.decode().splitlines() if not line.startswith("#")]
    parsed = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert {r["origin_province"]: r["count"] for r in parsed} == {
        "north_hamgyong": "31",
        "ryanggang": "77",
        "pyongyang": "3",
    }


def test_public_views_are_built_and_audited_once_per_period(loaded: User, client: Client) -> None:
    from django.core.cache import cache

    cache.clear()
    with override_settings(SAEBOM_PUBLIC_STATS=True):
        for _ in range(5):
            assert client.get(reverse("public_statistics") + "?by=age_group,sex").status_code == 200
    assert AuditEvent.objects.filter(action="export", object_type="statistics").count() == 1


def test_published_tables_have_at_most_two_dimensions(loaded: User) -> None:
    with pytest.raises(SaebomError, match="at most 2 dimensions"):
        arrivals_report(actor=loaded, by="year,sex,origin_province", public=True)
    assert arrivals_report(actor=loaded, by="year,sex,origin_province").rows  # exact: fine


def test_the_protection_pathway_cannot_stand_in_for_elite(loaded: User) -> None:
    officer = loaded
    arrivals_import(
        actor=officer,
        data=csv_bytes(
            [
                row(900 + n, protection="intelligence_service", arrival_date="2023-05-01")
                for n in range(7)
            ]
        ),
        filename="b.csv",
    )
    shown = {
        r.keys: r.display for r in arrivals_report(actor=loaded, by="protection", public=True).rows
    }
    assert shown[("intelligence_service",)] == "<10"


def test_public_layout_hides_small_period_totals_and_cumulative(loaded: User) -> None:
    arrivals_import(
        actor=loaded,
        data=csv_bytes([row(990, arrival_date="2024-02-02", sex="F")]),
        filename="c.csv",
    )
    layout = {
        r.period: r
        for r in ministry_layout(arrivals_report(actor=loaded, by="year,sex", public=True))
    }
    assert layout["2024"].total is None and layout["2024"].total_display in ("<5", "x")
    assert all(r.cumulative is None and r.cumulative_display == "—" for r in layout.values())
    exact = {r.period: r for r in ministry_layout(arrivals_report(actor=loaded, by="year,sex"))}
    assert exact["2024"].total == 1 and exact["2024"].cumulative == 112


def test_published_tables_cover_every_year(loaded: User) -> None:
    with pytest.raises(SaebomError, match="cover every year"):
        arrivals_report(actor=loaded, by="year", year_from=2022, public=True)


def test_researchers_get_no_exact_trend_from_the_registry(
    loaded: User, make_user: Callable[..., User]
) -> None:
    from django.core.management import CommandError, call_command

    from saebom.core.actors import set_cli_username

    researcher = make_user(Role.RESEARCHER)
    set_cli_username(researcher.username)
    try:
        with pytest.raises(CommandError, match="may not"):
            call_command("trend", "2023")
        official_series_import(actor=system_actor(), data=SHIPPED_SERIES.read_bytes())
        call_command("trend", "2023", "--source", "official", stdout=io.StringIO())
    finally:
        set_cli_username("")


@pytest.mark.parametrize(
    ("year_from", "year_to"), [(2000, 2000), (1995, None), (None, 2000), (None, 1996)]
)
def test_year_ranges_may_not_cut_the_grouped_periods(
    loaded: User, year_from: int | None, year_to: int | None
) -> None:
    with pytest.raises(SaebomError, match="counted only as groups"):
        arrivals_report(actor=loaded, by="year,sex", year_from=year_from, year_to=year_to)
    # without the year dimension no label can lie: the same range is fine
    sexes = arrivals_report(actor=loaded, by="sex", year_from=year_from, year_to=year_to)
    years = Arrival.objects.filter(
        arrival_year__gte=year_from or 0, arrival_year__lte=year_to or 9999
    )
    assert sum(r.count or 0 for r in sexes.rows) == years.count()


def test_whole_periods_may_be_chosen(loaded: User) -> None:
    assert cells(arrivals_report(actor=loaded, by="year", year_from=1999, year_to=2001)) == {
        ("1999-2001",): 7
    }
