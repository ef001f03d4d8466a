"""Request facts that audit events record (IP address, user agent), without passing requests down."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class RequestMeta:
    ip: str = ""
    user_agent: str = ""


_meta: contextvars.ContextVar[RequestMeta] = contextvars.ContextVar(
    "saebom_request_meta", default=RequestMeta(user_agent="saebom-cli")
)


def current_request_meta() -> RequestMeta:
    return _meta.get()


def meta_from_request(request: HttpRequest) -> RequestMeta:
    return RequestMeta(
        ip=str(request.META.get("REMOTE_ADDR", ""))[:45],
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
