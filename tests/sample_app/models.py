"""A test-only model holding each kind of encrypted field, until the registry brings real ones."""

from django.db import models

from saebom.core.fields import BlindIndexField, EncryptedDateField, EncryptedTextField


class Sample(models.Model):
    name = EncryptedTextField()
    born = EncryptedDateField()
    birth_year = models.IntegerField(null=True)
    name_index = BlindIndexField(sources=("name", "birth_year"), purpose="sample-name")

    def __str__(self) -> str:
        return f"sample {self.pk}"
