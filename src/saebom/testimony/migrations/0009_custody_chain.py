"""Custody events are hash-chained per file (``testimony/custody.py``).

The events already stored are chained in the order they were recorded (time, then id), and one
audit event, ``custody_chained``, records every file's head, as each new append will. The
append-only guard is lifted while the new columns are filled and put back after, now covering
them too (on SQLite the guard names the columns it protects).
"""

import importlib

from django.db import migrations, models

TABLE = "testimony_custodyevent"
guards = importlib.import_module("saebom.testimony.migrations.0006_append_only_allows_reencryption")


def lift_guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
    else:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only")


def put_guard_back(apps, schema_editor):
    guards._create_new(apps, schema_editor, TABLE)


def chain_existing(apps, schema_editor):
    from saebom.core.audit import GENESIS_HASH
    from saebom.testimony.custody import hash_of, identity_of

    custody_event = apps.get_model("testimony", "CustodyEvent")
    files = apps.get_model("testimony", "EvidenceFile").objects.select_related("agency", "original")
    heads = {}
    for evidence in files.order_by("pk"):
        identity = identity_of(evidence)
        seq, prev_hash = 0, GENESIS_HASH
        for event in custody_event.objects.filter(evidence=evidence).order_by("at", "pk"):
            seq += 1
            event.seq, event.prev_hash = seq, prev_hash
            digest = hash_of(event, identity)
            custody_event.objects.filter(pk=event.pk).update(
                seq=seq, prev_hash=prev_hash, hash=digest
            )
            prev_hash = digest
        if seq:
            heads[evidence.public_id] = f"{seq}:{prev_hash}"
    if heads:
        _append_audit_event(apps, {"custody": heads})


def _append_audit_event(apps, detail):
    """``audit_record`` as of this migration: through the historical models, so that a column a
    later core migration adds does not break it (the hash is the chain's, which never changes)."""
    from django.utils import timezone

    from saebom.core.actors import system_actor
    from saebom.core.audit import GENESIS_HASH, event_hash

    head_model = apps.get_model("core", "AuditHead")
    head = head_model.objects.select_for_update().filter(pk=1).first()
    seq, prev_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    values = {
        "seq": seq + 1,
        "at": timezone.now(),
        "actor_id": None,
        "actor_name": system_actor().audit_name,
        "agency_code": "",
        "action": "custody_chained",
        "object_type": "evidence_store",
        "object_id": "",
        "changed_fields": [],
        "detail": detail,
        "ip": "",
        "user_agent": "",
        "prev_hash": prev_hash,
    }
    digest = event_hash(values)
    apps.get_model("core", "AuditEvent").objects.create(**values, hash=digest)
    head_model.objects.update_or_create(pk=1, defaults={"seq": seq + 1, "hash": digest})


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0006_load_vocabularies_v3"),
        ("testimony", "0008_searchable_index"),
    ]

    operations = [
        migrations.RunPython(lift_guard, put_guard_back),
        migrations.AlterModelOptions(
            name="custodyevent", options={"ordering": ["evidence", "seq"]}
        ),
        migrations.RemoveIndex(model_name="custodyevent", name="testimony_c_evidenc_4e0883_idx"),
        migrations.AddField(
            model_name="custodyevent",
            name="seq",
            field=models.PositiveIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="custodyevent",
            name="prev_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="custodyevent",
            name="hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="custodyevent", name="seq", field=models.PositiveIntegerField()
        ),
        migrations.AddConstraint(
            model_name="custodyevent",
            constraint=models.UniqueConstraint(
                fields=("evidence", "seq"), name="custody_seq_once_per_file"
            ),
        ),
        migrations.RunPython(put_guard_back, lift_guard),
    ]
