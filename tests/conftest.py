from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.test import Client
from django.utils import translation

from saebom.accounts.models import Agency, User
from saebom.core.policy import Role
from tests.factories import AgencyFactory, UserFactory


@pytest.fixture
def agency(db: None) -> Agency:
    return AgencyFactory(code="alpha", name_ko="알파 센터", name_en="Alpha Centre")


@pytest.fixture
def other_agency(db: None) -> Agency:
    return AgencyFactory(code="beta", name_ko="베타 센터", name_en="Beta Centre")


@pytest.fixture
def make_user(db: None, agency: Agency) -> Callable[..., User]:
    """A user with TOTP set up (pass with_totp=False for one without)."""

    def make(role: str = Role.CASEWORKER, **kwargs: object) -> User:
        kwargs.setdefault("agency", agency)
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def client_for(make_user: Callable[..., User]) -> Callable[..., Client]:
    """A logged-in test client for a new user of the given role (TOTP set up)."""

    def make(role: str = Role.CASEWORKER, user: User | None = None, **kwargs: object) -> Client:
        client = Client()
        client.force_login(user or make_user(role, **kwargs))
        return client

    return make


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    """Tests read messages in English (the catalogue test checks the Korean); a test or a
    request may still switch languages inside it."""
    with translation.override("en"):
        yield
