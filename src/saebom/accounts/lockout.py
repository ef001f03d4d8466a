"""Which account a sign-in attempt is for, as django-axes counts failures per account and IP."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def attempted_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """allauth authenticates with ``username``; its form posts the name as ``login``."""
    if credentials:
        name = credentials.get("username") or credentials.get("login")
        if name:
            return str(name)
    posted = request.POST.get("login") if request is not None else None
    return str(posted) if posted else None
