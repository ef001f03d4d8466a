"""Load the shipped gazetteer (testimony/data/places.csv), and make the database refuse changes
to consent decisions and to the versions of testimonies, as for custody events (0002)."""

import csv
import io
from pathlib import Path

from django.db import migrations

PLACES_FILE = Path(__file__).resolve().parent.parent / "data" / "places.csv"
APPEND_ONLY = ["testimony_consentevent", "testimony_historicaltestimony"]


def load_places(apps, schema_editor):
    place = apps.get_model("testimony", "Place")
    text = PLACES_FILE.read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO("\n".join(ln for ln in text.splitlines() if ln[:1] != "#")))
    for row in rows:  # parents come first in the file
        parent = place.objects.get(code=row["parent"]) if row["parent"] else None
        place.objects.update_or_create(
            code=row["code"],
            defaults={
                "kind": row["kind"],
                "parent": parent,
                "province": row["province"],
                "facility_type": row["facility_type"],
                "facility_number": row["facility_number"],
                "name_ko": row["name_ko"],
                "name_en": row["name_en"],
            },
        )


def _statements(vendor: str, table: str, forward: bool) -> list[str]:
    if vendor == "postgresql":
        if not forward:
            return [
                f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
                f"DROP FUNCTION IF EXISTS {table}_append_only()",
            ]
        return [
            f"""CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql
                AS $$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$""",
            f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION {table}_append_only()""",
        ]
    if not forward:
        return [f"DROP TRIGGER IF EXISTS {table}_no_update"]
    return [
        f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"""
    ]


def append_only(apps, schema_editor):
    for table in APPEND_ONLY:
        for statement in _statements(schema_editor.connection.vendor, table, forward=True):
            schema_editor.execute(statement)


def allow_changes(apps, schema_editor):
    for table in APPEND_ONLY:
        for statement in _statements(schema_editor.connection.vendor, table, forward=False):
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("testimony", "0003_testimonies")]
    operations = [
        migrations.RunPython(load_places, migrations.RunPython.noop),
        migrations.RunPython(append_only, allow_changes),
    ]
