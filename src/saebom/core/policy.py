"""Who may do what: roles × actions × scope, in one table.

Every view, endpoint and service asks this module. ``POLICY`` is the single source of truth; the
authorization tests read it to know what to expect. Objects outside a user's scope are reported
as missing (404), never as forbidden, so their existence leaks nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from saebom.core.actors import Actor, SystemActor
from saebom.core.exceptions import NotFound, PermissionDenied

OPERATOR_AGENCY_CODE = "default"  # the agency that runs the installation (`saebom init`)


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    INTAKE_OFFICER = "intake_officer", _("Intake officer")
    CASEWORKER = "caseworker", _("Caseworker")
    DOCUMENTER = "documenter", _("Documenter")
    RESEARCHER = "researcher", _("Researcher")
    STATISTICIAN = "statistician", _("Statistician")
    AUDITOR = "auditor", _("Auditor")


class Scope(enum.IntEnum):
    """How far an allowed action reaches; larger includes smaller."""

    NONE = 0
    OWN = 1  # objects the user owns (their own tokens)
    AGENCY = 2  # objects of the user's agency
    REFERRED = 3  # ... and objects another agency referred to it, within the consented scope
    ALL = 4  # every agency's objects


class Action(enum.StrEnum):
    DASHBOARD_VIEW = "dashboard.view"
    AGENCY_VIEW = "agency.view"
    AUDIT_VIEW = "audit.view"
    AUDIT_VERIFY = "audit.verify"
    USER_VIEW = "user.view"
    USER_MANAGE = "user.manage"
    TOKEN_MANAGE = "token.manage"  # noqa: S105 (one's own API tokens)
    PROFILE_VIEW = "profile.view"  # one's own account
    ARRIVAL_VIEW = "arrival.view"
    ARRIVAL_CREATE = "arrival.create"
    ARRIVAL_UPDATE = "arrival.update"
    ARRIVAL_IMPORT = "arrival.import"
    ARRIVAL_EXPORT = "arrival.export"
    IDENTIFIERS_VIEW = "identifiers.view"
    IDENTIFIERS_EXPORT = "identifiers.export"
    OFFICIAL_SERIES_IMPORT = "official_series.import"
    STATS_VIEW = "stats.view"  # reports; without STATS_EXACT only disclosure-controlled ones
    STATS_EXACT = "stats.exact"  # counts below the disclosure threshold
    ELITE_CATEGORIES = "stats.elite_categories"
    CASE_VIEW = "case.view"  # REFERRED: only the sections the person consented to share
    CASE_CREATE = "case.create"
    CASE_UPDATE = "case.update"  # every part of a case of one's own agency
    CASE_NOTES = "case.notes"  # and only as a member of the case
    CASE_EXPORT = "case.export"  # the agency's cases; notes only with the person's consent
    CASELOAD_VIEW = "caseload.view"
    REFERRAL_SEND = "referral.send"  # also revoke, as sender or for the person
    REFERRAL_RESPOND = "referral.respond"  # accept or decline, as receiving agency
    BENEFIT_RATES_MANAGE = "benefit_rates.manage"
    OUTCOME_STATS_VIEW = "outcome_stats.view"  # indicators only, disclosure-controlled
    EVIDENCE_UPLOAD = "evidence.upload"
    EVIDENCE_VIEW = "evidence.view"  # list, metadata, and opening the file (each opening logged)
    # Researchers: summaries and coding of their agency's testimonies and of those consented
    # for publication, never withdrawn ones (testimony/selectors.py).
    TESTIMONY_VIEW = "testimony.view"
    TESTIMONY_CONFIDENTIAL = "testimony.confidential"  # transcripts, identities, names
    TESTIMONY_RECORD = "testimony.record"  # interviews, consent, sealing, coding, corroboration
    TESTIMONY_EXPORT = "testimony.export"  # only what the consent covers for the scope asked
    TESTIMONY_IMPORT = "testimony.import"
    PLACE_VIEW = "place.view"
    PLACE_MANAGE = "place.manage"  # the gazetteer is shared by every agency


R = Role
_EVERY_ROLE = {role: Scope.ALL for role in Role}

POLICY: dict[Action, dict[Role, Scope]] = {
    Action.DASHBOARD_VIEW: _EVERY_ROLE,
    Action.PROFILE_VIEW: {role: Scope.OWN for role in Role},
    Action.TOKEN_MANAGE: {role: Scope.OWN for role in Role},
    Action.AGENCY_VIEW: _EVERY_ROLE,
    Action.AUDIT_VIEW: {R.AUDITOR: Scope.AGENCY, R.ADMIN: Scope.AGENCY},
    Action.AUDIT_VERIFY: {R.AUDITOR: Scope.ALL, R.ADMIN: Scope.ALL},
    Action.USER_VIEW: {R.ADMIN: Scope.AGENCY, R.AUDITOR: Scope.AGENCY},
    Action.USER_MANAGE: {R.ADMIN: Scope.AGENCY},
    Action.ARRIVAL_VIEW: {
        R.ADMIN: Scope.AGENCY,
        R.INTAKE_OFFICER: Scope.AGENCY,
        R.CASEWORKER: Scope.AGENCY,
    },
    Action.ARRIVAL_CREATE: {R.ADMIN: Scope.AGENCY, R.INTAKE_OFFICER: Scope.AGENCY},
    Action.ARRIVAL_UPDATE: {R.ADMIN: Scope.AGENCY, R.INTAKE_OFFICER: Scope.AGENCY},
    Action.ARRIVAL_IMPORT: {R.ADMIN: Scope.AGENCY, R.INTAKE_OFFICER: Scope.AGENCY},
    Action.ARRIVAL_EXPORT: {R.ADMIN: Scope.AGENCY, R.INTAKE_OFFICER: Scope.AGENCY},
    Action.IDENTIFIERS_VIEW: {
        R.ADMIN: Scope.AGENCY,
        R.INTAKE_OFFICER: Scope.AGENCY,
        R.CASEWORKER: Scope.AGENCY,
    },
    Action.IDENTIFIERS_EXPORT: {R.ADMIN: Scope.AGENCY},
    Action.OFFICIAL_SERIES_IMPORT: {R.ADMIN: Scope.ALL, R.STATISTICIAN: Scope.ALL},
    Action.STATS_VIEW: {
        R.STATISTICIAN: Scope.ALL,
        R.RESEARCHER: Scope.ALL,
        R.ADMIN: Scope.AGENCY,
        R.INTAKE_OFFICER: Scope.AGENCY,
    },
    Action.STATS_EXACT: {
        R.STATISTICIAN: Scope.ALL,
        R.ADMIN: Scope.AGENCY,
        R.INTAKE_OFFICER: Scope.AGENCY,
    },
    Action.ELITE_CATEGORIES: {R.ADMIN: Scope.AGENCY},
    Action.CASE_VIEW: {R.CASEWORKER: Scope.REFERRED, R.ADMIN: Scope.AGENCY},
    Action.CASE_CREATE: {R.CASEWORKER: Scope.AGENCY, R.ADMIN: Scope.AGENCY},
    Action.CASE_UPDATE: {R.CASEWORKER: Scope.AGENCY, R.ADMIN: Scope.AGENCY},
    Action.CASE_NOTES: {R.CASEWORKER: Scope.REFERRED},
    Action.CASE_EXPORT: {R.CASEWORKER: Scope.AGENCY, R.ADMIN: Scope.AGENCY},
    Action.CASELOAD_VIEW: {R.CASEWORKER: Scope.AGENCY, R.ADMIN: Scope.AGENCY},
    Action.REFERRAL_SEND: {R.CASEWORKER: Scope.AGENCY, R.ADMIN: Scope.AGENCY},
    # Accepting makes one a partner on the case: only a caseworker can then see it (CASE_VIEW).
    Action.REFERRAL_RESPOND: {R.CASEWORKER: Scope.AGENCY},
    Action.BENEFIT_RATES_MANAGE: {R.ADMIN: Scope.ALL},
    Action.OUTCOME_STATS_VIEW: {
        R.CASEWORKER: Scope.AGENCY,
        R.ADMIN: Scope.AGENCY,
        R.STATISTICIAN: Scope.ALL,
        R.RESEARCHER: Scope.ALL,
    },
    # Evidence files stay with the agency that holds them; researchers and statisticians work
    # from testimony summaries, never from the files.
    Action.EVIDENCE_UPLOAD: {R.DOCUMENTER: Scope.AGENCY, R.ADMIN: Scope.AGENCY},
    Action.EVIDENCE_VIEW: {R.DOCUMENTER: Scope.AGENCY, R.ADMIN: Scope.AGENCY},
    Action.TESTIMONY_VIEW: {
        R.DOCUMENTER: Scope.AGENCY,
        R.ADMIN: Scope.AGENCY,
        R.RESEARCHER: Scope.ALL,
    },
    Action.TESTIMONY_CONFIDENTIAL: {R.DOCUMENTER: Scope.AGENCY, R.ADMIN: Scope.AGENCY},
    Action.TESTIMONY_RECORD: {R.DOCUMENTER: Scope.AGENCY, R.ADMIN: Scope.AGENCY},
    Action.TESTIMONY_EXPORT: {R.DOCUMENTER: Scope.AGENCY, R.ADMIN: Scope.AGENCY},
    Action.TESTIMONY_IMPORT: {R.DOCUMENTER: Scope.AGENCY, R.ADMIN: Scope.AGENCY},
    Action.PLACE_VIEW: {R.DOCUMENTER: Scope.ALL, R.ADMIN: Scope.ALL, R.RESEARCHER: Scope.ALL},
    Action.PLACE_MANAGE: {R.ADMIN: Scope.ALL},
}


def scope_of(actor: Actor, action: Action) -> Scope:
    if isinstance(actor, SystemActor):
        return Scope.ALL
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return Scope.NONE
    return POLICY[action].get(Role(actor.role), Scope.NONE)


def allows(actor: Actor, action: Action) -> bool:
    return scope_of(actor, action) > Scope.NONE


def require(actor: Actor, action: Action) -> Scope:
    """The actor's scope for ``action``; raises :class:`PermissionDenied` when it has none."""
    scope = scope_of(actor, action)
    if scope is Scope.NONE:
        raise PermissionDenied(f"your role may not do this ({action})")
    return scope


