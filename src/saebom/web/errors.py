"""Domain errors become the right page: missing-or-hidden is 404, forbidden actions are 403."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from saebom.api.problems import PROBLEM_MEDIA_TYPE, problem_response
from saebom.core.audit import audit_permission_denied
from saebom.core.exceptions import NotFound, PermissionDenied, SaebomError

API_PATH = "/api/"


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path_info:
        return True
    return any("\x00" in value for values in request.GET.lists() for value in values[1])


def _is_problem(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith(PROBLEM_MEDIA_TYPE)


class DomainErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = request.path_info.startswith(API_PATH)
        if _has_nul(request):  # no database stores it, and no person types it
            if api:  # the API answers every refusal as a problem
                return problem_response(400, "Bad Request", "NUL characters are not accepted")
            return HttpResponse(
                "NUL characters are not accepted", status=400, content_type="text/plain"
            )
        response = self.get_response(request)
        if api and response.status_code == 404 and not _is_problem(response):
            # a path no operation matches (a newline in a path parameter, say) got the web's
            # page; the API's clients read problems
            return problem_response(404, "Not Found", "no such operation or object")
        return response

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
