from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from saebom.core.policy import Role

AUDIT_ACTIONS = [
    ("", _("All actions")),
    ("create", _("create")),
    ("update", _("update")),
    ("delete", _("delete")),
    ("view_identifiers", _("view identifiers")),
    ("export", _("export")),
    ("login", _("login")),
    ("login_failed", _("failed login")),
    ("lockout", _("lockout")),
    ("permission_denied", _("permission denied")),
    ("keys_rotate", _("key rotation")),
    ("backup", _("backup")),
    ("backup_failed", _("failed backup")),
    ("restore", _("restore")),
]


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), choices=AUDIT_ACTIONS, required=False)
    actor = forms.CharField(label=_("Actor"), max_length=150, required=False)
    object_type = forms.CharField(label=_("Object type"), max_length=64, required=False)
    since = forms.DateField(
        label=_("Since"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=100)


class UserCreateForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    password = forms.CharField(
        label=_("Initial password"),
        widget=forms.PasswordInput,
        min_length=12,
        help_text=_(
            "At least 12 characters. The person sets up two-factor authentication at first sign-in."
        ),
    )
