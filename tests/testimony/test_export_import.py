"""Testimony exports (only what consent covers; de-identified unless the witness agreed to be
named; audited with the file's hash; custody for listed evidence) and imports (all or nothing,
errors naming record and field, a round trip through the internal export)."""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from saebom.accounts.models import Agency, User
from saebom.core.actors import system_actor
from saebom.core.exceptions import PermissionDenied, SaebomError
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.testimony import exporting, importing, services
from saebom.testimony.exporting import cell
from saebom.testimony.importing import ImportRejected
from saebom.testimony.models import (
    Act,
    ConsentEvent,
    Corroboration,
    CustodyEvent,
    EvidenceFile,
    Incident,
    Individual,
)
from saebom.testimony.models import Testimony as Record
from tests.cli import run_cli
from tests.factories import AgencyFactory, ArrivalFactory, UserFactory
from tests.testimony.conftest import IDENTITY, TRANSCRIPT

MakeTestimony = Callable[..., Record]
pytestmark = pytest.mark.django_db
# Not "testimonies_export": pytest would collect a name starting with "test".
export_testimonies = exporting.testimonies_export
import_testimonies = importing.testimonies_import

VICTIM_NAME = "Pak Chol-ho"
PERPETRATOR_NAME = "Captain Kang Myong-su"
PLACE_DETAIL = "the cellar behind the Onsong market"
DESCRIPTION = "Taken from the family house at night by two officers"
NOTES = "Witness's cousin also saw it"
INTERVIEW_PLACE = "Seoul office, room 3"
EVIDENCE_NAME = "pak_family_letter.pdf"
CONFIDENTIAL = (TRANSCRIPT, IDENTITY, VICTIM_NAME, PERPETRATOR_NAME, PLACE_DETAIL, DESCRIPTION)
CONFIDENTIAL += (NOTES, INTERVIEW_PLACE, EVIDENCE_NAME)
PDF = b"%PDF-1.7\nletter from the Pak family\n%%EOF\n"


@pytest.fixture
def store(tmp_path: Path, settings: Any) -> Path:
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"
    return tmp_path / "evidence"


@pytest.fixture
def evidence(store: Path, documenter: User) -> EvidenceFile:
    return services.evidence_upload(
        actor=documenter,
        filename=EVIDENCE_NAME,
        data=PDF,
        received_from="the witness, in person",
        received_on=date(2024, 5, 2),
        description="a letter",
    )


def code(actor: User, testimony: Record, act_type: str = "arrest") -> Act:
    """An incident with a victim and a perpetrator, and one act."""
    victim = services.individual_add(
        actor=actor,
        testimony=testimony,
        role="victim",
        name=VICTIM_NAME,
        sex="M",
        approx_age=34,
        relation_to_witness="family",
    )
    perpetrator = services.individual_add(
        actor=actor,
        testimony=testimony,
        role="perpetrator",
        name=PERPETRATOR_NAME,
        institution="mss",
        unit="Onsong county bureau",
        rank="captain",
    )
    incident = services.incident_add(
        actor=actor,
        testimony=testimony,
        date_start=date(2009, 3, 1),
        date_precision="month",
        place="north_hamgyong",
        place_detail=PLACE_DETAIL,
        description=DESCRIPTION,
    )
    services.act_add(
        actor=actor,
        incident=incident,
        act_type="detention",
        place="kwanliso_15",
        connection="heard",
        reliability="c",
        credibility="3",
        victims=[victim.pk],
    )
    return services.act_add(
        actor=actor,
        incident=incident,
        act_type=act_type,
        connection="witnessed",
        reliability="b",
        credibility="2",
        victims=[victim.pk],
        perpetrators=[(perpetrator.pk, "direct")],
        notes=NOTES,
    )


@pytest.fixture
def by_scope(documenter: User, make_testimony: MakeTestimony) -> dict[str, Record]:
    """One coded testimony for each consent scope (sharing: with OHCHR Seoul only)."""
    made = {}
    for scope in ("internal", "share_with_mechanisms", "publish_anonymised", "publish_named"):
        mechanisms = ["ohchr_seoul"] if scope == "share_with_mechanisms" else []
        made[scope] = make_testimony(
            documenter,
            consent_scope=scope,
            consent_mechanisms=mechanisms,
            interviewers=["dora"],
            summary=f"Arrest and detention in 2009 ({scope}).",
        )
        code(documenter, made[scope])
    return made


