"""Logins, failed logins and lockouts enter the audit chain."""

from __future__ import annotations

from typing import Any

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
def audit_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None,
                       **kwargs: Any) -> None:
    username = str(credentials.get("username") or credentials.get("login") or "")[:150]
    _audit_anonymous("login_failed", username)


@receiver(user_locked_out)
def audit_locked_out(sender: Any, request: HttpRequest, username: str | None = None,
                     **kwargs: Any) -> None:
    _audit_anonymous("lockout", str(username or "")[:150])


def _audit_anonymous(action: str, username: str) -> None:
    """The attempted name is recorded: an auditor needs to see which account was attacked."""
    user = User.objects.select_related("agency").filter(username=username).first()
    with transaction.atomic():
        audit_record(
            actor=AnonymousActor(),
            action=action,
            object_type="user",
            object_id=user.pk if user else "",
            agency_code=user.agency.code if user else "",
            detail={"username": username},
        )
