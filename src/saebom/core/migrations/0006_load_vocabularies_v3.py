"""Vocabularies version 3: testimony terms (COI categories, act types, facilities, institutions,
involvement, source grading). Re-running adds and relabels."""

from django.db import migrations


def load(apps, schema_editor):
    from saebom.core.vocab import load_shipped_terms

    load_shipped_terms(apps.get_model("core", "Term"))


class Migration(migrations.Migration):
    dependencies = [("core", "0005_load_vocabularies_v2")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