def exported(actor: Any, scope: str, **kwargs: Any) -> dict[str, Any]:
    return json.loads(export_testimonies(actor=actor, scope=scope, **kwargs).content)


def ids(document: dict[str, Any]) -> set[str]:
    return {t["id"] for t in document["testimonies"]}


def csv_rows(content: bytes) -> list[dict[str, str]]:
    lines = [ln for ln in content.decode().splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


EVERY_EXPORT = [
    ("internal", None),
    ("share_with_mechanisms", "ohchr_seoul"),
    ("publish_anonymised", None),
    ("publish_named", None),
]


# -- what leaves --------------------------------------------------------------------------------


def test_withdrawal_removes_the_testimony_from_every_export(
    documenter: User, by_scope: dict[str, Record]
) -> None:
    named = by_scope["publish_named"]
    for scope, mechanism in EVERY_EXPORT:
        for fmt in ("json", "csv"):
            export = export_testimonies(actor=documenter, scope=scope, mechanism=mechanism, fmt=fmt)
            assert named.public_id.encode() in export.content, (scope, fmt)
    services.consent_withdraw(actor=documenter, testimony=named)
    for scope, mechanism in EVERY_EXPORT:
        for fmt in ("json", "csv"):
            export = export_testimonies(actor=documenter, scope=scope, mechanism=mechanism, fmt=fmt)
            assert named.public_id.encode() not in export.content, (scope, fmt)
    assert named.public_id not in ids(exported(system_actor(), "internal", agency_code="alpha"))


def test_each_scope_holds_only_the_consents_that_cover_it(
    documenter: User, by_scope: dict[str, Record]
) -> None:
    every = {scope: t.public_id for scope, t in by_scope.items()}
    assert ids(exported(documenter, "internal")) == set(every.values())
    shared = exported(documenter, "share_with_mechanisms", mechanism="ohchr_seoul")
    assert ids(shared) == {every[s] for s in every if s != "internal"}
    other_body = exported(documenter, "share_with_mechanisms", mechanism="wgad")
    assert ids(other_body) == {every["publish_anonymised"], every["publish_named"]}
    assert ids(exported(documenter, "publish_anonymised")) == {
        every["publish_anonymised"],
        every["publish_named"],
    }
    assert ids(exported(documenter, "publish_named")) == {every["publish_named"]}
    rows = csv_rows(export_testimonies(actor=documenter, scope="publish_named", fmt="csv").content)
    assert {r["testimony_id"] for r in rows} == {every["publish_named"]}


@pytest.mark.parametrize(
    ("scope", "mechanism", "field"),
    [
        ("share_with_mechanisms", None, "mechanism"),
        ("publish_anonymised", "ohchr_seoul", "mechanism"),
        ("share_with_mechanisms", "interpol", "mechanism"),
        ("everything", None, "scope"),
        ("", None, "scope"),
    ],
)
def test_the_scope_and_mechanism_are_checked(
    documenter: User, scope: str, mechanism: str | None, field: str
) -> None:
    with pytest.raises(SaebomError) as caught:
        export_testimonies(actor=documenter, scope=scope, mechanism=mechanism)
    assert caught.value.field == field
    assert not AuditEvent.objects.filter(action="export", object_type="testimony").exists()


@pytest.mark.parametrize("scope", ["share_with_mechanisms", "publish_anonymised"])
def test_shared_and_anonymised_exports_are_deidentified(
    documenter: User, by_scope: dict[str, Record], evidence: EvidenceFile, scope: str
) -> None:
    services.evidence_link(actor=documenter, evidence=evidence, testimony=by_scope[scope])
    mechanism = "ohchr_seoul" if scope == "share_with_mechanisms" else None
    for fmt in ("json", "csv"):
        content = export_testimonies(
            actor=documenter, scope=scope, mechanism=mechanism, fmt=fmt
        ).content.decode()
        assert by_scope[scope].public_id in content
        # A share export names the publish_named witness (see the next test); nobody else.
        named = {IDENTITY} if scope == "share_with_mechanisms" and fmt == "json" else set()
        for secret in set(CONFIDENTIAL) - named:
            assert secret not in content, (fmt, secret)
        assert fmt == "csv" or "Onsong county bureau" in content  # units and ranks stay
    document = exported(documenter, scope, mechanism=mechanism)
    record = next(t for t in document["testimonies"] if t["id"] == by_scope[scope].public_id)
    assert record["deidentified"] is True
    assert "transcript" not in record and "identity" not in record["witness"]
    assert "person" not in record["witness"] and "place" not in record["interview"]
    assert sorted(record["individuals"][0]) == sorted(
        ["ref", "role", "sex", "approx_age", "relation_to_witness", "institution", "unit", "rank"]
    )
    assert record["evidence"] == [
        {"id": evidence.public_id, "sha256": evidence.sha256, "media_type": "application/pdf"}
        | {"size": len(PDF)}
    ]


def test_publish_named_names_the_witness_and_nobody_else(
    documenter: User, by_scope: dict[str, Record]
) -> None:
    content = export_testimonies(actor=documenter, scope="publish_named").content.decode()
    assert IDENTITY in content
    for secret in set(CONFIDENTIAL) - {IDENTITY}:
        assert secret not in content, secret
    [record] = json.loads(content)["testimonies"]
    assert record["deidentified"] is False and record["witness"]["identity"] == IDENTITY
    # The same witness is named to a mechanism, but not in an anonymised publication.
    shared = exported(documenter, "share_with_mechanisms", mechanism="wgad")
    assert IDENTITY in json.dumps(shared, ensure_ascii=False)
    anonymised = export_testimonies(actor=documenter, scope="publish_anonymised").content
    assert IDENTITY.encode() not in anonymised


def test_internal_export_holds_everything(
    documenter: User, by_scope: dict[str, Record], evidence: EvidenceFile
) -> None:
    testimony = by_scope["internal"]
    services.evidence_link(actor=documenter, evidence=evidence, testimony=testimony)
    content = export_testimonies(actor=documenter, scope="internal").content.decode()
    for secret in CONFIDENTIAL:
        assert secret in content, secret
    record = next(t for t in json.loads(content)["testimonies"] if t["id"] == testimony.public_id)
    assert record["interview"]["interviewers"] == ["dora"]
    [event] = record["events"]
    assert event["date_precision"] == {"code": "month", "label_ko": "월", "label_en": "Month"}
    detention, arrest = event["acts"]
    assert arrest["act_type"]["label_en"] == "Arrest" and arrest["huridocs_code"]
    assert arrest["coi_category"]["code"] == "e"
    [perpetrator] = arrest["perpetrators"]
    assert perpetrator["individual"] == "i2" and perpetrator["degree"]["code"] == "direct"
    assert record["individuals"][1]["name"] == PERPETRATOR_NAME
    assert detention["place"] == "kwanliso_15" and detention["victims"] == ["i1"]
    assert {p["code"] for p in record["places"]} == {"north_hamgyong", "kwanliso_15"}
    yodok = next(p for p in record["places"] if p["code"] == "kwanliso_15")
    assert (yodok["facility_number"], yodok["parent"]) == ("15", "yodok")
    assert record["sources"][0]["acts"][1]["connection"]["code"] == "witnessed"


def test_export_is_audited_with_the_files_hash_and_listed_evidence_gets_custody(
    documenter: User, by_scope: dict[str, Record], evidence: EvidenceFile
) -> None:
    services.evidence_link(actor=documenter, evidence=evidence, testimony=by_scope["internal"])
    digests = {}
    for fmt in ("json", "csv"):
        export = export_testimonies(actor=documenter, scope="internal", fmt=fmt)
        digests[fmt] = hashlib.sha256(export.content).hexdigest()
        event = AuditEvent.objects.filter(action="export", object_type="testimony").latest("seq")
        assert event.detail["sha256"] == digests[fmt]
        assert event.detail["count"] == 4 and event.detail["format"] == fmt
        assert sorted(event.detail["testimony_ids"]) == sorted(
            t.public_id for t in by_scope.values()
        )
        assert event.detail["scope"] == "internal" and event.agency_code == "alpha"
    exports = evidence.custody.filter(action=CustodyEvent.Action.EXPORTED)
    assert [(e.actor_name, e.agency_code) for e in exports] == [("dora", "alpha")]  # JSON only
    assert digests["json"] in exports[0].note
    export_testimonies(actor=documenter, scope="publish_named")  # does not list the file
    assert exports.count() == 1


def test_csv_neutralises_formulas(documenter: User, make_testimony: MakeTestimony) -> None:
    testimony = make_testimony(
        documenter, summary='=HYPERLINK("http://evil.example","click")', consent_scope="internal"
    )
    code(documenter, testimony)
    content = export_testimonies(actor=documenter, scope="internal", fmt="csv").content
    rows = csv_rows(content)
    assert {r["summary"] for r in rows} == {'\'=HYPERLINK("http://evil.example","click")'}
    for row in rows:
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())
    assert [r["act_type"] for r in rows] == ["detention", "arrest"]
    assert rows[0]["place_code"] == "kwanliso_15" and rows[1]["place_code"] == "north_hamgyong"
    assert rows[1]["perpetrator_institutions"] == "mss" and rows[1]["victims"] == "1"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+82 10", "'+82 10"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        (None, ""),
        (3, "3"),
    ],
)
def test_cell(value: object, shown: str) -> None:
    assert cell(value) == shown


