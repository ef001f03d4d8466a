"""The authorization matrix: every web route and API operation, as the URL configuration and the
OpenAPI schema declare them, × every role and anonymous × how the object stands to the actor ×
read and write, with the outcome the policy table (``core/policy.py``) expects of each cell.

What a cell expects, for an actor of role R asking route or operation E with method M:

- E is public: **allowed**, for everyone.
- anonymous: **login** (web: a redirect to the sign-in page; API: 401).
- R lacks an action E declares for M (``route(...)``, ``@requires(...)``): **forbidden** (403).
- E takes no object: **allowed**.
- R's scope for E's action(s) reaches the object (``policy.reaches``): **allowed**.
- it does not, but R's scope to *see* such objects does (a referred case that only the lead
  agency may change): **forbidden** (403) — its existence is known, so refusing leaks nothing.
- otherwise: **not found** (404), the same answer as for an object that does not exist.

**Allowed** means any answer but a refusal: 2xx, a redirect (not to the sign-in page), or a
400/409/422 — a write is sent empty (web) or with the least body the schema accepts (API), and
a refusal of its content is a form, validation or conflict error, never 401/403/404.

The objects (one per agency and relation: arrival, case with its parts, referrals, testimony
with its coding, evidence file, user, token, import job) are built once by :func:`build_world`;
every request runs in a savepoint that is rolled back, so no cell sees another's writes.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from saebom.accounts.models import Agency, User
from saebom.accounts.services import api_token_create
from saebom.api.rules import ACTION_KEY, PUBLIC_KEY
from saebom.core.policy import POLICY, RECEIVING_AGENCY_ACTIONS, Action, Relation, Role, Scope
from saebom.core.policy import reaches as scope_reaches
from saebom.registry.models import ImportJob
from saebom.support import selectors as support_selectors
from saebom.support import services as support_services
from saebom.support.models import Case, Referral
from saebom.testimony import services as testimony_services
from tests.factories import AgencyFactory, ArrivalFactory, UserFactory

API_PREFIX = "/api/v1/"

# Outcomes.
ALLOWED, FORBIDDEN, NOT_FOUND, LOGIN = "allowed", "forbidden", "not found", "login"

# Third-party views in the URL configuration that declare nothing, and why that is right.
EXEMPT_MODULES = {
    "allauth.": "sign-in, sign-out and MFA set-up (allauth): reachable before any account",
    "ninja.openapi.views": "the API's schema (public: operations, no records), its root (a 404)",
}
API_VIEW_MODULE = "ninja.operation"  # operations: checked against the OpenAPI document


# --- the objects routes take -----------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A kind of object a route parameter names."""

    relations: tuple[Relation, ...]
    seen_through: Action | None = None  # the action that makes such an object visible
    referral: bool = False  # its own for REFERRAL_RESPOND is the receiving agency's


OWN, AGENCY, REFERRED, OTHER = Relation.OWN, Relation.AGENCY, Relation.REFERRED, Relation.OTHER
KINDS = {
    "case": Kind((AGENCY, REFERRED, OTHER), Action.CASE_VIEW),
    # a referral the actor's agency sent; one another agency sent it; one between two others
    "case_referral": Kind((AGENCY, REFERRED, OTHER), Action.CASE_VIEW, referral=True),
    # a referral addressed to the actor's agency; one between two others
    "incoming": Kind((REFERRED, OTHER), referral=True),
    "arrival": Kind((AGENCY, OTHER), Action.ARRIVAL_VIEW),
    "testimony": Kind((AGENCY, OTHER), Action.TESTIMONY_VIEW),
    "evidence": Kind((AGENCY, OTHER), Action.EVIDENCE_VIEW),
    "user": Kind((AGENCY, OTHER), Action.USER_VIEW),
    "token": Kind((OWN, AGENCY, OTHER)),  # one's own, a colleague's, another agency's
    # One's own import, another agency's. A colleague's is not asked: its report may quote
    # cells of the file, so it is its author's alone — narrower than ARRIVAL_IMPORT's agency
    # scope (registry/selectors.py import_jobs_of; tests/registry).
    "job": Kind((OWN, OTHER)),
}

