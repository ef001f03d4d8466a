"""Facet bitmaps (saebom.testimony.search.facet_counts): for each facet value, the set of
testimonies that hold it as a bitmap (bit ``id``), so that counting a facet over any number of
matches is an intersection and a population count instead of a read of every match's values.

Built here from the index's facet values. The bitmaps follow their testimonies as the index
entries do: emptied when the testimony table is truncated (PostgreSQL) or becomes empty
(SQLite: Django's test flush DELETEs). A single deleted testimony leaves its bits set, which
counts nothing: counting intersects with testimonies that exist, and ids are not reused
(SQLite AUTOINCREMENT, PostgreSQL sequences).
"""

from collections import defaultdict

from django.db import migrations

SQLITE_FORWARD = [
    "CREATE TABLE testimony_facetbitmap (value text NOT NULL PRIMARY KEY, bits blob NOT NULL)",
    """CREATE TRIGGER testimony_facetbitmap_empty AFTER DELETE ON testimony_testimony
        WHEN NOT EXISTS (SELECT 1 FROM testimony_testimony)
        BEGIN DELETE FROM testimony_facetbitmap; END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS testimony_facetbitmap_empty",
    "DROP TABLE IF EXISTS testimony_facetbitmap",
]
POSTGRES_FORWARD = [
    "CREATE TABLE testimony_facetbitmap (value text NOT NULL PRIMARY KEY, bits bytea NOT NULL)",
    """CREATE OR REPLACE FUNCTION testimony_search_truncate() RETURNS trigger LANGUAGE plpgsql
        AS $$ BEGIN TRUNCATE testimony_search, testimony_facetbitmap; RETURN NULL; END $$""",
]
POSTGRES_BACKWARD = [
    """CREATE OR REPLACE FUNCTION testimony_search_truncate() RETURNS trigger LANGUAGE plpgsql
        AS $$ BEGIN TRUNCATE testimony_search; RETURN NULL; END $$""",
    "DROP TABLE IF EXISTS testimony_facetbitmap",
]
STORED_FACETS = {
    "postgresql": "SELECT testimony_id, facets FROM testimony_search",
    "sqlite": "SELECT testimony_id, facet_values FROM testimony_searchfacet",
}


def _statements(schema_editor, postgres, sqlite):
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise RuntimeError(f"testimony search: no index for the {vendor} database")
    return postgres if vendor == "postgresql" else sqlite


def _build(schema_editor):
    """The bitmaps of the facet values already in the index."""
    bitmaps: dict[str, bytearray] = defaultdict(bytearray)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(STORED_FACETS[schema_editor.connection.vendor])
        for testimony_id, values in cursor.fetchall():
            if isinstance(values, str):
                values = [v for v in values.split("\n") if v]
            for value in values:
                bits = bitmaps[value]
                bits.extend(bytes(max(testimony_id // 8 + 1 - len(bits), 0)))
                bits[testimony_id >> 3] |= 1 << (testimony_id & 7)
        cursor.executemany(
            "INSERT INTO testimony_facetbitmap (value, bits) VALUES (%s, %s)",
            [(value, bytes(bits)) for value, bits in bitmaps.items()],
        )


def create(apps, schema_editor):
    for statement in _statements(schema_editor, POSTGRES_FORWARD, SQLITE_FORWARD):
        schema_editor.execute(statement)
    _build(schema_editor)


def drop(apps, schema_editor):
    for statement in _statements(schema_editor, POSTGRES_BACKWARD, SQLITE_BACKWARD):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("testimony", "0006_append_only_allows_reencryption")]
    operations = [migrations.RunPython(create, drop)]