def test_synthetic_records_are_labelled(documenter: User, make_testimony: MakeTestimony) -> None:
    code(documenter, make_testimony(documenter, is_synthetic=True, consent_scope="internal"))
    document = exported(documenter, "internal")
    assert document["synthetic"] is True and "SYNTHETIC" in document["note"]
    content = export_testimonies(actor=documenter, scope="internal", fmt="csv").content
    assert content.startswith(b"# SYNTHETIC") and {r["synthetic"] for r in csv_rows(content)} == {
        "1"
    }


def test_the_operator_names_the_agency(
    documenter: User, by_scope: dict[str, Record], other_documenter: User
) -> None:
    operator = system_actor()
    Agency.objects.get_or_create(code="default", defaults={"name_ko": "운영", "name_en": "Ops"})
    assert exported(operator, "internal")["testimonies"] == []  # the operating agency's own
    assert len(exported(operator, "internal", agency_code="alpha")["testimonies"]) == 4
    assert exported(other_documenter, "internal")["testimonies"] == []  # beta's own: none
    with pytest.raises(SaebomError):
        export_testimonies(actor=other_documenter, scope="internal", agency_code="alpha")


@pytest.mark.parametrize("role", [Role.RESEARCHER, Role.CASEWORKER, Role.STATISTICIAN])
def test_roles_that_may_not_export_or_import(
    role: str, make_user: Callable[..., User], documenter: User, by_scope: dict[str, Record]
) -> None:
    data = export_testimonies(actor=documenter, scope="internal").content
    user = make_user(role)
    with pytest.raises(PermissionDenied):
        export_testimonies(actor=user, scope="publish_anonymised")
    with pytest.raises(PermissionDenied):
        import_testimonies(actor=user, data=data)