# Object key -> its kind. Parts of a case or testimony stand as their case or testimony does.
KEY_KINDS = {
    "arrival": "arrival",
    "record_id": "arrival",
    "free_arrival": "arrival",  # an arrival whose person has no case yet
    "free_person": "arrival",
    "case": "case",
    "goal": "case",
    "service": "case",
    "followup": "case",
    "member": "case",
    "case_referral": "case_referral",
    "pending": "incoming",  # a pending referral (to accept or decline)
    "running": "incoming",  # an accepted referral (to give up)
    "testimony": "testimony",
    "incident": "testimony",
    "act": "testimony",
    "evidence": "evidence",
    "user": "user",
    "token": "token",
    "job": "job",
}

# Which object a URL parameter names: by route ("namespace:name") first, then by namespace.
PARAM_KEYS_BY_ROUTE = {
    "support:referral_accept": {"referral_id": "pending"},
    "support:referral_decline": {"referral_id": "pending"},
    "support:referral_end": {"referral_id": "running"},
    "support:referral_revoke": {"referral_id": "case_referral"},
    "support:member_remove": {"user_id": "member"},
    "POST /api/v1/referrals/{referral_id}/accept": {"referral_id": "pending"},
    "POST /api/v1/referrals/{referral_id}/decline": {"referral_id": "pending"},
    "POST /api/v1/referrals/{referral_id}/revoke": {"referral_id": "case_referral"},
}
PARAM_KEYS_BY_NAMESPACE = {
    "web": {"token_id": "token", "user_id": "user"},
    "registry": {"arrival_id": "arrival", "job_id": "job"},
    "support": {
        "public_id": "case",
        "goal_id": "goal",
        "service_id": "service",
        "followup_id": "followup",
    },
    "testimony": {"public_id": "testimony", "act_id": "act", "incident_id": "incident"},
    "testimony:evidence": {"public_id": "evidence"},  # routes under /testimonies/evidence/
    "api": {"record_id": "record_id", "service_id": "service", "incident_id": "incident"},
    "api:cases": {"public_id": "case"},
    "api:testimonies": {"public_id": "testimony"},
    "api:evidence": {"public_id": "evidence"},
}
# Objects named in the query string or the body. (Web forms that take an object's id typed in
# answer an unknown or hidden one with a form error, by design: not modelled.)
QUERY_KEYS = {"support:case_new": {"arrival": "free_arrival"}}
BODY_KEYS: dict[str, dict[str, tuple[str, bool]]] = {  # field -> (object key, as a list)
    "testimony:corroborate": {"acts": ("act", True)},
    "POST /api/v1/cases": {"person_public_id": ("free_person", False)},
    "POST /api/v1/corroborations": {"acts": ("act", True)},
    "POST /api/v1/evidence/{public_id}/link": {"testimony": ("testimony", False)},
}
# Fixed values for fields and query parameters whose placeholder would only test the parser.
API_VALUES = {"by": "year", "to_agency": "gamma", "limit": 5}


# --- routes and operations -------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A web route or an API operation: one row group of the matrix."""

    api: bool
    name: str  # "support:case_detail", or "PATCH /api/v1/cases/{public_id}"
    path: str  # with {param} placeholders
    methods: tuple[str, ...]
    actions: tuple[Action, ...] = ()  # what reading needs (web: GET; API: its one method)
    write_actions: tuple[Action, ...] = ()  # what writing needs (web: POST)
    any_of: bool = False
    public: bool = False
    params: tuple[str, ...] = ()
    query: tuple[tuple[str, Any], ...] = ()  # API: required query parameters, with values
    body_schema: dict[str, Any] | None = None  # API: the request body's schema
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    multipart: bool = False

    def keys(self) -> dict[str, str]:
        """Object key of each path parameter, query parameter and body field naming one."""
        namespace = self.namespace()
        known = {
            **PARAM_KEYS_BY_NAMESPACE.get(namespace.split(":")[0], {}),
            **PARAM_KEYS_BY_NAMESPACE.get(namespace, {}),
            **PARAM_KEYS_BY_ROUTE.get(self.name, {}),
        }
        keys = {}
        for param in self.params:
            if param not in known:
                raise LookupError(f"{self.name}: no object is known for parameter {param!r}")
            keys[param] = known[param]
        keys |= QUERY_KEYS.get(self.name, {})
        keys |= {name: key for name, (key, _) in BODY_KEYS.get(self.name, {}).items()}
        return keys

    def namespace(self) -> str:
        if not self.api:
            namespace = self.name.split(":", 1)[0] if ":" in self.name else ""
            evidence = self.path.startswith("/testimonies/evidence/")
            return f"{namespace}:evidence" if evidence else namespace
        first = self.path.removeprefix(API_PREFIX).split("/")[0]
        return f"api:{first}"

    def kind(self) -> Kind | None:
        """The kind of the object the route acts on (its last path parameter's; else the one
        its query or body names), if any."""
        keys = self.keys()
        named = [keys[param] for param in self.params] or list(keys.values())
        return KINDS[KEY_KINDS[named[-1]]] if named else None

    def needs(self, method: str) -> tuple[Action, ...]:
        return self.actions if method in ("GET", "HEAD") else self.write_actions


