"""Writes to the registry. Each checks policy and records its audit event in its transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from saebom.accounts.models import Agency, User
from saebom.core import bulk, policy
from saebom.core.actors import Actor, SystemActor
from saebom.core.audit import audit_record
from saebom.core.exceptions import Conflict, NotFound
from saebom.core.fields import blind_index_of
from saebom.core.policy import Action, Scope
from saebom.registry.interchange import LIST_SEPARATOR, ArrivalData
from saebom.registry.models import (
    Arrival,
    ArrivalReason,
    ArrivalTransit,
    Person,
    PersonIdentity,
    new_public_id,
)

BATCH = 1000
ARRIVAL_FIELDS = (
    "arrival_date",
    "arrival_precision",
    "arrival_year",
    "sex",
    "birth_year",
    "origin_province",
    "occupation",
    "education",
    "elite_category",
    "left_north_date",
    "left_north_precision",
    "route",
    "protection",
    "reason_codes",
    "transit_codes",
    "is_synthetic",
    "version",
)
# Fields an arrival takes from the interchange data as they are.
PLAIN_FIELDS = (
    "sex",
    "birth_year",
    "origin_province",
    "occupation",
    "education",
    "elite_category",
    "route",
    "protection",
)
IDENTITY_FIELDS = ("name_ko", "name_en", "date_of_birth", "birth_year")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SaveCounts:
    created: int
    updated: int


def agency_for(actor: Actor, action: Action, agency_code: str | None) -> Agency:
    """The agency an actor works in: its own, or any named one for ALL scope and the operator."""
    scope = policy.require(actor, action)
    if agency_code is None:
        if isinstance(actor, SystemActor):
            agency_code = policy.OPERATOR_AGENCY_CODE
        else:
            return actor.agency
    agency = Agency.objects.filter(code=agency_code).first()
    if agency is None or (scope is not Scope.ALL and agency.pk != actor.agency_id):
        raise NotFound(f"no agency with code {agency_code!r}")
    return agency


def _history_user(actor: Actor) -> User | None:
    return None if isinstance(actor, SystemActor) else actor


def _apply(arrival: Arrival, data: ArrivalData) -> None:
    arrival.arrival_date = data.arrival.value
    arrival.arrival_precision = data.arrival.precision
    arrival.arrival_year = data.arrival.value.year
    arrival.left_north_date = data.left_north.value if data.left_north else None
    arrival.left_north_precision = data.left_north.precision if data.left_north else ""
    for name in PLAIN_FIELDS:
        setattr(arrival, name, getattr(data, name))
    arrival.reason_codes = LIST_SEPARATOR.join(data.reasons)
    arrival.transit_codes = LIST_SEPARATOR.join(data.transit_countries)


def _identity_values(data: ArrivalData) -> dict[str, object]:
    return {
        "name_ko": data.name_ko or None,
        "name_en": data.name_en or None,
        "date_of_birth": data.date_of_birth,
        "birth_year": data.birth_year,
    }


def _fresh_public_ids(count: int) -> list[str]:
    """Random ids, none already taken (checked in the database, not left to chance)."""
    chosen: set[str] = set()
    while len(chosen) < count:
        wanted = {new_public_id() for _ in range(count - len(chosen))} - chosen
        for start in range(0, len(wanted), BATCH):
            batch = list(wanted)[start : start + BATCH]
            taken = set(
                Person.objects.filter(public_id__in=batch).values_list("public_id", flat=True)
            )
            chosen.update(set(batch) - taken)
    return list(chosen)[:count]


PUBLIC_ID_ATTEMPTS = 5


def _insert_persons(person_ids: list[int], synthetic: bool, now: datetime) -> None:
    """Persons with fresh random public ids. The unique index is the check: a collision (about
    one in ten million per id among a million persons) rolls back this batch alone, which is
    retried with new ids, instead of a lookup for every id."""
    for attempt in range(PUBLIC_ID_ATTEMPTS):
        ids = {new_public_id() for _ in person_ids}
        if len(ids) < len(person_ids):
            continue
        rows = [
            (pk, public_id, synthetic, now) for pk, public_id in zip(person_ids, ids, strict=True)
        ]
        try:
            with transaction.atomic():
                bulk.insert_rows(Person, ("id", "public_id", "is_synthetic", "created_at"), rows)
            return
        except IntegrityError:
            if attempt == PUBLIC_ID_ATTEMPTS - 1:
                raise
    raise Conflict("could not draw unique public ids; try again")


def _lock_agency(agency: Agency) -> None:
    """Writers of one agency's records take turns, so two imports or intakes of the same
    record id cannot both decide to create it (SQLite's immediate transactions do this anyway).
    A no-key lock: rows that merely point at the agency (a case, a testimony) can still be
    written during a long import."""
    agencies = Agency.objects.select_for_update(no_key=True).filter(pk=agency.pk)
    list(agencies.values_list("pk", flat=True))


def arrivals_save(
    *,
    actor: Actor,
    agency: Agency,
    records: Sequence[ArrivalData],
    synthetic: bool = False,
    progress: Progress | None = None,
) -> SaveCounts:
    """Create or update arrivals by ``(agency, record_id)``, in bulk, with their history.

    Call inside a transaction; the caller records the audit event for the whole batch.
    """
    _lock_agency(agency)
    wanted = {r.record_id for r in records}
    # One scan of the agency's ids rather than an IN list as long as the file.
    existing = {
        record_id: pk
        for record_id, pk in Arrival.objects.filter(agency=agency).values_list("record_id", "pk")
        if record_id in wanted
    }
    new = [r for r in records if r.record_id not in existing]
    old = [r for r in records if r.record_id in existing]
    user = _history_user(actor)
    done = 0
    for start in range(0, len(new), BATCH):
        _create_batch(agency, new[start : start + BATCH], synthetic, user)
        done += len(new[start : start + BATCH])
        if progress:
            progress(done, len(records))
    for start in range(0, len(old), BATCH):
        _update_batch(old[start : start + BATCH], existing, user)
        done += len(old[start : start + BATCH])
        if progress:
            progress(done, len(records))
    return SaveCounts(created=len(new), updated=len(old))


ARRIVAL_COLUMNS = (
    "id",
    "person_id",
    "agency_id",
    "record_id",
    *ARRIVAL_FIELDS[:-2],
    "status",
    "is_synthetic",
    "version",
    "created_at",
    "updated_at",
)


def _create_batch(
    agency: Agency, batch: Sequence[ArrivalData], synthetic: bool, user: User | None
) -> None:
    """New persons, identities, arrivals and their lists, inserted in bulk with their history."""
    now = timezone.now()
    person_ids = bulk.allocate_ids(Person, len(batch))
    _insert_persons(person_ids, synthetic, now)
    with_identity = [
        (pk, data) for pk, data in zip(person_ids, batch, strict=True) if data.has_identity
    ]
    bulk.insert_rows(
        PersonIdentity,
        (
            "id",
            "person_id",
            *IDENTITY_FIELDS,
            "aliases",
            "last_address_north",
            "contact_south",
            "name_ko_index",
            "name_en_index",
        ),
        [
            (
                identity_id,
                person_id,
                *_identity_values(data).values(),
                None,
                None,
                None,
                *_name_indexes(data),
            )
            for identity_id, (person_id, data) in zip(
                bulk.allocate_ids(PersonIdentity, len(with_identity)), with_identity, strict=True
            )
        ],
        history_user=user,
    )
    arrival_ids = bulk.allocate_ids(Arrival, len(batch))
    bulk.insert_rows(
        Arrival,
        ARRIVAL_COLUMNS,
        [
            (
                arrival_id,
                person_id,
                agency.pk,
                data.record_id,
                *_arrival_values(data),
                Arrival.Status.PROVISIONAL,
                synthetic,
                1,
                now,
                now,
            )
            for arrival_id, person_id, data in zip(arrival_ids, person_ids, batch, strict=True)
        ],
        history_user=user,
    )
    _insert_children(list(zip(arrival_ids, batch, strict=True)))


def _arrival_values(data: ArrivalData) -> tuple[object, ...]:
    """Values of ``ARRIVAL_FIELDS`` up to ``transit_codes``, in that order."""
    left = data.left_north
    return (
        data.arrival.value,
        data.arrival.precision,
        data.arrival.value.year,
        data.sex,
        data.birth_year,
        data.origin_province,
        data.occupation,
        data.education,
        data.elite_category,
        left.value if left else None,
        left.precision if left else "",
        data.route,
        data.protection,
        LIST_SEPARATOR.join(data.reasons),
        LIST_SEPARATOR.join(data.transit_countries),
    )


def _name_indexes(data: ArrivalData) -> tuple[str | None, str | None]:
    return (
        blind_index_of(PersonIdentity, "name_ko_index", data.name_ko, data.birth_year),
        blind_index_of(PersonIdentity, "name_en_index", data.name_en, data.birth_year),
    )


def _insert_children(pairs: Sequence[tuple[int, ArrivalData]]) -> None:
    """The count index of the arrivals' lists (their history is the arrivals')."""
    bulk.insert_rows(
        ArrivalReason,
        ("arrival_id", "code"),
        [(arrival_id, code) for arrival_id, data in pairs for code in data.reasons],
    )
    bulk.insert_rows(
        ArrivalTransit,
        ("arrival_id", "country", "position"),
        [
            (arrival_id, country, n)
            for arrival_id, data in pairs
            for n, country in enumerate(data.transit_countries, 1)
        ],
    )


def _update_batch(
    batch: Sequence[ArrivalData], existing: dict[str, int], user: User | None
) -> None:
    by_id = Arrival.objects.select_for_update().in_bulk([existing[r.record_id] for r in batch])
    pairs = []
    now = timezone.now()
    for data in batch:
        arrival = by_id[existing[data.record_id]]
        _apply(arrival, data)
        arrival.version += 1
        arrival.updated_at = now  # bulk_update skips auto_now
        pairs.append((arrival, data))
    bulk_update_with_history(
        [a for a, _ in pairs],
        Arrival,
        [*ARRIVAL_FIELDS, "updated_at"],
        batch_size=BATCH,
        default_user=user,
    )
    _replace_children(pairs)
    # One read of the batch's identities, not one per row.
    identities = PersonIdentity.objects.in_bulk(
        [a.person_id for a, _ in pairs], field_name="person_id"
    )
    for arrival, data in pairs:
        identity = identities.get(arrival.person_id)
        if data.has_identity:
            _identity_save(arrival.person_id, data, user, identity)
        else:
            _identity_birth_year(identity, data.birth_year, user)


def _identity_birth_year(
    identity: PersonIdentity | None, birth_year: int | None, user: User | None
) -> None:
    """Keep the identity's birth year (and so its blind indexes) in step with the arrival's."""
    if identity is None or identity.birth_year == birth_year:
        return
    born = identity.date_of_birth
    if born is not None and birth_year is not None and born.year != birth_year:
        raise Conflict("the birth year differs from the recorded date of birth", field="birth_year")
    identity.birth_year = birth_year
    identity._history_user = user  # type: ignore[attr-defined]
    identity.save()


def _identity_save(
    person_id: int, data: ArrivalData, user: User | None, identity: PersonIdentity | None = None
) -> PersonIdentity:
    identity = (
        identity
        or PersonIdentity.objects.filter(person_id=person_id).first()
        or PersonIdentity(person_id=person_id)
    )
    identity._history_user = user  # type: ignore[attr-defined]
    for name, value in _identity_values(data).items():
        setattr(identity, name, value)
    identity.save()  # one row: the ordinary save keeps its history and blind indexes
    return identity


ALIAS_SEPARATOR = "; "


def _identity_merge(person: Person, data: ArrivalData, user: User | None) -> None:
    """A further arrival of a known person: names that differ become aliases, gaps are filled."""
    identity = PersonIdentity.objects.filter(person=person).first()
    if identity is None:
        _identity_save(person.pk, data, user)
        return
    aliases = [a for a in (identity.aliases or "").split(ALIAS_SEPARATOR) if a]
    for current, new in ((identity.name_ko, data.name_ko), (identity.name_en, data.name_en)):
        if new and new != current and new not in aliases:
            aliases.append(new)
    identity.aliases = ALIAS_SEPARATOR.join(aliases) or None
    identity.name_ko = identity.name_ko or data.name_ko or None
    identity.name_en = identity.name_en or data.name_en or None
    identity.date_of_birth = identity.date_of_birth or data.date_of_birth
    identity.birth_year = identity.birth_year or data.birth_year
    identity._history_user = user  # type: ignore[attr-defined]
    identity.save()


def _replace_children(pairs: Iterable[tuple[Arrival, ArrivalData]]) -> None:
    pairs = list(pairs)
    ids = [arrival.pk for arrival, _ in pairs]
    for model in (ArrivalReason, ArrivalTransit):
        model.objects.filter(arrival_id__in=ids).delete()
    _insert_children([(arrival.pk, data) for arrival, data in pairs])


def arrival_create(
    *,
    actor: Actor,
    data: ArrivalData,
    link_to: Person | None = None,
    agency_code: str | None = None,
) -> Arrival:
    """Intake of one arrival: a new person, or a new arrival of a person already registered."""
    agency = agency_for(actor, Action.ARRIVAL_CREATE, agency_code)
    with transaction.atomic():
        _lock_agency(agency)
        if Arrival.objects.filter(agency=agency, record_id=data.record_id).exists():
            raise Conflict(
                f"record id {data.record_id!r} is already used in this agency", field="record_id"
            )
        person = link_to or Person.objects.create(public_id=_fresh_public_ids(1)[0])
        if link_to is not None and data.has_identity:
            _identity_merge(person, data, _history_user(actor))
        elif data.has_identity:
            _identity_save(person.pk, data, _history_user(actor))
        arrival = Arrival(person=person, agency=agency, record_id=data.record_id)
        _apply(arrival, data)
        arrival._history_user = _history_user(actor)  # type: ignore[attr-defined]
        arrival.save()
        _insert_children([(arrival.pk, data)])
        audit_record(
            actor=actor,
            action="create",
            object_type="arrival",
            object_id=person.public_id,
            agency_code=agency.code,
            changed_fields=_changed_fields(data),
            detail={"linked": link_to is not None},
        )
    return arrival


def arrival_update(
    *, actor: Actor, arrival: Arrival, data: ArrivalData, expected_version: int
) -> Arrival:
    policy.get_visible(actor, Action.ARRIVAL_UPDATE, Arrival.objects.all(), pk=arrival.pk)
    with transaction.atomic():
        locked = Arrival.objects.select_for_update().get(pk=arrival.pk)
        if locked.version != expected_version:
            raise Conflict(
                "someone else saved this record since you opened it; reload to see the changes"
            )
        if data.record_id != locked.record_id:
            raise Conflict("the record id cannot be changed", field="record_id")
        _update_batch([data], {locked.record_id: locked.pk}, _history_user(actor))
        audit_record(
            actor=actor,
            action="update",
            object_type="arrival",
            object_id=locked.person.public_id,
            agency_code=locked.agency.code,
            changed_fields=_changed_fields(data),
        )
    return Arrival.objects.get(pk=arrival.pk)


def _changed_fields(data: ArrivalData) -> list[str]:
    """Names of the fields given a value (names only; never the values of identifiers)."""
    filled = [
        name
        for name in (*PLAIN_FIELDS, "name_ko", "name_en", "date_of_birth")
        if getattr(data, name)
    ]
    return [
        "arrival_date",
        *filled,
        *(["reasons"] if data.reasons else []),
        *(["transit_countries"] if data.transit_countries else []),
    ]


def identity_view(*, actor: Actor, person: Person) -> PersonIdentity | None:
    """Read a person's identifiers: a separate, audited action."""
    from saebom.registry.selectors import persons_visible_to

    policy.require(actor, Action.IDENTIFIERS_VIEW)
    if not persons_visible_to(actor, Action.IDENTIFIERS_VIEW).filter(pk=person.pk).exists():
        raise NotFound("Not found.")
    with transaction.atomic():
        identity = PersonIdentity.objects.filter(person=person).first()
        audit_record(
            actor=actor,
            action="view_identifiers",
            object_type="person",
            object_id=person.public_id,
            changed_fields=[]
            if identity is None
            else [
                f
                for f in (
                    "name_ko",
                    "name_en",
                    "aliases",
                    "date_of_birth",
                    "last_address_north",
                    "contact_south",
                )
                if getattr(identity, f)
            ],
        )
    return identity
