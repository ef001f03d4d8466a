"""Model fields that keep identifiers encrypted at rest, with blind indexes for exact lookups.

``EncryptedTextField`` stores an AES-256-GCM token (see :mod:`saebom.core.crypto`) and hands the
model a ``str``. ``BlindIndexField`` stores a keyed HMAC of normalised source values, computed on
save, so ``Model.objects.filter(name_index=field.index_for(...))`` finds exact matches without
the database ever holding the plaintext.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Lookup
from django.db.models.expressions import Expression

from saebom.config import data_dir
from saebom.core.crypto import DecryptionError, KeyRing, key_id_of, load_keyring
from saebom.core.normalize import normalise_text


def keyring() -> KeyRing:
    ring: KeyRing = settings.SAEBOM_FIELD_KEYRING
    return ring


def reload_keyring() -> KeyRing:
    """Read the ring again from its source, e.g. after `saebom keys rotate` added a key."""
    settings.SAEBOM_FIELD_KEYRING = load_keyring(data_dir())
    return keyring()


def decrypt_token(token: str, aad: bytes) -> str:
    """Decrypt, re-reading the ring once if the value was written under a key added since."""
    ring = keyring()
    if key_id_of(token) not in ring.keys:
        ring = reload_keyring()
    return ring.decrypt(token, aad)


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A text value encrypted at rest. Only exact equality through a blind index can be queried."""

    description = "Text encrypted with AES-256-GCM"

    def associated_data(self) -> bytes:
        # Bound to table and column so ciphertext cannot be moved between fields unnoticed.
        # A history table (django-simple-history) shares its source table's binding, so a
        # historical row keeps the very ciphertext of the row it records.
        source = getattr(self.model, "instance_type", self.model)
        return f"{source._meta.db_table}.{self.column}".encode()

    def from_db_value(
        self, value: str | None, expression: Expression, connection: BaseDatabaseWrapper
    ) -> str | None:
        if value is None:
            return None
        return self.to_python_plain(decrypt_token(value, self.associated_data()))

    def to_python_plain(self, text: str) -> Any:
        return text

    def plain_to_text(self, value: Any) -> str:
        return str(value)

    def get_prep_value(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        return keyring().encrypt(self.plain_to_text(value), self.associated_data())

    def get_db_prep_value(
        self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False
    ) -> Any:
        # ``prepared`` values are already tokens (bulk re-encryption passes them through).
        return value if prepared else self.get_prep_value(value)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name not in {"isnull", EncryptedWith.lookup_name}:
            return None  # a lookup on ciphertext would silently match nothing
        return super().get_lookup(lookup_name)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("null", None)
        kwargs.pop("blank", None)
        return name, path, args, kwargs

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["null"] = True
        kwargs["blank"] = True
        super().__init__(*args, **kwargs)


class EncryptedWith(Lookup):  # type: ignore[type-arg]
    """``field__encrypted_with="k2"``: values stored under that key id (for rotation)."""

    lookup_name = "encrypted_with"
    prepare_rhs = False

    def get_db_prep_lookup(self, value: Any, connection: BaseDatabaseWrapper) -> Any:
        if not str(value).isalnum():
            raise DecryptionError(f"key id {value!r} must be letters and digits")
        return "%s", [f"v1:{value}:%"]

    def as_sql(self, compiler: Any, connection: BaseDatabaseWrapper) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE {rhs}", [*lhs_params, *rhs_params]


EncryptedTextField.register_lookup(EncryptedWith)


class EncryptedDateField(EncryptedTextField):
    """A date encrypted at rest, given to the model as ``datetime.date``."""

    def to_python_plain(self, text: str) -> datetime.date:
        return datetime.date.fromisoformat(text)

    def plain_to_text(self, value: Any) -> str:
        if isinstance(value, datetime.date):
            return value.isoformat()
        return datetime.date.fromisoformat(str(value)).isoformat()

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, datetime.date):
            return value
        return datetime.date.fromisoformat(str(value))


Normaliser = Callable[..., str]


class BlindIndexField(models.CharField):  # type: ignore[type-arg]
    """HMAC of the normalised values of ``sources``, computed whenever the model is saved.

    The index is empty (NULL) when any source is empty: a partial key would match too much.
    """

    def __init__(
        self,
        *args: Any,
        sources: Sequence[str] = (),
        normaliser: Normaliser | None = None,
        purpose: str = "",
        **kwargs: Any,
    ) -> None:
        self.sources = tuple(sources)
        self.normaliser = normaliser or _join_normalised
        self.purpose = purpose
        kwargs.setdefault("max_length", 32)
        kwargs["null"] = True
        kwargs["blank"] = True
        kwargs["editable"] = False
        kwargs.setdefault("db_index", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for key in ("null", "blank", "editable"):
            kwargs.pop(key, None)
        kwargs["sources"] = self.sources
        kwargs["purpose"] = self.purpose
        return name, path, args, kwargs

    def index_for(self, *values: Any) -> str | None:
        if any(value in (None, "") for value in values):
            return None
        key = self.normaliser(*values)
        return keyring().blind_index(key, self.purpose or self.attname) if key else None

    def pre_save(self, model_instance: models.Model, add: bool) -> str | None:
        value = self.index_for(*(getattr(model_instance, source) for source in self.sources))
        setattr(model_instance, self.attname, value)
        return value


def _join_normalised(*values: Any) -> str:
    return "\x1f".join(normalise_text(str(value)) for value in values)


def blind_index_of(model: type[models.Model], field_name: str, *values: Any) -> str | None:
    """The blind index ``model.field_name`` would store for these source values."""
    field = model._meta.get_field(field_name)
    assert isinstance(field, BlindIndexField)
    return field.index_for(*values)


def concrete_field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field


def encrypted_fields(model: type[models.Model]) -> list[EncryptedTextField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