def _web_patterns(
    patterns: list[Any], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace or ""]))
            yield from _web_patterns(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), namespace, entry


def accepted_methods(view: Any) -> tuple[str, ...]:
    """The methods a view accepts (``require_POST`` and the like), else GET and POST."""
    layer = view
    while layer is not None:
        try:
            nonlocals = inspect.getclosurevars(layer).nonlocals
        except TypeError:
            nonlocals = {}
        if "request_method_list" in nonlocals:
            return tuple(nonlocals["request_method_list"])
        layer = getattr(layer, "__wrapped__", None)
    return ("GET", "POST")


_DJANGO_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass
class Walk:
    web: list[Endpoint] = field(default_factory=list)
    undeclared: list[str] = field(default_factory=list)  # routes naming no action
    exempt: list[str] = field(default_factory=list)
    api_views: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


def walk_urls() -> Walk:
    """Every pattern of the URL configuration: web routes with what they declare, the API's
    operations as the resolver serves them, and the third-party views exempted (and why)."""
    found = Walk()
    for route, namespace, pattern in _web_patterns(get_resolver().url_patterns):
        callback = pattern.callback
        name = f"{namespace}:{pattern.name}" if namespace else str(pattern.name)
        path = "/" + _DJANGO_PARAM.sub(r"{\1}", route.lstrip("^").rstrip("$"))
        target = callback.func if isinstance(callback, functools.partial) else callback
        module = getattr(target, "__module__", "") or ""
        if hasattr(callback, "saebom_action"):
            public = callback.saebom_action is None
            found.web.append(
                Endpoint(
                    api=False,
                    name=name,
                    path=path,
                    methods=accepted_methods(callback),
                    actions=() if public else tuple(callback.saebom_actions),
                    write_actions=() if public else tuple(callback.saebom_write_actions),
                    public=public,
                    params=tuple(_DJANGO_PARAM.findall(route)),
                )
            )
        elif module == API_VIEW_MODULE:
            for operation in inspect.getclosurevars(callback).nonlocals["self"].operations:
                for method in operation.methods:
                    extra = operation.openapi_extra or {}
                    found.api_views.append((method, path, extra))
        elif any(module.startswith(prefix) for prefix in EXEMPT_MODULES):
            found.exempt.append(f"{path} ({module})")
        else:
            found.undeclared.append(f"{path} ({name}, {module}.{target.__qualname__})")
    return found


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def least_value(schema: dict[str, Any], document: dict[str, Any], name: str = "") -> Any:
    """The least value the schema accepts: required members only, placeholders of the right
    type (a refusal of them is the operation's validation, a 4xx that is not 401/403/404)."""
    schema = _resolve(schema, document)
    if name in API_VALUES:
        return API_VALUES[name]
    if "anyOf" in schema:
        choices = schema["anyOf"]
        if any(choice.get("type") == "null" for choice in choices):
            return None
        return least_value(choices[0], document, name)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {
            member: least_value(schema["properties"][member], document, member)
            for member in schema.get("required", [])
        }
    if kind == "array":
        return []
    if kind == "integer" or kind == "number":
        return 1
    if kind == "boolean":
        return False
    if schema.get("format") == "date":
        return "2024-01-02"
    if schema.get("format") == "date-time":
        return "2024-01-02T00:00:00Z"
    if schema.get("format") == "binary":
        return SimpleUploadedFile("statement.pdf", PDF, content_type="application/pdf")
    return "x"