# -- import -------------------------------------------------------------------------------------


def normalised(document: dict[str, Any]) -> dict[str, Any]:
    """What must survive a round trip: not the time of the export, the version counters (the
    history is not carried), or the ids of corroboration groups (recorded again)."""
    document = copy.deepcopy(document)
    document.pop("generated_at")
    document["testimonies"].sort(key=lambda t: t["id"])
    groups = {g["id"]: f"group{n}" for n, g in enumerate(document.pop("corroborations"))}
    for record in document["testimonies"]:
        record.pop("version")
        for event in record["events"]:
            for act in event["acts"]:
                act["corroboration"] = groups.get(act["corroboration"])
    return document


@pytest.fixture
def archive(
    documenter: User, make_testimony: MakeTestimony, evidence: EvidenceFile
) -> Iterator[bytes]:
    """An internal export of a rich archive, made in a savepoint that is then rolled back: the
    database is back to its state before (users and the evidence file stay)."""
    with transaction.atomic():
        first = make_testimony(documenter, interviewers=["dora"], consent_scope="internal")
        second = make_testimony(
            documenter,
            witness_identity="",
            witness_sex="",
            interview_place="",
            transcript="",
            consent_scope="share_with_mechanisms",
            consent_mechanisms=["wgad", "ohchr_seoul"],
        )
        third = make_testimony(documenter, consent_scope="publish_named")
        acts = [code(documenter, t, act_type="torture") for t in (first, second)]
        services.incident_add(actor=documenter, testimony=third)  # no date, no place, no act
        services.acts_corroborate(actor=documenter, acts=acts, label="Onsong arrests, 2009")
        services.evidence_link(actor=documenter, evidence=evidence, testimony=first)
        services.testimony_seal(actor=documenter, testimony=first, expected_version=1)
        withdrawn = make_testimony(documenter)
        services.consent_withdraw(actor=documenter, testimony=withdrawn)
        document = json.loads(export_testimonies(actor=documenter, scope="internal").content)
        order = [first.public_id, second.public_id, third.public_id]
        transaction.set_rollback(True)
    assert not Record.objects.exists()
    document["testimonies"].sort(key=lambda t: order.index(t["id"]))  # a known order
    yield json.dumps(document, ensure_ascii=False, indent=1).encode()


