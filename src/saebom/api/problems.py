"""Problem documents (RFC 9457) and the refusal of bad input values, shared by the API's
modules and by the error middleware (``web.errors``). Imports nothing of the API: the API
module imports its routers, and the middleware must not build the API to answer."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.http import JsonResponse

from saebom.core.exceptions import SaebomError

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_body(status: int, title: str, detail: Any = None) -> dict[str, Any]:
    """A problem document: ``type``, ``title``, ``status`` and, when given, ``detail``."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    return body


def problem_response(status: int, title: str, detail: Any = None) -> JsonResponse:
    """A problem document answered before any API operation runs (``web.errors``)."""
    return JsonResponse(
        problem_body(status, title, detail), status=status, content_type=PROBLEM_MEDIA_TYPE
    )


class Invalid(SaebomError):
    """A value the request carried that the services refused."""

    status = 422


@contextmanager
def checked_input(renamed: Mapping[str, str] | None = None) -> Iterator[None]:
    """The services report bad values as plain :class:`SaebomError`: here that is a 422,
    naming the field as this API calls it (``renamed``: service name → API name)."""
    try:
        yield
    except SaebomError as error:
        if type(error) is not SaebomError:
            raise
        field = error.field or ""
        shown = (renamed or {}).get(field, field)
        message = error.message
        if shown != field and message.startswith(f"{field}:"):
            message = shown + message[len(field) :]
        raise Invalid(message, field=shown or None) from None