def api_endpoints(document: dict[str, Any]) -> tuple[list[Endpoint], list[str]]:
    """Every operation of the OpenAPI document, and those declaring neither an action nor
    that they are public."""
    endpoints, undeclared = [], []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            method = method.upper()
            name = f"{method} {path}"
            declared = operation.get(ACTION_KEY)
            public = operation.get(PUBLIC_KEY) is True
            if declared is None and not public:
                undeclared.append(name)
                continue
            if public and operation.get("security"):
                undeclared.append(f"{name} (public, yet asks for a token)")
                continue
            if not public and not operation.get("security"):
                # the token check is what enforces the declared action
                undeclared.append(f"{name} (declares an action, yet asks for no token)")
                continue
            any_of = isinstance(declared, dict) and "anyOf" in declared
            if isinstance(declared, str):
                actions: tuple[Action, ...] = (Action(declared),)
            elif isinstance(declared, dict):
                actions = tuple(Action(a) for a in declared.get("anyOf", declared.get("allOf")))
            else:
                actions = ()
            content = operation.get("requestBody", {}).get("content", {})
            body = next(iter(content.values()))["schema"] if content else None
            query = {
                p["name"]: least_value(p["schema"], document, p["name"])
                for p in operation.get("parameters", [])
                if p["in"] == "query" and (p.get("required") or p["name"] in API_VALUES)
            }
            endpoints.append(
                Endpoint(
                    api=True,
                    name=name,
                    path=path,
                    methods=(method,),
                    actions=actions,
                    write_actions=actions,
                    any_of=any_of,
                    public=public,
                    params=tuple(
                        p["name"] for p in operation.get("parameters", []) if p["in"] == "path"
                    ),
                    query=tuple(query.items()),
                    body_schema=body,
                    document=document,
                    multipart="multipart/form-data" in content,
                )
            )
    return endpoints, undeclared


# --- what the table expects ------------------------------------------------------------------


def expected(endpoint: Endpoint, method: str, role: Role | None, relation: Relation | None) -> str:
    if endpoint.public:
        return ALLOWED
    if role is None:
        return LOGIN
    needed = endpoint.needs(method)
    scopes = {action: POLICY[action].get(role, Scope.NONE) for action in needed}
    held = [action for action in needed if scopes[action] > Scope.NONE]
    if not held if endpoint.any_of else len(held) < len(needed):
        return FORBIDDEN
    if relation is None:
        return ALLOWED
    kind = endpoint.kind()
    assert kind is not None

    def reached(action: Action) -> bool:
        standing = relation
        if kind.referral and action in RECEIVING_AGENCY_ACTIONS:
            # a referral received is the receiving agency's; one it did not receive is not
            standing = AGENCY if relation is REFERRED else OTHER
        return scope_reaches(scopes[action], standing)

    if (any if endpoint.any_of else all)(reached(action) for action in held):
        return ALLOWED
    seen = kind.seen_through
    if seen is not None and scope_reaches(POLICY[seen].get(role, Scope.NONE), relation):
        return FORBIDDEN
    return NOT_FOUND


def outcome(response: Any, api: bool) -> str:
    status = response.status_code
    if status == 401:
        return LOGIN
    login = resolve_url(settings.LOGIN_URL)
    if 300 <= status < 400 and not api and response["Location"].startswith(login):
        return LOGIN
    if status == 403:
        return FORBIDDEN
    if status == 404:
        return NOT_FOUND
    if status < 400 or status in (400, 409, 422):
        return ALLOWED
    return f"error {status}"


def why(response: Any) -> str:
    """A short reason for a refusal, to read in a mismatch: the API problem's message, or a
    plain-text answer."""
    content_type = response.get("Content-Type", "")
    if "json" in content_type:
        detail = response.json().get("detail")
        return str(detail.get("message", detail) if isinstance(detail, dict) else detail)[:120]
    if content_type.startswith("text/plain"):
        return response.content.decode(errors="replace")[:120]
    return ""


# --- the objects -----------------------------------------------------------------------------

PDF = b"%PDF-1.7\nstatement\n%%EOF\n"


@dataclass
class World:
    actors: dict[Role, User]
    clients: dict[Role | None, Client]
    tokens: dict[Role, str]
    objects: dict[Relation, dict[str, Any]]  # relation -> object key -> value
    own: dict[Role, dict[str, Any]]  # each actor's own objects (token, import job)

    def value(self, key: str, relation: Relation, role: Role | None) -> Any:
        """The object standing in ``relation`` to an actor of ``role`` (anonymous: as to the
        administrator, whose objects an anonymous request must not reach either)."""
        if relation is OWN:
            return self.own[role or Role.ADMIN][key]
        return self.objects[relation][key]


