"""A testimony in a real browser: recorded, coded (an act of forced labour at Kwanliso No. 15
Yodok, from the gazetteer), given an evidence file, and then found by search, in Korean and in
English, and by the facility facet.

The browser reads the pages in Korean (its language); expected labels come from the
vocabularies and the gazetteer, so the test holds whatever the wording.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from saebom.accounts.models import User
from saebom.core import vocab
from saebom.core.models import AuditEvent
from saebom.testimony import models as records
from tests.browser import (  # noqa: F401 (fixtures)
    ConsoleLog,
    browser_fixture,
    chromium_fixture,
    console_log_fixture,
    htmx_settled,
    page_fixture,
    sign_in_by_cookie,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

PDF = b"%PDF-1.7\nsigned statement of the witness\n%%EOF\n"
SUMMARY = "Forced labour in the Yodok camp in 2009; 요덕수용소에서 강제노동을 겪었다는 증언."
TRANSCRIPT = "We cut wood from dawn; the guard Kang beat those who fell behind."


def korean(vocabulary: str, code: str) -> str:
    with translation.override("ko"):
        return vocab.label(vocabulary, code)


def test_record_code_upload_and_find_a_testimony(
    page: Page,
    live_server: LiveServer,
    documenter: User,
    gazetteer: None,
    console_log: ConsoleLog,
    tmp_path: Path,
    settings: object,
) -> None:
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"  # type: ignore[attr-defined]
    yodok = records.Place.objects.get(code="kwanliso_15")
    sign_in_by_cookie(page, live_server.url, documenter)

    # The interview and its consent.
    page.goto(live_server.url + reverse("testimony:testimony_new"))
    page.fill("#id_witness_identity", "Witness W-88, born 1970 in Hamhung")
    page.select_option("#id_witness_sex", "F")
    page.fill("#id_interview_date", "2024-04-02")
    page.fill("#id_interview_place", "Seoul office")
    expect(page.locator("input[name=interviewers][value=dora]")).to_be_checked()
    page.fill("#id_transcript", TRANSCRIPT)
    page.fill("#id_summary", SUMMARY)
    page.select_option("#id_consent_scope", "publish_anonymised")
    page.fill("#id_consent_given_on", "2024-04-02")
    page.click("#testimony-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("T-")
    testimony = records.Testimony.objects.get()
    assert testimony.transcript == TRANSCRIPT and testimony.agency == documenter.agency
    expect(page.locator("#transcript")).to_contain_text("We cut wood from dawn")

    # An incident at Kwanliso No. 15 Yodok (htmx swaps the testimony in place).
    page.fill("#id_incident-date_start", "2009-03-01")
    page.select_option("#id_incident-date_precision", "month")
    page.select_option("#id_incident-place", "kwanliso_15")
    page.click("#incident-form button[type=submit]")
    incident_box = page.locator("#incidents article")
    expect(incident_box).to_contain_text(yodok.name_ko)
    expect(page.locator("#testimony-body p.message[role=status]")).to_be_visible()
    incident = records.Incident.objects.get(testimony=testimony)
    assert incident.place == yodok and incident.date_precision == "month"

    # An act of forced labour there, the witness's own experience.
    page.click(f"#add-act-{incident.pk} > summary")
    prefix = f"#id_act-{incident.pk}"
    page.select_option(f"{prefix}-act_type", "forced_labour")
    page.select_option(f"{prefix}-connection", "experienced")
    page.select_option(f"{prefix}-reliability", "b")
    page.select_option(f"{prefix}-credibility", "2")
    page.locator(f"#add-act-{incident.pk} button[type=submit]").click()
    acts = page.locator(f"#incident-{incident.pk} table.acts")
    expect(acts).to_contain_text(korean("act_type", "forced_labour"))
    act = records.Act.objects.get(incident=incident)
    assert act.act_type == "forced_labour" and act.coi_category == "e"
    page.screenshot(path=str(tmp_path / "testimony.png"), full_page=True)

    # An evidence file, linked to the testimony.
    page.goto(live_server.url + reverse("testimony:evidence_upload"))
    page.set_input_files(
        "#id_file",
        files=[{"name": "statement.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    page.fill("#id_received_from", "the witness, in person")
    page.fill("#id_received_on", "2024-04-02")
    page.click("#upload-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("E-")
    evidence = records.EvidenceFile.objects.get()
    assert evidence.media_type == "application/pdf" and evidence.display_name == "statement.pdf"
    expect(page.locator("#custody")).to_contain_text(korean_custody("uploaded"))
    page.click("#link-testimony > summary")
    page.fill("#id_link-testimony", testimony.public_id)
    page.click("#link-form button[type=submit]")
    expect(page.locator("#linked-testimonies")).to_contain_text(testimony.public_id)
    assert list(evidence.testimonies.all()) == [testimony]

    # Search finds it: by a Korean two-syllable word, by an English word, by the facility.
    page.goto(live_server.url + reverse("testimony:testimony_list"))
    results = page.locator("#testimony-results")
    for query in ("요덕", "labour"):
        page.fill("#id_q", query)
        page.click("#search-form button[type=submit]")
        expect(page).to_have_url(re.compile(r"\?q=" + re.escape(quote(query))))
        expect(page.locator("#id_q")).to_have_value(query)
        expect(results).to_contain_text(testimony.public_id)
    page.fill("#id_q", "nothing-like-this")
    page.click("#search-form button[type=submit]")
    expect(results).not_to_contain_text(testimony.public_id)
    # facets count what the search found: nothing here, so no facility to choose from
    expect(page.locator("#id_facility option")).to_have_count(1)
    page.fill("#id_q", "")
    page.click("#search-form button[type=submit]")
    expect(page.locator("#id_facility option")).to_have_count(2)
    htmx_settled(page)
    page.select_option("#id_facility", "kwanliso_15")  # the change searches at once
    expect(page).to_have_url(re.compile(r"facility=kwanliso_15"))
    expect(results).to_contain_text(testimony.public_id)
    expect(page.locator("#testimony-results caption")).to_contain_text("1")
    expect(page.locator("#id_facility option:checked")).to_contain_text(yodok.name_ko)
    page.screenshot(path=str(tmp_path / "testimony-search.png"), full_page=True)

    assert AuditEvent.objects.filter(action="view", object_id=testimony.public_id).exists()
    assert console_log.csp_violations() == []


def korean_custody(action: str) -> str:
    with translation.override("ko"):
        return str(records.CustodyEvent.Action(action).label)
