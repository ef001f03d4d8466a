"""The statistics page in a real browser: render it, change a dimension, download a CSV."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from saebom.accounts.models import User
from saebom.core.policy import Role
from saebom.registry.importing import arrivals_import
from tests.browser import (  # noqa: F401 (fixtures)
    ConsoleLog,
    browser_fixture,
    chromium_fixture,
    console_log_fixture,
    page_fixture,
    sign_in_by_cookie,
)
from tests.registry.helpers import csv_bytes, row

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_statistics_page_changes_dimension_and_downloads_csv(
    page: Page,
    live_server: LiveServer,
    make_user: Callable[..., User],
    console_log: ConsoleLog,
    tmp_path: Path,
) -> None:
    statistician = make_user(Role.STATISTICIAN)
    officer = make_user(Role.INTAKE_OFFICER)
    rows = [row(n, origin_province="ryanggang" if n % 3 else "pyongyang") for n in range(1, 40)]
    arrivals_import(actor=officer, data=csv_bytes(rows), filename="a.csv")
    sign_in_by_cookie(page, live_server.url, statistician)

    page.goto(f"{live_server.url}/stats/")
    expect(page.locator("#report-table")).to_be_visible()
    expect(page.locator(".chart img")).to_have_attribute("alt", re.compile(r".{20,}"))
    page.select_option("#id_second", "origin_province")  # htmx swaps the result in
    expect(page.locator("#report-table thead")).to_contain_text("출신 지역")
    page.screenshot(path=str(tmp_path / "statistics.png"), full_page=True)

    with page.expect_download() as download_info:
        page.click("#download-csv")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    lines = [line for line in saved.read_text().splitlines() if not line.startswith("#")]
    assert lines[0] == "year,origin_province,count"
    assert sum(int(line.rsplit(",", 1)[1]) for line in lines[1:]) == 39
    assert console_log.csp_violations() == []
