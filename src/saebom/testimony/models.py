"""Testimony and evidence: interviews with their consent, the incidents and acts they describe
(after the HURIDOCS Events Standard Formats: who did what to whom), the individuals named, a
gazetteer of places and detention facilities, corroboration across testimonies, and evidence files
with their chain of custody.

What identifies a witness or a named individual is encrypted: transcripts, identities, names,
descriptions and notes. The summary is written to be non-identifying; researchers read it, and it
is what search indexes in clear. Coded values (act types, places, institutions) hold vocabulary
codes (``core/data/vocabularies.csv``).

The evidence file itself is not in the database: ``sha256`` names an encrypted blob in the
content-addressed store (:mod:`saebom.core.blobs`). A stored file is never modified; a working
copy (a redacted or converted version) is another file with its own row that points at its
``original``.
"""

from __future__ import annotations

import base64
import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from saebom.accounts.models import Agency, User
from saebom.core.fields import EncryptedTextField
from saebom.registry.models import PUBLIC_ID_ALPHABET, Person

_FROM_BASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", PUBLIC_ID_ALPHABET)


def _random_id(prefix: str) -> str:
    """40 random bits as 8 Crockford base-32 characters: nothing to count or guess."""
    return prefix + base64.b32encode(secrets.token_bytes(5)).decode("ascii").translate(_FROM_BASE32)


def new_evidence_id() -> str:
    return _random_id("E-")


def new_testimony_id() -> str:
    return _random_id("T-")


def new_place_code() -> str:
    return _random_id("place-").lower()


def new_corroboration_id() -> str:
    return _random_id("G-")


class Place(models.Model):
    """The gazetteer: provinces, counties and cities, and detention facilities. Shared by every
    agency (places are public knowledge); shipped entries have ``added_by`` empty, administrators
    add more. ``province`` is the province code the place lies in, kept for the search facets."""

    code = models.CharField(max_length=40, unique=True, default=new_place_code)
    kind = models.CharField(max_length=10)  # vocabulary place_kind
    name_ko = models.CharField(max_length=120)
    name_en = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    province = models.CharField(max_length=20, blank=True)  # vocabulary origin_province
    facility_type = models.CharField(max_length=24, blank=True)  # vocabulary facility_type
    facility_number = models.CharField(max_length=12, blank=True)  # "15" for Kwanliso No. 15
    latitude = models.DecimalField(max_digits=8, decimal_places=5, null=True, blank=True)
    longitude = models.DecimalField(max_digits=8, decimal_places=5, null=True, blank=True)
    added_by = models.ForeignKey(Agency, on_delete=models.PROTECT, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "province", "name_en"]
        indexes = [models.Index(fields=["kind", "province"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="facility") | models.Q(facility_type=""),
                name="place_facility_type_only_for_facilities",
            )
        ]

    def __str__(self) -> str:
        return self.name_en


class Testimony(models.Model):
    """One interview. Until it is sealed it is a draft that its agency edits; once sealed its
    content never changes in place: a correction is a new version with a reason, and the history
    (``history``) keeps every version. The consent fields hold the consent in force; every
    decision about it is also a :class:`ConsentEvent`."""

    class Scope(models.TextChoices):  # vocabulary consent_scope, narrowest first
        INTERNAL = "internal", _("Internal use only")
        SHARE_WITH_MECHANISMS = "share_with_mechanisms", _("Share with named mechanisms")
        PUBLISH_ANONYMISED = "publish_anonymised", _("Publish anonymised")
        PUBLISH_NAMED = "publish_named", _("Publish with name")

    public_id = models.CharField(max_length=12, unique=True, default=new_testimony_id)
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="testimonies")
    is_synthetic = models.BooleanField(default=False)
    witness_person = models.ForeignKey(
        Person, on_delete=models.PROTECT, null=True, blank=True, related_name="testimonies"
    )
    witness_identity = EncryptedTextField()  # an unregistered source: who they are
    witness_sex = models.CharField(max_length=1, blank=True)  # vocabulary sex
    interview_date = models.DateField()
    interview_place = EncryptedTextField()
    interviewers = models.ManyToManyField(User, blank=True, related_name="+")
    language = models.CharField(max_length=8)  # vocabulary interview_language
    transcript = EncryptedTextField()
    summary = models.TextField()  # non-identifying

    consent_scope = models.CharField(max_length=24, choices=Scope.choices)
    consent_mechanisms = models.JSONField(default=list, blank=True)  # vocabulary mechanism
    consent_given_on = models.DateField()
    consent_withdrawn_on = models.DateField(null=True, blank=True)

    sealed_at = models.DateTimeField(null=True, blank=True)
    sealed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"], m2m_fields=[interviewers])

    class Meta:
        verbose_name_plural = "testimonies"
        indexes = [
            models.Index(fields=["agency", "interview_date"]),
            models.Index(fields=["consent_scope", "consent_withdrawn_on"]),
            # Every column of the search selector's conditions and its order: SQLite decides
            # who sees what from the index, not from rows whose transcripts overflow pages.
            models.Index(
                fields=["consent_withdrawn_on", "agency", "consent_scope", "interview_date"],
                name="testimony_searchable",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(witness_person__isnull=True)
                | models.Q(witness_identity__isnull=True),
                name="testimony_one_kind_of_witness",
            )
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_sealed(self) -> bool:
        return self.sealed_at is not None

    @property
    def consent_withdrawn(self) -> bool:
        return self.consent_withdrawn_on is not None


class ConsentEvent(models.Model):
    """One decision about a testimony's consent: given, changed or withdrawn. Append-only."""

    class Kind(models.TextChoices):
        GIVEN = "given", _("Given")
        CHANGED = "changed", _("Changed")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    testimony = models.ForeignKey(Testimony, on_delete=models.PROTECT, related_name="consents")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    scope = models.CharField(max_length=24)
    mechanisms = models.JSONField(default=list, blank=True)
    effective_on = models.DateField()
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    note = EncryptedTextField()

    class Meta:
        ordering = ["recorded_at", "id"]

    def __str__(self) -> str:
        return f"{self.testimony_id} {self.kind} {self.scope}"


class Individual(models.Model):
    """Someone a testimony names: a victim, a perpetrator or another witness. Not a registry
    person, though one may be linked. Perpetrators are described by institution, unit and rank."""

    testimony = models.ForeignKey(Testimony, on_delete=models.PROTECT, related_name="individuals")
    role = models.CharField(max_length=12)  # vocabulary individual_role
    name = EncryptedTextField()
    sex = models.CharField(max_length=1, blank=True)  # vocabulary sex
    approx_age = models.PositiveSmallIntegerField(null=True, blank=True)
    relation_to_witness = models.CharField(max_length=16, blank=True)  # witness_relation
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    institution = models.CharField(max_length=16, blank=True)  # vocabulary institution
    unit = models.CharField(max_length=200, blank=True)
    rank = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.role} #{self.pk}"


