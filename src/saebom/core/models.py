"""The shared kernel's tables: the audit chain and the deployment's own facts."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One link of the append-only, hash-chained audit log.

    Names (actor, agency) are copied in, not referenced, so events outlive deleted accounts.
    ``changed_fields`` holds field names only; identifier values never enter the log.
    """

    seq = models.PositiveBigIntegerField(_("sequence"), unique=True)
    at = models.DateTimeField(_("time"))
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True)
    actor_name = models.CharField(_("actor"), max_length=200)
    agency_code = models.CharField(_("agency"), max_length=64, blank=True, db_index=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    changed_fields = models.JSONField(_("changed fields"), default=list)
    detail = models.JSONField(_("detail"), default=dict)
    ip = models.CharField(_("IP address"), max_length=45, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type} {self.object_id}"


class AuditHead(models.Model):
    """The chain's last link, one row, locked by every writer so the chain stays linear."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


class Deployment(models.Model):
    """Facts about this installation. A demo installation holds synthetic data only."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    is_demo = models.BooleanField(default=False)
    demo_seed = models.IntegerField(null=True, blank=True)
    initialised_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return "demo" if self.is_demo else "production"


class Term(models.Model):
    """One entry of a controlled vocabulary: a stable code with its Korean and English labels.

    Loaded from ``core/data/vocabularies.csv`` by migration; codes never change meaning, a new
    release of a vocabulary adds terms with a higher ``version``.
    """

    vocabulary = models.CharField(max_length=40)
    code = models.CharField(max_length=64)
    label_ko = models.CharField(max_length=200)
    label_en = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    version = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["vocabulary", "position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["vocabulary", "code"], name="term_unique_code")
        ]

    def __str__(self) -> str:
        return f"{self.vocabulary}:{self.code}"
