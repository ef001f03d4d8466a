"""The database itself refuses changes to custody events, as for audit events (core 0002).

PostgreSQL refuses UPDATE and DELETE of rows; SQLite refuses UPDATE (Django empties SQLite
tables with DELETE, which the tests need).
"""

from django.db import migrations

SQLITE_FORWARD = [
    """CREATE TRIGGER testimony_custodyevent_no_update BEFORE UPDATE ON testimony_custodyevent
       BEGIN SELECT RAISE(ABORT, 'custody events are append-only'); END""",
]
SQLITE_BACKWARD = ["DROP TRIGGER IF EXISTS testimony_custodyevent_no_update"]
POSTGRES_FORWARD = [
    """CREATE FUNCTION testimony_custodyevent_append_only() RETURNS trigger LANGUAGE plpgsql
       AS $$ BEGIN RAISE EXCEPTION 'custody events are append-only'; END $$""",
    """CREATE TRIGGER testimony_custodyevent_append_only BEFORE UPDATE OR DELETE
       ON testimony_custodyevent FOR EACH ROW
       EXECUTE FUNCTION testimony_custodyevent_append_only()""",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS testimony_custodyevent_append_only ON testimony_custodyevent",
    "DROP FUNCTION IF EXISTS testimony_custodyevent_append_only()",
]


def forward(apps, schema_editor):
    statements = (
        POSTGRES_FORWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_FORWARD
    )
    for statement in statements:
        schema_editor.execute(statement)


def backward(apps, schema_editor):
    statements = (
        POSTGRES_BACKWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_BACKWARD
    )
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("testimony", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
