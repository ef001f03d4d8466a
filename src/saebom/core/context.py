"""Request facts that audit events record (IP address, user agent), without passing requests."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class RequestMeta:
    ip: str = ""
    user_agent: str = ""


_meta: contextvars.ContextVar[RequestMeta] = contextvars.ContextVar(
    "saebom_request_meta",
    default=RequestMeta(user_agent="saebom-cli"),  # noqa: B039 (frozen, so immutable)
)


def current_request_meta() -> RequestMeta:
    return _meta.get()


def client_ip(request: HttpRequest) -> str:
    """The client's address, for the audit log and the login lockout alike.

    Behind the one trusted reverse proxy (SAEBOM_BEHIND_PROXY=1) every request comes from the
    proxy, so the client is the last address the proxy appended to X-Forwarded-For; addresses
    before it were sent by the client and cannot be trusted.
    """
    if settings.BEHIND_PROXY:
        forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()[:45]
    return str(request.META.get("REMOTE_ADDR", ""))[:45]


def meta_from_request(request: HttpRequest) -> RequestMeta:
    return RequestMeta(
        ip=client_ip(request),
        user_agent=str(request.META.get("HTTP_USER_AGENT", ""))[:300],
    )


class RequestMetaMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _meta.set(meta_from_request(request))
        try:
            return self.get_response(request)
        finally:
            _meta.reset(token)
