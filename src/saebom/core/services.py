"""Installation-level writes: initialising a data directory, marking a demo installation."""

from __future__ import annotations

from django.core.management import call_command
from django.db import transaction

from saebom.accounts.services import agency_ensure_default
from saebom.core.actors import Actor
from saebom.core.audit import audit_record
from saebom.core.exceptions import SaebomError
from saebom.core.models import Deployment


def installation_init(*, actor: Actor, verbosity: int = 1) -> Deployment:
    """Create or migrate the database, then the default agency and the deployment row."""
    call_command("migrate", interactive=False, verbosity=verbosity)
    call_command("createcachetable", verbosity=verbosity)
    agency_ensure_default(actor=actor)
    _ensure_official_series(actor)
    with transaction.atomic():
        deployment, created = Deployment.objects.get_or_create(pk=1)
        if created:
            audit_record(
                actor=actor, action="create", object_type="deployment", object_id=1, agency_code=""
            )
    return deployment


def _ensure_official_series(actor: Actor) -> None:
    """The shipped release of the Ministry's series, on a new installation."""
    from saebom.registry.models import OfficialRelease
    from saebom.registry.official import SHIPPED_SERIES, official_series_import

    if not OfficialRelease.objects.exists():
        official_series_import(actor=actor, data=SHIPPED_SERIES.read_bytes())


def installation_mark_demo(*, actor: Actor, seed: int) -> Deployment:
    """Declare this installation a demo holding synthetic data only. Never undone."""
    from saebom.accounts.models import User

    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().get(pk=1)
        if not deployment.is_demo and User.objects.filter(mfa_exempt=False).exists():
            raise SaebomError(
                "this data directory holds a real installation; run the demo with its own "
                "SAEBOM_DATA_DIR"
            )
        deployment.is_demo = True
        deployment.demo_seed = seed
        deployment.save(update_fields=["is_demo", "demo_seed"])
        audit_record(
            actor=actor,
            action="update",
            object_type="deployment",
            object_id=1,
            agency_code="",
            changed_fields=["is_demo", "demo_seed"],
        )
    return deployment
