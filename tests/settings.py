"""Settings for the test suite: a private data dir and fresh keys, then the real settings.

The suite runs on SQLite always, and on PostgreSQL when SAEBOM_TEST_DATABASE_URL is set.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from saebom.core.crypto import ensure_key_files

_data_dir = Path(tempfile.mkdtemp(prefix="saebom-test-"))
atexit.register(shutil.rmtree, _data_dir, ignore_errors=True)
os.environ["SAEBOM_DATA_DIR"] = str(_data_dir)
os.environ["SAEBOM_TESTING"] = "1"
os.environ["DATABASE_URL"] = (
    os.environ.get("SAEBOM_TEST_DATABASE_URL") or f"sqlite:///{_data_dir / 'db.sqlite3'}"
)
for _name in (
    "SAEBOM_SECRET_KEY",
    "SAEBOM_SECRET_KEY_FILE",
    "SAEBOM_FIELD_KEYS",
    "SAEBOM_FIELD_KEYS_FILE",
    "SAEBOM_DEBUG",
    "SAEBOM_ALLOWED_HOSTS",
):
    os.environ.pop(_name, None)
os.environ["SAEBOM_SSL_REDIRECT"] = "0"  # the test client and the browser speak plain HTTP
ensure_key_files(_data_dir)

from saebom.settings import *  # noqa: E402,F403

# Background tasks run in the request that enqueues them: the same code, no worker process.
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    # One test database per run, so two runs on one machine never drop each other's.
    DATABASES["default"]["TEST"] = {"NAME": f"test_saebom_{os.getpid()}"}  # noqa: F405
