"""Schemathesis against ``/api/v1/openapi.json``: every operation, asked by an API token of
every role, with requests generated from the schema the application itself serves — valid
ones (positive) and ones that break it (negative) — sent in-process to the Django WSGI
application. Every answer must:

- never be a server error (5xx);
- have a status code the operation documents, the content type it documents, and a body and
  headers that match the documented schema;
- refuse what breaks the schema with a 4xx, and accept what the schema allows unless the
  refusal is one of authorization, existence or conflict (``positive_data_acceptance``).

The database holds the authorization matrix's objects (``tests/core/matrix.py``: cases with
their parts and referrals, arrivals, testimonies with incidents and acts, evidence, in the
actor's agency, another agency and referred), and path parameters (and body fields naming an
object) draw from them, so that requests reach the operations' code and not only their 404.
Some requests keep their generated path parameters, for the missing object.

Random strings rarely hit a vocabulary's code, a stored version or two testimonies' acts, so
random writes mostly end in a 422 or 409 and their success answers would go unchecked. Hence
half the positive cases carry codes drawn from the vocabularies (and dimensions for the
statistics), and every (operation, role, relation) the policy allows is also sent one
known-good request built from the world's objects (current versions, valid codes). The test
fails unless every (operation, role) pair the policy allows (``matrix.expected``) got at least
one 2xx whose body passed the response schema check; it prints that coverage.

Every request runs in a savepoint that is rolled back, so none sees another's writes.

The number of examples per operation and role is small by default (the run stays within
about a minute); a longer run: ``SAEBOM_SCHEMATHESIS_EXAMPLES=100 .venv/bin/pytest -q -s
tests/api/test_schemathesis.py``. Generation is derandomized: a run is reproducible.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core import NOT_SET
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.transport.serialization import Binary

from saebom.core import vocab
from saebom.core.policy import Relation, Role
from saebom.registry.models import Arrival
from saebom.stats.dimensions import DIMENSIONS
from saebom.support import selectors as support_selectors
from saebom.support.models import Case as SupportCase
from saebom.support.models import Service
from saebom.testimony import models as testimony_models
from saebom.testimony.models import Place
from tests.core import matrix
from tests.testimony.conftest import load_gazetteer

EXAMPLES = int(os.environ.get("SAEBOM_SCHEMATHESIS_EXAMPLES", "16"))
# A role without the operation's action is refused by the token check before anything of the
# request is read (api.TokenAuth): a few examples show it, more would ask the same again.
REFUSED_EXAMPLES = 2
MIN_CASES = 1000  # a broken generator must not pass by sending nothing

# positive_data_acceptance: the schema states types, not vocabularies (data, versioned, loaded
# by migrations: DESIGN.md) nor rules across fields and records (an agency that exists, acts
# from two testimonies, a PDF and not a ZIP). The API refuses such values with a 422 naming the
# field, so that is accepted as an answer to schema-valid data too, besides the library's
# default (authorization, existence, conflict). So is a 400: a JSON Schema string may hold a NUL
# character, which the application refuses in a path or query (web.errors: no database
# stores it). A 5xx, or any other refusal, still fails.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "422"]
            }
        }
    }
)


def as_form_text(value: Any) -> Any:
    """How a multipart form sends a scalar: as text (a file's content, any string)."""
    if isinstance(value, list):  # a field sent once per item
        return [as_form_text(item) for item in value]
    if isinstance(value, dict):
        return {name: as_form_text(item) for name, item in value.items()}
    if isinstance(value, bytes | Binary):
        return ""
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    return value


def negative_form_data_rejection(ctx: Any, response: Any, case: Case) -> bool | None:
    """``negative_data_rejection``, except where a form body breaks its schema only in the
    generator's model: a boolean or number sent in a multipart form for a string field arrives
    as the text "false" or "1", a valid string."""
    meta = case.meta
    if (
        meta is not None
        and case.media_type == "multipart/form-data"
        and isinstance(case.body, dict)
        and [where for where in meta.components if meta.is_negative_at(where)]
        == [ParameterLocation.BODY]
    ):
        content = case.operation.definition.raw["requestBody"]["content"]
        sent = {name: as_form_text(value) for name, value in case.body.items()}
        if jsonschema_rs.validator_for(content[case.media_type]["schema"]).is_valid(sent):
            return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_form_data_rejection,
    positive_data_acceptance,
]


