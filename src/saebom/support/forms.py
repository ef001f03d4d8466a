"""Forms of the resettlement support pages. Choices come from the vocabularies; the rules live in
``support.services``, whose errors the views put next to the field they name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from saebom.accounts.models import Agency, User
from saebom.core import vocab
from saebom.support.models import CaseMember


def _choices(vocabulary: str, *, blank: bool = False, exclude: tuple[str, ...] = ()) -> Any:
    found = [(code, label) for code, label in vocab.choices(vocabulary) if code not in exclude]
    return [("", "—"), *found] if blank else found


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def _date(label: Any, *, required: bool = True, **kwargs: Any) -> forms.DateField:
    return forms.DateField(label=label, required=required, widget=DateInput(), **kwargs)


def _text(label: Any, *, max_length: int | None = None, rows: int = 0) -> forms.CharField:
    widget = forms.Textarea(attrs={"rows": rows}) if rows else None
    return forms.CharField(label=label, required=False, max_length=max_length, widget=widget)


class _VocabForm(forms.Form):
    """A form whose choice fields take their choices from the vocabularies when it is built
    (labels in the language of the request)."""

    vocabularies: dict[str, str] = {}
    optional: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, vocabulary in self.vocabularies.items():
            field = self.fields[name]
            field.choices = _choices(vocabulary, blank=name in self.optional)  # type: ignore[attr-defined]


class VersionField(forms.IntegerField):
    """The version the person started from; it travels with the form through re-displays."""

    widget = forms.HiddenInput

    def __init__(self) -> None:
        super().__init__(min_value=0)


# --- caseload, opening a case --------------------------------------------------------------


class CaseloadFilterForm(forms.Form):
    scope = forms.ChoiceField(
        label=_("Cases"),
        choices=[("mine", _("My cases")), ("agency", _("All cases of my agency"))],
        required=False,
    )
    attention = forms.BooleanField(label=_("Needs attention only"), required=False)


class CaseOpenForm(forms.Form):
    opened_on = _date(_("Opened on"))
    protection_start = _date(
        _("Start of residence protection"),
        required=False,
        help_text=_("Protection runs five years from this date; it can be set later."),
    )
    household_size = forms.IntegerField(label=_("Household size"), initial=1, max_value=99)


# --- profile, members, milestones, protection, officers, household -------------------------


class CaseUpdateForm(_VocabForm):
    vocabularies = {"status": "case_status"}

    version = VersionField()
    status = forms.ChoiceField(label=_("Status"))
    household_size = forms.IntegerField(label=_("Household size"), max_value=99)
    protection_start = _date(_("Start of residence protection"), required=False)
    closed_on = _date(_("Closed on"), required=False)


class MemberForm(forms.Form):
    user = forms.ModelChoiceField(label=_("Caseworker"), queryset=User.objects.none())
    role = forms.ChoiceField(label=_("Role on the case"))

    def __init__(self, *args: Any, staff: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = staff  # type: ignore[attr-defined]
        # Partners join through an accepted referral, not by assignment.
        self.fields["role"].choices = _choices(  # type: ignore[attr-defined]
            "case_member_role", exclude=(CaseMember.Role.PARTNER,)
        )


class MilestoneForm(_VocabForm):
    vocabularies = {"kind": "milestone"}

    kind = forms.ChoiceField(label=_("Milestone"))
    reached_on = _date(_("Reached on"))
    note = _text(_("Note"), max_length=300)


class ExtensionForm(forms.Form):
    decided_on = _date(_("Decided on"))
    new_end = _date(_("New end of protection"))
    reason = _text(_("Reason"), rows=2)


class OfficerForm(_VocabForm):
    vocabularies = {"kind": "protection_officer"}

    kind = forms.ChoiceField(label=_("Officer"))
    name = forms.CharField(label=_("Name"), max_length=200)
    organisation = _text(_("Organisation"), max_length=200)
    phone = _text(_("Phone"), max_length=50)
    email = forms.EmailField(label=_("Email"), required=False)


class HouseholdForm(_VocabForm):
    vocabularies = {"relation": "household_relation", "location": "household_location"}

    name = forms.CharField(label=_("Name"), max_length=200)
    relation = forms.ChoiceField(label=_("Relation"))
    location = forms.ChoiceField(label=_("Lives in"))
    birth_year = forms.IntegerField(
        label=_("Birth year"), required=False, min_value=1900, max_value=2100
    )


# --- needs, plan, services -----------------------------------------------------------------


class AssessmentForm(forms.Form):
    """A severity 0-3 and a note for every need domain, so that assessments compare."""

    assessed_on = _date(_("Assessed on"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        severities = _choices("need_severity")
        for domain, label in vocab.choices("need_domain"):
            self.fields[f"severity_{domain}"] = forms.TypedChoiceField(
                label=label, choices=severities, coerce=int
            )
            self.fields[f"note_{domain}"] = _text(_("Note on %(domain)s") % {"domain": label})

    def domains(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        """Per domain: its label, its severity field and its note field (for a table)."""
        return [
            (label, self[f"severity_{domain}"], self[f"note_{domain}"])
            for domain, label in vocab.choices("need_domain")
        ]


class GoalForm(_VocabForm):
    vocabularies = {"domain": "need_domain"}

    domain = forms.ChoiceField(label=_("Need"))
    description = _text(_("Goal"), rows=2)
    target_date = _date(_("Target date"), required=False)


class GoalUpdateForm(_VocabForm):
    vocabularies = {"status": "goal_status"}

    version = VersionField()
    status = forms.ChoiceField(label=_("Status"))


class ServiceForm(_VocabForm):
    vocabularies = {"kind": "service_type", "domain": "need_domain", "status": "service_status"}
    optional = ("domain",)

    kind = forms.ChoiceField(label=_("Service"))
    domain = forms.ChoiceField(
        label=_("Need it answers"),
        required=False,
        help_text=_("Leave empty for the usual need of this service."),
    )
    provider = forms.ModelChoiceField(
        label=_("Provider agency"), queryset=Agency.objects.none(), required=False
    )
    status = forms.ChoiceField(label=_("Status"))
    due_on = _date(_("Due on"), required=False)
    delivered_on = _date(_("Delivered on"), required=False)
    note = _text(_("Note"), rows=2)

    def __init__(self, *args: Any, agencies: QuerySet[Agency], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = agencies  # type: ignore[attr-defined]


class ServiceUpdateForm(_VocabForm):
    vocabularies = {"status": "service_status"}

    version = VersionField()
    status = forms.ChoiceField(label=_("Status"))
    delivered_on = _date(_("Delivered on"), required=False)


# --- benefits, referrals -------------------------------------------------------------------


class PaymentForm(_VocabForm):
    vocabularies = {"kind": "benefit"}

    kind = forms.ChoiceField(label=_("Benefit"))
    amount_krw = forms.IntegerField(
        label=_("Amount (KRW)"), help_text=_("A correction is a negative amount.")
    )
    paid_on = _date(_("Paid on"))
    note = _text(_("Note"), max_length=300)


class ReferralForm(_VocabForm):
    vocabularies = {"kind": "referral_kind"}

    to_agency = forms.ModelChoiceField(label=_("To agency"), queryset=Agency.objects.none())
    kind = forms.ChoiceField(label=_("Kind"))
    sections = forms.MultipleChoiceField(
        label=_("Sections the person agreed to share"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    purpose = _text(_("Purpose"), max_length=500, rows=2)
    consent_given_on = _date(_("Consent given on"))
    valid_until = _date(_("Consent valid until"))

    def __init__(self, *args: Any, agencies: QuerySet[Agency], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_agency"].queryset = agencies  # type: ignore[attr-defined]
        self.fields["sections"].choices = _choices("referral_section")  # type: ignore[attr-defined]


class RevokeForm(forms.Form):
    reason = _text(_("Reason"), max_length=500)
    for_person = forms.BooleanField(label=_("The person withdrew their consent"), required=False)


class DeclineForm(forms.Form):
    reason = _text(_("Reason for declining"), max_length=500)


# --- follow-ups, notes, outcomes -----------------------------------------------------------


class FollowUpForm(_VocabForm):
    vocabularies = {"channel": "followup_channel"}

    due_on = _date(_("Due on"))
    channel = forms.ChoiceField(label=_("Channel"))
    assigned_to = forms.ModelChoiceField(
        label=_("Assigned to"), queryset=User.objects.none(), required=False
    )

    def __init__(self, *args: Any, staff: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assigned_to"].queryset = staff  # type: ignore[attr-defined]


class FollowUpUpdateForm(_VocabForm):
    vocabularies = {"status": "followup_status"}

    version = VersionField()
    status = forms.ChoiceField(label=_("Status"))
    done_on = _date(_("Done on"), required=False)
    outcome = _text(_("Outcome"), rows=2)


class NoteForm(forms.Form):
    text = _text(_("Note"), rows=3)


class NotesConsentForm(forms.Form):
    given_on = _date(
        _("Consent to export notes given on"),
        required=False,
        help_text=_("Leave empty to record that the consent was withdrawn."),
    )


class OutcomeForm(_VocabForm):
    vocabularies = {
        "economic_activity": "economic_activity",
        "employment_status": "employment_status",
    }
    optional = ("employment_status",)

    year = forms.IntegerField(label=_("Year"), min_value=1990, max_value=2100)
    economic_activity = forms.ChoiceField(label=_("Economic activity"))
    employment_status = forms.ChoiceField(
        label=_("Employment status"), required=False, help_text=_("For the employed only.")
    )
    monthly_wage_krw_10k = forms.IntegerField(
        label=_("Monthly wage (10,000 KRW)"),
        required=False,
        help_text=_("For wage earners only."),
    )
    life_satisfaction = forms.IntegerField(
        label=_("Life satisfaction"),
        required=False,
        min_value=1,
        max_value=5,
        help_text=_("1 (very dissatisfied) to 5 (very satisfied)."),
    )
    experienced_discrimination = forms.NullBooleanField(
        label=_("Experienced discrimination"), required=False
    )


# --- outcome statistics, benefit rates -----------------------------------------------------


class OutcomeFilterForm(forms.Form):
    year = forms.IntegerField(label=_("Survey year"), min_value=1990, max_value=2100)


class RateForm(_VocabForm):
    vocabularies = {"kind": "benefit_rate"}

    year = forms.IntegerField(label=_("Year"), min_value=1990, max_value=2100)
    kind = forms.ChoiceField(label=_("Benefit"))
    household_min = forms.IntegerField(label=_("Household from"), initial=1)
    household_max = forms.IntegerField(
        label=_("Household up to"), required=False, help_text=_("Empty: and more.")
    )
    amount_krw = forms.IntegerField(label=_("Amount (KRW)"))
    source = _text(_("Source"), max_length=300)
