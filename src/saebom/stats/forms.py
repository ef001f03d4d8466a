from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from saebom.stats.dimensions import DIMENSIONS
from saebom.stats.output import FORMATS


def _dimension_choices(include_protected: bool) -> list[tuple[str, str]]:
    return [("", "—")] + [
        (d.code, str(d.label)) for d in DIMENSIONS.values() if include_protected or not d.protected
    ]


class ReportForm(forms.Form):
    first = forms.ChoiceField(label=_("First dimension"), initial="year")
    second = forms.ChoiceField(label=_("Second dimension"), required=False, initial="sex")
    third = forms.ChoiceField(label=_("Third dimension"), required=False)
    year_from = forms.IntegerField(
        label=_("From year"), required=False, min_value=1945, max_value=2100
    )
    year_to = forms.IntegerField(label=_("To year"), required=False, min_value=1945, max_value=2100)
    public = forms.BooleanField(label=_("Disclosure-controlled (for publication)"), required=False)

    def __init__(self, *args: Any, include_protected: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = _dimension_choices(include_protected)
        for name in ("first", "second", "third"):
            self.fields[name].choices = choices if name != "first" else choices[1:]  # type: ignore[attr-defined]

    def dimensions(self) -> list[str]:
        return [
            self.cleaned_data[n] for n in ("first", "second", "third") if self.cleaned_data.get(n)
        ]


DOWNLOAD_FORMATS = [f for f in FORMATS if f != "table"]