@contextmanager
def connection_kept_open() -> Iterator[None]:
    """Django closes a connection that is not in autocommit mode at each request's start and
    end; the test's transaction is such a connection (the test client disconnects these the
    same way)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


Pair = tuple[str, Role]  # (operation, role)


@dataclass
class Tally:
    pairs: int = 0
    cases: Counter[str] = field(default_factory=Counter)  # by generation mode
    statuses: Counter[str] = field(default_factory=Counter)  # by status class
    failures: dict[str, str] = field(default_factory=dict)  # first example of each kind
    succeeded: set[Pair] = field(default_factory=set)  # a 2xx whose answer passed every check
    known_refused: dict[Pair, str] = field(default_factory=dict)  # a known-good's other answer

    def fail(self, key: str, report: str) -> None:
        self.failures.setdefault(key, report)

    def summary(self, operations: int, roles: int, allowed: set[Pair]) -> str:
        answers = ", ".join(f"{status} ×{n:,}" for status, n in sorted(self.statuses.items()))
        modes = ", ".join(f"{n:,} {mode}" for mode, n in sorted(self.cases.items()))
        reached = {operation for operation, _ in allowed & self.succeeded}
        return (
            f"schemathesis ({connection.vendor}): {operations} operations × {roles} roles = "
            f"{self.pairs} pairs, {self.cases.total():,} cases ({modes}); responses: "
            f"{answers}; {len(self.failures)} failures; 2xx coverage: "
            f"{len(allowed & self.succeeded)}/{len(allowed)} allowed (operation, role) pairs, "
            f"{len(reached)}/{len({operation for operation, _ in allowed})} operations"
        )

    def missing(self, allowed: set[Pair]) -> list[str]:
        """Allowed pairs without a checked 2xx, with the known-good request's answer."""
        return [
            f"{operation} [{role.value}]: {self.known_refused.get((operation, role), '-')}"
            for operation, role in sorted(allowed - self.succeeded)
        ]


# --- valid values ----------------------------------------------------------------------------


def code(vocabulary: str) -> st.SearchStrategy[str]:
    return st.sampled_from(vocab.codes(vocabulary))


def codes(vocabulary: str) -> st.SearchStrategy[list[str]]:
    return st.lists(code(vocabulary), max_size=3, unique=True)


def needs() -> st.SearchStrategy[dict[str, Any]]:
    """An assessment: a severity (0-3) for every need domain."""
    severity = st.fixed_dictionaries({"severity": st.integers(0, 3)})
    return st.fixed_dictionaries({domain: severity for domain in vocab.codes("need_domain")})


def dimensions() -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(list(DIMENSIONS)), min_size=1, max_size=2, unique=True).map(
        ",".join
    )


Coded = dict[str, Any]  # field -> a function returning the strategy of its valid values
REGISTRY_CODES: Coded = {
    "sex": lambda: code("sex"),
    "origin_province": lambda: code("origin_province"),
}
TESTIMONY = "POST /api/v1/testimonies/{public_id}"
# Body fields (and query parameters) whose valid values are codes, per operation.
CODED_BODIES: dict[str, Coded] = {
    "POST /api/v1/arrivals": REGISTRY_CODES,
    "PUT /api/v1/arrivals/{record_id}": REGISTRY_CODES,
    "PATCH /api/v1/cases/{public_id}": {"status": lambda: code("case_status")},
    "POST /api/v1/cases/{public_id}/assessments": {"needs": needs},
    "POST /api/v1/cases/{public_id}/services": {
        "kind": lambda: code("service_type"),
        "domain": lambda: code("need_domain"),
        "status": lambda: code("service_status"),
    },
    "PATCH /api/v1/cases/{public_id}/services/{service_id}": {
        "status": lambda: code("service_status")
    },
    "POST /api/v1/cases/{public_id}/referrals": {
        "sections": lambda: codes("referral_section"),
        "kind": lambda: code("referral_kind"),
    },
    "POST /api/v1/testimonies": {
        "language": lambda: code("interview_language"),
        "consent_scope": lambda: code("consent_scope"),
        "consent_mechanisms": lambda: codes("mechanism"),
        "witness_sex": lambda: code("sex"),
    },
    "PATCH /api/v1/testimonies/{public_id}": {
        "language": lambda: code("interview_language"),
        "witness_sex": lambda: code("sex"),
    },
    f"{TESTIMONY}/consent": {
        "scope": lambda: code("consent_scope"),
        "mechanisms": lambda: codes("mechanism"),
    },
    f"{TESTIMONY}/incidents": {"date_precision": lambda: code("date_precision")},
    f"{TESTIMONY}/individuals": {
        "role": lambda: code("individual_role"),
        "sex": lambda: code("sex"),
        "relation_to_witness": lambda: code("witness_relation"),
        "institution": lambda: code("institution"),
    },
    f"{TESTIMONY}/incidents/{{incident_id}}/acts": {
        "act_type": lambda: code("act_type"),
        "connection": lambda: code("source_connection"),
        "reliability": lambda: code("reliability"),
        "credibility": lambda: code("credibility"),
        "coi_category": lambda: code("coi_category"),
    },
    "POST /api/v1/places": {
        "kind": lambda: code("place_kind"),
        "facility_type": lambda: code("facility_type"),
    },
}
CODED_QUERIES: dict[str, Coded] = {
    "GET /api/v1/stats/arrivals": {"by": dimensions},
    "GET /api/v1/public/stats/arrivals": {"by": dimensions},
}


