"""Writes to testimony and evidence. Each checks policy and records its audit event (and, for
evidence, its custody events) in its transaction.

Custody events are only ever added here: there is no service that changes or removes one, and
the database refuses UPDATE (and on PostgreSQL DELETE) of them.

An upload writes the encrypted blob *before* the transaction, because the file store cannot take
part in it. Every check that can refuse an upload runs before the blob is written, so a refused
upload leaves nothing behind. Should the transaction still fail afterwards, at most an
unreferenced blob remains, which ``saebom evidence verify`` lists as an orphan, not as an error.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from saebom.core import blobs, policy
from saebom.core.actors import Actor, SystemActor, audit_name
from saebom.core.audit import audit_record
from saebom.core.exceptions import PermissionDenied, SaebomError
from saebom.core.policy import Action
from saebom.testimony import filetypes
from saebom.testimony.models import CustodyEvent, EvidenceFile
from saebom.testimony.selectors import evidence_get


def _text(value: str | None) -> Any:
    """Free text as stored: trimmed, and NULL (not an encrypted empty string) when empty."""
    return (value or "").strip() or None


def _invalid(field: str, reason: str) -> SaebomError:
    return SaebomError(f"{field}: {reason}", field=field)


def _custody(*, evidence: EvidenceFile, action: str, actor: Actor, note: str = "") -> CustodyEvent:
    return CustodyEvent.objects.create(
        evidence=evidence,
        action=action,
        actor_id=actor.pk,
        actor_name=audit_name(actor),
        agency_code="" if isinstance(actor, SystemActor) else actor.agency.code,
        note=_text(note),
    )


def evidence_upload(
    *,
    actor: Actor,
    filename: str,
    data: bytes,
    received_from: str,
    received_on: date | None,
    description: str,
) -> EvidenceFile:
    """Check, store encrypted and register one evidence file for the actor's agency."""
    policy.require(actor, Action.EVIDENCE_UPLOAD)
    if isinstance(actor, SystemActor):
        raise PermissionDenied(gettext("evidence is uploaded by a member of an agency"))
    limit_mb: int = settings.SAEBOM_EVIDENCE_MAX_MB
    if len(data) > limit_mb * 1024 * 1024:
        raise _invalid("file", gettext("larger than the limit of %(mb)d MB") % {"mb": limit_mb})
    media_type = filetypes.detect(data)
    if isinstance(media_type, filetypes.Refused):
        raise _invalid("file", media_type.reason)
    display_name = filetypes.safe_display_name(filename)
    if not display_name:
        raise _invalid("filename", gettext("no usable file name"))
    if not filetypes.extension_agrees(media_type, display_name):
        raise _invalid(
            "filename",
            gettext("the name %(name)s does not match the content (%(type)s)")
            % {"name": display_name, "type": media_type},
        )
    if received_on is not None and received_on > timezone.localdate():
        raise _invalid("received_on", gettext("cannot be in the future"))
    sha = hashlib.sha256(data).hexdigest()
    if EvidenceFile.objects.filter(agency=actor.agency, sha256=sha).exists():
        raise _invalid("file", gettext("this file is already stored as evidence"))

    blobs.put(data)  # before the transaction: see the module docstring
    with transaction.atomic():
        evidence = EvidenceFile.objects.create(
            agency=actor.agency,
            sha256=sha,
            original_name=filename,
            display_name=display_name,
            media_type=media_type,
            size=len(data),
            uploaded_by=actor,
            received_from=_text(received_from),
            received_on=received_on,
            description=_text(description),
        )
        _custody(evidence=evidence, action=CustodyEvent.Action.RECEIVED, actor=actor)
        _custody(evidence=evidence, action=CustodyEvent.Action.UPLOADED, actor=actor)
        audit_record(
            actor=actor,
            action="upload",
            object_type="evidence_file",
            object_id=evidence.public_id,
            detail={"sha256": sha, "size": len(data), "media_type": media_type},
        )
    return evidence


def evidence_open(*, actor: Actor, evidence: EvidenceFile) -> bytes:
    """The file's bytes, checked against its SHA-256; records a custody ``viewed`` event."""
    visible = evidence_get(actor, evidence.public_id)
    data = blobs.get(visible.sha256)  # BlobError when missing or changed: nothing is recorded
    with transaction.atomic():
        _custody(evidence=visible, action=CustodyEvent.Action.VIEWED, actor=actor)
        audit_record(
            actor=actor,
            action="view",
            object_type="evidence_file",
            object_id=visible.public_id,
            agency_code=visible.agency.code,
        )
    return data
