from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from saebom.accounts.models import Agency, User
from saebom.core.policy import Role
from saebom.registry.models import Person
from saebom.support import services
from saebom.support.models import Case
from tests.factories import ArrivalFactory


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
