"""The testimony and evidence pages: who reaches what (documenter of the agency, another
agency's documenter, researchers, other roles, anonymous), what researchers never see, errors
next to their fields with nothing written, sealed corrections, stale edits, uploads refused by
content and size, safe downloads, corroboration, the gazetteer, and the pages in Korean."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from saebom.accounts.models import Agency, User
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.testimony import models as records
from saebom.testimony import services
from saebom.testimony.models import (
    Act,
    ConsentEvent,
    Corroboration,
    CustodyEvent,
    EvidenceFile,
    Incident,
    Individual,
    Place,
)
from tests.factories import ArrivalFactory
from tests.testimony.conftest import IDENTITY, TRANSCRIPT

MakeTestimony = Callable[..., records.Testimony]
pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\nstatement of the witness\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
EXE = b"MZ\x90\x00" + b"\x00" * 60
SUMMARY_KO = "요덕수용소에서의 강제노동에 관한 증언."


# --- helpers -------------------------------------------------------------------------------


def client_in(user: User, language: str = "en") -> Client:
    """A client signed in as ``user``, reading the pages in ``language``."""
    client = Client()
    client.force_login(user)
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    return client


def url(name: str, *args: Any) -> str:
    return reverse(f"testimony:{name}", args=args or None)


def html(response: Any) -> str:
    return response.content.decode()


def main(page: str) -> str:
    return page.split('id="main"', 1)[1].split("</main>", 1)[0]


def field_block(page: str, field_id: str) -> str:
    """The markup of the form field whose input has ``field_id``, with its error if any."""
    at = page.index(f'id="{field_id}"')
    start = page.rindex('<div class="field', 0, at)
    depth, position = 0, start
    for tag in re.finditer(r"<(/?)div\b", page[start:]):
        depth += -1 if tag.group(1) else 1
        if depth == 0:
            position = start + tag.end()
            break
    return page[start:position]


def field_error(page: str, field_id: str) -> str:
    found = re.search(
        r'<span class="field-error" role="alert">(.*?)</span>', field_block(page, field_id)
    )
    return found.group(1) if found else ""


def interview(**changes: str | list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "witness_person": "",
        "witness_identity": "Witness W-51, born 1975 in Hyesan",
        "witness_sex": "M",
        "interview_date": "2024-06-03",
        "interview_place": "Seoul office",
        "interviewers": ["dora"],
        "language": "ko",
        "transcript": "I was held at the camp for three winters.",
        "summary": "Forced labour in a political prison camp in the 2000s.",
        "consent_scope": "publish_anonymised",
        "consent_mechanisms": [],
        "consent_given_on": "2024-06-03",
        "consent_note": "",
    }
    data.update(changes)
    return data


def edit_data(testimony: records.Testimony, **changes: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "edit-version": str(testimony.version),
        "edit-witness_person": "",
        "edit-witness_identity": testimony.witness_identity or "",
        "edit-witness_sex": testimony.witness_sex,
        "edit-interview_date": testimony.interview_date.isoformat(),
        "edit-interview_place": testimony.interview_place or "",
        "edit-interviewers": list(testimony.interviewers.values_list("username", flat=True)),
        "edit-language": testimony.language,
        "edit-transcript": testimony.transcript or "",
        "edit-summary": testimony.summary,
        "edit-reason": "",
    }
    data.update({f"edit-{name}": value for name, value in changes.items()})
    return data


def code_act(
    actor: User, testimony: records.Testimony, act_type: str = "detention", **kwargs: Any
) -> Act:
    incident = services.incident_add(
        actor=actor,
        testimony=testimony,
        date_start=date(2009, 3, 1),
        date_precision="month",
        place="kwanliso_15",
    )
    values: dict[str, Any] = {"connection": "experienced", "reliability": "b", "credibility": "2"}
    values.update(kwargs)
    return services.act_add(actor=actor, incident=incident, act_type=act_type, **values)


@pytest.fixture
def store(tmp_path: Path, settings: Any) -> Path:
    """A private evidence directory per test."""
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"
    return tmp_path / "evidence"


def stored_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def upload(actor: User, filename: str = "statement.pdf", data: bytes = PDF) -> EvidenceFile:
    return services.evidence_upload(
        actor=actor,
        filename=filename,
        data=data,
        received_from="Witness W-17, in person",
        received_on=date(2024, 3, 1),
        description="signed statement",
    )


@pytest.fixture
def testimony(documenter: User, make_testimony: MakeTestimony) -> records.Testimony:
    """A testimony of ``agency`` (alpha), consented for anonymised publication."""
    return make_testimony(documenter, interviewers=["dora"])


@pytest.fixture
def internal(documenter: User, make_testimony: MakeTestimony) -> records.Testimony:
    """A testimony of ``agency`` for internal use only."""
    return make_testimony(
        documenter,
        consent_scope="internal",
        summary="Interrogation after return from China.",
    )


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user(Role.ADMIN, username="ada")


@pytest.fixture
def caseworker(make_user: Callable[..., User]) -> User:
    return make_user(Role.CASEWORKER, username="cass")


# --- navigation ----------------------------------------------------------------------------


def test_the_navigation_links_follow_the_role(
    documenter: User, researcher: User, caseworker: User
) -> None:
    page = html(client_in(documenter).get(reverse("web:dashboard")))
    assert f'href="{url("testimony_list")}"' in page and f'href="{url("evidence_list")}"' in page
    page = html(client_in(researcher).get(reverse("web:dashboard")))
    assert f'href="{url("testimony_list")}"' in page and url("evidence_list") not in page
    page = html(client_in(caseworker).get(reverse("web:dashboard")))
    assert url("testimony_list") not in page and url("evidence_list") not in page


# --- list and search -----------------------------------------------------------------------


def test_the_list_shows_the_agencys_testimonies_with_their_badges(
    documenter: User, make_testimony: MakeTestimony
) -> None:
    shown = make_testimony(documenter, is_synthetic=True)
    sealed = make_testimony(documenter, summary="A second account of the same camp.")
    services.testimony_seal(actor=documenter, testimony=sealed, expected_version=1)
    response = client_in(documenter).get(url("testimony_list"))
    page = html(response)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    row = re.search(
        rf"<tr>\s*<td><a href=\"{url('testimony_detail', shown.public_id)}\".*?</tr>", page, re.S
    )
    assert row, "the testimony's row"
    assert "2024-05-02" in row.group(0) and "Publish anonymised" in row.group(0)
    assert "Detention at a holding centre" in row.group(0)
    assert '<span class="badge">synthetic</span>' in row.group(0)
    sealed_row = re.search(rf"<code>{sealed.public_id}</code>.*?</tr>", page, re.S)
    assert sealed_row and '<span class="badge">sealed</span>' in sealed_row.group(0)
    assert TRANSCRIPT not in page and IDENTITY not in page
    assert "2 testimonies" in page


def test_another_agencys_documenter_lists_none_of_them(
    other_documenter: User, testimony: records.Testimony
) -> None:
    page = html(client_in(other_documenter).get(url("testimony_list")))
    assert testimony.public_id not in page and "No testimony yet." in page


def test_researchers_list_published_testimonies_of_other_agencies_only(
    other_researcher: User, testimony: records.Testimony, internal: records.Testimony
) -> None:
    page = html(client_in(other_researcher).get(url("testimony_list")))
    assert testimony.public_id in page and internal.public_id not in page
    assert "Record a testimony" not in page


def test_search_by_summary_word_and_by_korean_two_syllables(
    documenter: User, researcher: User, make_testimony: MakeTestimony, testimony: records.Testimony
) -> None:
    korean = make_testimony(documenter, summary=SUMMARY_KO)
    for user in (documenter, researcher):
        page = html(client_in(user).get(url("testimony_list"), {"q": "요덕"}))
        assert korean.public_id in page and testimony.public_id not in page
        page = html(client_in(user).get(url("testimony_list"), {"q": "holding"}))
        assert testimony.public_id in page and korean.public_id not in page


def test_transcripts_are_searched_for_documenters_only(
    documenter: User, researcher: User, testimony: records.Testimony
) -> None:
    page = html(client_in(documenter).get(url("testimony_list"), {"q": "bowibu"}))
    assert testimony.public_id in page
    page = html(client_in(researcher).get(url("testimony_list"), {"q": "bowibu"}))
    assert testimony.public_id not in page and "No testimony matches." in page


def test_facets_count_and_filter(
    documenter: User, make_testimony: MakeTestimony, testimony: records.Testimony
) -> None:
    coded = make_testimony(documenter, summary="Labour and beatings in a camp.")
    code_act(documenter, coded, "forced_labour")
    client = client_in(documenter)
    page = html(client.get(url("testimony_list")))
    facility = re.search(r'<select name="facility"[^>]*>.*?</select>', page, re.S)
    assert (
        facility
        and '<option value="kwanliso_15">Kwanliso No. 15 Yodok (1)</option>' in facility.group(0)
    )
    assert "Forced labour (1)" in page and "2009 (1)" in page and "South Hamgyong (1)" in page
    page = html(client.get(url("testimony_list"), {"facility": "kwanliso_15"}))
    assert coded.public_id in page and testimony.public_id not in page
    assert '<option value="kwanliso_15" selected>' in page
    page = html(client.get(url("testimony_list"), {"act_type": "torture"}))
    assert coded.public_id not in page and '<option value="torture" selected>' in page


def test_search_htmx_returns_the_results_only(
    documenter: User, testimony: records.Testimony
) -> None:
    response = client_in(documenter).get(
        url("testimony_list"), {"q": "holding"}, HTTP_HX_REQUEST="true"
    )
    page = html(response)
    assert response.status_code == 200 and "<html" not in page
    assert page.lstrip().startswith('<div id="results"') and testimony.public_id in page
    assert "HX-Request" in response["Vary"]


def test_withdrawn_testimonies_are_never_found_but_listed_apart_for_their_agency(
    documenter: User, researcher: User, testimony: records.Testimony
) -> None:
    services.consent_withdraw(actor=documenter, testimony=testimony)
    page = html(client_in(documenter).get(url("testimony_list")))
    results = re.search(r'<div id="results">.*?</table>', page, re.S)
    assert results and testimony.public_id not in results.group(0)
    withdrawn = re.search(r'<ul class="plain" id="withdrawn-list">.*?</ul>', page, re.S)
    assert withdrawn and testimony.public_id in withdrawn.group(0)
    page = html(client_in(researcher).get(url("testimony_list")))
    assert testimony.public_id not in page


def test_the_list_refuses_other_roles_and_anonymous(caseworker: User) -> None:
    assert client_in(caseworker).get(url("testimony_list")).status_code == 403
    response = Client().get(url("testimony_list"))
    assert response.status_code == 302 and "login" in response["Location"]


# --- recording an interview ----------------------------------------------------------------


def test_record_a_testimony(documenter: User, make_user: Callable[..., User]) -> None:
    make_user(Role.DOCUMENTER, username="dana")
    client = client_in(documenter)
    page = html(client.get(url("testimony_new")))
    assert (
        'value="dana"' in page and "must identify nobody" in page.lower()
    ) or "Must identify nobody" in page
    response = client.post(url("testimony_new"), interview(interviewers=["dora", "dana"]))
    testimony = records.Testimony.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("testimony_detail", testimony.public_id)
    assert testimony.witness_identity == "Witness W-51, born 1975 in Hyesan"
    assert sorted(testimony.interviewers.values_list("username", flat=True)) == ["dana", "dora"]
    assert testimony.agency == documenter.agency and testimony.created_by == documenter
    assert ConsentEvent.objects.get().scope == "publish_anonymised"


def test_a_registered_witness_is_named_by_their_registry_id(
    documenter: User, agency: Agency
) -> None:
    person = ArrivalFactory(agency=agency).person
    client = client_in(documenter)
    response = client.post(url("testimony_new"), interview(witness_person=person.public_id))
    page = html(response)
    assert "a registered witness is identified by the registry" in field_error(
        page, "id_witness_identity"
    )
    assert not records.Testimony.objects.exists()
    data = interview(witness_person=person.public_id, witness_identity="")
    assert client.post(url("testimony_new"), data).status_code == 302
    testimony = records.Testimony.objects.get()
    assert testimony.witness_person == person
    page = html(client.get(url("testimony_detail", testimony.public_id)))
    witness = re.search(r'<dd id="witness">.*?</dd>', page, re.S)
    assert witness and person.public_id in witness.group(0)


def test_interviewers_are_of_ones_own_agency(documenter: User, other_documenter: User) -> None:
    client = client_in(documenter)
    assert 'value="otto"' not in html(client.get(url("testimony_new")))
    response = client.post(url("testimony_new"), interview(interviewers=["otto"]))
    assert "otto is not one of the available choices" in field_error(
        html(response), "id_interviewers_0"
    ) or "Select a valid choice" in html(response)
    assert not records.Testimony.objects.exists()


@pytest.mark.parametrize(
    ("change", "field_id", "message"),
    [
        ({"summary": "  "}, "id_summary", "required: a summary that identifies nobody"),
        ({"interview_date": "2999-01-01"}, "id_interview_date", "cannot be in the future"),
        (
            {"consent_scope": "share_with_mechanisms"},
            "id_consent_mechanisms",
            "name the bodies the witness agreed to share with",
        ),
        ({"witness_person": "P-NOSUCH1"}, "id_witness_person", "no person P-NOSUCH1"),
        ({"consent_given_on": ""}, "id_consent_given_on", "This field is required."),
    ],
)
def test_interview_errors_show_next_to_their_field_and_nothing_is_written(
    documenter: User, change: dict[str, str], field_id: str, message: str
) -> None:
    response = client_in(documenter).post(url("testimony_new"), interview(**change))
    page = html(response)
    assert response.status_code == 200
    assert message in field_error(page, field_id)
    assert 'value="Seoul office"' in page  # the input is kept
    assert not records.Testimony.objects.exists() and not ConsentEvent.objects.exists()


def test_the_interview_form_refuses_other_roles(researcher: User, caseworker: User) -> None:
    for user in (researcher, caseworker):
        client = client_in(user)
        assert client.get(url("testimony_new")).status_code == 403
        assert client.post(url("testimony_new"), interview()).status_code == 403
    assert not records.Testimony.objects.exists()
    assert Client().get(url("testimony_new")).status_code == 302


# --- the testimony page --------------------------------------------------------------------


def test_the_documenter_reads_everything_and_the_read_is_audited(
    documenter: User, testimony: records.Testimony
) -> None:
    response = client_in(documenter).get(url("testimony_detail", testimony.public_id))
    page = html(response)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert TRANSCRIPT in page and IDENTITY in page and "Seoul office, room 3" in page
    assert 'name="edit-version"' in page and 'id="seal-form"' in page
    event = AuditEvent.objects.filter(action="view", object_type="testimony").get()
    assert event.object_id == testimony.public_id and event.actor_id == documenter.pk


def test_researchers_read_the_summary_never_the_transcript_nor_the_identity(
    researcher: User, other_researcher: User, testimony: records.Testimony, documenter: User
) -> None:
    victim = services.individual_add(
        actor=documenter, testimony=testimony, role="victim", name="Ri Sun-hui", sex="F"
    )
    code_act(documenter, testimony, "arrest", victims=[victim.pk])
    for user in (researcher, other_researcher):
        response = client_in(user).get(url("testimony_detail", testimony.public_id))
        page = html(response)
        assert response.status_code == 200
        assert "Detention at a holding centre" in page
        assert TRANSCRIPT not in page and "bowibu" not in page
        assert IDENTITY not in page and "Seoul office" not in page and "Ri Sun-hui" not in page
        assert (
            "Arrest" in page and "Kwanliso No. 15 Yodok" in page and f"Victim #{victim.pk}" in page
        )
        assert "<form" not in main(page).split('id="testimony-body"')[1]  # read only
    assert not AuditEvent.objects.filter(action="view", object_type="testimony").exists()


def test_another_agency_gets_not_found(
    other_documenter: User,
    other_researcher: User,
    internal: records.Testimony,
    testimony: records.Testimony,
) -> None:
    client = client_in(other_documenter)
    assert client.get(url("testimony_detail", testimony.public_id)).status_code == 404
    assert client.get(url("testimony_detail", "T-NOSUCH1")).status_code == 404
    response = client.post(
        url("individual_add", testimony.public_id), {"individual-role": "victim"}
    )
    assert response.status_code == 404 and not Individual.objects.exists()
    # an internal testimony does not exist for another agency's researcher
    assert (
        client_in(other_researcher).get(url("testimony_detail", internal.public_id)).status_code
        == 404
    )


def test_anonymous_visitors_are_sent_to_sign_in(testimony: records.Testimony) -> None:
    client = Client()
    for address in (
        url("testimony_detail", testimony.public_id),
        url("corroboration"),
        url("evidence_list"),
        url("places"),
    ):
        response = client.get(address)
        assert response.status_code == 302 and "login" in response["Location"]
    response = client.post(url("testimony_seal", testimony.public_id), {"seal-version": "1"})
    assert response.status_code == 302
    testimony.refresh_from_db()
    assert not testimony.is_sealed


def test_researchers_and_other_roles_cannot_post(
    researcher: User, caseworker: User, testimony: records.Testimony
) -> None:
    for user in (researcher, caseworker):
        client = client_in(user)
        for name in ("testimony_update", "testimony_seal", "consent_withdraw", "incident_add"):
            assert client.post(url(name, testimony.public_id), {}).status_code == 403
    assert (
        client_in(caseworker).get(url("testimony_detail", testimony.public_id)).status_code == 403
    )
    testimony.refresh_from_db()
    assert testimony.version == 1 and not testimony.consent_withdrawn


def test_an_edit_saves_what_changed(documenter: User, testimony: records.Testimony) -> None:
    response = client_in(documenter).post(
        url("testimony_update", testimony.public_id),
        edit_data(testimony, summary="Detention at a holding centre in Sinuiju."),
    )
    assert response.status_code == 302
    assert response["Location"] == url("testimony_detail", testimony.public_id) + "#content"
    testimony.refresh_from_db()
    assert testimony.summary.endswith("in Sinuiju.") and testimony.version == 2
    event = AuditEvent.objects.filter(action="update", object_type="testimony").get()
    assert event.detail["fields"] == ["summary"]


def test_a_stale_edit_shows_the_conflict_and_keeps_the_input(
    documenter: User, testimony: records.Testimony, make_user: Callable[..., User]
) -> None:
    client = client_in(documenter)
    page = html(client.get(url("testimony_detail", testimony.public_id)))
    assert 'name="edit-version" value="1"' in page
    colleague = make_user(Role.DOCUMENTER, username="dan")
    services.testimony_update(
        actor=colleague, testimony=testimony, expected_version=1, language="en"
    )
    response = client.post(
        url("testimony_update", testimony.public_id),
        edit_data(testimony, summary="My better summary.", version="1"),
    )
    page = html(response)
    assert response.status_code == 200
    assert "Someone else saved this record since you opened it" in page
    assert "language: &#x27;Korean&#x27; → &#x27;English&#x27;" in page
    form = re.search(r'<form[^>]*id="edit-form".*?</form>', page, re.S)
    assert form and "My better summary." in form.group(0)
    assert '<details id="edit-testimony" open>' in page
    testimony.refresh_from_db()
    assert testimony.summary.startswith("Detention") and testimony.version == 2


def test_a_sealed_testimony_takes_a_correction_only_with_a_reason(
    documenter: User, testimony: records.Testimony
) -> None:
    client = client_in(documenter)
    response = client.post(url("testimony_seal", testimony.public_id), {"seal-version": "1"})
    assert response.status_code == 302
    testimony.refresh_from_db()
    assert testimony.is_sealed and testimony.version == 2
    data = edit_data(testimony, summary="Detention at a holding centre in 2009.")
    response = client.post(url("testimony_update", testimony.public_id), data)
    page = html(response)
    assert response.status_code == 200
    assert "this testimony is sealed: a correction needs its reason" in field_error(
        page, "id_edit-reason"
    )
    testimony.refresh_from_db()
    assert testimony.version == 2 and not testimony.summary.endswith("2009.")
    data["edit-reason"] = "the witness corrected the year"
    assert client.post(url("testimony_update", testimony.public_id), data).status_code == 302
    testimony.refresh_from_db()
    assert testimony.version == 3 and testimony.summary.endswith("2009.")
    page = html(client.get(url("testimony_detail", testimony.public_id)))
    versions = re.search(r'<table id="versions">.*?</table>', page, re.S)
    assert versions and "the witness corrected the year" in versions.group(0)
    assert "Correct the testimony" in page and 'id="seal-form"' not in page


def test_a_stale_seal_is_refused_with_the_conflict(
    documenter: User, testimony: records.Testimony
) -> None:
    services.testimony_update(
        actor=documenter, testimony=testimony, expected_version=1, summary="Rewritten."
    )
    response = client_in(documenter).post(
        url("testimony_seal", testimony.public_id), {"seal-version": "1"}
    )
    page = html(response)
    assert response.status_code == 200
    seal_form = re.search(r'<form[^>]*id="seal-form".*?</form>', page, re.S)
    assert seal_form and "Someone else saved this record since you opened it" in seal_form.group(0)
    testimony.refresh_from_db()
    assert not testimony.is_sealed and testimony.version == 2


def test_an_htmx_post_with_an_error_returns_the_body_with_the_form(
    documenter: User, testimony: records.Testimony
) -> None:
    response = client_in(documenter).post(
        url("individual_add", testimony.public_id),
        {"individual-role": "witness", "individual-institution": "kpa"},
        HTTP_HX_REQUEST="true",
    )
    page = html(response)
    assert response.status_code == 200 and "<html" not in page
    assert page.lstrip().startswith('<div id="testimony-body"')
    assert "only a perpetrator has an institution" in field_error(page, "id_individual-institution")
    assert '<details id="add-individual" open>' in page
    assert not records.Individual.objects.exists()


def test_sealing_through_htmx_swaps_the_body(
    documenter: User, testimony: records.Testimony
) -> None:
    response = client_in(documenter).post(
        url("testimony_seal", testimony.public_id), {"seal-version": "1"}, HTTP_HX_REQUEST="true"
    )
    page = html(response)
    assert response.status_code == 200 and "<html" not in page
    assert page.lstrip().startswith('<div id="testimony-body"')
    assert '<p class="message" role="status">The testimony was sealed' in page
    # the body shown again holds the transcript: a read, recorded like any other
    (read,) = AuditEvent.objects.filter(action="view")
    assert (read.object_id, read.actor_name) == (testimony.public_id, documenter.username)


def test_consent_change_and_withdrawal(
    documenter: User, other_researcher: User, testimony: records.Testimony
) -> None:
    client = client_in(documenter)
    today = timezone.localdate().isoformat()
    response = client.post(
        url("consent_change", testimony.public_id),
        {"consent-scope": "share_with_mechanisms", "consent-effective_on": today},
    )
    page = html(response)
    assert "name the bodies the witness agreed to share with" in field_error(
        page, "id_consent-mechanisms"
    )
    assert ConsentEvent.objects.count() == 1
    response = client.post(
        url("consent_change", testimony.public_id),
        {
            "consent-scope": "share_with_mechanisms",
            "consent-mechanisms": ["ohchr_seoul"],
            "consent-effective_on": today,
            "consent-note": "by phone",
        },
    )
    assert response.status_code == 302
    response = client.post(
        url("consent_withdraw", testimony.public_id), {"withdraw-note": "asked in person"}
    )
    assert response.status_code == 302
    testimony.refresh_from_db()
    assert testimony.consent_withdrawn and testimony.consent_scope == "share_with_mechanisms"
    page = html(client.get(url("testimony_detail", testimony.public_id)))
    history = re.search(r'<table id="consent-history">.*?</table>', page, re.S)
    assert history
    for text in (
        "Given",
        "Changed",
        "Withdrawn",
        "by phone",
        "asked in person",
        "UN Human Rights Office",
    ):
        assert text in history.group(0)
    assert 'id="withdraw-form"' not in page and "Record consent given again" in page
    assert (
        client_in(other_researcher).get(url("testimony_detail", testimony.public_id)).status_code
        == 404
    )


def test_coding_individuals_incidents_and_acts(
    documenter: User, testimony: records.Testimony
) -> None:
    client = client_in(documenter)
    public_id = testimony.public_id
    response = client.post(
        url("individual_add", public_id),
        {
            "individual-role": "perpetrator",
            "individual-name": "Officer Pak",
            "individual-institution": "mss",
            "individual-rank": "captain",
        },
    )
    assert response.status_code == 302
    client.post(
        url("individual_add", public_id),
        {"individual-role": "victim", "individual-name": "Ri Sun-hui"},
    )
    perpetrator, victim = Individual.objects.order_by("pk")
    response = client.post(
        url("incident_add", public_id),
        {
            "incident-date_start": "2009-03-01",
            "incident-date_precision": "month",
            "incident-place": "kwanliso_15",
            "incident-description": "taken at night",
        },
    )
    assert response.status_code == 302
    incident = Incident.objects.get()
    page = html(client.get(url("testimony_detail", public_id)))
    assert f'name="act-{incident.pk}-perpetrator_{perpetrator.pk}"' in page
    assert f'value="{victim.pk}"' in page and "Ri Sun-hui" in page
    assert '<optgroup label="Kwanliso (political prison camp)">' in page
    response = client.post(
        url("act_add", public_id, incident.pk),
        {
            f"act-{incident.pk}-act_type": "torture",
            f"act-{incident.pk}-connection": "experienced",
            f"act-{incident.pk}-reliability": "b",
            f"act-{incident.pk}-credibility": "2",
            f"act-{incident.pk}-victims": [str(victim.pk)],
            f"act-{incident.pk}-perpetrator_{perpetrator.pk}": "direct",
        },
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"#incident-{incident.pk}")
    act = Act.objects.get()
    assert act.coi_category == "e" and list(act.victims.all()) == [victim]
    assert act.involvements.get().degree == "direct"
    page = html(client.get(url("testimony_detail", public_id)))
    row = re.search(rf'<tr id="act-{act.pk}">.*?</tr>', page, re.S)
    assert row and "Torture" in row.group(0) and "Officer Pak" in row.group(0)
    assert "Direct perpetrator" in row.group(0) and "Ri Sun-hui" in row.group(0)


def test_researchers_see_the_coding_without_names(
    documenter: User, researcher: User, testimony: records.Testimony
) -> None:
    perpetrator = services.individual_add(
        actor=documenter,
        testimony=testimony,
        role="perpetrator",
        name="Officer Pak",
        institution="mss",
        rank="captain",
    )
    incident = services.incident_add(
        actor=documenter,
        testimony=testimony,
        date_start=date(2009, 3, 1),
        date_precision="month",
        place="kwanliso_15",
        description="taken at night from the house",
    )
    services.act_add(
        actor=documenter,
        incident=incident,
        act_type="torture",
        connection="experienced",
        reliability="b",
        credibility="2",
        perpetrators=[(perpetrator.pk, "direct")],
        notes="scar on the arm",
    )
    page = html(client_in(researcher).get(url("testimony_detail", testimony.public_id)))
    assert "Torture" in page and "Ministry of State Security" in page and "captain" in page
    assert (
        "Officer Pak" not in page and "taken at night" not in page and "scar on the arm" not in page
    )


@pytest.mark.parametrize(
    ("view", "data", "field_id", "message"),
    [
        (
            "incident_add",
            {
                "incident-date_start": "2009-03-01",
                "incident-date_precision": "day",
                "incident-date_end": "2009-04-01",
            },
            "id_incident-date_end",
            "an end date goes with the precision",
        ),
        (
            "individual_add",
            {"individual-role": "victim", "individual-institution": "mss"},
            "id_individual-institution",
            "only a perpetrator has an institution",
        ),
        (
            "individual_add",
            {"individual-role": "victim", "individual-approx_age": "130"},
            "id_individual-approx_age",
            "between 0 and 120",
        ),
    ],
)
def test_coding_errors_show_next_to_their_field_and_nothing_is_written(
    documenter: User,
    testimony: records.Testimony,
    view: str,
    data: dict[str, str],
    field_id: str,
    message: str,
) -> None:
    response = client_in(documenter).post(url(view, testimony.public_id), data)
    page = html(response)
    assert response.status_code == 200
    assert message in field_error(page, field_id)
    assert not Incident.objects.exists() and not Individual.objects.exists()


def test_an_act_error_shows_in_its_incidents_form(
    documenter: User, testimony: records.Testimony
) -> None:
    incident = services.incident_add(actor=documenter, testimony=testimony)
    other = services.individual_add(actor=documenter, testimony=testimony, role="witness")
    prefix = f"act-{incident.pk}"
    response = client_in(documenter).post(
        url("act_add", testimony.public_id, incident.pk),
        {
            f"{prefix}-act_type": "arrest",
            f"{prefix}-connection": "heard",
            f"{prefix}-reliability": "c",
            f"{prefix}-credibility": "3",
            f"{prefix}-victims": [str(other.pk)],
        },
    )
    page = html(response)
    assert response.status_code == 200
    assert (
        "is not one of the available choices" in field_error(page, f"id_{prefix}-victims_0")
        if f'id="id_{prefix}-victims_0"' in page
        else "Select a valid choice" in page
    )
    assert f'<details id="add-act-{incident.pk}" class="add-act" open>' in page
    assert not Act.objects.exists()


def test_an_act_for_an_incident_of_another_testimony_is_not_found(
    documenter: User, testimony: records.Testimony, internal: records.Testimony
) -> None:
    incident = services.incident_add(actor=documenter, testimony=internal)
    response = client_in(documenter).post(
        url("act_add", testimony.public_id, incident.pk),
        {f"act-{incident.pk}-act_type": "arrest"},
    )
    assert response.status_code == 404 and not Act.objects.exists()


# --- evidence ------------------------------------------------------------------------------


def test_upload_a_file_and_read_its_chain_of_custody(store: Path, documenter: User) -> None:
    client = client_in(documenter)
    assert "At most 50 MB" in html(client.get(url("evidence_upload")))
    response = client.post(
        url("evidence_upload"),
        {
            "file": _file("statement.pdf", PDF),
            "received_from": "the witness, in person",
            "received_on": "2024-03-01",
            "description": "signed",
        },
    )
    evidence = EvidenceFile.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("evidence_detail", evidence.public_id)
    page = html(client.get(url("evidence_detail", evidence.public_id)))
    assert "statement.pdf" in page and "application/pdf" in page and evidence.sha256 in page
    custody = re.search(r'<table id="custody">.*?</table>', page, re.S)
    assert custody and "Received" in custody.group(0) and "Uploaded" in custody.group(0)
    last = evidence.custody.last()
    assert last is not None and last.seq == 2
    assert "<td>2</td>" in custody.group(0) and f'title="{last.hash}"' in custody.group(0)
    assert "the witness, in person" in page
    page = html(client.get(url("evidence_list")))
    assert evidence.public_id in page and "1 file" in page


def _file(name: str, data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("report.pdf", EXE, "executables and scripts are not accepted"),
        ("photo.jpg", b"just some text, not a photo\n", "does not match the content (text/plain)"),
        (
            "page.txt",
            b"<html><script>alert(1)</script></html>",
            "HTML, SVG and XML files are not accepted",
        ),
    ],
)
def test_disguised_files_are_refused_with_the_message_and_nothing_stored(
    store: Path, documenter: User, name: str, data: bytes, message: str
) -> None:
    response = client_in(documenter).post(
        url("evidence_upload"), {"file": _file(name, data), "received_from": "someone"}
    )
    page = html(response)
    assert response.status_code == 200
    assert message in field_error(page, "id_file")
    assert 'value="someone"' in page  # the other input is kept
    assert not EvidenceFile.objects.exists() and stored_files(store) == []


def test_oversized_files_are_refused_before_they_are_read(
    store: Path, documenter: User, settings: Any
) -> None:
    settings.SAEBOM_EVIDENCE_MAX_MB = 1
    data = b"%PDF-1.7\n" + b"0" * (1024 * 1024)
    response = client_in(documenter).post(url("evidence_upload"), {"file": _file("big.pdf", data)})
    assert "larger than the limit of 1 MB" in field_error(html(response), "id_file")
    assert not EvidenceFile.objects.exists() and stored_files(store) == []


def test_uploads_never_touch_the_disk_unencrypted(
    store: Path, documenter: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload handler (settings.FILE_UPLOAD_HANDLERS) keeps evidence in memory."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10  # Django would spool anything larger to disk

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an upload went to a temporary file")

    monkeypatch.setattr("django.core.files.temp.NamedTemporaryFile", refuse)
    client = client_in(documenter)
    assert client.post(url("evidence_upload"), {"file": _file("a.pdf", PDF)}).status_code == 302
    original = records.EvidenceFile.objects.get()
    response = client.post(
        url("evidence_working_copy", original.public_id),
        {"copy-file": _file("b.pdf", PDF + b"copy")},
    )
    assert response.status_code == 302 and records.EvidenceFile.objects.count() == 2


def test_uploads_need_the_csrf_token(store: Path, documenter: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(documenter)
    response = client.post(url("evidence_upload"), {"file": _file("a.pdf", PDF)})
    assert response.status_code == 403 and not records.EvidenceFile.objects.exists()


def test_a_future_receipt_date_is_refused_next_to_it(store: Path, documenter: User) -> None:
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = client_in(documenter).post(
        url("evidence_upload"), {"file": _file("a.pdf", PDF), "received_on": tomorrow}
    )
    assert "cannot be in the future" in field_error(html(response), "id_received_on")
    assert not EvidenceFile.objects.exists() and stored_files(store) == []


def test_download_is_an_attachment_with_nosniff_and_custody(store: Path, documenter: User) -> None:
    evidence = upload(documenter, filename="../../증언 statement.pdf")
    response = client_in(documenter).post(url("evidence_download", evidence.public_id))
    assert response.status_code == 200 and response.content == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''%EC%A6%9D%EC%96%B8%20statement.pdf"
    )
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Cache-Control"] == "no-store"
    assert evidence.custody.filter(action=CustodyEvent.Action.DOWNLOADED).count() == 1
    assert (
        client_in(documenter).get(url("evidence_download", evidence.public_id)).status_code == 405
    )


def test_opening_shows_images_inline_and_other_files_as_attachments(
    store: Path, documenter: User
) -> None:
    image = upload(documenter, filename="scan.png", data=PNG)
    response = client_in(documenter).post(url("evidence_open", image.public_id))
    assert (
        response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    )
    assert response["Content-Disposition"] == 'inline; filename="scan.png"'
    assert image.custody.filter(action=CustodyEvent.Action.VIEWED).count() == 1
    document = upload(documenter)
    response = client_in(documenter).post(url("evidence_open", document.public_id))
    assert response["Content-Disposition"] == 'attachment; filename="statement.pdf"'


def test_evidence_of_another_agency_is_not_found(
    store: Path, documenter: User, other_documenter: User
) -> None:
    evidence = upload(documenter)
    client = client_in(other_documenter)
    for name in ("evidence_detail",):
        assert client.get(url(name, evidence.public_id)).status_code == 404
    for name in ("evidence_open", "evidence_download", "evidence_working_copy", "evidence_link"):
        assert client.post(url(name, evidence.public_id)).status_code == 404
    assert evidence.public_id not in html(client.get(url("evidence_list")))
    assert evidence.custody.count() == 2  # received, uploaded: nothing more


def test_evidence_refuses_researchers_and_other_roles(
    store: Path, documenter: User, researcher: User, caseworker: User
) -> None:
    evidence = upload(documenter)
    for user in (researcher, caseworker):
        client = client_in(user)
        assert client.get(url("evidence_list")).status_code == 403
        assert client.get(url("evidence_detail", evidence.public_id)).status_code == 403
        assert client.post(url("evidence_download", evidence.public_id)).status_code == 403
        response = client.post(url("evidence_upload"), {"file": _file("b.pdf", PDF + b"x")})
        assert response.status_code == 403
    assert EvidenceFile.objects.count() == 1


def test_a_working_copy_points_at_its_original(store: Path, documenter: User) -> None:
    original = upload(documenter)
    client = client_in(documenter)
    response = client.post(
        url("evidence_working_copy", original.public_id),
        {
            "copy-file": _file("redacted.pdf", PDF + b"redacted"),
            "copy-description": "names blacked out",
        },
    )
    assert response.status_code == 302
    copy = EvidenceFile.objects.get(is_working_copy=True)
    assert copy.original == original
    page = html(client.get(url("evidence_detail", original.public_id)))
    assert copy.public_id in page and "Working copy made" in page
    response = client.post(
        url("evidence_working_copy", original.public_id),
        {"copy-file": _file("copy.pdf", EXE)},
    )
    assert "executables and scripts are not accepted" in field_error(html(response), "id_copy-file")
    assert '<details id="add-copy" open>' in html(response)


def test_link_evidence_from_either_side(
    store: Path, documenter: User, testimony: records.Testimony, other_documenter: User
) -> None:
    first = upload(documenter)
    second = upload(documenter, filename="scan.png", data=PNG)
    client = client_in(documenter)
    response = client.post(
        url("evidence_link", first.public_id), {"link-testimony": testimony.public_id}
    )
    assert response.status_code == 302
    response = client.post(
        url("evidence_attach", testimony.public_id), {"link-evidence": second.public_id}
    )
    assert response.status_code == 302
    assert set(testimony.evidence_files.all()) == {first, second}
    page = html(client.get(url("testimony_detail", testimony.public_id)))
    files = re.search(r'<ul class="plain" id="evidence-files">.*?</ul>', page, re.S)
    assert files and first.public_id in files.group(0) and second.public_id in files.group(0)
    # an id that is not the agency's is refused next to the field, the same as a missing one
    theirs = upload(other_documenter, filename="theirs.pdf", data=PDF + b"theirs")
    for wanted in (theirs.public_id, "E-NOSUCH1"):
        response = client.post(
            url("evidence_attach", testimony.public_id), {"link-evidence": wanted}
        )
        assert f"no evidence file {wanted} in your agency" in field_error(
            html(response), "id_link-evidence"
        )
    response = client.post(url("evidence_link", first.public_id), {"link-testimony": "T-NOSUCH1"})
    assert "no testimony T-NOSUCH1 in your agency" in field_error(
        html(response), "id_link-testimony"
    )


def test_researchers_never_see_the_evidence_section(
    store: Path, documenter: User, researcher: User, testimony: records.Testimony
) -> None:
    evidence = upload(documenter)
    services.evidence_link(actor=documenter, evidence=evidence, testimony=testimony)
    page = html(client_in(researcher).get(url("testimony_detail", testimony.public_id)))
    assert evidence.public_id not in page and 'id="evidence"' not in page


# --- corroboration -------------------------------------------------------------------------


@pytest.fixture
def two_accounts(documenter: User, make_testimony: MakeTestimony) -> tuple[Act, Act]:
    first = make_testimony(documenter, summary="Torture during interrogation.")
    second = make_testimony(documenter, summary="A cellmate's account of the same beating.")
    return code_act(documenter, first, "torture"), code_act(
        documenter, second, "torture", connection="witnessed"
    )


def test_corroborate_two_accounts(documenter: User, two_accounts: tuple[Act, Act]) -> None:
    first, second = two_accounts
    client = client_in(documenter)
    page = html(client.get(url("corroboration")))
    listed = re.search(r'<table id="uncorroborated">.*?</table>', page, re.S)
    assert listed and listed.group(0).count("Torture") == 2
    response = client.post(
        url("corroborate"),
        {"acts": [str(first.pk), str(second.pk)], "label": "Beating at Yodok, March 2009"},
    )
    assert response.status_code == 302
    group = Corroboration.objects.get()
    assert set(group.acts.all()) == {first, second}
    page = html(client.get(url("corroboration")))
    assert "Beating at Yodok, March 2009" in page and "2 independent sources" in page
    assert "Every serious allegation has at least two independent sources." in page
    response = client.post(url("uncorroborate", first.pk))
    assert response.status_code == 302 and not Corroboration.objects.exists()


def test_corroboration_errors_show_next_to_their_field(
    documenter: User, two_accounts: tuple[Act, Act]
) -> None:
    first, second = two_accounts
    client = client_in(documenter)
    page = html(
        client.post(url("corroborate"), {"acts": [str(first.pk), str(second.pk)], "label": ""})
    )
    assert "required: name the event without naming anyone" in field_error(page, "id_label")
    page = html(client.post(url("corroborate"), {"acts": [str(first.pk)], "label": "one only"}))
    caption = re.search(r"<caption>Acts that describe the same event.*?</caption>", page, re.S)
    assert caption and "choose acts from at least two testimonies" in caption.group(0)
    assert f'value="{first.pk}" id="act-choice-{first.pk}" checked' in page  # the choice is kept
    assert not Corroboration.objects.exists()


def test_corroboration_of_another_agencys_act_is_not_found(
    other_documenter: User, two_accounts: tuple[Act, Act], make_testimony: MakeTestimony
) -> None:
    first, _second = two_accounts
    theirs = code_act(other_documenter, make_testimony(other_documenter), "torture")
    client = client_in(other_documenter)
    assert first.incident.testimony.public_id not in html(client.get(url("corroboration")))
    response = client.post(
        url("corroborate"), {"acts": [str(first.pk), str(theirs.pk)], "label": "x"}
    )
    assert response.status_code == 404
    assert client.post(url("uncorroborate", first.pk)).status_code == 404
    assert not Corroboration.objects.exists()


def test_corroboration_refuses_researchers(researcher: User) -> None:
    client = client_in(researcher)
    assert client.get(url("corroboration")).status_code == 403
    assert client.post(url("corroborate"), {"label": "x"}).status_code == 403


# --- places --------------------------------------------------------------------------------


def test_researchers_read_the_gazetteer_without_a_form(researcher: User, gazetteer: None) -> None:
    page = html(client_in(researcher).get(url("places")))
    row = re.search(r'<tr id="place-kwanliso_15">.*?</tr>', page, re.S)
    assert (
        row and "Kwanliso No. 15 Yodok" in row.group(0) and "제15호 관리소 (요덕)" in row.group(0)
    )
    assert "Kwanliso (political prison camp)" in row.group(0) and "<td>15</td>" in row.group(0)
    assert 'id="place-form"' not in page


def test_administrators_add_a_facility(admin: User, gazetteer: None) -> None:
    client = client_in(admin)
    data = {
        "place-kind": "facility",
        "place-parent": "yodok",
        "place-name_ko": "요덕 집결소",
        "place-name_en": "Yodok holding centre",
        "place-facility_type": "",
    }
    page = html(client.post(url("place_create"), data))
    assert "a facility has a type, and only a facility" in field_error(
        page, "id_place-facility_type"
    )
    assert not Place.objects.filter(name_en="Yodok holding centre").exists()
    data["place-facility_type"] = "jipkyulso"
    assert client.post(url("place_create"), data).status_code == 302
    place = Place.objects.get(name_en="Yodok holding centre")
    assert place.province == "south_hamgyong" and place.added_by == admin.agency


def test_documenters_cannot_add_places(documenter: User, gazetteer: None) -> None:
    client = client_in(documenter)
    assert 'id="place-form"' not in html(client.get(url("places")))
    response = client.post(url("place_create"), {"place-kind": "county", "place-parent": "jagang"})
    assert response.status_code == 403


def test_places_refuse_other_roles(caseworker: User) -> None:
    assert client_in(caseworker).get(url("places")).status_code == 403


# --- Korean --------------------------------------------------------------------------------


def test_the_pages_render_in_korean(
    store: Path, documenter: User, testimony: records.Testimony, two_accounts: tuple[Act, Act]
) -> None:
    evidence = upload(documenter)
    client = client_in(documenter, "ko")
    pages = {
        url("testimony_list"): "익명 공개",
        url("testimony_list") + "?q=요덕": "",
        url("testimony_new"): "한국어",
        url("testimony_detail", testimony.public_id): "익명 공개",
        url("testimony_detail", two_accounts[0].incident.testimony.public_id): "고문",
        url("corroboration"): "고문",
        url("evidence_list"): evidence.public_id,
        url("evidence_upload"): "",
        url("evidence_detail", evidence.public_id): evidence.public_id,
        url("places"): "제15호 관리소 (요덕)",
    }
    for address, expected in pages.items():
        response = client.get(address)
        page = html(response)
        assert response.status_code == 200, address
        assert '<html lang="ko">' in page
        assert expected in page, address


def test_a_refused_form_that_shows_the_transcript_again_is_an_audited_read(
    documenter: User, testimony: records.Testimony
) -> None:
    response = client_in(documenter).post(
        url("testimony_seal", testimony.public_id), {"seal-version": "x"}
    )
    assert TRANSCRIPT in html(response)
    assert AuditEvent.objects.filter(action="view", object_id=testimony.public_id).count() == 1
    assert not records.Testimony.objects.get(pk=testimony.pk).is_sealed
