"""Shared fixtures for testimony tests: documenters and researchers of two agencies, the
gazetteer (reloaded when a transactional test emptied it) and a testimony maker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from saebom.accounts.models import Agency, User
from saebom.core.policy import Role
from saebom.testimony import services
from saebom.testimony.models import Place, Testimony
from tests.factories import UserFactory

TRANSCRIPT = "Transcript: my neighbour Ri Sun-hui was taken by the bowibu in March 2009."
IDENTITY = "Witness W-23, born 1968 in Hoeryong"


def load_gazetteer() -> None:
    """The shipped places, as migration 0004 loads them (flushes in live-server tests empty
    the table)."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "saebom.testimony.migrations.0004_places_and_append_only_history"
    )
    migration.load_places(apps, None)


@pytest.fixture
def gazetteer(db: None) -> None:
    if not Place.objects.filter(code="kwanliso_15").exists():
        load_gazetteer()


@pytest.fixture
def documenter(make_user: Callable[..., User]) -> User:
    return make_user(Role.DOCUMENTER, username="dora")


@pytest.fixture
def researcher(make_user: Callable[..., User]) -> User:
    return make_user(Role.RESEARCHER, username="rhee")


@pytest.fixture
def other_documenter(other_agency: Agency) -> User:
    return UserFactory(role=Role.DOCUMENTER, agency=other_agency, username="otto")


@pytest.fixture
def other_researcher(other_agency: Agency) -> User:
    return UserFactory(role=Role.RESEARCHER, agency=other_agency, username="olga")


@pytest.fixture
def make_testimony(gazetteer: None) -> Callable[..., Testimony]:
    def make(actor: User, **kwargs: Any) -> Testimony:
        values: dict[str, Any] = {
            "interview_date": date(2024, 5, 2),
            "language": "ko",
            "summary": "Detention at a holding centre after forced repatriation.",
            "transcript": TRANSCRIPT,
            "witness_identity": IDENTITY,
            "witness_sex": "F",
            "interview_place": "Seoul office, room 3",
            "consent_scope": "publish_anonymised",
            "consent_given_on": date(2024, 5, 2),
        }
        values.update(kwargs)
        return services.testimony_create(actor=actor, **values)

    return make