def coded(case: Case, body: dict[str, Any], query: dict[str, Any]) -> Case:
    if body and isinstance(case.body, dict):
        case.body = {**case.body, **body}
    if query:
        case.query = {**(case.query or {}), **query}
    return case


def with_codes(strategy: st.SearchStrategy[Case], name: str) -> st.SearchStrategy[Case]:
    """The cases, and as many again with valid codes in their coded fields."""
    body, query = CODED_BODIES.get(name, {}), CODED_QUERIES.get(name, {})
    if not body and not query:
        return strategy
    values = st.tuples(
        st.fixed_dictionaries({name: valid() for name, valid in body.items()}),
        st.fixed_dictionaries({name: valid() for name, valid in query.items()}),
    )
    return st.one_of(
        strategy,
        st.tuples(strategy, values).map(lambda drawn: coded(drawn[0], *drawn[1])),
    )


@dataclass(frozen=True)
class Objects:
    """What a known-good request names: the objects of one relation, and two the world lacks
    (a second act of the agency, from another testimony, to corroborate; a province)."""

    world: matrix.World
    relation: Relation
    role: Role
    second_act: int
    province: str

    def __getitem__(self, key: str) -> Any:
        return self.world.value(key, self.relation, self.role)


NEW_PDF = b"%PDF-1.7\nanother statement\n%%EOF\n"  # not yet stored (a duplicate is refused)


def version(model: Any, **lookup: Any) -> int:
    return int(model.objects.values_list("version", flat=True).get(**lookup))


def new_referral(o: Objects) -> dict[str, Any]:
    today = support_selectors.today()
    return {
        "to_agency": "gamma",
        "sections": ["profile", "needs"],
        "purpose": "housing support",
        "consent_given_on": today.isoformat(),
        "valid_until": (today + timedelta(days=90)).isoformat(),
    }


def new_testimony(o: Objects) -> dict[str, Any]:
    return {
        "interview_date": "2024-06-01",
        "language": "ko",
        "summary": "Forced labour at a county farm.",
        "consent_scope": "share_with_mechanisms",
        "consent_given_on": "2024-06-01",
        "consent_mechanisms": ["ohchr_seoul"],
        "witness_identity": "Witness W-2",
    }


