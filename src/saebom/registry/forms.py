"""The intake form: the interchange fields, with vocabularies as choices, checked by
``interchange.parse_row`` so that a form and a file obey the same rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from saebom.core import vocab
from saebom.core.uploads import IMPORT_MAX_BYTES
from saebom.registry.interchange import VOCABULARY_OF, ArrivalData, RowInvalid, parse_row

DATE_HELP = _("YYYY, YYYY-MM or YYYY-MM-DD: as precise as known")


def _choices(vocabulary: str) -> list[tuple[str, str]]:
    return [("", "—"), *vocab.choices(vocabulary)]


class ArrivalForm(forms.Form):
    record_id = forms.CharField(label=_("Agency record id"), max_length=64)
    arrival_date = forms.CharField(label=_("Arrival date"), max_length=10, help_text=DATE_HELP)
    sex = forms.ChoiceField(label=_("Sex"), required=False)
    birth_year = forms.CharField(label=_("Birth year"), max_length=4, required=False)
    origin_province = forms.ChoiceField(label=_("Province of origin"), required=False)
    occupation = forms.ChoiceField(label=_("Occupation in the North"), required=False)
    education = forms.ChoiceField(label=_("Education in the North"), required=False)
    elite_category = forms.ChoiceField(label=_("Elite category"), required=False)
    left_north_date = forms.CharField(
        label=_("Left the North"), max_length=10, required=False, help_text=DATE_HELP
    )
    transit_countries = forms.CharField(
        label=_("Transit countries"),
        required=False,
        help_text=_("ISO codes in order, separated by ; (CN;LA;TH)"),
    )
    route = forms.ChoiceField(label=_("Route"), required=False)
    reasons = forms.MultipleChoiceField(
        label=_("Reasons for leaving"), required=False, widget=forms.CheckboxSelectMultiple
    )
    protection = forms.ChoiceField(label=_("Protection pathway"), required=False)
    name_ko = forms.CharField(label=_("Korean name"), max_length=200, required=False)
    name_en = forms.CharField(label=_("Romanised name"), max_length=200, required=False)
    date_of_birth = forms.CharField(
        label=_("Date of birth"), max_length=10, required=False, help_text=_("YYYY-MM-DD")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, vocabulary in VOCABULARY_OF.items():
            self.fields[name].choices = _choices(vocabulary)  # type: ignore[attr-defined]
        self.fields["reasons"].choices = vocab.choices("reason")  # type: ignore[attr-defined]
        self.data_record: ArrivalData | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        row = {name: value for name, value in cleaned.items() if name != "reasons"}
        row["reasons"] = ";".join(cleaned.get("reasons") or [])
        try:
            self.data_record = parse_row(row)
        except RowInvalid as invalid:
            for problem in invalid.problems:
                self.add_error(
                    problem.column if problem.column in self.fields else None, problem.message
                )
        return cleaned


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"), help_text=_("The columns of docs/data-formats.md.")
    )
    skip_invalid = forms.BooleanField(
        label=_("Write the valid rows even if others are invalid"), required=False
    )
    dry_run = forms.BooleanField(label=_("Only check the file; write nothing"), required=False)

    MAX_UPLOAD = IMPORT_MAX_BYTES

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_UPLOAD:
            raise forms.ValidationError(
                _("The file is larger than 20 MiB; use `saebom import` instead.")
            )
        return upload


class ArrivalFilterForm(forms.Form):
    public_id = forms.CharField(label=_("Public id"), max_length=12, required=False)
    year_from = forms.IntegerField(
        label=_("From year"), required=False, min_value=1945, max_value=2100
    )
    year_to = forms.IntegerField(label=_("To year"), required=False, min_value=1945, max_value=2100)
    sex = forms.ChoiceField(label=_("Sex"), required=False)
    origin_province = forms.ChoiceField(label=_("Province of origin"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sex"].choices = _choices("sex")  # type: ignore[attr-defined]
        self.fields["origin_province"].choices = _choices("origin_province")  # type: ignore[attr-defined]
