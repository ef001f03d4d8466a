"""The authorization matrix, generated from the URL configuration and the OpenAPI schema: every
web route and API operation × every role and anonymous × the object's relation to the actor
(own agency, other agency, referred; the actor's own for tokens and imports) × read and write,
each cell's expected outcome computed from the policy table (``tests/core/matrix.py`` says
how). A route or operation that declares no policy action fails here, by name.

The test prints the matrix's size (shown with or without ``pytest -s``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from saebom.core.policy import Role
from saebom.testimony.models import Place
from tests.core import matrix
from tests.testimony.conftest import load_gazetteer

MIN_CELLS = 2000  # a broken walker must not pass with an empty matrix


@pytest.fixture
def schema(db: None) -> dict[str, Any]:
    response = Client().get(matrix.API_PREFIX + "openapi.json")
    assert response.status_code == 200
    return response.json()


def test_every_web_route_declares_its_action() -> None:
    walk = matrix.walk_urls()
    assert len(walk.web) >= 70 and len(walk.api_views) >= 40
    assert walk.undeclared == [], "routes declaring no policy action (policy.route/public_route)"


def test_every_api_operation_declares_its_action(schema: dict[str, Any]) -> None:
    endpoints, undeclared = matrix.api_endpoints(schema)
    assert len(endpoints) >= 40
    assert undeclared == [], "operations declaring no policy action (api.rules.requires/public)"


def test_the_schema_lists_every_operation_the_urls_serve(schema: dict[str, Any]) -> None:
    served = {
        (method, path): extra.get(matrix.ACTION_KEY, extra.get(matrix.PUBLIC_KEY))
        for method, path, extra in matrix.walk_urls().api_views
    }
    documented = {
        (method.upper(), path): operation.get(matrix.ACTION_KEY, operation.get(matrix.PUBLIC_KEY))
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    assert served == documented


def test_every_route_parameter_names_a_known_object(schema: dict[str, Any]) -> None:
    endpoints = matrix.walk_urls().web + matrix.api_endpoints(schema)[0]
    unknown = []
    for endpoint in endpoints:
        try:
            endpoint.keys()
        except LookupError as error:
            unknown.append(str(error))
    assert unknown == [], "teach tests/core/matrix.py which object these parameters name"


def test_authorization_matrix(
    schema: dict[str, Any], settings: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"
    settings.SAEBOM_PUBLIC_STATS = True  # so the public pages answer (they are public)
    if not Place.objects.filter(code="kwanliso_15").exists():  # a live-server test emptied it
        load_gazetteer()
    world = matrix.build_world()
    web = matrix.walk_urls().web
    api = matrix.api_endpoints(schema)[0]

    mismatches, counts, answers = [], Counter[str](), Counter[str]()
    for cell in matrix.cells(web + api):
        want = matrix.expected(cell.endpoint, cell.method, cell.role, cell.relation)
        try:
            response = matrix.ask(world, cell)
        except Exception as error:  # every failure is reported, not the first
            got, code, status = f"exception {type(error).__name__}: {error}", "-", "-"
        else:
            got = matrix.outcome(response, cell.endpoint.api)
            code = status = str(response.status_code)
            if got != want and (reason := matrix.why(response)):
                status = f"{code}: {reason}"
        counts["cells"] += 1
        counts["write" if cell.method != "GET" else "read"] += 1
        answers[f"{want} {code}"] += 1
        if got != want:
            mismatches.append(f"{cell.label()}: expected {want}, got {got} ({status})")

    size = (
        f"authorization matrix: {counts['cells']:,} cells ({len(web)} web routes, "
        f"{len(api)} API operations; {len(Role)} roles and anonymous; objects of the actor's "
        f"own, own agency, other agency, referred; {counts['read']:,} reads, "
        f"{counts['write']:,} writes), "
        f"{len(mismatches)} mismatches"
    )
    statuses = ", ".join(f"{answer} ×{n}" for answer, n in sorted(answers.items()))
    with capsys.disabled():
        print(f"\n{size}\n  (expected outcome, status: {statuses})")
    assert counts["cells"] >= MIN_CELLS, size
    assert not mismatches, size + ":\n" + "\n".join(mismatches)
