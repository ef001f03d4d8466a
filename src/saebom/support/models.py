"""Resettlement cases: who follows a person, through which milestones, needs, services,
benefits, referrals, follow-ups, notes and outcomes.

Codes (statuses, domains, service types...) come from the vocabularies in
``core/data/vocabularies.csv``; the models store the code. Anything that names or locates a
person (household members, officers' contacts, notes) is encrypted at rest.
"""

from __future__ import annotations

import base64
import secrets
from datetime import date

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from saebom.accounts.models import Agency, User
from saebom.core.fields import EncryptedTextField
from saebom.registry.models import PUBLIC_ID_ALPHABET, Person

_FROM_BASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", PUBLIC_ID_ALPHABET)
PROTECTION_YEARS = 5
LIST_SEPARATOR = ";"


def new_case_id() -> str:
    """40 random bits as 8 Crockford base-32 characters: nothing to count or guess."""
    return "C-" + base64.b32encode(secrets.token_bytes(5)).decode("ascii").translate(_FROM_BASE32)


class Case(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACTIVE = "active", _("Active")
        ON_HOLD = "on_hold", _("On hold")
        CLOSED = "closed", _("Closed")
        TRANSFERRED = "transferred", _("Transferred")

    public_id = models.CharField(max_length=12, unique=True, default=new_case_id)
    person = models.OneToOneField(Person, on_delete=models.PROTECT, related_name="case")
    lead_agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="cases")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    opened_on = models.DateField()
    closed_on = models.DateField(null=True, blank=True)
    protection_start = models.DateField(null=True, blank=True)
    protection_end = models.DateField(null=True, blank=True, db_index=True)
    household_size = models.PositiveSmallIntegerField(default=1)
    # The person agreed that case notes may leave Saebom in exports (date of that consent).
    notes_export_consent_on = models.DateField(null=True, blank=True)
    latest_assessment = models.ForeignKey(
        "Assessment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_synthetic = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["latest_assessment", "updated_at"])

    class Meta:
        indexes = [
            models.Index(fields=["lead_agency", "status"]),
            # The caseload's order within one agency (selectors.caseload): a page is read from
            # here instead of walking every agency's cases by protection_end.
            models.Index(
                fields=["lead_agency", "protection_end", "id"], name="case_caseload_order"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class CaseMember(models.Model):
    """A caseworker assigned to a case, with their role on it."""

    class Role(models.TextChoices):
        LEAD = "lead", _("Lead caseworker")
        CASEWORKER = "caseworker", _("Caseworker")
        SUPERVISOR = "supervisor", _("Supervisor")
        PARTNER = "partner", _("Partner agency caseworker")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="case_memberships")
    role = models.CharField(max_length=12, choices=Role.choices)
    # Partners join through an accepted referral and leave when it ends.
    referral = models.ForeignKey(
        "Referral", on_delete=models.CASCADE, null=True, blank=True, related_name="members"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "user"], name="case_member_once"),
            models.UniqueConstraint(
                fields=["case"],
                condition=models.Q(role="lead"),
                name="case_one_lead",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} on {self.case_id}"


class Milestone(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="milestones")
    kind = models.CharField(max_length=32)  # vocabulary "milestone"
    reached_on = models.DateField()
    note = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "kind"], name="milestone_once")]

    def __str__(self) -> str:
        return f"{self.kind} {self.reached_on}"


class ProtectionExtension(models.Model):
    """A decision to extend residence protection: kept, never edited."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="extensions")
    decided_on = models.DateField()
    previous_end = models.DateField()
    new_end = models.DateField()
    reason = models.TextField()
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"protection to {self.new_end}"


class ProtectionOfficer(models.Model):
    """One of the three protection officers, with contact details encrypted."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="officers")
    kind = models.CharField(max_length=16)  # vocabulary "protection_officer"
    name = EncryptedTextField()
    organisation = EncryptedTextField()
    phone = EncryptedTextField()
    email = EncryptedTextField()
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "kind"], name="officer_once")]

    def __str__(self) -> str:
        return f"{self.kind} officer of {self.case_id}"


class HouseholdMember(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="household")
    name = EncryptedTextField()
    relation = models.CharField(max_length=16)  # vocabulary "household_relation"
    location = models.CharField(max_length=16)  # vocabulary "household_location"
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.relation} in {self.location}"


class Assessment(models.Model):
    """A needs assessment on one day: a severity 0-3 per domain (``NeedScore``)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="assessments")
    assessed_on = models.DateField()
    assessed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["assessed_on", "pk"]

    def __str__(self) -> str:
        return f"assessment {self.assessed_on}"


class NeedScore(models.Model):
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="scores")
    domain = models.CharField(max_length=20)  # vocabulary "need_domain"
    severity = models.PositiveSmallIntegerField()  # 0-3, vocabulary "need_severity"
    note = EncryptedTextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assessment", "domain"], name="need_once"),
            models.CheckConstraint(condition=models.Q(severity__lte=3), name="need_severity_0_3"),
        ]
        indexes = [models.Index(fields=["assessment", "severity"])]

    def __str__(self) -> str:
        return f"{self.domain}={self.severity}"


class Goal(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="goals")
    domain = models.CharField(max_length=20)
    description = EncryptedTextField()
    target_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=12, default="open")  # vocabulary "goal_status"
    version = models.PositiveIntegerField(default=1)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"goal ({self.domain})"


class Service(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        IN_PROGRESS = "in_progress", _("In progress")
        DELIVERED = "delivered", _("Delivered")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE = (Status.PLANNED, Status.IN_PROGRESS)

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="services")
    kind = models.CharField(max_length=32)  # vocabulary "service_type"
    domain = models.CharField(max_length=20)  # the need it answers, vocabulary "need_domain"
    provider = models.ForeignKey(
        Agency, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PLANNED)
    due_on = models.DateField(null=True, blank=True)
    delivered_on = models.DateField(null=True, blank=True)
    note = EncryptedTextField()
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        indexes = [models.Index(fields=["case", "domain", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} ({self.status})"


class BenefitRate(models.Model):
    """The amount of a benefit in a year, for households of a size range (admins keep it)."""

    year = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=32)  # vocabulary "benefit_rate"
    household_min = models.PositiveSmallIntegerField(default=1)
    household_max = models.PositiveSmallIntegerField(null=True, blank=True)  # None: and more
    amount_krw = models.BigIntegerField()
    source = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["year", "kind", "household_min"]
        constraints = [
            models.UniqueConstraint(
                fields=["year", "kind", "household_min"], name="benefit_rate_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.year} {self.kind} {self.amount_krw}"


class BenefitPayment(models.Model):
    """One line of the benefits ledger: an instalment paid, never edited (a correction is a
    negative line)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="payments")
    kind = models.CharField(max_length=32)  # vocabulary "benefit"
    amount_krw = models.BigIntegerField()
    paid_on = models.DateField()
    note = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["paid_on", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_krw} on {self.paid_on}"


