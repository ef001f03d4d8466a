"""The testimony search index (saebom.testimony.search), in each database's own form.

SQLite: ``testimony_searchdoc`` holds one row per testimony and is the external content of the
FTS5 table ``testimony_search``; three triggers keep the FTS5 index in step with it.
``testimony_searchfacet`` holds each testimony's facet values in a narrow row (one per line), to
count. Both lose a testimony's row with it by a cascading foreign key, so Django's test flush (a
DELETE) empties them too.

PostgreSQL: ``testimony_search`` with a tsvector and a GIN index. No foreign key (Django's test
flush TRUNCATEs the testimony table without CASCADE, which a foreign key would refuse); triggers
empty it when the testimony table is truncated and drop a testimony's row when it is deleted.

None of these tables is a model: nothing but search.py reads or writes them.
"""

from django.db import migrations

SQLITE_FORWARD = [
    """CREATE TABLE testimony_searchdoc (
        testimony_id integer NOT NULL PRIMARY KEY
            REFERENCES testimony_testimony (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        summary text NOT NULL,
        hashed text NOT NULL,
        facets text NOT NULL
    )""",
    """CREATE VIRTUAL TABLE testimony_search USING fts5(
        summary, hashed, facets,
        content='testimony_searchdoc', content_rowid='testimony_id',
        detail=column, columnsize=0, tokenize='unicode61 remove_diacritics 0'
    )""",
    """CREATE TRIGGER testimony_searchdoc_insert AFTER INSERT ON testimony_searchdoc BEGIN
        INSERT INTO testimony_search (rowid, summary, hashed, facets)
        VALUES (new.testimony_id, new.summary, new.hashed, new.facets);
    END""",
    """CREATE TRIGGER testimony_searchdoc_delete AFTER DELETE ON testimony_searchdoc BEGIN
        INSERT INTO testimony_search (testimony_search, rowid, summary, hashed, facets)
        VALUES ('delete', old.testimony_id, old.summary, old.hashed, old.facets);
    END""",
    """CREATE TRIGGER testimony_searchdoc_update AFTER UPDATE ON testimony_searchdoc BEGIN
        INSERT INTO testimony_search (testimony_search, rowid, summary, hashed, facets)
        VALUES ('delete', old.testimony_id, old.summary, old.hashed, old.facets);
        INSERT INTO testimony_search (rowid, summary, hashed, facets)
        VALUES (new.testimony_id, new.summary, new.hashed, new.facets);
    END""",
    """CREATE TABLE testimony_searchfacet (
        testimony_id integer NOT NULL PRIMARY KEY
            REFERENCES testimony_testimony (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        facet_values text NOT NULL
    )""",
]
SQLITE_BACKWARD = [
    "DROP TABLE IF EXISTS testimony_searchfacet",
    "DROP TRIGGER IF EXISTS testimony_searchdoc_update",
    "DROP TRIGGER IF EXISTS testimony_searchdoc_delete",
    "DROP TRIGGER IF EXISTS testimony_searchdoc_insert",
    "DROP TABLE IF EXISTS testimony_search",
    "DROP TABLE IF EXISTS testimony_searchdoc",
]
POSTGRES_FORWARD = [
    """CREATE TABLE testimony_search (
        testimony_id bigint NOT NULL PRIMARY KEY,
        facets text[] NOT NULL,
        document tsvector NOT NULL
    )""",
    "CREATE INDEX testimony_search_document ON testimony_search USING gin (document)",
    """CREATE FUNCTION testimony_search_truncate() RETURNS trigger LANGUAGE plpgsql
        AS $$ BEGIN TRUNCATE testimony_search; RETURN NULL; END $$""",
    """CREATE TRIGGER testimony_search_truncate AFTER TRUNCATE ON testimony_testimony
        FOR EACH STATEMENT EXECUTE FUNCTION testimony_search_truncate()""",
    """CREATE FUNCTION testimony_search_delete() RETURNS trigger LANGUAGE plpgsql
        AS $$ BEGIN DELETE FROM testimony_search WHERE testimony_id = OLD.id; RETURN NULL; END $$""",
    """CREATE TRIGGER testimony_search_delete AFTER DELETE ON testimony_testimony
        FOR EACH ROW EXECUTE FUNCTION testimony_search_delete()""",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS testimony_search_delete ON testimony_testimony",
    "DROP FUNCTION IF EXISTS testimony_search_delete()",
    "DROP TRIGGER IF EXISTS testimony_search_truncate ON testimony_testimony",
    "DROP FUNCTION IF EXISTS testimony_search_truncate()",
    "DROP TABLE IF EXISTS testimony_search",
]


def _run(schema_editor, postgres, sqlite):
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise RuntimeError(f"testimony search: no index for the {vendor} database")
    for statement in postgres if vendor == "postgresql" else sqlite:
        schema_editor.execute(statement)


def create_index(apps, schema_editor):
    _run(schema_editor, POSTGRES_FORWARD, SQLITE_FORWARD)


def drop_index(apps, schema_editor):
    _run(schema_editor, POSTGRES_BACKWARD, SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("testimony", "0004_places_and_append_only_history")]
    operations = [migrations.RunPython(create_index, drop_index)]
