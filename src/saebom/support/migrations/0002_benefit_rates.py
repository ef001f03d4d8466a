"""Load the shipped benefit rates (support/data/benefit_rates.csv); admins keep later years."""

from django.db import migrations


def load(apps, schema_editor):
    from saebom.support.benefits import load_shipped_rates

    load_shipped_rates(apps.get_model("support", "BenefitRate"))


class Migration(migrations.Migration):
    dependencies = [("support", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
