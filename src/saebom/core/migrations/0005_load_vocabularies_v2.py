"""Vocabularies version 2: resettlement support terms. Re-running adds and relabels."""

from django.db import migrations


def load(apps, schema_editor):
    from saebom.core.vocab import load_shipped_terms

    load_shipped_terms(apps.get_model("core", "Term"))


class Migration(migrations.Migration):
    dependencies = [("core", "0004_load_vocabularies")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