def scoped(
    actor: Actor,
    action: Action,
    queryset: QuerySet[Any],
    *,
    agency_field: str = "agency",
    owner_field: str | None = None,
    by_agency_code: bool = False,
) -> QuerySet[Any]:
    """``queryset`` narrowed to what ``actor`` may reach for ``action`` (empty when nothing).

    ``by_agency_code`` compares ``agency_field`` with the agency's code rather than its id, for
    rows that keep the code so they outlive the agency (the audit log).
    """
    scope = scope_of(actor, action)
    if scope is Scope.ALL:
        return queryset
    if scope is Scope.NONE or isinstance(actor, SystemActor):
        return queryset.none()
    if scope is Scope.OWN:
        if owner_field is None:
            return queryset.none()
        return queryset.filter(**{owner_field: actor})
    agency_key = actor.agency.code if by_agency_code else actor.agency_id
    return queryset.filter(Q(**{agency_field: agency_key}))


Model = TypeVar("Model", bound=models.Model)


def get_visible(
    actor: Actor,
    action: Action,
    queryset: QuerySet[Model],
    *,
    agency_field: str = "agency",
    owner_field: str | None = None,
    **lookup: Any,
) -> Model:
    """One object within scope, or :class:`NotFound` — the same answer for missing and hidden."""
    visible = scoped(actor, action, queryset, agency_field=agency_field, owner_field=owner_field)
    try:
        return visible.get(**lookup)
    except (ObjectDoesNotExist, ValueError):
        raise NotFound(str(_("Not found."))) from None


