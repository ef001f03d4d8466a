from __future__ import annotations

from collections.abc import Callable

import pytest

from saebom.accounts.models import User
from saebom.core.actors import system_actor
from saebom.core.exceptions import PermissionDenied
from saebom.core.policy import Role
from saebom.registry.importing import ImportRejected
from saebom.registry.models import OfficialRelease
from saebom.registry.official import SHIPPED_SERIES, current_series, official_series_import

pytestmark = pytest.mark.django_db


def test_shipped_series_sums_to_the_published_total() -> None:
    official_series_import(actor=system_actor(), data=SHIPPED_SERIES.read_bytes())
    rows = current_series()
    assert sum(r.total for r in rows) == 34_537
    assert sum(r.total for r in rows if r.last_year <= 2023) == 34_078
    assert next(r for r in rows if r.period == "2025").status.startswith("revised 2026-02-04")


def test_a_newer_release_becomes_current_and_the_old_one_is_kept(
    make_user: Callable[..., User],
) -> None:
    official_series_import(actor=system_actor(), data=SHIPPED_SERIES.read_bytes())
    newer = SHIPPED_SERIES.read_text().replace("# revised: 2026-02-04", "# revised: 2026-08-01")
    newer = newer.replace("2025,2025,2025,25,198,223", "2025,2025,2025,25,199,224")
    release = official_series_import(actor=make_user(Role.STATISTICIAN), data=newer.encode())
    assert release.is_current and str(release.revised_on) == "2026-08-01"
    assert OfficialRelease.objects.count() == 2
    assert OfficialRelease.objects.filter(is_current=True).get() == release
    assert next(r for r in current_series() if r.period == "2025").total == 224


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("2024,2024,2024,26,210,236", "2024,2024,2024,26,210,999"), "is not male \\+ female"),
        (("2024,2024,2024,26,210,236", "2024,2024,2024,26,lots,236"), "is not a whole number"),
        (("2024,2024,2024,26,210,236", "2024,,2019,26,210,236"), "increasing order"),
        (("period,first_year", "periode,first_year"), "the header must be"),
    ],
)
def test_bad_series_files_are_refused_whole(change: tuple[str, str], message: str) -> None:
    data = SHIPPED_SERIES.read_text().replace(*change).encode()
    with pytest.raises(ImportRejected, match=message):
        official_series_import(actor=system_actor(), data=data)
    assert not OfficialRelease.objects.exists()


def test_revision_date_is_required() -> None:
    data = "\n".join(
        line for line in SHIPPED_SERIES.read_text().splitlines() if "revised:" not in line
    )
    with pytest.raises(ImportRejected, match="revision date"):
        official_series_import(actor=system_actor(), data=data.encode())


def test_only_admins_and_statisticians_load_series(make_user: Callable[..., User]) -> None:
    with pytest.raises(PermissionDenied):
        official_series_import(
            actor=make_user(Role.INTAKE_OFFICER), data=SHIPPED_SERIES.read_bytes()
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("2003,2003,2003,474,811,1285", "2002,2003,2003,474,811,1285"), "appears twice"),
        (("2003,2003,2003", "2003 (a revised estimate),2003,2003"), "1 to 16 characters"),
        (("2003,2003,2003", "2003,2004,2003"), "first_year"),
        (("2003,2003,2003,474", "2003,2003,2003,47²"), "whole number"),
    ],
)
def test_malformed_periods_are_row_errors(change: tuple[str, str], message: str) -> None:
    data = SHIPPED_SERIES.read_text().replace(*change).encode()
    with pytest.raises(ImportRejected, match=message):
        official_series_import(actor=system_actor(), data=data)
