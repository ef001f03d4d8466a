"""Testimonies through their services and selectors: consent, sealing and versions, coding,
corroboration, the gazetteer, and who sees what."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from saebom.accounts.models import User
from saebom.core.exceptions import NotFound, PermissionDenied, SaebomError
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.core.versioning import StaleVersion
from saebom.testimony import models, selectors, services
from saebom.testimony.models import Act, ConsentEvent, Place
from tests.factories import ArrivalFactory
from tests.testimony.conftest import IDENTITY, TRANSCRIPT

MakeTestimony = Callable[..., models.Testimony]
pytestmark = pytest.mark.django_db


def visible_ids(actor: User) -> set[str]:
    return set(selectors.testimonies_visible_to(actor).values_list("public_id", flat=True))


def code_act(
    actor: User, testimony: models.Testimony, act_type: str = "detention", **kw: object
) -> Act:
    incident = services.incident_add(
        actor=actor,
        testimony=testimony,
        date_start=date(2009, 3, 1),
        date_precision="month",
        place="kwanliso_15",
    )
    values: dict[str, object] = {
        "connection": "experienced",
        "reliability": "b",
        "credibility": "2",
    }
    values.update(kw)
    return services.act_add(actor=actor, incident=incident, act_type=act_type, **values)  # type: ignore[arg-type]


class TestCreate:
    def test_records_interview_and_consent(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter, interviewers=["dora"])
        fresh = models.Testimony.objects.get(pk=testimony.pk)
        assert fresh.transcript == TRANSCRIPT
        assert fresh.witness_identity == IDENTITY
        assert list(fresh.interviewers.values_list("username", flat=True)) == ["dora"]
        (given,) = fresh.consents.all()
        assert (given.kind, given.scope, given.recorded_by) == (
            "given",
            "publish_anonymised",
            documenter,
        )

    def test_confidential_fields_are_encrypted_in_the_database(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT transcript, witness_identity, interview_place FROM testimony_testimony "
                "WHERE id = %s",
                [testimony.pk],
            )
            raw = " ".join(cursor.fetchone())
        assert "Ri Sun-hui" not in raw and "Hoeryong" not in raw and "Seoul office" not in raw

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"summary": "  "}, "summary"),
            ({"language": "xx"}, "language"),
            ({"consent_scope": "everyone"}, "consent_scope"),
            ({"consent_scope": "share_with_mechanisms"}, "consent_mechanisms"),
            ({"interview_date": timezone.localdate() + timedelta(days=2)}, "interview_date"),
            ({"consent_given_on": None}, "consent_given_on"),
            ({"interviewers": ["nobody-here"]}, "interviewers"),
            ({"witness_person": "P-NOTREAL0"}, "witness_person"),
        ],
    )
    def test_bad_input_names_the_field_and_writes_nothing(
        self, documenter: User, make_testimony: MakeTestimony, change: dict, field: str
    ) -> None:
        with pytest.raises(SaebomError) as error:
            make_testimony(documenter, **change)
        assert error.value.field == field
        assert str(error.value).startswith(field)
        assert not models.Testimony.objects.exists() and not ConsentEvent.objects.exists()

    def test_registered_witness_has_no_second_identity(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        person = ArrivalFactory(agency=documenter.agency).person
        with pytest.raises(SaebomError, match="witness_identity"):
            make_testimony(documenter, witness_person=person.public_id)
        testimony = make_testimony(documenter, witness_person=person.public_id, witness_identity="")
        assert testimony.witness_person == person

    def test_another_agencys_person_is_not_a_witness_here(
        self, documenter: User, other_agency: object, make_testimony: MakeTestimony
    ) -> None:
        person = ArrivalFactory(agency=other_agency).person
        with pytest.raises(SaebomError, match="witness_person"):
            make_testimony(documenter, witness_person=person.public_id, witness_identity="")

    @pytest.mark.parametrize(
        "role",
        [Role.RESEARCHER, Role.CASEWORKER, Role.STATISTICIAN, Role.AUDITOR, Role.INTAKE_OFFICER],
    )
    def test_only_documenters_and_admins_record(
        self, make_user: Callable[..., User], make_testimony: MakeTestimony, role: str
    ) -> None:
        with pytest.raises(PermissionDenied):
            make_testimony(make_user(role))

    def test_audit_names_the_testimony_never_its_content(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        event = AuditEvent.objects.get(action="create", object_type="testimony")
        assert event.object_id == testimony.public_id
        assert event.agency_code == "alpha"
        dumped = json.dumps(event.detail)
        assert "Ri Sun-hui" not in dumped and "holding centre" not in dumped


class TestWhoSeesWhat:
    def test_documenters_see_their_agency_only(
        self,
        documenter: User,
        other_documenter: User,
        make_testimony: MakeTestimony,
    ) -> None:
        mine = make_testimony(documenter)
        theirs = make_testimony(other_documenter)
        assert visible_ids(documenter) == {mine.public_id}
        with pytest.raises(NotFound):
            selectors.testimony_get(documenter, theirs.public_id)
        assert selectors.reads_confidential(documenter, mine)

    def test_researchers_see_own_agency_and_published_never_confidential(
        self,
        documenter: User,
        other_documenter: User,
        researcher: User,
        make_testimony: MakeTestimony,
    ) -> None:
        own_internal = make_testimony(documenter, consent_scope="internal")
        other_internal = make_testimony(other_documenter, consent_scope="internal")
        other_shared = make_testimony(
            other_documenter,
            consent_scope="share_with_mechanisms",
            consent_mechanisms=["ohchr_seoul"],
        )
        other_published = make_testimony(other_documenter, consent_scope="publish_named")
        seen = visible_ids(researcher)
        assert seen == {own_internal.public_id, other_published.public_id}
        assert other_internal.public_id not in seen and other_shared.public_id not in seen
        assert not selectors.reads_confidential(researcher, own_internal)

    @pytest.mark.parametrize("role", [Role.CASEWORKER, Role.STATISTICIAN, Role.AUDITOR])
    def test_other_roles_see_no_testimony(
        self,
        documenter: User,
        make_user: Callable[..., User],
        make_testimony: MakeTestimony,
        role: str,
    ) -> None:
        make_testimony(documenter, consent_scope="publish_named")
        assert visible_ids(make_user(role)) == set()


class TestConsent:
    def test_withdrawal_hides_it_from_researchers_and_every_consent_check_at_once(
        self, documenter: User, researcher: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter, consent_scope="publish_named")
        assert selectors.consent_covers(testimony, "publish_named")
        services.consent_withdraw(actor=documenter, testimony=testimony, note="asked by phone")
        fresh = models.Testimony.objects.get(pk=testimony.pk)
        assert fresh.consent_withdrawn_on == timezone.localdate()
        for scope in selectors.SCOPES:
            assert not selectors.consent_covers(fresh, scope)
            assert not models.Testimony.objects.filter(selectors.consented_for(scope)).exists()
        assert visible_ids(researcher) == set()
        assert not selectors.testimonies_searchable_by(documenter).exists()
        assert fresh.public_id in visible_ids(documenter)  # the agency keeps the record
        assert [c.kind for c in fresh.consents.all()] == ["given", "withdrawn"]

    def test_withdrawal_works_on_a_sealed_testimony_and_only_once(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        testimony = services.testimony_seal(
            actor=documenter, testimony=testimony, expected_version=1
        )
        services.consent_withdraw(actor=documenter, testimony=testimony)
        with pytest.raises(SaebomError, match="already withdrawn"):
            services.consent_withdraw(actor=documenter, testimony=testimony)

    def test_scopes_are_ordered_and_mechanisms_named(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        shared = make_testimony(
            documenter, consent_scope="share_with_mechanisms", consent_mechanisms=["wgad"]
        )
        assert selectors.consent_covers(shared, "internal")
        assert selectors.consent_covers(shared, "share_with_mechanisms", "wgad")
        assert not selectors.consent_covers(shared, "share_with_mechanisms", "ohchr_seoul")
        assert not selectors.consent_covers(shared, "publish_anonymised")
        published = make_testimony(documenter, consent_scope="publish_anonymised")
        assert selectors.consent_covers(published, "share_with_mechanisms", "ohchr_seoul")
        assert not selectors.consent_covers(published, "publish_named")

    def test_consent_given_again_after_withdrawal(
        self, documenter: User, researcher: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        services.consent_withdraw(actor=documenter, testimony=testimony)
        services.consent_change(
            actor=documenter,
            testimony=testimony,
            scope="internal",
            effective_on=timezone.localdate(),
        )
        fresh = models.Testimony.objects.get(pk=testimony.pk)
        assert not fresh.consent_withdrawn and fresh.consent_scope == "internal"
        assert [c.kind for c in fresh.consents.all()] == ["given", "withdrawn", "changed"]

    def test_consent_events_cannot_be_rewritten(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        with pytest.raises(DatabaseError), transaction.atomic():
            ConsentEvent.objects.filter(testimony=testimony).update(scope="publish_named")

    def test_another_agency_cannot_withdraw(
        self, documenter: User, other_documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        with pytest.raises(NotFound):
            services.consent_withdraw(actor=other_documenter, testimony=testimony)


class TestSealing:
    def test_sealed_content_takes_only_corrections_with_a_reason(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        testimony = services.testimony_update(
            actor=documenter, testimony=testimony, expected_version=1, summary="Draft two."
        )
        sealed = services.testimony_seal(actor=documenter, testimony=testimony, expected_version=2)
        assert sealed.is_sealed and sealed.version == 3
        with pytest.raises(SaebomError, match="reason"):
            services.testimony_update(
                actor=documenter, testimony=sealed, expected_version=3, summary="Changed."
            )
        assert models.Testimony.objects.get(pk=sealed.pk).summary == "Draft two."
        corrected = services.testimony_update(
            actor=documenter,
            testimony=sealed,
            expected_version=3,
            summary="Corrected.",
            reason="the witness corrected the year",
        )
        assert corrected.version == 4 and corrected.is_sealed
        versions = list(corrected.history.order_by("version"))
        assert [v.summary for v in versions] == [
            "Detention at a holding centre after forced repatriation.",
            "Draft two.",
            "Draft two.",
            "Corrected.",
        ]
        assert versions[-1].history_change_reason == "the witness corrected the year"
        assert versions[-1].transcript == TRANSCRIPT  # versions stay encrypted, and readable

    def test_stale_edit_is_refused_with_what_changed(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        services.testimony_update(
            actor=documenter, testimony=testimony, expected_version=1, language="en"
        )
        with pytest.raises(StaleVersion) as stale:
            services.testimony_update(
                actor=documenter, testimony=testimony, expected_version=1, summary="Mine."
            )
        assert [c.field for c in stale.value.changes] == ["language"]
        assert "'Korean' → 'English'" in str(stale.value)

    def test_saving_the_same_values_makes_no_version(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        same = services.testimony_update(
            actor=documenter, testimony=testimony, expected_version=1, summary=testimony.summary
        )
        assert same.version == 1 and same.history.count() == 1

    def test_versions_cannot_be_rewritten_in_the_database(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        with pytest.raises(DatabaseError), transaction.atomic():
            testimony.history.update(summary="rewritten")

    def test_sealing_twice_is_refused(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        services.testimony_seal(actor=documenter, testimony=testimony, expected_version=1)
        with pytest.raises(SaebomError, match="already sealed"):
            services.testimony_seal(actor=documenter, testimony=testimony, expected_version=2)


class TestCoding:
    def test_act_takes_its_coi_category_from_its_type(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        act = code_act(documenter, testimony, "abduction")
        assert act.coi_category == "f"
        moved = code_act(documenter, testimony, "disappearance", coi_category="e")
        assert moved.coi_category == "e"

    def test_victims_and_perpetrators_come_from_the_testimony(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        other = make_testimony(documenter)
        victim = services.individual_add(
            actor=documenter, testimony=testimony, role="victim", name="Ri Sun-hui", sex="F"
        )
        guard = services.individual_add(
            actor=documenter,
            testimony=testimony,
            role="perpetrator",
            institution="mss",
            unit="provincial bureau",
            rank="captain",
        )
        act = code_act(
            documenter,
            testimony,
            "torture",
            victims=[victim.pk],
            perpetrators=[(guard.pk, "direct")],
        )
        assert list(act.victims.all()) == [victim]
        assert [(i.perpetrator, i.degree) for i in act.involvements.all()] == [(guard, "direct")]
        stranger = services.individual_add(actor=documenter, testimony=other, role="victim")
        with pytest.raises(SaebomError, match="victims"):
            code_act(documenter, testimony, victims=[stranger.pk])
        with pytest.raises(SaebomError, match="perpetrators"):
            code_act(documenter, testimony, perpetrators=[(victim.pk, "direct")])

    @pytest.mark.parametrize(
        ("values", "field"),
        [
            ({"date_start": date(2009, 1, 1), "date_precision": ""}, "date_precision"),
            ({"date_start": date(2009, 1, 1), "date_precision": "range"}, "date_end"),
            (
                {
                    "date_start": date(2009, 5, 1),
                    "date_precision": "range",
                    "date_end": date(2009, 1, 1),
                },
                "date_end",
            ),
            (
                {
                    "date_start": date(2009, 1, 1),
                    "date_precision": "year",
                    "date_end": date(2010, 1, 1),
                },
                "date_end",
            ),
            ({"place": "atlantis"}, "place"),
        ],
    )
    def test_incident_dates_and_places_are_checked(
        self, documenter: User, make_testimony: MakeTestimony, values: dict, field: str
    ) -> None:
        testimony = make_testimony(documenter)
        with pytest.raises(SaebomError) as error:
            services.incident_add(actor=documenter, testimony=testimony, **values)
        assert error.value.field == field
        assert not testimony.incidents.exists()

    def test_a_range_keeps_both_ends(self, documenter: User, make_testimony: MakeTestimony) -> None:
        testimony = make_testimony(documenter)
        incident = services.incident_add(
            actor=documenter,
            testimony=testimony,
            date_start=date(2008, 1, 1),
            date_precision="range",
            date_end=date(2011, 12, 31),
        )
        assert (incident.date_start, incident.date_end) == (date(2008, 1, 1), date(2011, 12, 31))

    def test_bad_grading_is_refused(self, documenter: User, make_testimony: MakeTestimony) -> None:
        testimony = make_testimony(documenter)
        with pytest.raises(SaebomError, match="reliability"):
            code_act(documenter, testimony, reliability="z")
        with pytest.raises(SaebomError, match="credibility"):
            code_act(documenter, testimony, credibility="9")

    def test_coding_stays_open_after_sealing(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        services.testimony_seal(actor=documenter, testimony=testimony, expected_version=1)
        assert code_act(documenter, testimony).pk

    def test_another_agency_cannot_code(
        self, documenter: User, other_documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        with pytest.raises(NotFound):
            services.incident_add(actor=other_documenter, testimony=testimony)


class TestCorroboration:
    def test_independent_sources_and_uncorroborated_serious(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        person = ArrivalFactory(agency=documenter.agency).person
        first = make_testimony(documenter, witness_person=person.public_id, witness_identity="")
        second_same_witness = make_testimony(
            documenter, witness_person=person.public_id, witness_identity=""
        )
        third = make_testimony(documenter)
        hearsay = make_testimony(documenter)
        acts = [
            code_act(documenter, first, "public_execution"),
            code_act(documenter, second_same_witness, "public_execution"),
            code_act(documenter, hearsay, "public_execution", connection="heard"),
        ]
        group = services.acts_corroborate(actor=documenter, acts=acts, label="Execution, 2009")
        # one registered witness twice, and hearsay: one independent source
        assert selectors.independent_sources([group.pk]) == {group.pk: 1}
        assert {a.pk for a in selectors.uncorroborated_serious(documenter)} == {a.pk for a in acts}
        witnessed = code_act(documenter, third, "public_execution", connection="witnessed")
        services.acts_corroborate(
            actor=documenter, acts=[acts[0], witnessed], label="Execution, 2009"
        )
        assert selectors.independent_sources([group.pk]) == {group.pk: 2}
        assert selectors.uncorroborated_serious(documenter) == []
        services.consent_withdraw(actor=documenter, testimony=third)
        assert selectors.independent_sources([group.pk]) == {group.pk: 1}

    def test_linking_needs_two_testimonies_and_own_acts(
        self, documenter: User, other_documenter: User, make_testimony: MakeTestimony
    ) -> None:
        testimony = make_testimony(documenter)
        a, b = code_act(documenter, testimony), code_act(documenter, testimony)
        with pytest.raises(SaebomError, match="two testimonies"):
            services.acts_corroborate(actor=documenter, acts=[a, b], label="x")
        theirs = code_act(other_documenter, make_testimony(other_documenter))
        with pytest.raises(NotFound):
            services.acts_corroborate(actor=documenter, acts=[a, theirs], label="x")

    def test_groups_merge_and_dissolve(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        acts = [code_act(documenter, make_testimony(documenter)) for _ in range(4)]
        one = services.acts_corroborate(actor=documenter, acts=acts[:2], label="one")
        two = services.acts_corroborate(actor=documenter, acts=acts[2:], label="two")
        merged = services.acts_corroborate(actor=documenter, acts=[acts[0], acts[3]], label="both")
        assert merged.pk == one.pk
        assert set(Act.objects.filter(corroboration=merged)) == set(acts)
        assert not type(two).objects.filter(pk=two.pk).exists()
        for act in acts[:3]:
            services.act_uncorroborate(actor=documenter, act=Act.objects.get(pk=act.pk))
        assert not Act.objects.filter(corroboration__isnull=False).exists()


class TestGazetteer:
    def test_ships_the_camps_named_in_the_reference(self, gazetteer: None) -> None:
        yodok = Place.objects.get(code="kwanliso_15")
        assert (yodok.facility_type, yodok.facility_number, yodok.province) == (
            "kwanliso",
            "15",
            "south_hamgyong",
        )
        assert yodok.parent.name_ko == "요덕군"
        assert Place.objects.filter(kind="province").count() == 13

    def test_admins_add_facilities(self, make_user: Callable[..., User], gazetteer: None) -> None:
        admin = make_user(Role.ADMIN)
        place = services.place_create(
            actor=admin,
            kind="facility",
            parent="chongjin",
            facility_type="jipkyulso",
            name_ko="청진 집결소",
            name_en="Chongjin holding centre",
        )
        assert place.province == "north_hamgyong" and place.added_by == admin.agency

    @pytest.mark.parametrize(
        ("values", "field"),
        [
            ({"kind": "province"}, "kind"),
            ({"kind": "facility", "facility_type": ""}, "facility_type"),
            ({"kind": "county", "facility_type": "kwanliso"}, "facility_type"),
            ({"kind": "county", "parent": ""}, "parent"),
            ({"kind": "county", "latitude": 39}, "longitude"),
        ],
    )
    def test_bad_places_are_refused(
        self, make_user: Callable[..., User], gazetteer: None, values: dict, field: str
    ) -> None:
        arguments: dict = {"parent": "yodok", "name_ko": "가", "name_en": "Ga"} | values
        with pytest.raises(SaebomError) as error:
            services.place_create(actor=make_user(Role.ADMIN), **arguments)
        assert error.value.field == field

    def test_documenters_do_not_edit_the_gazetteer(self, documenter: User, gazetteer: None) -> None:
        with pytest.raises(PermissionDenied):
            services.place_create(
                actor=documenter, kind="county", parent="yodok", name_ko="가", name_en="Ga"
            )


def test_the_operator_links_acts_of_one_agency(
    documenter: User, other_documenter: User, make_testimony: MakeTestimony
) -> None:
    from saebom.core.actors import system_actor

    acts = [code_act(documenter, make_testimony(documenter)) for _ in range(2)]
    group = services.acts_corroborate(actor=system_actor(), acts=acts, label="Same night")
    assert group.agency == documenter.agency
    theirs = code_act(other_documenter, make_testimony(other_documenter))
    with pytest.raises(SaebomError, match="one agency"):
        services.acts_corroborate(actor=system_actor(), acts=[acts[0], theirs], label="x")


@pytest.mark.parametrize(
    ("values", "field"),
    [({"unit": "u" * 201}, "unit"), ({"rank": "r" * 101}, "rank")],
)
def test_long_perpetrator_details_are_refused_by_field(
    documenter: User, make_testimony: MakeTestimony, values: dict, field: str
) -> None:
    testimony = make_testimony(documenter)
    with pytest.raises(SaebomError) as error:
        services.individual_add(actor=documenter, testimony=testimony, role="perpetrator", **values)
    assert error.value.field == field


def test_a_long_corroboration_label_is_refused(
    documenter: User, make_testimony: MakeTestimony
) -> None:
    acts = [code_act(documenter, make_testimony(documenter)) for _ in range(2)]
    with pytest.raises(SaebomError) as error:
        services.acts_corroborate(actor=documenter, acts=acts, label="x" * 201)
    assert error.value.field == "label"


def test_key_rotation_re_encrypts_the_append_only_tables(
    documenter: User, make_testimony: MakeTestimony, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Versions, consent decisions and custody notes refuse edits, yet a key rotation rewrites
    their ciphertext: it changes nothing else, and the chains of custody still verify. (No
    ``settings`` fixture here: restoring it would put back the ring from before the rotation.)"""
    from django.conf import settings as django_settings

    from saebom.core.actors import system_actor
    from saebom.core.keys import keys_rotate, values_pending
    from saebom.testimony import custody
    from saebom.testimony.models import CustodyEvent

    monkeypatch.setattr(django_settings, "SAEBOM_EVIDENCE_DIR", tmp_path / "evidence")
    testimony = make_testimony(documenter, consent_note="given in writing")
    services.testimony_seal(actor=documenter, testimony=testimony, expected_version=1)
    original = services.evidence_upload(
        actor=documenter, filename="a.txt", data=b"statement\n", received_from="",
        received_on=None, description="",
    )  # fmt: skip
    copy = services.evidence_working_copy(
        actor=documenter, original=original, filename="b.txt", data=b"redacted\n"
    )
    result = keys_rotate(actor=system_actor(), batch_size=2)
    assert values_pending(result.key_id) == 0
    assert result.re_encrypted["testimony_historicaltestimony"] >= 2
    assert result.re_encrypted["testimony_consentevent"] == 1
    assert result.re_encrypted["testimony_custodyevent"] == 1  # the copy's id, on the original
    assert models.Testimony.history.filter(id=testimony.pk).first().transcript == TRANSCRIPT  # type: ignore[union-attr]
    assert ConsentEvent.objects.get().note == "given in writing"
    assert CustodyEvent.objects.get(action="copied").note == copy.public_id
    assert custody.verify() == []
    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.update(scope="publish_named")
    for change in ({"action": "viewed"}, {"seq": 9}, {"hash": "0" * 64}, {"prev_hash": ""}):
        with pytest.raises(DatabaseError), transaction.atomic():
            CustodyEvent.objects.update(**change)


def test_a_long_correction_reason_is_refused_by_field(
    documenter: User, make_testimony: MakeTestimony
) -> None:
    testimony = make_testimony(documenter)
    services.testimony_seal(actor=documenter, testimony=testimony, expected_version=1)
    with pytest.raises(SaebomError) as error:
        services.testimony_update(
            actor=documenter, testimony=testimony, expected_version=2, summary="x", reason="r" * 101
        )
    assert error.value.field == "reason"


def test_a_perpetrator_is_named_once_per_act(
    documenter: User, make_testimony: MakeTestimony
) -> None:
    testimony = make_testimony(documenter)
    guard = services.individual_add(actor=documenter, testimony=testimony, role="perpetrator")
    with pytest.raises(SaebomError) as error:
        code_act(documenter, testimony, perpetrators=[(guard.pk, "direct"), (guard.pk, "ordered")])
    assert error.value.field == "perpetrators"
    assert not Act.objects.exists()
