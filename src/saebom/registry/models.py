"""Persons, their encrypted identities, arrivals in the Ministry's categories, official series."""

from __future__ import annotations

import base64
import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from saebom.accounts.models import Agency
from saebom.core.fields import BlindIndexField, EncryptedDateField, EncryptedTextField
from saebom.registry.names import korean_name_key, romanised_name_key

PUBLIC_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U


_FROM_BASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", PUBLIC_ID_ALPHABET)


def new_public_id() -> str:
    """40 random bits as 8 Crockford base-32 characters."""
    return "P-" + base64.b32encode(secrets.token_bytes(5)).decode("ascii").translate(_FROM_BASE32)


class Precision(models.TextChoices):
    DAY = "day", _("day")
    MONTH = "month", _("month")
    YEAR = "year", _("year")


class Person(models.Model):
    """Someone who arrived. Known in lists only by a random public id."""

    public_id = models.CharField(_("public id"), max_length=12, unique=True, default=new_public_id)
    is_synthetic = models.BooleanField(_("synthetic"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")

    def __str__(self) -> str:
        return self.public_id


class PersonIdentity(models.Model):
    """Who the person is. Every field is encrypted; reading it is an audited action."""

    person = models.OneToOneField(Person, on_delete=models.CASCADE, related_name="identity")
    name_ko = EncryptedTextField(_("Korean name"))
    name_en = EncryptedTextField(_("romanised name"))
    aliases = EncryptedTextField(_("aliases"))
    date_of_birth = EncryptedDateField(_("date of birth"))
    last_address_north = EncryptedTextField(_("last address in the North"))
    contact_south = EncryptedTextField(_("contact in the South"))
    birth_year = models.PositiveSmallIntegerField(_("birth year"), null=True, blank=True)
    name_ko_index = BlindIndexField(
        sources=("name_ko", "birth_year"), normaliser=korean_name_key, purpose="person-name-ko"
    )
    name_en_index = BlindIndexField(
        sources=("name_en", "birth_year"), normaliser=romanised_name_key, purpose="person-name-en"
    )
    history = HistoricalRecords(excluded_fields=["name_ko_index", "name_en_index"])

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")

    def __str__(self) -> str:
        return f"identity of {self.person_id}"


class Arrival(models.Model):
    class Status(models.TextChoices):
        PROVISIONAL = "provisional", _("provisional")
        FINAL = "final", _("final")

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="arrivals")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="arrivals")
    record_id = models.CharField(_("record id"), max_length=64)
    arrival_date = models.DateField(_("arrival date"))
    arrival_precision = models.CharField(max_length=5, choices=Precision.choices)
    arrival_year = models.PositiveSmallIntegerField(_("arrival year"), db_index=True)
    sex = models.CharField(_("sex"), max_length=1, blank=True)
    birth_year = models.PositiveSmallIntegerField(_("birth year"), null=True, blank=True)
    origin_province = models.CharField(_("province of origin"), max_length=32, blank=True)
    occupation = models.CharField(_("occupation in the North"), max_length=32, blank=True)
    education = models.CharField(_("education in the North"), max_length=32, blank=True)
    elite_category = models.CharField(_("elite category"), max_length=32, blank=True)
    left_north_date = models.DateField(_("left the North"), null=True, blank=True)
    left_north_precision = models.CharField(max_length=5, choices=Precision.choices, blank=True)
    route = models.CharField(_("route"), max_length=32, blank=True)
    protection = models.CharField(_("protection pathway"), max_length=32, blank=True)
    # The lists as given (interchange format, ";" between codes): the record of truth, kept in
    # the arrival's history. ArrivalReason and ArrivalTransit index them for counting.
    reason_codes = models.CharField(_("reasons for leaving"), max_length=400, blank=True)
    transit_codes = models.CharField(_("transit countries"), max_length=200, blank=True)
    status = models.CharField(
        _("record status"), max_length=12, choices=Status.choices, default=Status.PROVISIONAL
    )
    is_synthetic = models.BooleanField(_("synthetic"), default=False)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("arrival")
        verbose_name_plural = _("arrivals")
        constraints = [
            models.UniqueConstraint(fields=["agency", "record_id"], name="arrival_unique_record")
        ]
        indexes = [models.Index(fields=["arrival_year", "sex"])]

    def __str__(self) -> str:
        return f"{self.agency_id}/{self.record_id}"

    @property
    def age_at_entry(self) -> int | None:
        return None if self.birth_year is None else self.arrival_year - self.birth_year

    @property
    def years_in_third_countries(self) -> int | None:
        if self.left_north_date is None:
            return None
        return max(0, self.arrival_date.year - self.left_north_date.year)


