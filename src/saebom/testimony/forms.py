"""Forms of the testimony and evidence pages. Choices come from the vocabularies and the
gazetteer; the rules live in ``testimony.services``, whose errors the views put next to the
field they name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from saebom.accounts.models import User
from saebom.core import vocab
from saebom.testimony.models import Individual, Place

Choices = list[tuple[str, Any]]


def _choices(vocabulary: str, *, blank: Any = None, exclude: tuple[str, ...] = ()) -> Choices:
    found: Choices = [(c, label) for c, label in vocab.choices(vocabulary) if c not in exclude]
    return [("", blank), *found] if blank is not None else found


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def _date(label: Any, *, required: bool = True, **kwargs: Any) -> forms.DateField:
    return forms.DateField(label=label, required=required, widget=DateInput(), **kwargs)


def _text(
    label: Any, *, max_length: int | None = None, rows: int = 0, **kwargs: Any
) -> forms.CharField:
    widget = forms.Textarea(attrs={"rows": rows}) if rows else None
    return forms.CharField(
        label=label, required=False, max_length=max_length, widget=widget, **kwargs
    )


class _VocabForm(forms.Form):
    """A form whose choice fields take their choices from the vocabularies when it is built
    (labels in the language of the request); ``optional`` ones start with an empty choice."""

    vocabularies: dict[str, str] = {}
    optional: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, vocabulary in self.vocabularies.items():
            field = self.fields[name]
            blank = "—" if name in self.optional else None
            field.choices = _choices(vocabulary, blank=blank)  # type: ignore[attr-defined]


class VersionField(forms.IntegerField):
    """The version the person started from; it travels with the form through re-displays."""

    widget = forms.HiddenInput

    def __init__(self) -> None:
        super().__init__(min_value=0)


# --- the gazetteer as choices ---------------------------------------------------------------


def place_name(place: Place) -> str:
    return place.name_ko if translation.get_language() == "ko" else place.name_en


def place_choices(places: Iterable[Place], *, blank: bool = True) -> Choices:
    """Places for a select: the facilities grouped by their type, then counties and cities,
    then provinces, each by its name in the reader's language."""
    places = list(places)
    facility_types = vocab.choices("facility_type")
    groups: Choices = []
    for code, label in facility_types:
        members = [p for p in places if p.kind == "facility" and p.facility_type == code]
        if members:
            groups.append((label, _sorted(members)))
    for kind in ("county", "province"):
        members = [p for p in places if p.kind == kind]
        if members:
            groups.append((vocab.label("place_kind", kind), _sorted(members)))
    return [("", "—"), *groups] if blank else groups


def _sorted(places: list[Place]) -> list[tuple[str, str]]:
    return sorted(((p.code, place_name(p)) for p in places), key=lambda choice: choice[1])


class PlaceSelect(forms.ChoiceField):
    def __init__(self, label: Any, **kwargs: Any) -> None:
        super().__init__(label=label, required=False, **kwargs)


# --- testimonies ----------------------------------------------------------------------------