def counts() -> dict[str, int]:
    models = (Record, Individual, Incident, Act, ConsentEvent, Corroboration, AuditEvent)
    return {m.__name__: m.objects.count() for m in models}


def test_round_trip_through_the_internal_export(
    documenter: User, archive: bytes, evidence: EvidenceFile
) -> None:
    report = import_testimonies(actor=documenter, data=archive)
    assert len(report.testimonies) == 3 and report.sealed == 1
    assert (report.corroborations, report.evidence_linked) == (1, 1)
    again = export_testimonies(actor=documenter, scope="internal").content
    assert normalised(json.loads(again)) == normalised(json.loads(archive))
    first = Record.objects.get(public_id=report.testimonies[0])
    assert first.is_sealed and first.transcript == TRANSCRIPT
    assert list(first.evidence_files.all()) == [evidence]
    assert first.consents.get().kind == "given"
    event = AuditEvent.objects.filter(action="import", object_type="testimony").get()
    assert event.detail["sha256"] == hashlib.sha256(archive).hexdigest()
    assert event.detail["testimony_ids"] == report.testimonies


def test_importing_twice_is_refused(documenter: User, archive: bytes) -> None:
    import_testimonies(actor=documenter, data=archive)
    before = counts()
    with pytest.raises(ImportRejected) as caught:
        import_testimonies(actor=documenter, data=archive)
    assert [(e.index, e.field) for e in caught.value.errors] == [(0, "id"), (1, "id"), (2, "id")]
    assert "already recorded" in str(caught.value)
    assert counts() == before


def test_dry_run_writes_nothing(documenter: User, archive: bytes) -> None:
    before = counts()
    report = import_testimonies(actor=documenter, data=archive, dry_run=True)
    assert len(report.testimonies) == 3 and report.dry_run
    assert counts() == before


def test_a_deidentified_export_imports_as_it_is(documenter: User, archive: bytes) -> None:
    import_testimonies(actor=documenter, data=archive)
    shared = export_testimonies(actor=documenter, scope="publish_anonymised").content
    document = json.loads(shared)
    [record] = document["testimonies"]
    with transaction.atomic():  # into a state where it is not recorded yet
        Record.objects.filter(public_id=record["id"]).update(public_id="T-00000000")
        report = import_testimonies(actor=documenter, data=shared)
        imported = Record.objects.get(public_id=record["id"])
        assert report.testimonies == [record["id"]]
        assert imported.transcript is None and imported.witness_identity is None
        assert imported.interview_place is None and imported.consent_scope == "publish_named"
        transaction.set_rollback(True)


