"""Arrivals in the API: list with filters, detail, create (with the duplicate check), update."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from saebom.accounts.models import User
from saebom.api.paging import page
from saebom.api.problems import Invalid
from saebom.api.rules import refuses, requires
from saebom.core import policy
from saebom.core.exceptions import Conflict
from saebom.core.policy import Action
from saebom.registry import selectors, services
from saebom.registry.interchange import RowInvalid, format_row, parse_row
from saebom.registry.models import Arrival

router = Router(tags=["arrivals"])


class ArrivalOut(Schema):
    public_id: str
    record_id: str
    version: int
    status: str
    synthetic: bool
    arrival_date: str
    sex: str
    birth_year: str
    origin_province: str
    occupation: str
    education: str
    elite_category: str
    left_north_date: str
    transit_countries: str
    route: str
    reasons: str
    protection: str


class ArrivalIn(Schema):
    """The interchange columns (docs/data-formats.md); codes or labels, dates at any precision."""

    record_id: str
    arrival_date: str
    sex: str = ""
    birth_year: str = ""
    origin_province: str = ""
    occupation: str = ""
    education: str = ""
    elite_category: str = ""
    left_north_date: str = ""
    transit_countries: str = ""
    route: str = ""
    reasons: str = ""
    protection: str = ""
    name_ko: str = ""
    name_en: str = ""
    date_of_birth: str = ""


class ArrivalCreateIn(ArrivalIn):
    link_to: str = ""  # public id of the person this arrival belongs to
    confirm_new_person: bool = False  # register although possible duplicates were found


class ArrivalUpdateIn(ArrivalIn):
    version: int


def _actor(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


def _out(arrival: Arrival) -> dict[str, Any]:
    row = format_row(selectors.arrival_data(arrival), include_identifiers=False)
    return {
        **row,
        "public_id": arrival.person.public_id,
        "version": arrival.version,
        "status": arrival.status,
        "synthetic": arrival.is_synthetic,
    }


def _parse(payload: ArrivalIn) -> Any:
    values = payload.dict(exclude={"link_to", "confirm_new_person", "version"})
    try:
        return parse_row(values)
    except RowInvalid as invalid:
        first = invalid.problems[0]
        raise Invalid(str(invalid), field=first.column) from None


def _visible(request: HttpRequest, record_id: str, action: Action) -> Arrival:
    arrivals = selectors.arrivals_visible_to(_actor(request), action)
    return policy.get_visible(_actor(request), action, arrivals, record_id=record_id)


@router.get("/arrivals", response=list[ArrivalOut])
@requires(Action.ARRIVAL_VIEW)
def arrival_list(
    request: HttpRequest,
    year_from: int | None = None,
    year_to: int | None = None,
    sex: str = "",
    origin_province: str = "",
    status: str = "",
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    arrivals = selectors.arrivals_filtered(
        selectors.arrivals_visible_to(_actor(request)),
        year_from=year_from,
        year_to=year_to,
        sex=sex,
        origin_province=origin_province,
        status=status,
    )
    limit, offset = page(limit, offset)
    return [_out(a) for a in arrivals[offset : offset + limit]]


@router.get("/arrivals/{path:record_id}", response=ArrivalOut)
@requires(Action.ARRIVAL_VIEW)
def arrival_detail(request: HttpRequest, record_id: str) -> dict[str, Any]:
    return _out(_visible(request, record_id, Action.ARRIVAL_VIEW))


@router.post("/arrivals", response={201: ArrivalOut})
@requires(Action.ARRIVAL_CREATE)
@refuses(409)  # a possible duplicate, a record id taken
def arrival_create(request: HttpRequest, payload: ArrivalCreateIn) -> Status[dict[str, Any]]:
    data = _parse(payload)
    candidates = selectors.possible_duplicates(
        _actor(request),
        name_ko=data.name_ko,
        name_en=data.name_en,
        birth_year=data.birth_year,
    )
    link_to = next((p for p in candidates if p.public_id == payload.link_to), None)
    if payload.link_to and link_to is None:
        raise Invalid(
            f"link_to {payload.link_to!r} is not a possible duplicate you may see", field="link_to"
        )
    if candidates and link_to is None and not payload.confirm_new_person:
        ids = ", ".join(p.public_id for p in candidates)
        raise Conflict(
            f"possible duplicate of {ids}: send link_to, or confirm_new_person=true",
            field="link_to",
        )
    arrival = services.arrival_create(actor=_actor(request), data=data, link_to=link_to)
    return Status(201, _out(Arrival.objects.select_related("person").get(pk=arrival.pk)))


@router.put("/arrivals/{path:record_id}", response=ArrivalOut)
@requires(Action.ARRIVAL_UPDATE)
@refuses(409)  # a stale version, a changed record id
def arrival_update(
    request: HttpRequest, record_id: str, payload: ArrivalUpdateIn
) -> dict[str, Any]:
    arrival = _visible(request, record_id, Action.ARRIVAL_UPDATE)
    updated = services.arrival_update(
        actor=_actor(request),
        arrival=arrival,
        data=_parse(payload),
        expected_version=payload.version,
    )
    return _out(Arrival.objects.select_related("person").get(pk=updated.pk))
