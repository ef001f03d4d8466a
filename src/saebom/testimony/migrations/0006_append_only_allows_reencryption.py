"""Append-only tables still let key rotation re-encrypt their encrypted columns.

`saebom keys rotate` rewrites every encrypted value under the new key with an UPDATE. The
guards of 0002 and 0004 refused every UPDATE, so one testimony (its history rows hold the
transcript) or one custody note stopped a rotation. The guards now refuse an UPDATE that
changes any column other than the encrypted ones: a re-encryption changes the ciphertext and
nothing else, and no one can produce a ciphertext that decrypts without the key ring.
PostgreSQL still refuses every DELETE; SQLite allows DELETE, which Django's test flush uses.
"""

from django.db import migrations

from saebom.core.fields import EncryptedTextField

GUARDED = {
    "testimony_custodyevent": ("testimony", "CustodyEvent"),
    "testimony_consentevent": ("testimony", "ConsentEvent"),
    "testimony_historicaltestimony": ("testimony", "HistoricalTestimony"),
}
OLD_SQLITE = {
    "testimony_custodyevent": "testimony_custodyevent_no_update",
    "testimony_consentevent": "testimony_consentevent_no_update",
    "testimony_historicaltestimony": "testimony_historicaltestimony_no_update",
}
OLD_POSTGRES = {
    "testimony_custodyevent": "testimony_custodyevent_append_only",
    "testimony_consentevent": "testimony_consentevent_append_only",
    "testimony_historicaltestimony": "testimony_historicaltestimony_append_only",
}


def _columns(apps, table: str) -> tuple[list[str], list[str]]:
    """(encrypted columns, every other column) of the table's model."""
    model = apps.get_model(*GUARDED[table])
    fields = [f for f in model._meta.concrete_fields]
    encrypted = [f.column for f in fields if isinstance(f, EncryptedTextField)]
    return encrypted, [f.column for f in fields if f.column not in encrypted]


def _drop_old(schema_editor, table: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        name = OLD_POSTGRES[table]
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {OLD_SQLITE[table]}")


def _create_new(apps, schema_editor, table: str) -> None:
    encrypted, others = _columns(apps, table)
    if schema_editor.connection.vendor == "postgresql":
        arguments = ", ".join(f"'{column}'" for column in encrypted)
        schema_editor.execute(
            f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION saebom_append_only({arguments})"""
        )
        return
    unchanged = " AND ".join(f'NEW."{c}" IS OLD."{c}"' for c in others)
    schema_editor.execute(
        f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table}
            WHEN NOT ({unchanged})
            BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"""
    )


POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION saebom_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV: the encrypted columns, which a key rotation may rewrite
    IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - TG_ARGV) = (to_jsonb(OLD) - TG_ARGV) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION, None)  # no parameters: "%" is literal
    for table in GUARDED:
        _drop_old(schema_editor, table)
        _create_new(apps, schema_editor, table)


def backward(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    for table in GUARDED:
        if postgres:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only")
    if postgres:
        schema_editor.execute("DROP FUNCTION IF EXISTS saebom_append_only()")


class Migration(migrations.Migration):
    dependencies = [("testimony", "0005_search_index")]
    operations = [migrations.RunPython(forward, backward)]
