"""Every account must set up a second factor before it can see any record."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from saebom.accounts.selectors import mfa_satisfied

# Pages reachable before MFA is set up: allauth's own (login, logout, MFA set-up), the
# language switch, static files, the health check. None of them shows a record.
OPEN_PREFIXES = ("/accounts/", "/i18n/", "/static/", "/healthz", "/api/", "/public/")


class RequireMFAMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not request.path.startswith(OPEN_PREFIXES)
            and not mfa_satisfied(user)
        ):
            return redirect("mfa_activate_totp")
        return self.get_response(request)
