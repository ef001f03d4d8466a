"""The demo installation: synthetic data only, one account per role."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction

from saebom.accounts.models import User
from saebom.accounts.services import DEFAULT_AGENCY_CODE, user_create, user_set_password
from saebom.core.actors import Actor
from saebom.core.policy import Role
from saebom.core.services import installation_mark_demo


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


def demo_load(*, actor: Actor, seed: int) -> list[DemoLogin]:
    installation_mark_demo(actor=actor, seed=seed)
    return demo_accounts_ensure(actor=actor)