# Known-good bodies of the operations the least schema-valid body (matrix.least_value) does
# not serve: those with codes, versions, or rules across fields. Object-naming body fields
# (matrix.BODY_KEYS) are added as for every case, unless the known body names its own.
KNOWN_BODIES: dict[str, Any] = {
    "POST /api/v1/arrivals": lambda o: {
        "record_id": f"KG-{o.role.value}",
        "arrival_date": "2019-04",
        "sex": "F",
        "confirm_new_person": True,
    },
    "PUT /api/v1/arrivals/{record_id}": lambda o: {
        "record_id": o["record_id"],
        "arrival_date": "2019-04-05",
        "sex": "M",
        "version": version(Arrival, pk=o["arrival"]),
    },
    "PATCH /api/v1/cases/{public_id}": lambda o: {
        "version": version(SupportCase, public_id=o["case"]),
        "household_size": 3,
    },
    "POST /api/v1/cases/{public_id}/assessments": lambda o: {
        "assessed_on": "2024-02-01",
        "needs": {domain: {"severity": 1} for domain in vocab.codes("need_domain")},
    },
    "POST /api/v1/cases/{public_id}/services": lambda o: {"kind": "counselling"},
    "PATCH /api/v1/cases/{public_id}/services/{service_id}": lambda o: {
        "version": version(Service, pk=o["service"]),
        "note": "called",
    },
    "POST /api/v1/cases/{public_id}/referrals": new_referral,
    "POST /api/v1/testimonies": new_testimony,
    "PATCH /api/v1/testimonies/{public_id}": lambda o: {
        "version": version(testimony_models.Testimony, public_id=o["testimony"]),
        "summary": "Detention at a holding centre, then a labour camp.",
    },
    f"{TESTIMONY}/seal": lambda o: {
        "version": version(testimony_models.Testimony, public_id=o["testimony"])
    },
    f"{TESTIMONY}/consent": lambda o: {"scope": "internal", "given_on": "2024-08-01"},
    f"{TESTIMONY}/individuals": lambda o: {"role": "victim", "name": "a fellow detainee"},
    f"{TESTIMONY}/incidents/{{incident_id}}/acts": lambda o: {
        "act_type": "forced_labour",
        "connection": "witnessed",
        "reliability": "c",
        "credibility": "3",
    },
    "POST /api/v1/corroborations": lambda o: {
        "acts": [o["act"], o.second_act],
        "label": "the same detention",
    },
    "POST /api/v1/places": lambda o: {
        "kind": "county",
        "name_ko": "새 군",
        "name_en": "New County",
        "parent": o.province,
    },
    "POST /api/v1/evidence": lambda o: {"file": NEW_PDF, "received_from": "the witness"},
}


def endpoint_of(operation: APIOperation, endpoints: dict[str, matrix.Endpoint]) -> Any:
    return endpoints[f"{operation.method.upper()} {operation.path}"]


