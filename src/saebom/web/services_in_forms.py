"""Running a service from a form: its refusal shown next to the field it names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms

from saebom.core.exceptions import NotFound, PermissionDenied, SaebomError


def show_error(form: forms.Form, exc: SaebomError, aliases: dict[str, str] | None = None) -> None:
    """Put a service's error next to the field it names (or above the form)."""
    field = (aliases or {}).get(exc.field or "", exc.field)
    if field and field in form.fields:
        form.add_error(field, exc.message.removeprefix(f"{exc.field}: "))
    else:
        form.add_error(None, exc.message)


def attempt(
    form: forms.Form,
    perform: Callable[[dict[str, Any]], object],
    aliases: dict[str, str] | None = None,
) -> bool:
    """Validate the form and run the service; False (with the error on the form) if either
    refused. Missing objects and forbidden actions stay 404 and 403."""
    if not form.is_valid():
        return False
    try:
        perform(form.cleaned_data)
    except (NotFound, PermissionDenied):
        raise
    except SaebomError as exc:
        show_error(form, exc, aliases)
        return False
    return True
