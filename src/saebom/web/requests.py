"""Typed access to what middleware puts on a request."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest

from saebom.accounts.models import User


def actor(request: HttpRequest) -> User:
    """The signed-in user; views behind ``policy.route`` are never reached anonymously."""
    return cast(User, request.user)


def is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))
