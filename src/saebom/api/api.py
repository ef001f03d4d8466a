"""JSON API at /api/v1/: thin, calling the same services and selectors as the web views."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer

from saebom.accounts.models import Agency, User
from saebom.accounts.selectors import user_for_api_token
from saebom.api.problems import PROBLEM_MEDIA_TYPE, problem_body
from saebom.api.rules import REFUSALS_KEY, requires, rule_of
from saebom.core import policy
from saebom.core import selectors as core_selectors
from saebom.core.audit import audit_head, audit_permission_denied, audit_verify
from saebom.core.exceptions import PermissionDenied, SaebomError
from saebom.core.policy import Action


class TokenAuth(HttpBearer):
    """The token's user, if the role may perform what the operation declares (``rules``):
    a role without it gets 403 before anything of the request is read."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = user_for_api_token(token)
        if user is None:
            return None
        request.user = user
        request.auth = user  # type: ignore[attr-defined]  # a refusal is audited as theirs
        rule = rule_of(request)
        if rule is None:
            raise PermissionDenied(gettext("This operation declares no policy action."))
        rule.require(user)
        return user


class Problem(Schema):
    """Every refusal (RFC 9457 problem details). ``detail``: a message, ``{"message",
    "field"}`` for a domain error, the list of validation errors, or a stale edit's changes."""

    type: str
    title: str
    status: int
    detail: str | dict[str, Any] | list[Any] | None = None


def problem_statuses(operation: dict[str, Any]) -> set[int]:
    """The refusals an operation's shape makes possible: a token's (401, and 403 for a role
    without the action), its parameters' and body's validation (422; 400 for a body that is
    not a JSON object, or a NUL character in the path or query: ``web.errors``) and objects
    its path names that are missing or out of scope (404). Refusals particular to an
    operation are declared with it (``rules.refuses``)."""
    statuses = {401, 403} if operation.get("security") else set()
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        statuses |= {400, 422}
    if any(parameter["in"] == "path" for parameter in parameters):
        statuses.add(404)
    return statuses


class ObjectBodyParser(Parser):
    """A JSON body must be an object. Ninja reads a schema's fields as attributes of whatever
    the body is, so a number, string, list or null would reach an operation whose fields all
    have defaults as an object of defaults (a revocation without its reason, say)."""

    def parse_body(self, request: HttpRequest) -> Any:
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise TypeError("the request body is not a JSON object")  # ninja: a 400
        return data


class SaebomAPI(NinjaAPI):
    """The API, whose schema documents its refusals as it answers them: problem documents."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        schema["components"]["schemas"]["Problem"] = Problem.model_json_schema()
        reference = {"$ref": "#/components/schemas/Problem"}
        for operations in schema["paths"].values():
            for operation in operations.values():
                responses = operation["responses"]
                documented = {int(status) for status in responses}
                refusals = problem_statuses(operation) | set(operation.pop(REFUSALS_KEY, []))
                for status in refusals - documented:
                    responses[status] = {
                        "description": HTTPStatus(status).phrase,
                        "content": {PROBLEM_MEDIA_TYPE: {"schema": reference}},
                    }
                for status, response in responses.items():
                    if int(status) >= 400 and "content" in response:  # all sent by problem()
                        response["content"] = {
                            PROBLEM_MEDIA_TYPE: next(iter(response["content"].values()))
                        }
        return schema


api = SaebomAPI(
    title="Saebom API",
    version="1",
    description="Registry, resettlement support and testimony documentation. "
    "Every request acts as the token's user, with that user's role and agency.",
    auth=TokenAuth(),
    parser=ObjectBodyParser(),
    urls_namespace="api-1",
    docs_url=None,
)


def problem(request: HttpRequest, status: int, title: str, detail: Any = None) -> HttpResponse:
    body = problem_body(status, title, detail)
    response = api.create_response(request, body, status=status)
    response["Content-Type"] = PROBLEM_MEDIA_TYPE
    return response


@api.exception_handler(SaebomError)
def domain_error(request: HttpRequest, exc: SaebomError) -> HttpResponse:
    if isinstance(exc, PermissionDenied) and getattr(request, "auth", None) is not None:
        audit_permission_denied(actor=request.auth, what=request.path)  # type: ignore[attr-defined]
    detail: dict[str, Any] = {"message": exc.message}
    if exc.field:
        detail["field"] = exc.field
    return problem(request, exc.status, type(exc).__name__, detail)


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem(request, 401, "Unauthorized", "a valid API token is required")


@api.exception_handler(ValidationError)
def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return problem(request, 422, "Invalid request", exc.errors)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return problem(request, exc.status_code, str(exc))


class AgencyOut(Schema):
    code: str
    name_ko: str
    name_en: str


class MeOut(Schema):
    username: str
    role: str
    agency: AgencyOut


class AuditEventOut(Schema):
    seq: int
    at: datetime
    actor_name: str
    agency_code: str
    action: str
    object_type: str
    object_id: str
    changed_fields: list[str]
    hash: str


class AuditHeadOut(Schema):
    seq: int
    hash: str


class AuditVerifyOut(Schema):
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str


from saebom.api.arrivals import router as arrivals_router  # noqa: E402 (needs `api` above)
from saebom.api.cases import router as cases_router  # noqa: E402
from saebom.api.stats import public_router as public_stats_router  # noqa: E402
from saebom.api.stats import router as stats_router  # noqa: E402
from saebom.api.testimonies import router as testimonies_router  # noqa: E402

api.add_router("/", arrivals_router)
api.add_router("/", cases_router)
api.add_router("/", stats_router)
api.add_router("/", public_stats_router)
api.add_router("/", testimonies_router)


def _actor(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


@api.get("/me", response=MeOut, tags=["accounts"])
@requires(Action.PROFILE_VIEW)
def me(request: HttpRequest) -> User:
    return _actor(request)


@api.get("/agencies", response=list[AgencyOut], tags=["accounts"])
@requires(Action.AGENCY_VIEW)
def agencies(request: HttpRequest) -> Any:
    return policy.scoped(
        _actor(request), Action.AGENCY_VIEW, Agency.objects.all(), agency_field="pk"
    )


@api.get("/audit/events", response=list[AuditEventOut], tags=["audit"])
@requires(Action.AUDIT_VIEW)
def audit_events(
    request: HttpRequest, action: str = "", after_seq: int = 0, limit: int = 100
) -> Any:
    actor = _actor(request)
    limit = max(1, min(limit, 1000))
    events = core_selectors.audit_events_filtered(
        core_selectors.audit_events_visible_to(actor), action=action
    )
    return events.filter(seq__gt=after_seq).order_by("seq")[:limit]


@api.get("/audit/head", response=AuditHeadOut, tags=["audit"])
@requires(Action.AUDIT_VERIFY)
def head(request: HttpRequest) -> dict[str, Any]:
    seq, digest = audit_head()
    return {"seq": seq, "hash": digest}


@api.post("/audit/verify", response=AuditVerifyOut, tags=["audit"])
@requires(Action.AUDIT_VERIFY)
def verify(request: HttpRequest) -> dict[str, Any]:
    result = audit_verify()
    return {
        "ok": result.ok,
        "checked": result.checked,
        "first_bad_seq": result.first_bad_seq,
        "reason": result.reason,
    }