class SearchForm(forms.Form):
    """The search box and the facets; each facet's choices (with their counts) are set by the
    view from the search result."""

    FACETS = ("act_type", "coi_category", "facility", "institution", "province", "year")
    QUERY_MAX = 200

    q = forms.CharField(label=_("Search"), required=False, max_length=QUERY_MAX)
    act_type = forms.ChoiceField(label=_("Act type"), required=False)
    coi_category = forms.ChoiceField(label=_("COI category"), required=False)
    facility = forms.ChoiceField(label=_("Facility"), required=False)
    institution = forms.ChoiceField(label=_("Institution"), required=False)
    province = forms.ChoiceField(label=_("Province"), required=False)
    year = forms.ChoiceField(label=_("Year of the events"), required=False)

    def __init__(self, *args: Any, facets: dict[str, Choices] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs.update({"type": "search", "autocomplete": "off"})
        for name in self.FACETS:
            options = (facets or {}).get(name, [])
            self.fields[name].choices = [("", _("Any")), *options]  # type: ignore[attr-defined]


class _InterviewFields(_VocabForm):
    """What an interview records: the witness, when, where, by whom, in which language, and
    what was said."""

    vocabularies = {"witness_sex": "sex", "language": "interview_language"}
    optional = ("witness_sex",)

    witness_person = forms.CharField(
        label=_("Registered witness (person ID)"),
        required=False,
        max_length=12,
        help_text=_(
            "The registry ID of a person your agency registered. Otherwise leave it empty and "
            "describe the witness below."
        ),
    )
    witness_identity = _text(
        _("Unregistered witness: who they are"),
        rows=2,
        help_text=_("Stored encrypted; only your agency's documenters read it."),
    )
    witness_sex = forms.ChoiceField(label=_("Sex of the witness"), required=False)
    interview_date = _date(_("Interview date"))
    interview_place = _text(_("Place of the interview"), max_length=300)
    interviewers = forms.MultipleChoiceField(
        label=_("Interviewers"), required=False, widget=forms.CheckboxSelectMultiple
    )
    language = forms.ChoiceField(label=_("Language of the interview"))
    transcript = _text(
        _("Transcript"), rows=10, help_text=_("Stored encrypted; researchers never read it.")
    )
    summary = _text(
        _("Summary"),
        rows=4,
        help_text=_(
            "Must identify nobody: no names, birth dates, home towns or details that point "
            "to a person. Researchers read it, and search finds it."
        ),
    )

    def __init__(self, *args: Any, staff: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["interviewers"].choices = [  # type: ignore[attr-defined]
            (u.username, u.username) for u in staff
        ]


class TestimonyForm(_InterviewFields):
    vocabularies = {**_InterviewFields.vocabularies, "consent_scope": "consent_scope"}

    consent_scope = forms.ChoiceField(label=_("Consent: what the witness agreed to"))
    consent_mechanisms = forms.MultipleChoiceField(
        label=_("Bodies the witness agreed to share with"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only for sharing with named mechanisms."),
    )
    consent_given_on = _date(_("Consent given on"))
    consent_note = _text(_("Note on the consent"), rows=2)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["consent_mechanisms"].choices = _choices("mechanism")  # type: ignore[attr-defined]


class TestimonyEditForm(_InterviewFields):
    version = VersionField()
    reason = _text(
        _("Reason for the correction"),
        max_length=100,
        help_text=_("Required once the testimony is sealed: a correction makes a new version."),
    )


class SealForm(forms.Form):
    version = VersionField()


class ConsentForm(forms.Form):
    scope = forms.ChoiceField(label=_("Consent: what the witness agrees to now"))
    mechanisms = forms.MultipleChoiceField(
        label=_("Bodies the witness agreed to share with"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only for sharing with named mechanisms."),
    )
    effective_on = _date(_("Effective on"))
    note = _text(_("Note"), rows=2)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = _choices("consent_scope")  # type: ignore[attr-defined]
        self.fields["mechanisms"].choices = _choices("mechanism")  # type: ignore[attr-defined]


class WithdrawForm(forms.Form):
    effective_on = _date(_("Withdrawn on"), required=False, help_text=_("Leave empty for today."))
    note = _text(_("Note"), rows=2)


# --- coding: incidents, individuals, acts ---------------------------------------------------


class IncidentForm(_VocabForm):
    vocabularies = {"date_precision": "date_precision"}
    optional = ("date_precision",)

    date_start = _date(
        _("Date"),
        required=False,
        help_text=_("The day, or any day of the month or year it happened in."),
    )
    date_precision = forms.ChoiceField(label=_("Precision of the date"), required=False)
    date_end = _date(_("End date"), required=False, help_text=_("Only for a range."))
    place = PlaceSelect(_("Place"))
    place_detail = _text(_("Place in detail"), max_length=300)
    description = _text(_("What happened"), rows=3)

    def __init__(self, *args: Any, places: Sequence[Place], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["place"].choices = place_choices(places)  # type: ignore[attr-defined]


class IndividualForm(_VocabForm):
    vocabularies = {
        "role": "individual_role",
        "sex": "sex",
        "relation_to_witness": "witness_relation",
        "institution": "institution",
    }
    optional = ("sex", "relation_to_witness", "institution")

    role = forms.ChoiceField(label=_("Role"))
    name = _text(_("Name"), max_length=200, help_text=_("Stored encrypted."))
    sex = forms.ChoiceField(label=_("Sex"), required=False)
    approx_age = forms.IntegerField(label=_("Approximate age"), required=False)
    relation_to_witness = forms.ChoiceField(label=_("Relation to the witness"), required=False)
    person = forms.CharField(
        label=_("Registered person (person ID)"), required=False, max_length=12
    )
    institution = forms.ChoiceField(
        label=_("Institution"), required=False, help_text=_("Perpetrators only.")
    )
    unit = _text(_("Unit"), max_length=200)
    rank = _text(_("Rank"), max_length=100)


class ActForm(_VocabForm):
    """One act of an incident. Victims and perpetrators are chosen among the individuals the
    testimony names; each perpetrator gets a degree of involvement, or none."""

    vocabularies = {
        "act_type": "act_type",
        "connection": "source_connection",
        "reliability": "reliability",
        "credibility": "credibility",
    }

    act_type = forms.ChoiceField(label=_("Act"))
    coi_category = forms.ChoiceField(
        label=_("COI category"),
        required=False,
        help_text=_("Leave empty for the usual category of the act."),
    )
    place = PlaceSelect(_("Place"), help_text=_("Leave empty if it is the incident's place."))
    connection = forms.ChoiceField(label=_("The witness's connection"))
    reliability = forms.ChoiceField(label=_("Reliability of the source"))
    credibility = forms.ChoiceField(label=_("Credibility of the information"))
    victims = forms.MultipleChoiceField(
        label=_("Victims"), required=False, widget=forms.CheckboxSelectMultiple
    )
    notes = _text(_("Notes"), rows=2)

    def __init__(
        self,
        *args: Any,
        places: Sequence[Place],
        individuals: Sequence[Individual],
        names: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["coi_category"].choices = _choices(  # type: ignore[attr-defined]
            "coi_category", blank=_("The act's usual category")
        )
        self.fields["place"].choices = place_choices(places)  # type: ignore[attr-defined]
        self.fields["victims"].choices = [  # type: ignore[attr-defined]
            (str(i.pk), individual_label(i, names)) for i in individuals if i.role == "victim"
        ]
        degrees = _choices("involvement", blank=_("not involved"))
        self.perpetrator_fields: list[str] = []
        for person in individuals:
            if person.role != "perpetrator":
                continue
            name = f"perpetrator_{person.pk}"
            self.fields[name] = forms.ChoiceField(
                label=individual_label(person, names), choices=degrees, required=False
            )
            self.perpetrator_fields.append(name)

    def perpetrators(self) -> list[tuple[int, str]]:
        return [
            (int(name.removeprefix("perpetrator_")), self.cleaned_data[name])
            for name in self.perpetrator_fields
            if self.cleaned_data.get(name)
        ]


def individual_label(individual: Individual, names: bool) -> str:
    """How a form names someone: the name for those who may read it, otherwise the role and
    what is coded about them."""
    parts = [vocab.label("individual_role", individual.role), f"#{individual.pk}"]
    if names and individual.name:
        parts.append(str(individual.name))
    if individual.institution:
        parts.append(vocab.label("institution", individual.institution))
    if individual.rank:
        parts.append(individual.rank)
    return " · ".join(parts)


class EvidenceChoiceForm(forms.Form):
    evidence = forms.CharField(
        label=_("Evidence file ID"),
        max_length=12,
        widget=forms.TextInput(attrs={"list": "evidence-choices", "autocomplete": "off"}),
        help_text=_("An evidence file of your agency (E-...)."),
    )


class TestimonyChoiceForm(forms.Form):
    testimony = forms.CharField(
        label=_("Testimony ID"),
        max_length=12,
        help_text=_("A testimony of your agency (T-...)."),
        widget=forms.TextInput(attrs={"list": "testimony-choices", "autocomplete": "off"}),
    )


# --- corroboration --------------------------------------------------------------------------


class CorroborateForm(forms.Form):
    acts = forms.MultipleChoiceField(
        label=_("Acts that describe the same event"), widget=forms.CheckboxSelectMultiple
    )
    label = forms.CharField(
        label=_("Name of the event"),
        required=False,
        max_length=200,
        help_text=_("Name the event without naming anyone."),
    )

    def __init__(self, *args: Any, act_ids: Iterable[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["acts"].choices = [(str(pk), str(pk)) for pk in act_ids]  # type: ignore[attr-defined]


# --- evidence --------------------------------------------------------------------------------


class _FileField(forms.FileField):
    """An uploaded file no larger than the evidence limit: refused before it is read."""

    def clean(self, data: Any, initial: Any = None) -> Any:
        upload = super().clean(data, initial)
        limit_mb: int = settings.SAEBOM_EVIDENCE_MAX_MB
        if upload is not None and upload.size > limit_mb * 1024 * 1024:
            raise forms.ValidationError(_("larger than the limit of %(mb)d MB") % {"mb": limit_mb})
        return upload


class EvidenceUploadForm(forms.Form):
    file = _FileField(
        label=_("File"),
        help_text=_(
            "PDF, plain text, images (PNG, JPEG, GIF, WebP, TIFF) or audio and video (MP3, WAV, "
            "Ogg, FLAC, M4A, MP4). The file is stored encrypted and never changed."
        ),
    )
    received_from = _text(_("Received from"), max_length=300, help_text=_("Stored encrypted."))
    received_on = _date(_("Received on"), required=False)
    description = _text(_("Description"), rows=3, help_text=_("Stored encrypted."))


class WorkingCopyForm(forms.Form):
    file = _FileField(label=_("File"), help_text=_("A redacted or converted version of this file."))
    description = _text(_("What was changed"), rows=2)


# --- places ----------------------------------------------------------------------------------


class PlaceForm(_VocabForm):
    vocabularies = {"facility_type": "facility_type"}
    optional = ("facility_type",)

    kind = forms.ChoiceField(label=_("Kind"))
    parent = forms.ChoiceField(label=_("Lies in"))
    name_ko = forms.CharField(label=_("Name in Korean"), max_length=120, required=False)
    name_en = forms.CharField(label=_("Name in English"), max_length=120, required=False)
    facility_type = forms.ChoiceField(
        label=_("Type of facility"), required=False, help_text=_("Facilities only.")
    )
    facility_number = _text(_("Facility number"), max_length=12)
    latitude = forms.DecimalField(
        label=_("Latitude"), required=False, max_digits=8, decimal_places=5
    )
    longitude = forms.DecimalField(
        label=_("Longitude"), required=False, max_digits=8, decimal_places=5
    )

    def __init__(self, *args: Any, places: Sequence[Place], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = _choices(  # type: ignore[attr-defined]
            "place_kind", exclude=("province",)
        )
        parents = [p for p in places if p.kind in ("province", "county")]
        self.fields["parent"].choices = place_choices(parents)  # type: ignore[attr-defined]
