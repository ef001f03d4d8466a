"""Logins, failed logins and second-factor codes, and lockouts enter the audit chain."""

from __future__ import annotations

from typing import Any

from allauth.mfa.signals import authentication_failed as mfa_authentication_failed
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest

from saebom.accounts.models import User
from saebom.core.actors import AnonymousActor
from saebom.core.audit import audit_record


@receiver(user_logged_in)
def audit_login(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    with transaction.atomic():
        audit_record(actor=user, action="login", object_type="user", object_id=user.pk)


@receiver(user_login_failed)
def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    _audit_attempt("login_failed", credentials.get("username") or credentials.get("login"))


@receiver(user_locked_out)
def audit_locked_out(
    sender: Any, request: HttpRequest, username: str | None = None, **kwargs: Any
) -> None:
    _audit_attempt("lockout", username)


@receiver(mfa_authentication_failed)
def audit_mfa_failed(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    _audit_attempt("mfa_failed", user.get_username())


def _audit_attempt(action: str, username: object) -> None:
    """Record which account was attacked — never the typed name itself, which may be a
    password typed into the wrong box; an unknown name is recorded only as unknown."""
    user = User.objects.select_related("agency").filter(username=str(username or "")).first()
    with transaction.atomic():
        audit_record(
            actor=AnonymousActor(),
            action=action,
            object_type="user",
            object_id=user.pk if user else "",
            agency_code=user.agency.code if user else "",
            detail={} if user else {"account": "unknown"},
        )
