"""Writes for agencies, accounts and API tokens. Each checks policy and records its audit event."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from saebom.accounts.models import Agency, ApiToken, User
from saebom.core import policy
from saebom.core.actors import Actor, SystemActor
from saebom.core.audit import audit_record
from saebom.core.exceptions import NotFound, PermissionDenied, SaebomError
from saebom.core.policy import Action, Role, Scope

DEFAULT_AGENCY_CODE = policy.OPERATOR_AGENCY_CODE
TOKEN_PREFIX = "sb_"  # noqa: S105 (a visible marker, not a secret)


def agency_ensure_default(*, actor: Actor) -> Agency:
    with transaction.atomic():
        agency, created = Agency.objects.get_or_create(
            code=DEFAULT_AGENCY_CODE,
            defaults={"name_ko": "기본 기관", "name_en": "Default agency"},
        )
        if created:
            _audit_agency_created(actor, agency)
    return agency


def agency_create(*, actor: Actor, code: str, name_ko: str, name_en: str) -> Agency:
    if not isinstance(actor, SystemActor):
        raise PermissionDenied("agencies are created by the system operator")
    agency = Agency(code=code, name_ko=name_ko, name_en=name_en)
    _full_clean(agency)
    with transaction.atomic():
        agency.save()
        _audit_agency_created(actor, agency)
    return agency


def _audit_agency_created(actor: Actor, agency: Agency) -> None:
    audit_record(
        actor=actor,
        action="create",
        object_type="agency",
        object_id=agency.code,
        agency_code=agency.code,
        changed_fields=["code", "name_ko", "name_en"],
    )


def user_create(
    *,
    actor: Actor,
    username: str,
    role: str,
    agency_code: str = DEFAULT_AGENCY_CODE,
    password: str | None = None,
    mfa_exempt: bool = False,
) -> User:
    """Create a staff account. Admins create accounts in their own agency only."""
    if role not in Role.values:
        raise SaebomError(
            f"unknown role {role!r}; choose one of {', '.join(Role.values)}", field="role"
        )
    agency = _agency_for_new_user(actor, agency_code)
    user = User(username=username, role=role, agency=agency, mfa_exempt=mfa_exempt)
    if password is None:
        user.set_unusable_password()
    else:
        _check_password(password, user)
        user.set_password(password)
    _full_clean(user, exclude=["password"])
    with transaction.atomic():
        user.save()
        audit_record(
            actor=actor,
            action="create",
            object_type="user",
            object_id=user.pk,
            agency_code=agency.code,
            changed_fields=["username", "role", "agency", "password"],
        )
    return user


def user_set_password(*, actor: Actor, user: User, password: str) -> None:
    _require_manage(actor, user)
    _check_password(password, user)
    user.set_password(password)
    with transaction.atomic():
        user.save(update_fields=["password"])
        audit_record(
            actor=actor,
            action="update",
            object_type="user",
            object_id=user.pk,
            agency_code=user.agency.code,
            changed_fields=["password"],
        )


def user_deactivate(*, actor: Actor, user: User) -> None:
    _require_manage(actor, user)
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        user.api_tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit_record(
            actor=actor,
            action="update",
            object_type="user",
            object_id=user.pk,
            agency_code=user.agency.code,
            changed_fields=["is_active"],
        )


def _agency_for_new_user(actor: Actor, agency_code: str) -> Agency:
    scope = policy.require(actor, Action.USER_MANAGE)
    try:
        agency = Agency.objects.get(code=agency_code)
    except Agency.DoesNotExist:
        raise NotFound(f"no agency with code {agency_code!r}") from None
    if scope is not Scope.ALL and agency.pk != actor.agency_id:
        raise NotFound(f"no agency with code {agency_code!r}")
    return agency


def _require_manage(actor: Actor, user: User) -> None:
    policy.get_visible(actor, Action.USER_MANAGE, User.objects.all(), pk=user.pk)


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise SaebomError(" ".join(exc.messages), field="password") from None


def _full_clean(instance: Agency | User, exclude: list[str] | None = None) -> None:
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise SaebomError(f"{field}: {' '.join(messages)}", field=field) from None


# --- API tokens --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown to the user once, never stored


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_create(*, actor: User, name: str, days: int | None = None) -> IssuedToken:
    policy.require(actor, Action.TOKEN_MANAGE)
    name = name.strip()
    if not name or len(name) > 100:
        raise SaebomError("a token needs a name of 1 to 100 characters", field="name")
    days = days or settings.SAEBOM_API_TOKEN_DAYS
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=actor,
            name=name,
            prefix=secret[:10],
            digest=token_digest(secret),
            expires_at=timezone.now() + timedelta(days=days),
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="api_token",
            object_id=token.pk,
            changed_fields=["name", "expires_at"],
        )
    return IssuedToken(token=token, secret=secret)


def api_token_revoke(*, actor: User, token_id: int) -> ApiToken:
    token = policy.get_visible(
        actor, Action.TOKEN_MANAGE, ApiToken.objects.all(), owner_field="user", pk=token_id
    )
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="update",
            object_type="api_token",
            object_id=token.pk,
            changed_fields=["revoked_at"],
        )
    return token
