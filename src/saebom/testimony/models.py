"""Testimony and evidence. For now: evidence files and their chain of custody.

The file itself is not in the database: ``sha256`` names an encrypted blob in the content-addressed
store (:mod:`saebom.core.blobs`). A stored file is never modified; a working copy (a redacted or
converted version) is another file with its own row that points at its ``original``.
"""

from __future__ import annotations

import base64
import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from saebom.accounts.models import Agency, User
from saebom.core.fields import EncryptedTextField
from saebom.registry.models import PUBLIC_ID_ALPHABET

_FROM_BASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", PUBLIC_ID_ALPHABET)


def new_evidence_id() -> str:
    """40 random bits as 8 Crockford base-32 characters: nothing to count or guess."""
    return "E-" + base64.b32encode(secrets.token_bytes(5)).decode("ascii").translate(_FROM_BASE32)


class EvidenceFile(models.Model):
    public_id = models.CharField(max_length=12, unique=True, default=new_evidence_id)
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="evidence_files")
    sha256 = models.CharField(max_length=64)
    original_name = EncryptedTextField()  # as the uploader's system gave it
    display_name = models.CharField(max_length=255)  # safe to show and to offer as a file name
    media_type = models.CharField(max_length=100)  # detected from the content
    size = models.PositiveBigIntegerField()
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    received_from = EncryptedTextField()
    received_on = models.DateField(null=True, blank=True)
    description = EncryptedTextField()
    is_working_copy = models.BooleanField(default=False)
    original = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="working_copies"
    )

    class Meta:
        constraints = [
            # Unique per agency, not globally: a refusal naming another agency's copy would
            # tell an uploader that someone else holds this file. The blob itself is shared.
            models.UniqueConstraint(
                fields=["agency", "sha256"], name="evidence_sha256_unique_per_agency"
            ),
            models.CheckConstraint(
                condition=models.Q(is_working_copy=False, original__isnull=True)
                | models.Q(is_working_copy=True, original__isnull=False),
                name="evidence_working_copy_has_original",
            ),
        ]
        indexes = [models.Index(fields=["agency", "uploaded_at"])]

    def __str__(self) -> str:
        return f"{self.public_id} {self.display_name}"


class CustodyEvent(models.Model):
    """One link of an evidence file's chain of custody. Append-only (the database refuses
    UPDATE, and on PostgreSQL DELETE); the actor's name and agency code are kept as text so the
    chain outlives accounts."""

    class Action(models.TextChoices):
        RECEIVED = "received", _("Received")
        UPLOADED = "uploaded", _("Uploaded")
        VIEWED = "viewed", _("Viewed")
        DOWNLOADED = "downloaded", _("Downloaded")
        EXPORTED = "exported", _("Exported")
        VERIFIED = "verified", _("Verified")
        COPIED = "copied", _("Working copy made")

    evidence = models.ForeignKey(EvidenceFile, on_delete=models.PROTECT, related_name="custody")
    action = models.CharField(max_length=12, choices=Action.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=200)
    agency_code = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField(default=timezone.now)
    note = EncryptedTextField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["evidence", "at"])]

    def __str__(self) -> str:
        return f"{self.evidence_id} {self.action} {self.actor_name}"
