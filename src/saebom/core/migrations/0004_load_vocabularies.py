"""Load the shipped vocabularies (core/data/vocabularies.csv). Re-running adds and relabels."""

from django.db import migrations


def load(apps, schema_editor):
    from saebom.core.vocab import load_shipped_terms

    load_shipped_terms(apps.get_model("core", "Term"))


class Migration(migrations.Migration):
    dependencies = [("core", "0003_vocabulary_terms")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