def _referral(case: Case, by: User, to: Agency, accept_as: User | None = None) -> Referral:
    day = support_selectors.today()
    referral = support_services.referral_send(
        actor=by,
        case=case,
        to_agency=to,
        sections=support_selectors.SECTIONS,
        purpose="housing support",
        consent_given_on=day,
        valid_until=day + timedelta(days=180),
    )
    if accept_as is not None:
        support_services.referral_accept(actor=accept_as, referral=referral)
    return referral


def _case(agency: Agency, lead: User) -> tuple[Case, dict[str, Any]]:
    """A case led by ``agency`` with a goal, a service, a follow-up and a second member."""
    case = support_services.case_open(
        actor=lead, person=ArrivalFactory(agency=agency).person, opened_on=date(2024, 1, 10)
    )
    member = staff(agency, Role.CASEWORKER)
    support_services.case_member_set(actor=lead, case=case, user=member, role="caseworker")
    parts = {
        "case": case.public_id,
        "goal": support_services.goal_add(
            actor=lead, case=case, domain="employment", description="a steady job"
        ).pk,
        "service": support_services.service_add(actor=lead, case=case, kind="counselling").pk,
        "followup": support_services.followup_schedule(
            actor=lead, case=case, due_on=date(2024, 3, 1), channel="visit"
        ).pk,
        "member": member.pk,
    }
    return case, parts


def staff(agency: Agency, role: Role, **kwargs: Any) -> User:
    """An account that needs no password hashing (tests sign in with ``force_login``)."""
    return UserFactory(role=role, agency=agency, password=None, **kwargs)


def detention_act(
    documenter: User, *, interviewed: date, summary: str, witness: str, **testimony: Any
) -> tuple[Any, Any, Any]:
    """A testimony of ``documenter``'s agency with one incident and one coded detention act."""
    record = testimony_services.testimony_create(
        actor=documenter,
        interview_date=interviewed,
        language="ko",
        summary=summary,
        witness_identity=witness,
        consent_given_on=interviewed,
        **{"consent_scope": "publish_anonymised", **testimony},
    )
    incident = testimony_services.incident_add(
        actor=documenter,
        testimony=record,
        date_start=date(2009, 3, 1),
        date_precision="month",
        place="kwanliso_15",
    )
    act = testimony_services.act_add(
        actor=documenter,
        incident=incident,
        act_type="detention",
        connection="experienced",
        reliability="b",
        credibility="2",
    )
    return record, incident, act


def _testimony(documenter: User) -> dict[str, Any]:
    testimony, incident, act = detention_act(
        documenter,
        interviewed=date(2024, 5, 2),
        summary="Detention at a holding centre after forced repatriation.",
        witness="Witness W-1",
        transcript="Transcript of the interview.",
    )
    evidence = testimony_services.evidence_upload(
        actor=documenter,
        filename="statement.pdf",
        data=PDF,
        received_from="the witness",
        received_on=date(2024, 5, 2),
        description="signed statement",
    )
    return {
        "testimony": testimony.public_id,
        "incident": incident.pk,
        "act": act.pk,
        "evidence": evidence.public_id,
    }


def _job(user: User) -> int:
    job = ImportJob.objects.create(
        agency=user.agency, created_by=user, filename="arrivals.csv", content="", report=""
    )
    return job.pk