def broken(archive: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    document = json.loads(archive)
    change(document)
    return json.dumps(document).encode()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the first testimony: ``a.b.0.c`` set to ``value`` (``...`` deletes)."""

    def change(document: dict[str, Any]) -> None:
        target: Any = document["testimonies"][0]
        *parents, last = path.split(".")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is ...:
            del target[last]
        else:
            target[last] = value

    return change


BROKEN = [
    ("act_type", _set("events.0.acts.1.act_type", "flogging"), "events[0].acts[1].act_type"),
    ("unknown_place", _set("events.0.place", "atlantis"), "events[0].place"),
    ("act_place", _set("events.0.acts.0.place", {"code": "nowhere"}), "events[0].acts[0].place"),
    ("no_summary", _set("summary", ...), "summary"),
    ("blank_summary", _set("summary", "  "), "summary"),
    ("no_consent_date", _set("consent.given_on", ...), "consent.given_on"),
    ("bad_date", _set("interview.date", "2024-13-01"), "interview.date"),
    ("language", _set("interview.language", "klingon"), "interview.language"),
    ("mechanism", _set("consent.mechanisms", ["interpol"]), "consent.mechanisms[0]"),
    ("victim_ref", _set("events.0.acts.0.victims", ["i2"]), "events[0].acts[0].victims[0]"),
    ("typo", _set("sumary", "x"), "sumary"),
    ("interviewer", _set("interview.interviewers", ["mallory"]), "interview.interviewers[0]"),
    ("age", _set("individuals.0.approx_age", "34"), "individuals[0].approx_age"),
    ("bad_id", _set("id", "T-1"), "id"),
    ("long_unit", _set("individuals.1.unit", "x" * 201), "individuals[1].unit"),
    # Found by a service while writing: still named, still nothing written.
    ("range", _set("events.0.date_end", "2010-01-01"), "events[0].date_end"),
    ("future", _set("interview.date", "2999-01-01"), "interview.date"),
]


@pytest.mark.parametrize(("name", "change", "field"), BROKEN, ids=[b[0] for b in BROKEN])
def test_import_errors_name_the_record_and_field_and_write_nothing(
    documenter: User, archive: bytes, name: str, change: Any, field: str
) -> None:
    document = json.loads(archive)
    first_id = document["testimonies"][0]["id"]
    before = counts()
    with pytest.raises(ImportRejected) as caught:
        import_testimonies(actor=documenter, data=broken(archive, change))
    [error] = caught.value.errors
    assert (error.index, error.field) == (0, field)
    if name != "bad_id":
        assert error.record == first_id and first_id in str(error)
    assert "testimonies[0]" in str(error) and field in str(error)
    assert counts() == before


def test_import_collects_problems_across_records(documenter: User, archive: bytes) -> None:
    def change(document: dict[str, Any]) -> None:
        document["testimonies"][0]["events"][0]["acts"][0]["act_type"] = "flogging"
        document["testimonies"][1]["events"][0]["place"] = "atlantis"
        document["testimonies"][2]["consent"]["scope"] = "everyone"

    with pytest.raises(ImportRejected) as caught:
        import_testimonies(actor=documenter, data=broken(archive, change))
    assert [(e.index, e.field) for e in caught.value.errors] == [
        (0, "events[0].acts[0].act_type"),
        (1, "events[0].place"),
        (2, "consent.scope"),
    ]


def test_a_later_records_service_error_undoes_the_earlier_ones(
    documenter: User, archive: bytes
) -> None:
    before = counts()
    data = broken(
        archive,
        lambda d: d["testimonies"][2]["events"][0].update(
            date_start="2001-01-01", date_precision="day", date_end="2002-01-01"
        ),
    )
    with pytest.raises(ImportRejected) as caught:
        import_testimonies(actor=documenter, data=data)
    assert [(e.index, e.field) for e in caught.value.errors] == [(2, "events[0].date_end")]
    assert counts() == before


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (b'{"format": "saebom-testimonies", "version": 1, "testimonies": [', "", "line 1"),
        (b"\xff\xfe not text", "", "UTF-8"),
        (b"[]", "", "JSON object"),
        (b'{"format": "saebom-cases", "version": 1, "cases": []}', "format", "not a"),
        (b'{"format": "saebom-testimonies", "version": 2, "testimonies": []}', "version", "2"),
        (b'{"format": "saebom-testimonies", "version": 1}', "testimonies", "required"),
        (
            b'{"format": "saebom-testimonies", "version": 1, "count": 3, "testimonies": []}',
            "count",
            "complete",
        ),
    ],
)
def test_unreadable_files_are_refused(
    documenter: User, data: bytes, field: str, reason: str
) -> None:
    before = counts()
    with pytest.raises(ImportRejected) as caught:
        import_testimonies(actor=documenter, data=data)
    [error] = caught.value.errors
    assert error.index is None and error.field == field and reason in error.message
    assert str(error).startswith("file")
    assert counts() == before


def test_the_operator_imports_for_a_named_agency(documenter: User, archive: bytes) -> None:
    without_groups = broken(archive, _drop_corroborations)
    report = import_testimonies(actor=system_actor(), data=without_groups, agency_code="alpha")
    assert len(report.testimonies) == 3
    assert set(Record.objects.values_list("agency__code", flat=True)) == {"alpha"}
    event = AuditEvent.objects.filter(action="import", object_type="testimony").get()
    assert event.actor_name.startswith("system:") and event.agency_code == "alpha"


def test_the_operator_imports_corroborations_into_the_agency(
    documenter: User, archive: bytes
) -> None:
    import_testimonies(actor=system_actor(), data=archive, agency_code="alpha")
    (group,) = Corroboration.objects.all()
    assert group.agency.code == "alpha" and group.label == "Onsong arrests, 2009"
    assert Act.objects.filter(corroboration=group).count() == 2


def _drop_corroborations(document: dict[str, Any]) -> None:
    document["corroborations"] = []
    for record in document["testimonies"]:
        for event in record["events"]:
            for act in event["acts"]:
                act["corroboration"] = None


def test_a_user_imports_only_for_their_own_agency(
    other_documenter: User, documenter: User, archive: bytes
) -> None:
    with pytest.raises(SaebomError):
        import_testimonies(actor=other_documenter, data=archive, agency_code="alpha")
    # Into their own agency the interviewer (an account of alpha) is not theirs: refused.
    with pytest.raises(ImportRejected) as caught:
        import_testimonies(actor=other_documenter, data=archive)
    assert [e.field for e in caught.value.errors] == ["interview.interviewers[0]"]


def test_registry_links_leave_only_internally_and_must_resolve_on_import(
    make_user: Callable[..., User], agency: Agency, documenter: User, make_testimony: MakeTestimony
) -> None:
    admin = make_user(Role.ADMIN, username="ada")
    person = ArrivalFactory(agency=agency).person.public_id
    with transaction.atomic():
        make_testimony(
            admin, witness_identity="", witness_person=person, consent_scope="publish_named"
        )
        internal = export_testimonies(actor=admin, scope="internal").content
        published = export_testimonies(actor=admin, scope="publish_named").content
        transaction.set_rollback(True)
    assert person.encode() in internal and person.encode() not in published
    assert json.loads(published)["testimonies"][0]["witness"] == {
        "sex": {"code": "F", "label_ko": "여", "label_en": "Female"},
        "identity": "",  # a registered witness's name stays in the registry
    }
    # the same rule as recording: a person with an arrival registered by the agency
    [imported] = import_testimonies(actor=documenter, data=internal).testimonies
    assert Record.objects.get(public_id=imported).witness_person.public_id == person  # type: ignore[union-attr]
    stranger = UserFactory(role=Role.DOCUMENTER, agency=AgencyFactory(code="gamma"))
    with pytest.raises(ImportRejected) as caught:
        import_testimonies(actor=stranger, data=internal)
    assert "witness.person" in [e.field for e in caught.value.errors]


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_cli_export_and_import(
    tmp_path: Path, documenter: User, researcher: User, make_testimony: MakeTestimony
) -> None:
    code(documenter, make_testimony(documenter, consent_scope="publish_named"))
    out = tmp_path / "testimonies.json"
    proc = run_cli(
        "--as", "dora", "export", "testimonies", "--scope", "internal", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote 1 testimonies" in proc.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["format"] == "saebom-testimonies"
    shared = run_cli(
        "--as", "dora", "export", "testimonies", "--scope", "share_with_mechanisms",
        "--mechanism", "wgad", "--format", "csv",
    )  # fmt: skip
    assert shared.returncode == 0 and shared.stdout.count("\n") == 3, shared.stderr
    missing = run_cli("--as", "dora", "export", "testimonies", "--scope", "share_with_mechanisms")
    assert missing.returncode != 0 and "mechanism" in missing.stderr

    before = counts()
    again = run_cli("--as", "dora", "import", "testimonies", str(out))
    assert again.returncode != 0
    assert "testimonies[0]" in again.stderr and "already recorded" in again.stderr
    assert "nothing was written" in again.stderr
    assert counts() == before
    refused = run_cli("--as", "rhee", "import", "testimonies", str(out))
    assert refused.returncode != 0 and "testimony.import" in refused.stderr
