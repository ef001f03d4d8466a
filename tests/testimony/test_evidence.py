from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, transaction

from saebom.accounts.models import Agency, User
from saebom.core import blobs
from saebom.core.exceptions import NotFound, PermissionDenied, SaebomError
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.testimony import filetypes
from saebom.testimony.models import CustodyEvent, EvidenceFile
from saebom.testimony.selectors import evidence_get, evidence_visible_to
from saebom.testimony.services import evidence_open, evidence_upload
from tests.cli import run_cli

SECRET = b"Kim Young-chol, born 1971, Hoeryong: testimony of detention at Kwanliso 15"
PDF = b"%PDF-1.7\n" + SECRET + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40


@pytest.fixture
def store(tmp_path: Path, settings: Any) -> Path:
    """A private evidence directory per test."""
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"
    return tmp_path / "evidence"


@pytest.fixture
def documenter(make_user: Callable[..., User]) -> User:
    return make_user(Role.DOCUMENTER)


def upload(actor: User, filename: str = "statement.pdf", data: bytes = PDF) -> EvidenceFile:
    return evidence_upload(
        actor=actor,
        filename=filename,
        data=data,
        received_from="Witness W-17, in person",
        received_on=date(2024, 3, 1),
        description="signed statement",
    )


def files_in(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


@pytest.mark.django_db
class TestUpload:
    def test_round_trip(self, store: Path, documenter: User) -> None:
        evidence = upload(documenter)
        assert evidence.sha256 == hashlib.sha256(PDF).hexdigest()
        assert evidence.media_type == "application/pdf"
        assert evidence.size == len(PDF)
        assert evidence.agency == documenter.agency
        fresh = EvidenceFile.objects.get(pk=evidence.pk)
        assert fresh.original_name == "statement.pdf"
        assert fresh.received_from == "Witness W-17, in person"
        assert evidence_open(actor=documenter, evidence=fresh) == PDF

    def test_blob_on_disk_is_encrypted_and_private(self, store: Path, documenter: User) -> None:
        evidence = upload(documenter)
        (path,) = files_in(store)
        assert path.name == evidence.sha256
        assert path.parent.name == evidence.sha256[2:4]
        raw = path.read_bytes()
        assert SECRET not in raw and b"Kwanliso" not in raw and b"%PDF" not in raw
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_names_are_encrypted_in_the_database(self, store: Path, documenter: User) -> None:
        evidence = upload(documenter)
        with transaction.atomic():
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT original_name, received_from FROM testimony_evidencefile WHERE id=%s",
                    [evidence.pk],
                )
                row = cursor.fetchone()
        assert all(value.startswith("v1:") for value in row)
        assert "Witness" not in "".join(row)

    def test_put_never_overwrites(self, store: Path, documenter: User) -> None:
        sha = blobs.put(PDF)
        path = blobs.path_for(sha)
        before = path.read_bytes()
        assert blobs.put(PDF) == sha
        assert path.read_bytes() == before

    def test_custody_and_audit_for_upload_and_open(self, store: Path, documenter: User) -> None:
        evidence = upload(documenter)
        evidence_open(actor=documenter, evidence=evidence)
        actions = list(evidence.custody.values_list("action", "actor_name", "agency_code"))
        name = documenter.get_username()
        assert actions == [
            ("received", name, "alpha"),
            ("uploaded", name, "alpha"),
            ("viewed", name, "alpha"),
        ]
        audited = AuditEvent.objects.filter(object_type="evidence_file").values_list(
            "action", "object_id"
        )
        assert list(audited.order_by("seq")) == [
            ("upload", evidence.public_id),
            ("view", evidence.public_id),
        ]

    def test_custody_events_are_append_only(self, store: Path, documenter: User) -> None:
        event = upload(documenter).custody.first()
        assert event is not None
        with pytest.raises(DatabaseError), transaction.atomic():
            CustodyEvent.objects.filter(pk=event.pk).update(actor_name="someone else")

    def test_same_file_twice_in_one_agency_is_refused(self, store: Path, documenter: User) -> None:
        upload(documenter)
        with pytest.raises(SaebomError, match="already stored"):
            upload(documenter, filename="copy.pdf")

    def test_other_agency_may_hold_the_same_file(
        self, store: Path, documenter: User, make_user: Callable[..., User], other_agency: Agency
    ) -> None:
        upload(documenter)
        stranger = make_user(Role.DOCUMENTER, agency=other_agency)
        assert upload(stranger).sha256 == hashlib.sha256(PDF).hexdigest()
        assert len(files_in(store)) == 1