def objects_for(
    world: matrix.World, endpoint: matrix.Endpoint, role: Role, relation: Relation
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Path parameters and body fields naming the objects standing in ``relation``."""
    keys = endpoint.keys()
    path = {name: world.value(keys[name], relation, role) for name in endpoint.params}
    body = {
        name: [world.value(key, relation, role)] if as_list else world.value(key, relation, role)
        for name, (key, as_list) in matrix.BODY_KEYS.get(endpoint.name, {}).items()
    }
    return path, body


def naming(case: Case, body: dict[str, Any]) -> Case:
    if body and isinstance(case.body, dict):
        case.body = {**case.body, **body}
    return case


def cases_for(
    operation: APIOperation, endpoint: matrix.Endpoint, world: matrix.World, role: Role
) -> st.SearchStrategy[Case]:
    """Positive and negative cases on the objects of each relation the operation's object can
    stand in (positive ones also with valid codes); and, for an operation naming an object in
    its path, positive cases with the generated (missing) one."""
    kind = endpoint.kind()
    token = {"Authorization": f"Bearer {world.tokens[role]}"}
    strategies = []
    for relation in kind.relations if kind else (Relation.AGENCY,):
        path, body = objects_for(world, endpoint, role, relation)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(mode, path_parameters=path or None, headers=token)
            if mode is GenerationMode.POSITIVE:
                strategy = with_codes(
                    strategy.map(lambda case, body=body: naming(case, body)), endpoint.name
                )
            strategies.append(strategy)
    if endpoint.params:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, headers=token))
    return st.one_of(strategies)


def allowed_relations(endpoint: matrix.Endpoint, role: Role) -> list[Relation | None]:
    kind = endpoint.kind()
    relations: tuple[Relation | None, ...] = kind.relations if kind else (None,)
    method = endpoint.methods[0]
    return [r for r in relations if matrix.expected(endpoint, method, role, r) == matrix.ALLOWED]


def known_good(operation: APIOperation, endpoint: matrix.Endpoint, objects: Objects) -> Case:
    """A request the operation should grant: the objects of the relation, valid values."""
    path, named = objects_for(objects.world, endpoint, objects.role, objects.relation)
    body: Any = NOT_SET
    if endpoint.name in KNOWN_BODIES:
        body = named | KNOWN_BODIES[endpoint.name](objects)
    elif endpoint.body_schema is not None:
        body = matrix.least_value(endpoint.body_schema, endpoint.document) | named
    return operation.Case(
        path_parameters=path or None,
        query=dict(endpoint.query) or None,
        body=body,
        headers={"Authorization": f"Bearer {objects.world.tokens[objects.role]}"},
        media_type="multipart/form-data" if endpoint.multipart else None,
    )


def send(case: Case, pair: Pair, tally: Tally, known: bool = False) -> None:
    """One request, its changes rolled back, its answer checked; failures tallied by
    operation, role, check and status (the first example of each kept), successes by pair."""
    label = f"{pair[0]} [{pair[1].value}]"
    with transaction.atomic():
        try:
            response = case.call()
        except Exception as error:  # an exception out of the WSGI app is a server error
            tally.fail(f"{label} raised {type(error).__name__}", repr(error))
            return
        finally:
            transaction.set_rollback(True)
    if known:
        tally.cases["known-good"] += 1
    else:
        assert case.meta is not None
        tally.cases[case.meta.generation.mode.value] += 1
    tally.statuses[f"{response.status_code // 100}xx"] += 1
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        for failure in group.exceptions:
            key = f"{label} {failure.title} ({response.status_code})"
            tally.fail(key, f"{failure.message}\n  {case.as_curl_command()}\n  {response.text}")
        return
    if 200 <= response.status_code < 300:
        tally.succeeded.add(pair)
    elif known:
        tally.known_refused[pair] = f"{response.status_code} {response.text[:300]}"


def fuzz(
    operation: APIOperation,
    endpoint: matrix.Endpoint,
    objects: Objects,
    tally: Tally,
) -> None:
    world, role = objects.world, objects.role
    refused = matrix.expected(endpoint, operation.method.upper(), role, None) == matrix.FORBIDDEN
    pair = (endpoint.name, role)

    @settings(
        max_examples=REFUSED_EXAMPLES if refused else EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],  # nothing is raised, so nothing to shrink
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases_for(operation, endpoint, world, role))
    def run(case: Case) -> None:
        send(case, pair, tally)

    run()
    for relation in allowed_relations(endpoint, role):
        standing = replace(objects, relation=relation or Relation.AGENCY)
        send(known_good(operation, endpoint, standing), pair, tally, known=True)
    tally.pairs += 1


def allowed_pairs(endpoints: list[matrix.Endpoint]) -> set[Pair]:
    return {(e.name, role) for e in endpoints for role in Role if allowed_relations(e, role)}


def second_act(world: matrix.World) -> int:
    """An act of the actors' agency in a testimony other than the world's."""
    _, _, act = matrix.detention_act(
        world.actors[Role.DOCUMENTER],
        interviewed=date(2024, 7, 1),
        summary="Detention at the same holding centre.",
        witness="Witness W-3",
        consent_scope="internal",
    )
    return int(act.pk)


@pytest.mark.django_db
def test_every_operation_as_every_role_answers_as_its_schema_says(
    settings: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"
    settings.SAEBOM_PUBLIC_STATS = True  # so the public statistics answer
    if not Place.objects.filter(code="kwanliso_15").exists():  # a live-server test emptied it
        load_gazetteer()
    world = matrix.build_world()
    province = Place.objects.filter(kind="province").values_list("code", flat=True).first()
    assert province is not None
    tally = Tally()
    with connection_kept_open():
        schema = schemathesis.openapi.from_wsgi(
            matrix.API_PREFIX + "openapi.json", WSGIHandler(), config=CONFIG
        )
        endpoints = {e.name: e for e in matrix.api_endpoints(schema.raw_schema)[0]}
        operations = [result.ok() for result in schema.get_all_operations()]
        act = second_act(world)
        for operation in operations:
            for role in Role:
                objects = Objects(world, Relation.AGENCY, role, act, province)
                fuzz(operation, endpoint_of(operation, endpoints), objects, tally)
    allowed = allowed_pairs(list(endpoints.values()))
    summary = tally.summary(len(operations), len(Role), allowed)
    with capsys.disabled():
        print(f"\n{summary}")
    assert len(operations) == len(endpoints) >= 40, summary
    assert tally.cases.total() >= MIN_CASES, summary
    assert not tally.failures, (
        summary
        + "\n\n"
        + "\n\n".join(f"{key}:\n  {report}" for key, report in sorted(tally.failures.items()))
    )
    missing = tally.missing(allowed)
    assert not missing, (
        summary + "\n\nallowed, yet no 2xx passed the schema checks:\n" + "\n".join(missing)
    )
