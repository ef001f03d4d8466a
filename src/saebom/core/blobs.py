"""A content-addressed, encrypted file store under the data directory (evidence files).

A blob is named by the SHA-256 of its *plaintext* and lives at
``<evidence dir>/<aa>/<bb>/<sha256>`` with mode 0600 (``SAEBOM_EVIDENCE_DIR``, by default
``<data dir>/evidence``). On disk it is::

    b"SBLOB1 " + key id + b"\\n" + nonce (12 bytes) + AES-256-GCM ciphertext + tag

encrypted under the active key of the field key ring. The associated data is the header plus the
hash, so a blob renamed to another hash, or given another key id, fails to decrypt. Reading
decrypts and hashes again: a blob whose bytes changed on disk is never handed out.

Writes are atomic (temporary file, fsync, hard link to the final name, fsync of the directory)
and never replace an existing blob: the same content has the same name, so there is nothing to
overwrite, and a damaged blob stays damaged for ``verify`` to report rather than being hidden.

A service writes the blob before its database transaction. If that transaction then fails, the
blob stays behind unreferenced; :func:`verify_all` reports it as an ``orphan``, which is not an
error (nothing refers to it, nothing is lost).

Key rotation (``saebom keys rotate``) does not re-encrypt blobs yet: keep old keys in the ring.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext

from saebom.core.crypto import DecryptionError
from saebom.core.exceptions import SaebomError, storage_full
from saebom.core.fields import keyring, reload_keyring

MAGIC = b"SBLOB1 "
ORPHAN = "orphan"  # a blob no database row refers to: reported, not an error
MISSING = "missing"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class StoreFull(SaebomError):
    """No space left for a new blob: nothing was stored (the API answers 507)."""

    status = 507


class BlobError(Exception):
    """A stored file is missing, unreadable or not what its name says."""

    def __init__(self, sha: str, problem: str) -> None:
        super().__init__(f"evidence file {sha}: {problem}")
        self.sha = sha
        self.problem = problem


def root() -> Path:
    return Path(settings.SAEBOM_EVIDENCE_DIR)


def path_for(sha: str) -> Path:
    if not _SHA256.fullmatch(sha):
        raise BlobError(sha[:80], "not a SHA-256 name")
    return root() / sha[:2] / sha[2:4] / sha


def _aad(header: bytes, sha: str) -> bytes:
    return header + sha.encode("ascii")


def exists(sha: str) -> bool:
    return path_for(sha).is_file()


def put(data: bytes) -> str:
    """Store ``data`` encrypted; return its SHA-256 (hex). An existing blob is left as it is."""
    sha = hashlib.sha256(data).hexdigest()
    target = path_for(sha)
    if target.exists():
        return sha
    ring = keyring()
    header = MAGIC + ring.active_id.encode("ascii") + b"\n"
    key_id, sealed = ring.encrypt_bytes(data, _aad(header, sha))
    assert key_id == ring.active_id
    try:
        _write(target, header + sealed)
    except OSError as exc:
        if storage_full(exc):
            raise StoreFull(
                gettext("no space left in the evidence store; nothing was stored")
            ) from None
        raise
    return sha


def _write(target: Path, content: bytes) -> None:
    """``content`` under ``target``'s name, whole or not at all."""
    _make_dirs(target.parent)
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        # A link fails rather than replace an existing file; if another process wrote this
        # name meanwhile, it holds the same content.
        with contextlib.suppress(FileExistsError):
            os.link(temp_name, target)
        fsync_dir(target.parent)
    finally:
        Path(temp_name).unlink(missing_ok=True)


def get(sha: str) -> bytes:
    """The plaintext of a blob; :class:`BlobError` when missing, tampered with or mislabelled."""
    target = path_for(sha)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        raise BlobError(sha, MISSING) from None
    except OSError as exc:
        raise BlobError(sha, f"cannot be read ({exc.strerror})") from None
    return _open(sha, raw)


def _open(sha: str, raw: bytes) -> bytes:
    header, newline, sealed = raw.partition(b"\n")
    if not newline or not header.startswith(MAGIC):
        raise BlobError(sha, "not a Saebom blob (unknown format)")
    key_id = header[len(MAGIC) :].decode("ascii", errors="replace")
    ring = keyring()
    if key_id not in ring.keys:
        ring = reload_keyring()
    try:
        data = ring.decrypt_bytes(key_id, sealed, _aad(header + b"\n", sha))
    except DecryptionError as exc:
        raise BlobError(sha, f"does not decrypt ({exc})") from None
    if hashlib.sha256(data).hexdigest() != sha:
        raise BlobError(sha, "content does not match its SHA-256")
    return data


def stored() -> Iterator[Path]:
    """Every file in the store (temporary files of interrupted writes are skipped)."""
    base = root()
    if not base.is_dir():
        return
    for path in sorted(base.glob("*/*/*")):
        if path.is_file() and not path.name.startswith(".incoming-"):
            yield path


def verify_all(
    referenced: Iterable[str], progress: Callable[[int], None] | None = None
) -> Iterator[tuple[str, str]]:
    """``(sha, problem)`` for every blob that fails to decrypt or hash to its name, every
    referenced name with no blob (``missing``), and every unreferenced blob (``orphan``)."""
    wanted = set(referenced)
    for count, path in enumerate(stored(), start=1):
        if progress is not None:
            progress(count)
        name = path.name
        if not _SHA256.fullmatch(name) or path.parent != root() / name[:2] / name[2:4]:
            yield str(path.relative_to(root())), "stray file in the evidence store"
            continue
        try:
            get(name)
        except BlobError as exc:
            yield name, exc.problem
        if name not in wanted:
            yield name, ORPHAN
    for sha in sorted(wanted):
        if not exists(sha):
            yield sha, MISSING


def _make_dirs(directory: Path) -> None:
    for part in (root(), directory.parent, directory):
        if not part.is_dir():
            part.mkdir(mode=0o700, parents=True, exist_ok=True)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
