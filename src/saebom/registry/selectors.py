"""Reads of the registry, already narrowed to what the reader may see.

Lists and counts never touch ``PersonIdentity``: identifiers are read only through
``services.identity_view`` (audited) or an admin's audited export.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from saebom.core import policy
from saebom.core.actors import Actor
from saebom.core.fields import blind_index_of
from saebom.core.policy import Action, Scope
from saebom.registry.interchange import LIST_SEPARATOR, ArrivalData, PartialDate
from saebom.registry.models import (
    Arrival,
    ImportJob,
    Person,
    PersonIdentity,
)


def arrivals_visible_to(actor: Actor, action: Action = Action.ARRIVAL_VIEW) -> QuerySet[Arrival]:
    return policy.scoped(actor, action, Arrival.objects.select_related("person", "agency"))


def persons_visible_to(actor: Actor, action: Action = Action.ARRIVAL_VIEW) -> QuerySet[Person]:
    """Persons with at least one arrival the actor may see for ``action``."""
    scope = policy.scope_of(actor, action)
    if scope is Scope.ALL:
        return Person.objects.all()
    arrivals = policy.scoped(actor, action, Arrival.objects.filter(person=OuterRef("pk")))
    return Person.objects.filter(Exists(arrivals))


def import_jobs_of(actor: Actor) -> QuerySet[ImportJob]:
    """The actor's own web imports (their reports may quote cells of the files)."""
    jobs = policy.scoped(actor, Action.ARRIVAL_IMPORT, ImportJob.objects.all())
    return jobs.filter(created_by_id=getattr(actor, "pk", None)).order_by("-created_at")


def arrivals_filtered(arrivals: QuerySet[Arrival], **filters: Any) -> QuerySet[Arrival]:
    """Filters of the list and the API: year range, sex, province, status, record id."""
    if filters.get("year_from"):
        arrivals = arrivals.filter(arrival_year__gte=filters["year_from"])
    if filters.get("year_to"):
        arrivals = arrivals.filter(arrival_year__lte=filters["year_to"])
    for name in ("sex", "origin_province", "status", "record_id"):
        if filters.get(name):
            arrivals = arrivals.filter(**{name: filters[name]})
    if filters.get("public_id"):
        arrivals = arrivals.filter(person__public_id=str(filters["public_id"]).upper())
    return arrivals.order_by("-arrival_date", "-pk")


def possible_duplicates(
    actor: Actor, *, name_ko: str, name_en: str, birth_year: int | None
) -> list[Person]:
    """Persons the actor may see whose name (folded North/South spelling) and birth year match.

    Only the actor's own scope is searched: telling an officer that someone is registered at
    another agency would let anyone probe whether a person has arrived.
    """
    keys = {
        "name_ko_index": blind_index_of(PersonIdentity, "name_ko_index", name_ko, birth_year),
        "name_en_index": blind_index_of(PersonIdentity, "name_en_index", name_en, birth_year),
    }
    matches = PersonIdentity.objects.none()
    for column, key in keys.items():
        if key:
            matches = matches | PersonIdentity.objects.filter(**{column: key})
    person_ids = matches.values("person_id")
    return list(
        persons_visible_to(actor, Action.ARRIVAL_CREATE)
        .filter(pk__in=person_ids)
        .order_by("public_id")
    )


def _codes(text: str) -> list[str]:
    return text.split(LIST_SEPARATOR) if text else []


def arrival_data(arrival: Arrival, identity: PersonIdentity | None = None) -> ArrivalData:
    """The interchange view of a stored arrival (identity values only when given)."""
    return ArrivalData(
        record_id=arrival.record_id,
        arrival=PartialDate(arrival.arrival_date, arrival.arrival_precision),
        sex=arrival.sex,
        birth_year=arrival.birth_year,
        origin_province=arrival.origin_province,
        occupation=arrival.occupation,
        education=arrival.education,
        elite_category=arrival.elite_category,
        left_north=PartialDate(arrival.left_north_date, arrival.left_north_precision)
        if arrival.left_north_date
        else None,
        transit_countries=_codes(arrival.transit_codes),
        route=arrival.route,
        reasons=_codes(arrival.reason_codes),
        protection=arrival.protection,
        name_ko=(identity.name_ko or "") if identity else "",
        name_en=(identity.name_en or "") if identity else "",
        date_of_birth=identity.date_of_birth if identity else None,
    )


def arrivals_for_export(
    arrivals: QuerySet[Arrival], *, with_identities: bool
) -> Iterator[ArrivalData]:
    """Every arrival as interchange data, in record order, streamed in chunks."""
    queryset = arrivals.order_by("agency_id", "record_id")
    if with_identities:
        queryset = queryset.select_related("person__identity")
    for arrival in queryset.iterator(chunk_size=2000):
        identity = getattr(arrival.person, "identity", None) if with_identities else None
        yield arrival_data(arrival, identity)