DISGUISED = [
    ("report.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 50, "executables"),
    ("photo.jpg", b"MZ\x90\x00" + b"\x00" * 50, "executables"),
    ("statement.pdf", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "HTML"),
    ("map.jpg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>', "HTML"),
    ("notes.txt", b"hello <script>alert(1)</script>", "HTML"),
    ("picture.png", PDF, "does not match"),
    ("scan.pdf", PNG, "does not match"),
    ("letter.docx", b"PK\x03\x04" + b"\x00" * 50, "ZIP"),
    ("run.pdf", b"#!/bin/sh\nrm -rf /\n", "executables"),
    ("blob.pdf", bytes(range(256)), "unknown"),
    ("empty.pdf", b"", "empty"),
    ("statement", PDF, "does not match"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("filename", "data", "reason"), DISGUISED)
def test_disguised_files_are_refused_leaving_nothing(
    store: Path, documenter: User, filename: str, data: bytes, reason: str
) -> None:
    audit_before = AuditEvent.objects.count()
    with pytest.raises(SaebomError, match=reason) as caught:
        upload(documenter, filename=filename, data=data)
    assert caught.value.field in {"file", "filename"}
    assert files_in(store) == []
    assert not EvidenceFile.objects.exists()
    assert AuditEvent.objects.count() == audit_before


@pytest.mark.django_db
def test_oversized_files_are_refused(store: Path, documenter: User, settings: Any) -> None:
    settings.SAEBOM_EVIDENCE_MAX_MB = 1
    with pytest.raises(SaebomError, match="limit of 1 MB") as caught:
        upload(documenter, data=b"%PDF-1.7\n" + b"0" * (1024 * 1024))
    assert caught.value.field == "file"
    assert files_in(store) == []
    assert not EvidenceFile.objects.exists()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("a.pdf", PDF),
        ("a.PNG", PNG),
        ("a.jpeg", JPEG),
        ("a.gif", b"GIF89a" + b"\x00" * 10),
        ("a.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 "),
        ("a.wav", b"RIFF\x00\x00\x00\x00WAVEfmt "),
        ("a.tiff", b"II*\x00" + b"\x00" * 10),
        ("a.mp3", b"ID3\x04" + b"\x00" * 10),
        ("a.ogg", b"OggS" + b"\x00" * 10),
        ("a.flac", b"fLaC" + b"\x00" * 10),
        ("a.m4a", b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00"),
        ("a.mp4", b"\x00\x00\x00\x20ftypisom\x00\x00\x00\x00"),
        ("a.txt", "증언 요약: 요덕 수용소\n".encode()),
    ],
)
def test_accepted_types(name: str, data: bytes) -> None:
    media_type = filetypes.detect(data)
    assert isinstance(media_type, str)
    assert filetypes.extension_agrees(media_type, name)


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\Windows\\system.pdf", "system.pdf"),
        ("evil\x00name.pdf", "evilname.pdf"),
        ("line\nbreak\r.pdf", "line break .pdf"),
        ("...hidden.pdf", "hidden.pdf"),
        ("invoice\u202efdp.exe.pdf", "invoicefdp.exe.pdf"),
        ("\u1112\u1161\u11ab.pdf", "한.pdf"),  # decomposed Hangul becomes NFC
        ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
    ],
)
def test_safe_display_names(given: str, safe: str) -> None:
    assert filetypes.safe_display_name(given) == safe


@pytest.mark.django_db
def test_path_traversal_name_is_stored_safely(store: Path, documenter: User) -> None:
    evidence = upload(documenter, filename="../../etc/passwd\n\x00.pdf")
    assert evidence.display_name == "passwd .pdf"
    assert [p.name for p in files_in(store)] == [evidence.sha256]
    assert not (store.parent / "etc").exists()


@pytest.mark.django_db
def test_other_agency_cannot_see_evidence(
    store: Path, documenter: User, make_user: Callable[..., User], other_agency: Agency
) -> None:
    evidence = upload(documenter)
    stranger = make_user(Role.DOCUMENTER, agency=other_agency)
    assert list(evidence_visible_to(stranger)) == []
    assert list(evidence_visible_to(documenter)) == [evidence]
    with pytest.raises(NotFound) as caught:
        evidence_open(actor=stranger, evidence=evidence)
    assert caught.value.status == 404
    with pytest.raises(NotFound):
        evidence_get(stranger, evidence.public_id)
    assert not evidence.custody.filter(action="viewed").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.RESEARCHER, Role.STATISTICIAN, Role.CASEWORKER])
def test_roles_without_evidence_access(
    store: Path, documenter: User, make_user: Callable[..., User], role: str
) -> None:
    evidence = upload(documenter)
    user = make_user(role)
    assert list(evidence_visible_to(user)) == []
    with pytest.raises(PermissionDenied):
        upload(user, data=PNG, filename="a.png")
    with pytest.raises(NotFound):
        evidence_open(actor=user, evidence=evidence)


@pytest.mark.django_db
def test_tampered_blob_is_never_handed_out(store: Path, documenter: User) -> None:
    evidence = upload(documenter)
    path = blobs.path_for(evidence.sha256)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(blobs.BlobError, match="does not decrypt"):
        evidence_open(actor=documenter, evidence=evidence)
    assert not evidence.custody.filter(action="viewed").exists()