View = TypeVar("View", bound=Callable[..., Any])


def route(action: Action, *also: Action, write: Action | None = None) -> Callable[[View], View]:
    """Mark a view with the actions it performs and refuse actors whose role lacks one of them.

    Every request needs ``action`` and ``also``; a request that may change something (any
    method but GET and HEAD) needs ``write`` as well, for a page that lists for some roles and
    creates for fewer. The authorization matrix tests walk the URL configuration and read
    ``saebom_actions`` and ``saebom_write_actions`` (``saebom_action`` is the first).
    """
    actions = (action, *also)
    writing = (*actions, write) if write is not None else actions

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(request: Any, *args: Any, **kwargs: Any) -> Any:
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            for needed in actions if request.method in ("GET", "HEAD") else writing:
                require(request.user, needed)
            return view(request, *args, **kwargs)

        guarded.saebom_action = action  # type: ignore[attr-defined]
        guarded.saebom_actions = actions  # type: ignore[attr-defined]
        guarded.saebom_write_actions = writing  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def public_route(view: View) -> View:
    """Mark a view that needs no account (login, language switch, health check)."""
    view.saebom_action = None  # type: ignore[attr-defined]
    return view


class Relation(enum.Enum):
    """How an object stands to an actor: the columns of the authorization matrix."""

    OWN = "own"  # the actor's own (their API tokens, their imports)
    AGENCY = "own agency"  # of the actor's agency
    REFERRED = "referred"  # of another agency, which referred it to the actor's (accepted)
    OTHER = "other agency"  # of another agency, not referred


# The least scope that reaches an object standing in each relation to the actor.
_REACHED_FROM = {
    Relation.OWN: Scope.OWN,
    Relation.AGENCY: Scope.AGENCY,
    Relation.REFERRED: Scope.REFERRED,
    Relation.OTHER: Scope.ALL,
}

# Actions on a referral taken by the agency it is addressed to ("as receiving agency"): for them
# a referral received is the agency's own, and one it sent is not. Every other action on a
# referral is measured from the agency that leads the case.
RECEIVING_AGENCY_ACTIONS = frozenset({Action.REFERRAL_RESPOND})


def reaches(scope: Scope, relation: Relation) -> bool:
    """Whether ``scope`` covers an object standing in ``relation`` to the actor."""
    return scope >= _REACHED_FROM[relation]