class ArrivalReason(models.Model):
    """One reason for leaving, for counting per person per reason: an index of
    ``Arrival.reason_codes``, rebuilt whenever the arrival is written (its history is the
    arrival's)."""

    arrival = models.ForeignKey(Arrival, on_delete=models.CASCADE, related_name="reasons")
    code = models.CharField(max_length=40)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["arrival", "code"], name="reason_once")]

    def __str__(self) -> str:
        return self.code


class ArrivalTransit(models.Model):
    """A third country on the way, ISO 3166 alpha-2, in order: an index of
    ``Arrival.transit_codes``, like ArrivalReason."""

    arrival = models.ForeignKey(Arrival, on_delete=models.CASCADE, related_name="transits")
    country = models.CharField(max_length=2)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["arrival", "position"], name="transit_position_once")
        ]

    def __str__(self) -> str:
        return self.country


class OfficialRelease(models.Model):
    """One release of the Ministry's arrivals-by-year-and-sex series. Older releases are kept."""

    source = models.CharField(_("source"), max_length=300)
    revised_on = models.DateField(_("revision date"))
    loaded_at = models.DateTimeField(auto_now_add=True)
    is_current = models.BooleanField(default=False)

    class Meta:
        ordering = ["-revised_on", "-loaded_at"]

    def __str__(self) -> str:
        return f"{self.source} ({self.revised_on})"


class OfficialYear(models.Model):
    release = models.ForeignKey(OfficialRelease, on_delete=models.CASCADE, related_name="rows")
    period = models.CharField(max_length=16)  # "~1998", "1999-2001", "2002", ...
    first_year = models.PositiveSmallIntegerField(null=True)
    last_year = models.PositiveSmallIntegerField()
    male = models.PositiveIntegerField()
    female = models.PositiveIntegerField()
    status = models.CharField(max_length=120)

    class Meta:
        ordering = ["last_year"]
        constraints = [
            models.UniqueConstraint(fields=["release", "period"], name="official_period_once")
        ]

    def __str__(self) -> str:
        return self.period

    @property
    def total(self) -> int:
        return self.male + self.female


class ImportJob(models.Model):
    """An import started from the web, run by a background worker. The uploaded file and the
    report (whose messages may quote cell values) are encrypted at rest."""

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        REJECTED = "rejected", _("rejected")
        FAILED = "failed", _("failed")

    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    filename = EncryptedTextField()  # a file name can name a person
    content = EncryptedTextField()  # base64 of the uploaded bytes; cleared when the job ends
    skip_invalid = models.BooleanField(default=False)
    dry_run = models.BooleanField(default=False)
    # The uploader's language: the worker writes the report's messages in it ("": the
    # installation's language, for jobs queued before this was recorded).
    language = models.CharField(max_length=8, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    phase = models.CharField(max_length=10, blank=True)  # "checking" rows, then "writing"
    done_rows = models.PositiveIntegerField(default=0)
    total_rows = models.PositiveIntegerField(default=0)
    report = EncryptedTextField()  # JSON: counts and row errors
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in {self.State.DONE, self.State.REJECTED, self.State.FAILED}
