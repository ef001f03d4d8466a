from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta

import pytest

from saebom.accounts.models import Agency, User
from saebom.core.policy import Role
from saebom.registry.models import Person
from saebom.support import selectors, services
from saebom.support.models import Case, Referral
from tests.factories import AgencyFactory, ArrivalFactory, UserFactory


@pytest.fixture
def person(agency: Agency) -> Person:
    """A person registered by ``agency``."""
    return ArrivalFactory(agency=agency).person


@pytest.fixture
def caseworker(make_user: Callable[..., User]) -> User:
    return make_user(Role.CASEWORKER, username="alice")


@pytest.fixture
def open_case(caseworker: User, person: Person) -> Case:
    """A case led by ``agency``, with ``caseworker`` (alice) as its lead."""
    return services.case_open(
        actor=caseworker,
        person=person,
        opened_on=date(2024, 1, 10),
        protection_start=date(2024, 1, 15),
    )


# --- more people and agencies (fast: no password hashing, no TOTP; services need neither) ----


@pytest.fixture
def make_staff(agency: Agency) -> Callable[..., User]:
    def make(role: str = Role.CASEWORKER, **kwargs: object) -> User:
        kwargs.setdefault("agency", agency)
        return UserFactory(role=role, password=None, with_totp=False, **kwargs)

    return make


@pytest.fixture
def third_agency(db: None) -> Agency:
    return AgencyFactory(code="gamma", name_ko="감마 센터", name_en="Gamma Centre")


@pytest.fixture
def colleague(make_staff: Callable[..., User]) -> User:
    """A caseworker of ``agency`` who is not a member of ``open_case``."""
    return make_staff(username="dave")


@pytest.fixture
def partner(make_staff: Callable[..., User], other_agency: Agency) -> User:
    """A caseworker of ``other_agency`` (beta), where cases get referred."""
    return make_staff(agency=other_agency, username="bob")


@pytest.fixture
def outsider(make_staff: Callable[..., User], third_agency: Agency) -> User:
    """A caseworker of ``third_agency`` (gamma), which nobody referred anything to."""
    return make_staff(agency=third_agency, username="carol")


@pytest.fixture
def refer(caseworker: User, other_agency: Agency) -> Callable[..., Referral]:
    """Send a referral of a case (by alice, to beta, consent running for 180 days)."""

    def send(
        case: Case,
        *,
        actor: User | None = None,
        to: Agency | None = None,
        sections: Sequence[str] | None = None,
        kind: str = Referral.Kind.REFERRAL,
        valid_until: date | None = None,
    ) -> Referral:
        day = selectors.today()
        return services.referral_send(
            actor=actor or caseworker,
            case=case,
            to_agency=to or other_agency,
            # a transfer hands over the whole case, so its consent covers every section
            sections=sections
            or (selectors.SECTIONS if kind == Referral.Kind.TRANSFER else ("profile", "needs")),
            purpose="housing support near the new job",
            consent_given_on=day,
            valid_until=valid_until or day + timedelta(days=180),
            kind=kind,
        )

    return send
