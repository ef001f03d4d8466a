"""Domain errors become the right page: missing-or-hidden is 404, forbidden actions are 403."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from saebom.core.audit import audit_permission_denied
from saebom.core.exceptions import NotFound, PermissionDenied, SaebomError


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path:
        return True
    return any("\x00" in value for values in request.GET.lists() for value in values[1])


class DomainErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request):  # no database stores it, and no person types it
            return HttpResponse(
                "NUL characters are not accepted", status=400, content_type="text/plain"
            )
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, NotFound):
            raise Http404(exception.message)
        if isinstance(exception, PermissionDenied):
            if request.user.is_authenticated:
                audit_permission_denied(actor=request.user, what=request.path)
            raise DjangoPermissionDenied(exception.message)
        if isinstance(exception, SaebomError):
            return HttpResponse(
                exception.message, status=exception.status, content_type="text/plain"
            )
        return None