class Incident(models.Model):
    """An event the testimony describes: when (a date with its precision, or a range), where,
    and what happened. Its acts say who did what to whom."""

    testimony = models.ForeignKey(Testimony, on_delete=models.PROTECT, related_name="incidents")
    date_start = models.DateField(null=True, blank=True)
    date_precision = models.CharField(max_length=6, blank=True)  # vocabulary date_precision
    date_end = models.DateField(null=True, blank=True)  # with precision "range"
    place = models.ForeignKey(
        Place, on_delete=models.PROTECT, null=True, blank=True, related_name="incidents"
    )
    place_detail = EncryptedTextField()
    description = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["date_start", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(date_end__isnull=True)
                | models.Q(date_precision="range", date_start__lte=models.F("date_end")),
                name="incident_range_is_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"incident #{self.pk} of {self.testimony_id}"


class Corroboration(models.Model):
    """Acts from different testimonies that documenters judged to be the same event."""

    public_id = models.CharField(max_length=12, unique=True, default=new_corroboration_id)
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    label = models.CharField(max_length=200)  # non-identifying
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.public_id


class Act(models.Model):
    """One act within an incident: its type (HURIDOCS) and COI category, where it happened, the
    witness's connection to it and the documenter's grading of the source (reliability A-F) and
    of the information (credibility 1-6)."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="acts")
    act_type = models.CharField(max_length=24)  # vocabulary act_type
    coi_category = models.CharField(max_length=1)  # vocabulary coi_category
    place = models.ForeignKey(
        Place, on_delete=models.PROTECT, null=True, blank=True, related_name="acts"
    )
    connection = models.CharField(max_length=12)  # vocabulary source_connection
    reliability = models.CharField(max_length=1)  # vocabulary reliability
    credibility = models.CharField(max_length=1)  # vocabulary credibility
    victims = models.ManyToManyField(Individual, blank=True, related_name="suffered")
    corroboration = models.ForeignKey(
        Corroboration, on_delete=models.SET_NULL, null=True, blank=True, related_name="acts"
    )
    notes = EncryptedTextField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["act_type", "coi_category"])]

    def __str__(self) -> str:
        return f"{self.act_type} #{self.pk}"


class Involvement(models.Model):
    """A perpetrator's part in an act, with its degree (vocabulary involvement)."""

    act = models.ForeignKey(Act, on_delete=models.CASCADE, related_name="involvements")
    perpetrator = models.ForeignKey(Individual, on_delete=models.PROTECT, related_name="+")
    degree = models.CharField(max_length=12)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["act", "perpetrator"], name="involvement_once")
        ]

    def __str__(self) -> str:
        return f"{self.degree} in act #{self.act_id}"


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
    testimonies = models.ManyToManyField(Testimony, blank=True, related_name="evidence_files")

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
    """One link of an evidence file's chain of custody, hash-chained to the one before it
    (``testimony/custody.py``). Append-only (the database refuses UPDATE, and on PostgreSQL
    DELETE); the actor's name and agency code are kept as text so the chain outlives accounts."""

    class Action(models.TextChoices):
        RECEIVED = "received", _("Received")
        UPLOADED = "uploaded", _("Uploaded")
        VIEWED = "viewed", _("Viewed")
        DOWNLOADED = "downloaded", _("Downloaded")
        EXPORTED = "exported", _("Exported")
        VERIFIED = "verified", _("Verified")
        COPIED = "copied", _("Working copy made")

    evidence = models.ForeignKey(EvidenceFile, on_delete=models.PROTECT, related_name="custody")
    seq = models.PositiveIntegerField()  # the place in the file's chain, from 1
    action = models.CharField(max_length=12, choices=Action.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=200)
    agency_code = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField(default=timezone.now)
    note = EncryptedTextField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["evidence", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["evidence", "seq"], name="custody_seq_once_per_file")
        ]

    def __str__(self) -> str:
        return f"{self.evidence_id} {self.action} {self.actor_name}"
