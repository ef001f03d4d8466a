"""Reads of accounts, already narrowed to what the reader may see."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.db import DatabaseError
from django.db.models import QuerySet
from django.utils import timezone

from saebom.accounts.models import ApiToken, User
from saebom.accounts.services import token_digest
from saebom.core import policy
from saebom.core.actors import Actor
from saebom.core.exceptions import storage_full
from saebom.core.models import Deployment
from saebom.core.policy import Action


def users_visible_to(actor: Actor) -> QuerySet[User]:
    return policy.scoped(actor, Action.USER_VIEW, User.objects.select_related("agency")).order_by(
        "username"
    )


def colleagues_of(actor: User) -> QuerySet[User]:
    """The active accounts of the actor's agency, by user name: whom a form may name (an
    interviewer). User names only; managing accounts needs ``users_visible_to``."""
    return User.objects.filter(agency_id=actor.agency_id, is_active=True).order_by("username")


def api_tokens_of(actor: User) -> QuerySet[ApiToken]:
    return policy.scoped(actor, Action.TOKEN_MANAGE, ApiToken.objects.all(), owner_field="user")


def is_demo_installation() -> bool:
    return Deployment.objects.filter(pk=1, is_demo=True).exists()


def has_totp(user: User) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def mfa_satisfied(user: User) -> bool:
    """A second factor is set up — or the account is a demo account in a demo installation."""
    if has_totp(user):
        return True
    return user.mfa_exempt and is_demo_installation()


def user_for_api_token(secret: str) -> User | None:
    token = (
        ApiToken.objects.usable()
        .select_related("user", "user__agency")
        .filter(digest=token_digest(secret))
        .first()
    )
    if token is None or not mfa_satisfied(token.user):
        return None
    try:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    except DatabaseError as exc:
        # When a token was last used is bookkeeping: a full disk (SQLite's file, SQLITE_FULL)
        # must not turn every request away; the request's own writes are refused as they come.
        if not storage_full(exc):
            raise
    return token.user
