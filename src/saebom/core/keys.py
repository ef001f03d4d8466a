"""Key rotation: add a key, then re-encrypt every stored value under it, batch by batch.

Each batch commits on its own, so an interrupted rotation leaves every value readable (old keys
stay in the ring) and a re-run picks up where it stopped instead of adding yet another key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from allauth.mfa.models import Authenticator
from django.apps import apps
from django.db import models, transaction
from django.db.models import Q

from saebom.accounts.adapters import TOTP_SECRET_AAD
from saebom.config import data_dir
from saebom.core.actors import Actor
from saebom.core.audit import audit_record
from saebom.core.crypto import key_id_of, writable_keyring_path, write_secret_file
from saebom.core.fields import (
    EncryptedTextField,
    decrypt_token,
    encrypted_fields,
    keyring,
    reload_keyring,
)

AUTHENTICATOR_SECRET_KEYS = ("secret", "seed")


@dataclass
class RotationResult:
    key_id: str
    added_key: bool
    re_encrypted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.re_encrypted.values())


def _encrypted_models() -> Iterator[tuple[type[models.Model], list[EncryptedTextField]]]:
    for model in apps.get_models():
        fields = encrypted_fields(model)
        if fields:
            yield model, fields


def _stale(fields: list[EncryptedTextField], key_id: str) -> Q:
    condition = Q()
    for f in fields:
        condition |= Q(**{f"{f.name}__isnull": False}) & ~Q(**{f"{f.name}__encrypted_with": key_id})
    return condition


def _stale_authenticators(key_id: str) -> list[Authenticator]:
    return [
        a
        for a in Authenticator.objects.all()
        if any(k in a.data and key_id_of(a.data[k]) != key_id for k in AUTHENTICATOR_SECRET_KEYS)
    ]


def values_pending(key_id: str) -> int:
    """How many rows still hold a value under another key than ``key_id``."""
    rows = sum(m._base_manager.filter(_stale(f, key_id)).count() for m, f in _encrypted_models())
    return rows + len(_stale_authenticators(key_id))


def keys_status() -> dict[str, dict[str, int]]:
    """Per key id, how many values of each table are stored under it."""
    counts: dict[str, dict[str, int]] = {}
    for model, fields in _encrypted_models():
        for key_id in keyring().keys:
            for f in fields:
                n = model._base_manager.filter(**{f"{f.name}__encrypted_with": key_id}).count()
                if n:
                    counts.setdefault(key_id, {})[f"{model._meta.db_table}.{f.column}"] = n
    for authenticator in Authenticator.objects.all():
        for name in AUTHENTICATOR_SECRET_KEYS:
            if name in authenticator.data:
                table = counts.setdefault(key_id_of(authenticator.data[name]), {})
                table[f"mfa_authenticator.{name}"] = table.get(f"mfa_authenticator.{name}", 0) + 1
    return counts


def keys_rotate(
    *,
    actor: Actor,
    force_new_key: bool = False,
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> RotationResult:
    ring = reload_keyring()
    added = force_new_key or values_pending(ring.active_id) == 0
    if added:
        ring = ring.with_new_active_key()
        write_secret_file(writable_keyring_path(data_dir(), os.environ), ring.to_json())
        ring = reload_keyring()
        _audit_rotation(actor, ring.active_id, {"step": "key_added"})
    result = RotationResult(key_id=ring.active_id, added_key=added)
    total, done = values_pending(ring.active_id), [0]

    def advance(rows: int) -> None:
        done[0] += rows
        if progress:
            progress(done[0], total)

    for model, fields in _encrypted_models():
        count = _re_encrypt_model(model, fields, ring.active_id, batch_size, advance)
        if count:
            result.re_encrypted[model._meta.db_table] = count
    count = _re_encrypt_authenticators(ring.active_id)
    if count:
        result.re_encrypted["mfa_authenticator"] = count
    _audit_rotation(actor, ring.active_id, {"step": "re_encrypted", "values": result.total})
    return result


def _audit_rotation(actor: Actor, key_id: str, detail: dict[str, object]) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="keys_rotate",
            object_type="key_ring",
            object_id=key_id,
            agency_code="",
            detail=detail,
        )


def _re_encrypt_model(
    model: type[models.Model],
    fields: list[EncryptedTextField],
    key_id: str,
    batch_size: int,
    on_batch: Callable[[int], None],
) -> int:
    manager, names, done = model._base_manager, [f.name for f in fields], 0
    while True:
        with transaction.atomic():
            pks = list(
                manager.filter(_stale(fields, key_id))
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not pks:
                return done
            # Locked, so an edit committed meanwhile is not overwritten with the older value.
            rows = list(manager.select_for_update().filter(pk__in=pks).only("pk", *names))
            manager.bulk_update(rows, names)  # loading decrypted them; saving encrypts under key_id
        done += len(rows)
        on_batch(len(rows))


def _re_encrypt_authenticators(key_id: str) -> int:
    stale = _stale_authenticators(key_id)
    for stale_one in stale:
        with transaction.atomic():
            authenticator = Authenticator.objects.select_for_update().get(pk=stale_one.pk)
            for name in AUTHENTICATOR_SECRET_KEYS:
                if name in authenticator.data:
                    plain = decrypt_token(authenticator.data[name], TOTP_SECRET_AAD)
                    authenticator.data[name] = keyring().encrypt(plain, TOTP_SECRET_AAD)
            authenticator.save(update_fields=["data"])
    return len(stale)
