from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import FieldError
from django.db import connection

from saebom.config import ConfigError
from saebom.core.crypto import DecryptionError, KeyRing
from tests.sample_app.models import Sample

NAME = "김철수 Kim Chol-su 7Q3ZK"


def raw_value(pk: int, column: str = "name") -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM sample_app_sample WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


def test_round_trip_and_distinct_nonces() -> None:
    ring = KeyRing.generate()
    first, second = ring.encrypt(NAME, b"t.c"), ring.encrypt(NAME, b"t.c")
    assert first != second
    assert ring.decrypt(first, b"t.c") == NAME == ring.decrypt(second, b"t.c")


def test_tampered_value_fails_closed() -> None:
    ring = KeyRing.generate()
    token = ring.encrypt(NAME, b"t.c")
    version, key_id, payload = token.split(":")
    raw = bytearray(base64.b64decode(payload))
    for position in (0, 13, len(raw) - 1):  # nonce, ciphertext, tag
        tampered = raw.copy()
        tampered[position] ^= 0x01
        forged = base64.b64encode(bytes(tampered)).decode()
        with pytest.raises(DecryptionError):
            ring.decrypt(f"{version}:{key_id}:{forged}", b"t.c")


def test_value_moved_to_another_column_fails() -> None:
    ring = KeyRing.generate()
    with pytest.raises(DecryptionError):
        ring.decrypt(ring.encrypt(NAME, b"person.name_ko"), b"person.address")


def test_unknown_key_and_garbage_fail_closed() -> None:
    token = KeyRing.generate().encrypt(NAME, b"t.c")
    with pytest.raises(DecryptionError):
        KeyRing.generate().decrypt(token.replace(":k1:", ":k9:"), b"t.c")
    with pytest.raises(DecryptionError):
        KeyRing.generate().decrypt("plain text that was never encrypted", b"t.c")


def test_key_ring_json_errors_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="not valid"):
        KeyRing.from_json("{}")
    data = json.loads(KeyRing.generate().to_json())
    data["active"] = "k7"
    with pytest.raises(ConfigError, match="active key 'k7'"):
        KeyRing.from_json(json.dumps(data))
    data = json.loads(KeyRing.generate().to_json())
    data["keys"]["k1"] = "c2hvcnQ="
    with pytest.raises(ConfigError, match="32 bytes"):
        KeyRing.from_json(json.dumps(data))


def test_repr_never_shows_keys() -> None:
    ring = KeyRing.generate()
    assert repr(ring.keys["k1"]) not in repr(ring)
    assert "k1" in repr(ring)


@pytest.mark.django_db
def test_field_stores_ciphertext_and_reads_plaintext() -> None:
    sample = Sample.objects.create(name=NAME, born=datetime.date(1990, 5, 17), birth_year=1990)
    stored = raw_value(sample.pk)
    assert stored.startswith("v1:") and "Kim" not in stored
    assert "1990-05-17" not in raw_value(sample.pk, "born")
    again = Sample.objects.get(pk=sample.pk)
    assert again.name == NAME
    assert again.born == datetime.date(1990, 5, 17)


@pytest.mark.django_db
def test_empty_values_are_null() -> None:
    sample = Sample.objects.create(name="", born=None)
    assert Sample.objects.get(pk=sample.pk).name is None
    assert Sample.objects.filter(name__isnull=True).count() == 1


@pytest.mark.django_db
def test_lookups_on_ciphertext_are_refused() -> None:
    with pytest.raises(FieldError):
        list(Sample.objects.filter(name=NAME))
    with pytest.raises(FieldError):
        list(Sample.objects.filter(name__icontains="Kim"))


@pytest.mark.django_db
def test_corrupt_stored_value_raises_instead_of_showing_ciphertext() -> None:
    sample = Sample.objects.create(name=NAME)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sample_app_sample SET name = %s WHERE id = %s", ["v1:k1:AAAA", sample.pk]
        )
    with pytest.raises(DecryptionError):
        Sample.objects.get(pk=sample.pk)


@pytest.mark.django_db
def test_blind_index_finds_normalised_matches() -> None:
    Sample.objects.create(name="Kim  Chol-su", birth_year=1990)
    Sample.objects.create(name="Kim Chol-su", birth_year=1991)
    field = Sample._meta.get_field("name_index")
    index = field.index_for("  kim chol-su ", 1990)
    assert Sample.objects.filter(name_index=index).count() == 1
    assert field.index_for("Kim Chol-su", None) is None


def test_blind_index_folds_unicode_forms_and_case() -> None:
    ring = KeyRing.generate()
    from saebom.core.normalize import normalise_text

    decomposed = "\u1100\u1175\u11b7"  # 김 as conjoining jamo (NFD)
    assert ring.blind_index(normalise_text(decomposed), "p") == ring.blind_index(
        normalise_text("김"), "p"
    )
    assert ring.blind_index(normalise_text("LEE  Min"), "p") == ring.blind_index(
        normalise_text("lee min"), "p"
    )
    assert ring.blind_index("x", "purpose-a") != ring.blind_index("x", "purpose-b")


@pytest.mark.django_db(transaction=True)
def test_no_plaintext_in_sqlite_file_or_wal() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("reads SQLite file bytes; the PostgreSQL run covers the same field code")
    marker = "탈북민표식 Unmistakable-Marker-93731"
    Sample.objects.create(name=marker, born=datetime.date(1977, 3, 4), birth_year=1977)
    database = Path(settings.DATABASES["default"]["NAME"])
    raw = b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists())
    assert b"v1:k" in raw  # the ciphertext is there, so we did read the right files
    assert marker.encode() not in raw
    assert b"Unmistakable-Marker-93731" not in raw
    assert "탈북민표식".encode() not in raw
    assert b"1977-03-04" not in raw