class Referral(models.Model):
    """A referral (or transfer of lead) to another agency, on the person's recorded consent.

    The receiving agency sees the ``sections`` named, and only while the referral is accepted
    and the consent runs (``valid_until``).
    """

    class Kind(models.TextChoices):
        REFERRAL = "referral", _("Referral")
        TRANSFER = "transfer", _("Transfer of lead")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        REVOKED = "revoked", _("Revoked")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="referrals")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REFERRAL)
    from_agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    to_agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="referrals_in")
    sections = models.CharField(max_length=300)  # vocabulary "referral_section", ";" between
    purpose = models.CharField(max_length=500)
    consent_given_on = models.DateField()
    consent_recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    valid_until = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    responded_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    responded_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.CharField(max_length=500, blank=True)
    revoked_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=500, blank=True)
    revoked_for_person = models.BooleanField(default=False)  # the person withdrew consent
    history = HistoricalRecords()

    class Meta:
        indexes = [models.Index(fields=["to_agency", "status", "valid_until"])]

    def __str__(self) -> str:
        return f"{self.kind} of {self.case_id} to {self.to_agency_id}"

    @property
    def section_list(self) -> list[str]:
        return self.sections.split(LIST_SEPARATOR) if self.sections else []

    def is_active_on(self, day: date) -> bool:
        """Whether it lets the receiving agency in (a transfer makes it the lead instead)."""
        return (
            self.kind == self.Kind.REFERRAL
            and self.status == self.Status.ACCEPTED
            and self.valid_until >= day
        )

    def revocable(self) -> bool:
        """Pending referrals and running ones can be ended; a completed transfer cannot."""
        return self.status == self.Status.PENDING or (
            self.status == self.Status.ACCEPTED and self.kind == self.Kind.REFERRAL
        )

    def acceptable_on(self, day: date) -> bool:
        """Pending, consent running, and sent by the agency that still leads the case."""
        return self.state_on(day) == self.Status.PENDING and (
            self.from_agency_id == self.case.lead_agency_id
        )

    def state_on(self, day: date) -> str:
        """The status as people should read it: "expired" once the consent has run out (of a
        pending referral or transfer, or of an accepted referral; an accepted transfer is done)."""
        pending = self.status == self.Status.PENDING
        running = self.status == self.Status.ACCEPTED and self.kind == self.Kind.REFERRAL
        if (pending or running) and self.valid_until < day:
            return "expired"
        return self.status

    def purpose_shown_on(self, day: date) -> bool:
        """Whether the receiving agency may still read the purpose (it can name a person's
        need): while the referral runs, or while a transfer it accepted keeps it the lead."""
        state = self.state_on(day)
        if self.kind == self.Kind.TRANSFER and state == self.Status.ACCEPTED:
            return self.case.lead_agency_id == self.to_agency_id
        return state in (self.Status.PENDING, self.Status.ACCEPTED)


class FollowUp(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        DONE = "done", _("Done")
        MISSED = "missed", _("Missed")
        CANCELLED = "cancelled", _("Cancelled")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="followups")
    due_on = models.DateField()
    channel = models.CharField(max_length=10)  # vocabulary "followup_channel"
    assigned_to = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    done_on = models.DateField(null=True, blank=True)
    outcome = EncryptedTextField()
    version = models.PositiveIntegerField(default=1)
    history = HistoricalRecords()

    class Meta:
        indexes = [models.Index(fields=["case", "status", "due_on"])]

    def __str__(self) -> str:
        return f"follow-up {self.due_on} ({self.status})"


class CaseNote(models.Model):
    """A caseworker's note: encrypted, shown to case members only, never edited."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    text = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"note {self.pk} of {self.case_id}"


class Outcome(models.Model):
    """The person's situation in one year, in the Korea Hana Foundation survey's terms."""

    class Activity(models.TextChoices):
        EMPLOYED = "employed", _("Employed")
        UNEMPLOYED = "unemployed", _("Unemployed")
        INACTIVE = "inactive", _("Economically inactive")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="outcomes")
    year = models.PositiveSmallIntegerField()
    economic_activity = models.CharField(max_length=12, choices=Activity.choices)
    employment_status = models.CharField(max_length=16, blank=True)  # when employed
    monthly_wage_krw_10k = models.PositiveIntegerField(null=True, blank=True)  # wage earners
    life_satisfaction = models.PositiveSmallIntegerField(null=True, blank=True)  # 1-5
    experienced_discrimination = models.BooleanField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "year"], name="outcome_once")]

    def __str__(self) -> str:
        return f"outcome {self.year} of {self.case_id}"