@pytest.mark.django_db
def test_blob_moved_to_another_name_fails(store: Path, documenter: User) -> None:
    first = blobs.put(PDF)
    second = blobs.put(PNG)
    os.replace(blobs.path_for(first), blobs.path_for(second))
    with pytest.raises(blobs.BlobError):
        blobs.get(second)
    with pytest.raises(blobs.BlobError, match="missing"):
        blobs.get(first)


@pytest.mark.django_db
def test_verify_all_reports_orphans_apart(store: Path, documenter: User) -> None:
    evidence = upload(documenter)
    orphan = blobs.put(PNG)
    assert list(blobs.verify_all([evidence.sha256])) == [(orphan, blobs.ORPHAN)]
    assert list(blobs.verify_all([evidence.sha256, "f" * 64])) == [
        (orphan, blobs.ORPHAN),
        ("f" * 64, blobs.MISSING),
    ]


@pytest.mark.django_db(transaction=True)
class TestVerifyCommand:
    def test_intact_store(self, store: Path, documenter: User) -> None:
        upload(documenter)
        upload(documenter, filename="scan.png", data=PNG)
        blobs.put(JPEG)  # an orphan: reported, not an error
        proc = run_cli("evidence", "verify", extra_env={"SAEBOM_EVIDENCE_DIR": str(store)})
        assert proc.returncode == 0, proc.stderr
        assert "2 files verified" in proc.stdout
        assert "1 unreferenced" in proc.stdout
        assert AuditEvent.objects.filter(object_type="evidence_store", action="verify").exists()

    def test_flipped_byte_fails_naming_the_file(self, store: Path, documenter: User) -> None:
        good = upload(documenter)
        bad = upload(documenter, filename="scan.png", data=PNG)
        path = blobs.path_for(bad.sha256)
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0x80
        path.write_bytes(bytes(raw))
        proc = run_cli("evidence", "verify", extra_env={"SAEBOM_EVIDENCE_DIR": str(store)})
        assert proc.returncode == 1
        assert f"{bad.sha256} scan.png" in proc.stderr
        assert good.sha256 not in proc.stderr

    def test_deleted_blob_fails_naming_the_file(self, store: Path, documenter: User) -> None:
        gone = upload(documenter)
        blobs.path_for(gone.sha256).unlink()
        proc = run_cli("evidence", "verify", extra_env={"SAEBOM_EVIDENCE_DIR": str(store)})
        assert proc.returncode == 1
        assert f"{gone.sha256} statement.pdf: missing" in proc.stderr


@pytest.mark.django_db
class TestWorkingCopiesDownloadsAndLinks:
    def test_working_copy_is_a_new_file_and_the_original_is_untouched(
        self, store: Path, documenter: User
    ) -> None:
        from saebom.testimony.services import evidence_working_copy

        original = upload(documenter)
        redacted = b"%PDF-1.7\nredacted statement\n%%EOF\n"
        copy = evidence_working_copy(
            actor=documenter, original=original, filename="statement-redacted.pdf", data=redacted
        )
        assert copy.is_working_copy and copy.original == original
        assert evidence_open(actor=documenter, evidence=original) == PDF
        assert evidence_open(actor=documenter, evidence=copy) == redacted
        assert [e.action for e in original.custody.all()][:3] == ["received", "uploaded", "copied"]
        assert original.custody.get(action="copied").note == copy.public_id
        assert copy.custody.first().action == "uploaded"  # type: ignore[union-attr]
        with pytest.raises(SaebomError, match="original"):
            evidence_working_copy(
                actor=documenter, original=copy, filename="again.pdf", data=b"%PDF-1.7\nx\n"
            )

    def test_download_is_a_custody_event_and_audited(self, store: Path, documenter: User) -> None:
        from saebom.testimony.services import evidence_download

        evidence = upload(documenter)
        assert evidence_download(actor=documenter, evidence=evidence) == PDF
        assert evidence.custody.last().action == "downloaded"  # type: ignore[union-attr]
        assert AuditEvent.objects.filter(action="download", object_id=evidence.public_id).exists()

    def test_linking_to_a_testimony_stays_within_the_agency(
        self,
        store: Path,
        documenter: User,
        other_agency: Agency,
        make_testimony: Callable[..., Any],
    ) -> None:
        from saebom.testimony.services import evidence_link

        evidence = upload(documenter)
        testimony = make_testimony(documenter)
        evidence_link(actor=documenter, evidence=evidence, testimony=testimony)
        assert list(testimony.evidence_files.all()) == [evidence]
        stranger = User.objects.create(username="sid", role=Role.DOCUMENTER, agency=other_agency)
        with pytest.raises(NotFound):
            evidence_link(actor=stranger, evidence=evidence, testimony=testimony)
        theirs = make_testimony(stranger)
        with pytest.raises(NotFound):
            evidence_link(actor=documenter, evidence=evidence, testimony=theirs)
