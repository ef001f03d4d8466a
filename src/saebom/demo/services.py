"""The demo installation: synthetic data only, one account per role."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from saebom.accounts.models import Agency, User
from saebom.accounts.services import DEFAULT_AGENCY_CODE, user_create, user_set_password
from saebom.core.actors import Actor
from saebom.core.audit import audit_record
from saebom.core.policy import Role
from saebom.core.services import installation_mark_demo
from saebom.demo.cases import demo_cases_load
from saebom.demo.synthetic import synthetic_arrivals
from saebom.demo.testimonies import demo_testimonies_load
from saebom.registry.models import Arrival
from saebom.registry.services import Progress, arrivals_save


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    password: str


def demo_password() -> str:
    return "demo-" + secrets.token_urlsafe(9)


def demo_accounts_ensure(*, actor: Actor) -> list[DemoLogin]:
    """One account per role in the default agency, with a fresh password printed each run."""
    logins = []
    for role in Role:
        username = f"demo_{role.value}"
        password = demo_password()
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            if user is None:
                user_create(
                    actor=actor,
                    username=username,
                    role=role.value,
                    agency_code=DEFAULT_AGENCY_CODE,
                    password=password,
                    mfa_exempt=True,
                )
            else:
                user_set_password(actor=actor, user=user, password=password)
        logins.append(DemoLogin(username=username, role=role.value, password=password))
    return logins


def demo_arrivals_load(*, actor: Actor, seed: int, progress: Progress | None = None) -> int:
    """The synthetic arrivals, once per installation (a re-run keeps the first seed's data)."""
    agency = Agency.objects.get(code=DEFAULT_AGENCY_CODE)
    if Arrival.objects.filter(agency=agency).exists():
        return 0
    records = synthetic_arrivals(seed)
    with transaction.atomic():
        counts = arrivals_save(
            actor=actor, agency=agency, records=records, synthetic=True, progress=progress
        )
        audit_record(
            actor=actor,
            action="import",
            object_type="arrival",
            agency_code=agency.code,
            detail={"synthetic": True, "seed": seed, "created": counts.created},
        )
    return counts.created


DEMO_TESTIMONIES = 300


def demo_load(*, actor: Actor, seed: int, progress: Progress | None = None) -> list[DemoLogin]:
    installation_mark_demo(actor=actor, seed=seed)
    demo_arrivals_load(actor=actor, seed=seed, progress=progress)
    logins = demo_accounts_ensure(actor=actor)
    demo_cases_load(
        actor=actor,
        agency=Agency.objects.get(code=DEFAULT_AGENCY_CODE),
        lead=User.objects.get(username=f"demo_{Role.CASEWORKER.value}"),
        seed=seed,
        today=timezone.localdate(),
    )
    demo_testimonies_load(
        Agency.objects.get(code=DEFAULT_AGENCY_CODE), DEMO_TESTIMONIES, seed=seed, actor=actor
    )
    return logins
