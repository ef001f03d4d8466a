"""Case documents and exports: only visible sections; notes only with the person's consent."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from saebom.accounts.models import Agency, User
from saebom.core.exceptions import PermissionDenied
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.support import selectors, services
from saebom.support.exporting import case_document, cases_export
from saebom.support.models import Case
from tests.cli import run_cli


def _exported(actor: User) -> dict[str, object]:
    return json.loads(cases_export(actor=actor).content)


def test_notes_leave_only_with_consent_and_only_for_members(
    open_case: Case, caseworker: User, make_user: Callable[..., User]
) -> None:
    services.note_add(actor=caseworker, case=open_case, text="신변 위협 — 외출 자제 권고")
    [document] = _exported(caseworker)["cases"]  # type: ignore[misc]
    assert "notes" not in document["sections"] and "notes" not in document
    services.notes_export_consent_set(actor=caseworker, case=open_case, given_on=date(2024, 3, 1))
    [document] = _exported(caseworker)["cases"]  # type: ignore[misc]
    assert [n["text"] for n in document["notes"]] == ["신변 위협 — 외출 자제 권고"]
    colleague = make_user(Role.CASEWORKER, username="colleague")  # same agency, not a member
    [document] = _exported(colleague)["cases"]  # type: ignore[misc]
    assert "notes" not in document and "services" in document["sections"]
    services.notes_export_consent_set(actor=caseworker, case=open_case, given_on=None)
    [document] = _exported(caseworker)["cases"]  # type: ignore[misc]
    assert "notes" not in document  # consent withdrawn: out again at once


def test_export_is_audited_with_the_files_hash(open_case: Case, caseworker: User) -> None:
    export = cases_export(actor=caseworker)
    event = AuditEvent.objects.filter(action="export", object_type="case").get()
    assert event.detail["sha256"] == hashlib.sha256(export.content).hexdigest()
    assert event.detail["cases"] == 1 and export.rows == 1
    body = json.loads(export.content)
    assert body["format"] == "saebom-cases" and "SYNTHETIC" in body["note"]  # factory persons


def test_export_holds_only_the_agencys_own_cases(
    open_case: Case, caseworker: User, other_agency: Agency, make_user: Callable[..., User]
) -> None:
    partner = make_user(Role.CASEWORKER, agency=other_agency, username="partner")
    referral = services.referral_send(
        actor=caseworker,
        case=open_case,
        to_agency=other_agency,
        sections=["services"],
        purpose="job placement",
        consent_given_on=selectors.today(),
        valid_until=selectors.today() + timedelta(days=30),
    )
    services.referral_accept(actor=partner, referral=referral)
    assert _exported(partner)["cases"] == []  # referred cases are not theirs to export
    document = case_document(selectors.case_access(partner, open_case.public_id))
    assert document["sections"] == ["services"]
    assert set(document) == {"case", "person", "lead_agency", "synthetic", "sections", "services"}


@pytest.mark.parametrize(
    "role", [Role.RESEARCHER, Role.STATISTICIAN, Role.AUDITOR, Role.DOCUMENTER]
)
def test_roles_without_cases_cannot_export(role: str, make_user: Callable[..., User]) -> None:
    with pytest.raises(PermissionDenied):
        cases_export(actor=make_user(role))


@pytest.mark.django_db(transaction=True)
def test_cli_exports_cases_as_the_named_user(tmp_path: object, open_case: Case) -> None:
    out = f"{tmp_path}/cases.json"
    proc = run_cli("--as", "alice", "export", "cases", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 1 cases" in proc.stderr
    with open(out, encoding="utf-8") as handle:
        assert json.load(handle)["cases"][0]["case"] == open_case.public_id
    operator = run_cli("export", "cases")  # without --as: the operator, who leads no case
    assert operator.returncode == 0 and json.loads(operator.stdout)["cases"] == []
