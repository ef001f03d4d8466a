from __future__ import annotations

import datetime
import json
from collections.abc import Callable

import pytest
from django.db import connection

from saebom.accounts.models import User
from saebom.config import data_dir, field_keys_path
from saebom.core.actors import system_actor
from saebom.core.audit import audit_verify
from saebom.core.crypto import key_id_of
from saebom.core.fields import keyring
from saebom.core.keys import keys_rotate, keys_status, values_pending
from saebom.core.models import AuditEvent
from tests.cli import run_cli
from tests.sample_app.models import Sample

pytestmark = pytest.mark.django_db


def stored_key_ids() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sample_app_sample WHERE name IS NOT NULL")
        return {key_id_of(row[0]) for row in cursor.fetchall()}


def make_samples(count: int) -> None:
    for n in range(count):
        Sample.objects.create(
            name=f"이름 {n}", born=datetime.date(1980, 1, 1 + n % 28), birth_year=1980
        )


class Interrupted(Exception):
    pass


def test_rotation_re_encrypts_everything_under_a_new_key(make_user: Callable[..., User]) -> None:
    make_samples(7)
    user = make_user()
    before = keyring().active_id
    result = keys_rotate(actor=system_actor(), batch_size=3)
    assert result.added_key and result.key_id != before
    assert stored_key_ids() == {result.key_id}
    assert values_pending(result.key_id) == 0
    assert sorted(s.name for s in Sample.objects.all()) == sorted(f"이름 {n}" for n in range(7))
    totp = user.authenticator_set.get(type="totp")
    assert key_id_of(totp.data["secret"]) == result.key_id
    ring = json.loads(field_keys_path(data_dir()).read_text())
    assert ring["active"] == result.key_id and before in ring["keys"]
    assert AuditEvent.objects.filter(action="keys_rotate").count() == 2
    assert audit_verify().ok


def test_interrupted_rotation_resumes_without_a_new_key() -> None:
    make_samples(9)

    def fail_after_first_batch(done: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        keys_rotate(actor=system_actor(), batch_size=4, progress=fail_after_first_batch)
    active = keyring().active_id
    assert len(stored_key_ids()) == 2  # half done: both keys in use, everything readable
    assert len(list(Sample.objects.all())) == 9
    resumed = keys_rotate(actor=system_actor(), batch_size=4)
    assert not resumed.added_key and resumed.key_id == active
    assert stored_key_ids() == {active}
    assert keys_status()[active]["sample_app_sample.name"] == 9


def test_new_key_can_be_forced() -> None:
    make_samples(2)
    first = keys_rotate(actor=system_actor())
    second = keys_rotate(actor=system_actor(), force_new_key=True)
    assert (
        second.added_key and second.key_id != first.key_id and stored_key_ids() == {second.key_id}
    )


@pytest.mark.django_db(transaction=True)
def test_cli_rotation_reports_its_work() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the CLI subprocess reads the SQLite test database file")
    make_samples(3)
    proc = run_cli("keys", "rotate", "--batch-size", "2")
    assert proc.returncode == 0, proc.stderr
    assert "added key" in proc.stdout and "re-encrypted 3 values" in proc.stdout
    status = run_cli("keys", "status").stdout
    assert "sample_app_sample.name\t3" in status
    assert sorted(s.name for s in Sample.objects.all()) == ["이름 0", "이름 1", "이름 2"]


def test_status_counts_second_factor_secrets(make_user: Callable[..., User]) -> None:
    make_user()
    counts = keys_status()[keyring().active_id]
    assert counts["mfa_authenticator.secret"] == 1