def build_world() -> World:
    """Agency alpha (every actor, one per role), beta (another agency: nothing links it to
    alpha) and gamma (which referred a case to alpha, accepted, and sent another, pending)."""
    alpha = AgencyFactory(code="alpha", name_en="Alpha")
    beta = AgencyFactory(code="beta", name_en="Beta")
    gamma = AgencyFactory(code="gamma", name_en="Gamma")

    actors = {role: staff(alpha, role, username=f"matrix-{role.value}") for role in Role}
    caseworker, documenter = actors[Role.CASEWORKER], actors[Role.DOCUMENTER]
    beta_caseworker = staff(beta, Role.CASEWORKER)
    gamma_caseworker = staff(gamma, Role.CASEWORKER)

    our_case, ours = _case(alpha, caseworker)
    # Notes and the consent about them are for members of the case: the actors who may act on
    # the case are (the caseworker leads it). Non-members are refused: tests/support.
    support_services.case_member_set(
        actor=caseworker, case=our_case, user=actors[Role.ADMIN], role="supervisor"
    )
    other_case, other = _case(beta, beta_caseworker)
    referred_case, referred = _case(gamma, gamma_caseworker)
    pending_case, _ = _case(gamma, gamma_caseworker)

    running = _referral(referred_case, gamma_caseworker, alpha, accept_as=caseworker)
    pending = _referral(pending_case, gamma_caseworker, alpha)
    sent = _referral(our_case, caseworker, beta)  # alpha's own referral, not yet answered
    elsewhere = _referral(other_case, beta_caseworker, gamma)  # nothing to do with alpha

    ours |= {"case_referral": sent.pk}
    referred |= {"case_referral": running.pk, "pending": pending.pk, "running": running.pk}
    other |= {"case_referral": elsewhere.pk, "pending": elsewhere.pk, "running": elsewhere.pk}

    for objects, agency, user in ((ours, alpha, documenter), (other, beta, None)):
        arrival = ArrivalFactory(agency=agency)
        free = ArrivalFactory(agency=agency)
        writer = user or staff(agency, Role.DOCUMENTER)
        objects |= _testimony(writer)
        objects |= {
            "arrival": arrival.pk,
            "record_id": arrival.record_id,
            "free_arrival": free.pk,
            "free_person": free.person.public_id,
        }
    colleague = staff(alpha, Role.CASEWORKER)
    stranger = staff(beta, Role.CASEWORKER)
    ours |= {
        "user": colleague.pk,
        "token": api_token_create(actor=colleague, name="a colleague's").token.pk,
    }
    other |= {
        "user": stranger.pk,
        "token": api_token_create(actor=stranger, name="theirs").token.pk,
        "job": _job(stranger),
    }

    tokens, mine = {}, {}
    for role, user in actors.items():
        issued = api_token_create(actor=user, name="matrix")
        tokens[role] = issued.secret
        mine[role] = {"token": issued.token.pk, "job": _job(user)}
    clients: dict[Role | None, Client] = {None: Client()}
    for role, user in actors.items():
        clients[role] = Client()
        clients[role].force_login(user)
    return World(
        actors=actors,
        clients=clients,
        tokens=tokens,
        objects={AGENCY: ours, REFERRED: referred, OTHER: other},
        own=mine,
    )


# --- asking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    endpoint: Endpoint
    method: str
    role: Role | None
    relation: Relation | None

    def label(self) -> str:
        who = self.role.value if self.role else "anonymous"
        where = f", {self.relation.value}" if self.relation else ""
        name = self.endpoint.name if self.endpoint.api else f"{self.method} {self.endpoint.name}"
        return f"{name} [{who}{where}]"


def cells(endpoints: list[Endpoint]) -> Iterator[Cell]:
    for endpoint in endpoints:
        kind = endpoint.kind()
        relations: tuple[Relation | None, ...] = kind.relations if kind else (None,)
        methods = [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if m in endpoint.methods]
        for method in methods:
            for role in (None, *Role):
                for relation in relations:
                    yield Cell(endpoint, method, role, relation)


def ask(world: World, cell: Cell) -> Any:
    """The response to the cell's request, every change it made rolled back."""
    endpoint, role = cell.endpoint, cell.role
    relation = cell.relation or AGENCY
    keys = endpoint.keys()
    values = {name: world.value(key, relation, role) for name, key in keys.items()}
    path = endpoint.path
    for param in endpoint.params:
        path = path.replace("{" + param + "}", str(values[param]))
    query = {name: values[name] for name in QUERY_KEYS.get(endpoint.name, {})}
    body: Any = {}
    body_fields = BODY_KEYS.get(endpoint.name, {})
    headers: dict[str, str] = {}
    if endpoint.api:
        query |= dict(endpoint.query)
        if endpoint.body_schema is not None:
            body = least_value(endpoint.body_schema, endpoint.document)
        if role is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens[role]}"
    for name, (_, as_list) in body_fields.items():
        body[name] = [values[name]] if as_list else values[name]
    client = world.clients[None] if endpoint.api else world.clients[role]
    url = path + ("?" + urlencode(query) if query else "")
    with transaction.atomic():
        try:
            if cell.method == "GET":
                return client.get(url, **headers)
            if endpoint.api and not endpoint.multipart:
                send = getattr(client, cell.method.lower())
                return send(url, body, content_type="application/json", **headers)
            return client.post(url, body, **headers)
        finally:
            transaction.set_rollback(True)
