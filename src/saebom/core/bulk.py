"""Fast bulk inserts with history, for imports and the demo data.

Django's ``bulk_create`` builds a model instance and compiles SQL for every row, which dominates
an import. Here rows are plain lists of Python values: each field still prepares its own value
(``get_db_prep_save``: encryption, dates, JSON), once, and the same prepared values go to the
table and to its django-simple-history table through one ``executemany`` per batch. Primary keys
are allocated up front, so children can point at their parents without reading ids back.
Call inside a transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.utils import timezone

from saebom.core.fields import BlindIndexField, EncryptedTextField, concrete_field

BATCH = 2000
HISTORY_COLUMNS = ("history_date", "history_change_reason", "history_type", "history_user_id")


def allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` fresh primary keys for ``model`` (its sequence on PostgreSQL; max + n on SQLite,
    where the immediate transaction already holds the write lock)."""
    if count == 0:
        return []
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, column, count],
            )
            return [row[0] for row in cursor.fetchall()]
        quoted = connection.ops.quote_name
        cursor.execute(f"SELECT COALESCE(MAX({quoted(column)}), 0) FROM {quoted(table)}")  # noqa: S608
        highest = int(cursor.fetchone()[0])
        # AUTOINCREMENT never reuses an id, even of a deleted row: neither may we.
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        start = max(highest, int(row[0]) if row else 0) + 1
    return list(range(start, start + count))


def _insert(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    quoted = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 (names come from the models)
        quoted(table), ", ".join(quoted(c) for c in columns), ", ".join(["%s"] * len(columns))
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            cursor.executemany(sql, rows[start : start + BATCH])


def insert_rows(
    model: type[models.Model],
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    history_user: Any = None,
) -> None:
    """Insert ``rows`` (Python values for the fields ``names``, by attname) and, when the model
    keeps history, one "created" history row each. ``names`` must cover every tracked field."""
    fields = [concrete_field(model, name) for name in names]
    preparers = [_preparer(field) for field in fields]
    if all(prepare is _identity for prepare in preparers):
        prepared: Sequence[Sequence[Any]] = rows  # plain columns: the values go as they are
    else:
        prepared = [
            [prepare(value) for prepare, value in zip(preparers, row, strict=True)] for row in rows
        ]
    _insert(model._meta.db_table, [f.column for f in fields], prepared)
    historical = getattr(getattr(model, "history", None), "model", None)
    if historical is not None and prepared:
        _insert_history(historical, fields, prepared, history_user)


# Fields whose Python values the database drivers take as they are (None included).
PASSED_AS_IS = (
    models.CharField,
    models.SlugField,
    models.BooleanField,
    models.IntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.SmallIntegerField,
    models.BigAutoField,
    models.AutoField,
    models.ForeignKey,
)


def _identity(value: Any) -> Any:
    return value


def _preparer(field: models.Field[Any, Any]) -> Callable[[Any], Any]:
    """The cheapest correct conversion: as-is for plain columns, the field's own otherwise."""
    if type(field) in PASSED_AS_IS or type(field) is BlindIndexField:
        return _identity
    conn = connections[DEFAULT_DB_ALIAS]  # resolved once, not per value
    if isinstance(field, EncryptedTextField):  # never memoised: every value gets its own nonce
        return lambda value: field.get_db_prep_save(value, conn)
    memo: dict[Any, Any] = {}  # dates and times repeat across an import's rows

    def prepare(value: Any) -> Any:
        if value not in memo:
            memo[value] = field.get_db_prep_save(value, conn)
        return memo[value]

    return prepare


def _insert_history(
    historical: Any, fields: list[Any], prepared: Sequence[Sequence[Any]], user: Any
) -> None:
    tracked = {f.attname for f in historical.tracked_fields}
    missing = tracked - {f.attname for f in fields}
    if missing:
        raise ValueError(f"history of {historical.__name__} needs values for {sorted(missing)}")
    positions = [i for i, f in enumerate(fields) if f.attname in tracked]
    columns = [concrete_field(historical, fields[i].attname).column for i in positions]
    date_field = historical._meta.get_field("history_date")
    extra = [
        date_field.get_db_prep_save(timezone.now(), connection),
        None,
        "+",
        getattr(user, "pk", None),
    ]
    rows = [[row[i] for i in positions] + extra for row in prepared]
    _insert(historical._meta.db_table, columns + list(HISTORY_COLUMNS), rows)
