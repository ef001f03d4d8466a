"""Backup and restore: one encrypted archive of the database and the evidence files.

The archive (docs/backup.md describes it byte by byte) is a tar stream sealed in chunks::

    b"SAEBOM-BACKUP v1\\n"                    format line: the container's version
    JSON parameters + b"\\n"                  KDF or recipient, chunk size, nonce prefix
    hex HMAC + b"\\n"                         check: proves the passphrase before any chunk
    chunk 0 ... chunk n-1                    AES-256-GCM, each ``chunk_size`` bytes + 16 (tag)
    b"SAEBOM-BACKUP-END" + u64 n + u64 size  end marker (diagnostic: a cut file loses it)

Every chunk's nonce is the archive's random 7-byte prefix, the 32-bit chunk counter and a
last-chunk flag; its associated data is the SHA-256 of the three header lines, the counter and
the flag again. So a changed byte, a chunk moved to another place or taken from another archive,
a missing tail and anything appended all fail authentication, and the reader never holds more
than one chunk. The key comes from the passphrase through scrypt (salt and parameters in the
header), or from an X25519 exchange with a recipient's public key (the private key restores).

The container gives confidentiality and integrity against whoever lacks the secret that seals
it; it cannot say *who* sealed it (anyone holding a recipient's public key can seal an archive
for it). That is the origin check's job: the last member is an HMAC, keyed from the field key
ring (which never leaves the installation), over the header's digest and ``checksums.json``.

Inside, in this order: ``manifest.json`` (format version, creation time, Saebom version, database
vendor, audit head, rows per table, key-ring check values, the members to expect), the database
(``database/saebom.sqlite3``: a consistent snapshot through SQLite's backup API;
``database/saebom.pgdump``: ``pg_dump --format=custom`` inside an exported snapshot, the same one
the manifest's counts and audit head were read in), the evidence blobs as they lie on disk
(``evidence/aa/bb/<sha256>``, already encrypted under the field keys), ``checksums.json``, the
SHA-256 and size of every member before it, and ``origin.json``, the origin check.

The field key ring and the secret key are not in the archive: whoever holds the archive and its
passphrase must still not be able to read identifiers. Restoring needs the ring in place first;
checking an archive (``--verify-only``) needs only its passphrase or identity.

Restoring unpacks into ``.restore-*`` directories inside the targets' own directories (so moving
into place is a rename on one file system), moves into place only after the whole archive was
authenticated, every checksum matched and the origin was verified, and then verifies the audit
chain (against the archived head) and the evidence store. A refused archive leaves nothing behind.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import stat
import struct
import subprocess
import tarfile
import tempfile
import unicodedata
from argparse import ArgumentTypeError
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from glob import glob
from importlib import metadata
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from django.utils.translation import gettext as _

from saebom.config import ConfigError, data_dir, env_secret, field_keys_path
from saebom.core.crypto import KeyRing, b64, load_keyring, require_private
from saebom.core.exceptions import SaebomError

FORMAT_VERSION = 1
FORMAT_PREFIX = b"SAEBOM-BACKUP v"
FORMAT_LINE = re.compile(rb"SAEBOM-BACKUP v(\d{1,6})\n")
CHECK_LINE = re.compile(rb"[0-9a-f]{64}\n")
END_MAGIC = b"SAEBOM-BACKUP-END"
END = struct.Struct(f">{len(END_MAGIC)}sQQ")  # magic, chunk count, plaintext bytes
TAG_BYTES = 16
PREFIX_BYTES = 7
CHUNK_SIZE = 1 << 20
CHUNK_SIZE_RANGE = (1 << 10, 1 << 26)
MAX_HEADER_LINE = 4096

# scrypt: n = 2^18, r = 8, p = 1 takes 256 MiB and about a second. SCRYPT_N_ENV may change n
# (a power of two in SCRYPT_N_RANGE) for tests; a backup made with less says so on its output.
SCRYPT_N = 1 << 18
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_N_ENV = "SAEBOM_BACKUP_SCRYPT_N"
SCRYPT_N_RANGE = (1 << 14, 1 << 20)
SCRYPT_R_RANGE = (1, 32)
SCRYPT_P_RANGE = (1, 4)
# What a reader accepts from the (not yet authenticated) header: work n·r·p at most 8 times
# the default's, memory 128·n·r at most 1 GiB.
SCRYPT_MAX_WORK = 8 * SCRYPT_N * SCRYPT_R * SCRYPT_P
SCRYPT_MAX_MEMORY = 1 << 30
MIN_PASSPHRASE = 12
PASSPHRASE_ENV = "SAEBOM_BACKUP_PASSPHRASE"  # noqa: S105 (a variable's name)
RECIPIENT_PREFIX = "saebom-recipient-1:"
IDENTITY_PREFIX = "saebom-identity-1:"

MANIFEST = "manifest.json"
CHECKSUMS = "checksums.json"
ORIGIN = "origin.json"
SQLITE_MEMBER = "database/saebom.sqlite3"
PGDUMP_MEMBER = "database/saebom.pgdump"
DATABASE_MEMBERS = {"sqlite": SQLITE_MEMBER, "postgresql": PGDUMP_MEMBER}
EVIDENCE_MEMBER = re.compile(r"evidence/([0-9a-f]{2})/([0-9a-f]{2})/(\1\2[0-9a-f]{60})")
MAX_JSON_MEMBER = 1 << 26  # manifest and checksums: room for some 400,000 evidence files
MAX_ORIGIN_MEMBER = 1 << 12
COPY_BUFFER = 1 << 16
KEY_CHECK_MESSAGE = b"saebom backup key check v1"
ORIGIN_LABEL = b"saebom backup origin v1"

# Work files carry the process id, so that a later run removes those of a dead process only.
WORK_PREFIX = ".backup-"  # the database snapshot, in the data dir
STAGING_PREFIX = ".restore-"  # a restore's unpacked members, inside the target directories
PARTIAL_MARK = ".saebom-partial-"  # the archive being written, beside OUT
STALE_WORK = re.compile(r"\.backup-(\d{1,10})-\w+")
STALE_STAGING = re.compile(r"\.restore-(\d{1,10})-\w+")
STALE_PARTIAL = re.compile(r"\..+\.saebom-partial-(\d{1,10})-[0-9a-f]{8}")
HEAD = re.compile(r"(\d{1,18}):([0-9a-f]{64})")


# --- errors --------------------------------------------------------------------------------------


class BackupError(SaebomError):
    """Backup or restore cannot go on; the message says why and what to do."""


class WrongSecret(BackupError):
    """The passphrase or identity does not open this archive."""


class ArchiveDamaged(BackupError):
    """A chunk failed authentication, or the contents are not what the manifest says."""


class ArchiveTruncated(BackupError):
    """The archive is shorter (or longer) than it was written."""


class UnknownFormat(BackupError):
    """Not a Saebom backup, or one of a version this Saebom does not read."""


class TargetNotEmpty(BackupError):
    """Restoring would overwrite something; the message names it."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _cannot_write(path: Path, exc: OSError) -> BackupError:
    return BackupError(
        _("cannot write %(file)s: %(reason)s") % {"file": path, "reason": _reason(exc)}
    )


def _cannot_read(path: Path, exc: OSError) -> BackupError:
    return BackupError(
        _("cannot read %(file)s: %(reason)s") % {"file": path, "reason": _reason(exc)}
    )


def _shown(name: str) -> str:
    """A member name from an archive, safe to print (escaped, shortened)."""
    return repr(name[:120])


# --- secrets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Passphrase:
    """Normalised to NFC: the same words typed on another system give the same key."""

    text: str = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", unicodedata.normalize("NFC", self.text))
        if not self.text:
            raise BackupError(_("the backup passphrase is empty"))


def _decode(text: str, sizes: tuple[int, int]) -> bytes | None:
    """Strict base64 of ``sizes[0]`` to ``sizes[1]`` bytes, else None. (crypto.py's decoder
    speaks of the field key ring in its errors; each caller here says what it was reading.)"""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return raw if sizes[0] <= len(raw) <= sizes[1] else None


def _header_value(params: Mapping[str, Any], name: str, sizes: tuple[int, int]) -> bytes:
    raw = _decode(str(params.get(name, "")), sizes)
    if raw is None:
        raise UnknownFormat(_("archive header: %(name)s is not valid") % {"name": name})
    return raw


@dataclass(frozen=True)
class Recipient:
    """An X25519 public key: archives for it open only with its identity (private key)."""

    key: X25519PublicKey

    @classmethod
    def parse(cls, text: str) -> Recipient:
        text = text.strip()
        if not text.startswith(RECIPIENT_PREFIX):
            raise BackupError(
                _("a recipient key starts with %(prefix)s") % {"prefix": RECIPIENT_PREFIX}
            )
        raw = _decode(text[len(RECIPIENT_PREFIX) :], (32, 32))
        if raw is None:
            raise BackupError(
                _("the recipient key is not valid: 32 bytes of base64 expected after %(prefix)s")
                % {"prefix": RECIPIENT_PREFIX}
            )
        return cls(X25519PublicKey.from_public_bytes(raw))

    def raw(self) -> bytes:
        return self.key.public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __str__(self) -> str:
        return RECIPIENT_PREFIX + b64(self.raw())


@dataclass(frozen=True)
class Identity:
    """The private half of a recipient key, kept in a mode-0600 file."""

    key: X25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> Identity:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def read(cls, path: Path) -> Identity:
        text = _read_private(path, _("identity file %(file)s cannot be read: %(reason)s"))
        text = text.strip()
        if not text.startswith(IDENTITY_PREFIX):
            raise BackupError(
                _("%(file)s is not a Saebom backup identity (%(prefix)s...)")
                % {"file": path, "prefix": IDENTITY_PREFIX}
            )
        raw = _decode(text[len(IDENTITY_PREFIX) :], (32, 32))
        if raw is None:
            raise BackupError(
                _("%(file)s is not a valid identity: 32 bytes of base64 expected after %(prefix)s")
                % {"file": path, "prefix": IDENTITY_PREFIX}
            )
        return cls(X25519PrivateKey.from_private_bytes(raw))

    def text(self) -> str:
        raw = self.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return IDENTITY_PREFIX + b64(raw) + "\n"

    def recipient(self) -> Recipient:
        return Recipient(self.key.public_key())

    def write_new(self, path: Path) -> None:
        """Write to ``path`` (mode 0600), which must not exist: an identity is never replaced."""
        if os.path.lexists(path):
            raise BackupError(
                _("%(file)s already exists; an identity is never overwritten") % {"file": path}
            )
        _write_new_file(path, self.text().encode("ascii"))


Protector = Passphrase | Recipient  # what seals an archive
Opener = Passphrase | Identity  # what opens one


def _read_private(path: Path, cannot_read: str) -> str:
    """A secret file's text; refused when other users may read it, like the key files.
    ``cannot_read``: the message, with %(file)s and %(reason)s."""
    try:
        require_private(path)
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupError(cannot_read % {"file": path, "reason": _reason(exc)}) from None
    except ConfigError as exc:  # readable by other users
        raise BackupError(str(exc)) from None


def passphrase_from(
    file: Path | None, environ: Mapping[str, str] = os.environ
) -> Passphrase | None:
    """From ``--passphrase-file`` (its first line, without the line break) or the environment.

    Only ``\\n`` ends the line (and a ``\\r`` before it): other characters that
    ``str.splitlines`` breaks at may be part of a passphrase."""
    if file is not None:
        text = _read_private(file, _("passphrase file %(file)s cannot be read: %(reason)s"))
        return Passphrase(text.split("\n")[0].rstrip("\r"))
    value = environ.get(PASSPHRASE_ENV)
    return Passphrase(value) if value else None


def scrypt_n(environ: Mapping[str, str] = os.environ) -> int:
    """The scrypt cost for new archives: SCRYPT_N, unless SCRYPT_N_ENV names another."""
    raw = environ.get(SCRYPT_N_ENV, "").strip()
    if not raw:
        return SCRYPT_N
    value = int(raw) if raw.isdigit() else 0
    low, high = SCRYPT_N_RANGE
    if not low <= value <= high or value & (value - 1):
        raise BackupError(
            _("%(variable)s=%(value)s must be a power of two from %(low)d to %(high)d")
            % {"variable": SCRYPT_N_ENV, "value": raw[:20], "low": low, "high": high}
        )
    return value


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` as printed by ``saebom backup`` or ``saebom audit head``."""
    match = HEAD.fullmatch(text.strip())
    if match is None:
        raise ArgumentTypeError(_("expected SEQ:HASH as printed by `saebom backup`"))
    return int(match.group(1)), match.group(2)


# --- the sealed container ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Keys:
    seal: bytes
    check: bytes


def _split(material: bytes) -> _Keys:
    return _Keys(seal=material[:32], check=material[32:64])


def _scrypt(passphrase: Passphrase, salt: bytes, n: int, r: int, p: int) -> _Keys:
    kdf = Scrypt(salt=salt, length=64, n=n, r=r, p=p)
    return _split(kdf.derive(passphrase.text.encode("utf-8")))


def _hkdf(shared: bytes, ephemeral: bytes, recipient: bytes) -> _Keys:
    kdf = HKDF(
        algorithm=hashes.SHA256(),
        length=64,
        salt=ephemeral + recipient,
        info=b"saebom backup v1 x25519",
    )
    return _split(kdf.derive(shared))


def _new_keys(protector: Protector) -> tuple[dict[str, Any], _Keys]:
    if isinstance(protector, Passphrase):
        salt = secrets.token_bytes(16)
        n = scrypt_n()
        params = {
            "kind": "passphrase",
            "kdf": "scrypt",
            "salt": b64(salt),
            "n": n,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
        }
        return params, _scrypt(protector, salt, n, SCRYPT_R, SCRYPT_P)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = Recipient(ephemeral.public_key()).raw()
    shared = ephemeral.exchange(protector.key)
    params = {"kind": "x25519", "ephemeral": b64(ephemeral_raw), "recipient": b64(protector.raw())}
    return params, _hkdf(shared, ephemeral_raw, protector.raw())


def _bounded(params: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = params.get(name)
    if type(value) is not int or not low <= value <= high:
        raise UnknownFormat(
            _("archive header: %(name)s=%(value)s is outside %(low)d..%(high)d")
            % {"name": name, "value": repr(value)[:40], "low": low, "high": high}
        )
    return value


def _scrypt_parameters(params: Mapping[str, Any]) -> tuple[int, int, int]:
    """n, r and p from a header that is not authenticated yet: bounded before any work."""
    n = _bounded(params, "n", *SCRYPT_N_RANGE)
    r = _bounded(params, "r", *SCRYPT_R_RANGE)
    p = _bounded(params, "p", *SCRYPT_P_RANGE)
    if n & (n - 1) or n * r * p > SCRYPT_MAX_WORK or 128 * n * r > SCRYPT_MAX_MEMORY:
        raise UnknownFormat(
            _(
                "archive header: scrypt n=%(n)d, r=%(r)d, p=%(p)d asks for more work or memory "
                "than a Saebom backup uses"
            )
            % {"n": n, "r": r, "p": p}
        )
    return n, r, p


def _open_keys(params: Mapping[str, Any], opener: Opener | None) -> _Keys:
    kind = params.get("kind")
    if kind == "passphrase":
        if params.get("kdf") != "scrypt":
            raise UnknownFormat(
                _("archive header: unknown key derivation %(kdf)s")
                % {"kdf": repr(params.get("kdf"))[:40]}
            )
        n, r, p = _scrypt_parameters(params)
        salt = _header_value(params, "salt", (16, 64))
        if not isinstance(opener, Passphrase):
            raise WrongSecret(
                _(
                    "this archive is protected by a passphrase: give it with --passphrase-file "
                    "FILE or the environment variable %(variable)s"
                )
                % {"variable": PASSPHRASE_ENV}
            )
        return _scrypt(opener, salt, n, r, p)
    if kind == "x25519":
        recipient = _header_value(params, "recipient", (32, 32))
        shown = RECIPIENT_PREFIX + b64(recipient)
        if not isinstance(opener, Identity):
            raise WrongSecret(
                _(
                    "this archive was encrypted for the recipient key %(recipient)s: give its "
                    "private key with --identity-file FILE"
                )
                % {"recipient": shown}
            )
        if not hmac.compare_digest(opener.recipient().raw(), recipient):
            raise WrongSecret(
                _(
                    "this archive was encrypted for another recipient key (%(recipient)s), not "
                    "for %(mine)s"
                )
                % {"recipient": shown, "mine": opener.recipient()}
            )
        ephemeral = _header_value(params, "ephemeral", (32, 32))
        try:
            shared = opener.key.exchange(X25519PublicKey.from_public_bytes(ephemeral))
        except ValueError:
            raise UnknownFormat(_("archive header: the ephemeral key is not usable")) from None
        return _hkdf(shared, ephemeral, recipient)
    raise UnknownFormat(
        _("archive header: unknown protection %(kind)s") % {"kind": repr(kind)[:40]}
    )


def _nonce_and_aad(prefix: bytes, digest: bytes, index: int, last: bool) -> tuple[bytes, bytes]:
    flag = b"\x01" if last else b"\x00"
    return prefix + index.to_bytes(4, "big") + flag, digest + index.to_bytes(8, "big") + flag


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class SealingWriter:
    """A write-only stream that seals what it is given chunk by chunk into ``out``."""

    def __init__(self, out: _Sink, protector: Protector, chunk_size: int = CHUNK_SIZE) -> None:
        low, high = CHUNK_SIZE_RANGE
        if not low <= chunk_size <= high:
            raise BackupError(
                _("the chunk size must be from %(low)d to %(high)d bytes")
                % {"low": low, "high": high}
            )
        params, keys = _new_keys(protector)
        self._prefix = secrets.token_bytes(PREFIX_BYTES)
        params.update(
            {"cipher": "AES-256-GCM", "chunk_size": chunk_size, "nonce_prefix": b64(self._prefix)}
        )
        format_line = b"SAEBOM-BACKUP v%d\n" % FORMAT_VERSION
        params_line = json.dumps(params, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        check = hmac.new(keys.check, format_line + params_line, hashlib.sha256).hexdigest()
        header = format_line + params_line + check.encode("ascii") + b"\n"
        self.header_digest = hashlib.sha256(header).digest()
        self._cipher = AESGCM(keys.seal)
        self._out = out
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._plain_bytes = 0
        out.write(header)

    def write(self, data: bytes) -> int:
        self._buffer += data
        self._plain_bytes += len(data)
        # Strictly more than a chunk: the last chunk is only known at close(), so a full
        # chunk is kept back until something follows it.
        while len(self._buffer) > self._chunk_size:
            self._seal(bytes(self._buffer[: self._chunk_size]), last=False)
            del self._buffer[: self._chunk_size]
        return len(data)

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        if self._index >= 1 << 32:
            raise BackupError(_("the archive is too large for its chunk size"))
        nonce, aad = _nonce_and_aad(self._prefix, self.header_digest, self._index, last)
        self._out.write(self._cipher.encrypt(nonce, plaintext, aad))
        self._index += 1

    def close(self) -> None:
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        self._out.write(END.pack(END_MAGIC, self._index, self._plain_bytes))


@dataclass(frozen=True)
class ArchiveHeader:
    version: int
    params: dict[str, Any]
    header_bytes: int
    chunk_size: int
    chunks: int
    plain_bytes: int

    @property
    def kind(self) -> str:
        return str(self.params.get("kind", ""))


def read_header(stream: BinaryIO, size: int) -> tuple[ArchiveHeader, bytes, bytes]:
    """The parsed header, the exact bytes it is made of and its check value; no secret needed.

    Refuses what is not a Saebom backup, unknown versions, and a file that lost its end."""
    if size == 0:
        raise ArchiveTruncated(_("the archive is empty (0 bytes): it was cut short"))
    lines = []
    version = 0
    for number in range(3):
        line = stream.readline(MAX_HEADER_LINE)
        if number == 0 and not FORMAT_PREFIX.startswith(line[: len(FORMAT_PREFIX)]):
            raise UnknownFormat(_("not a Saebom backup (it does not start with SAEBOM-BACKUP)"))
        if not line.endswith(b"\n"):
            if stream.tell() >= size:
                raise ArchiveTruncated(_("the archive is cut short inside its header"))
            raise UnknownFormat(_("not a Saebom backup: a line of its header is too long"))
        lines.append(line)
        if number == 0:
            match = FORMAT_LINE.fullmatch(line)
            if match is None:
                raise UnknownFormat(_("not a Saebom backup: its format line is not readable"))
            version = int(match.group(1))
            if version != FORMAT_VERSION:
                raise UnknownFormat(
                    _(
                        "unknown backup format version %(version)d: this Saebom reads version "
                        "%(supported)d; restore with the Saebom version that wrote the archive"
                    )
                    % {"version": version, "supported": FORMAT_VERSION}
                )
    try:
        params = json.loads(lines[1])
    except (ValueError, UnicodeDecodeError):
        params = None
    if not isinstance(params, dict) or not CHECK_LINE.fullmatch(lines[2]):
        raise UnknownFormat(_("the archive's header is damaged (not readable)"))
    if params.get("cipher") != "AES-256-GCM":
        raise UnknownFormat(
            _("archive header: unknown cipher %(cipher)s")
            % {"cipher": repr(params.get("cipher"))[:40]}
        )
    chunk_size = _bounded(params, "chunk_size", *CHUNK_SIZE_RANGE)
    header_bytes = sum(len(line) for line in lines)
    if size < header_bytes + END.size:
        raise ArchiveTruncated(
            _("the archive is cut short: it ends right after its header, without its end marker")
        )
    stream.seek(size - END.size)
    magic, chunks, plain_bytes = END.unpack(stream.read(END.size))
    if magic != END_MAGIC:
        raise ArchiveTruncated(
            _(
                "the archive does not end with its end marker (%(size)s bytes): it was cut "
                "short, or bytes were added after its end; copy it again from where it was stored"
            )
            % {"size": f"{size:,}"}
        )
    # The writer keeps a full chunk back until more follows, so only an empty archive has an
    # empty last chunk.
    expected_chunks = max(1, -(-plain_bytes // chunk_size))
    region = size - header_bytes - END.size
    if chunks != expected_chunks or region != plain_bytes + chunks * TAG_BYTES:
        raise ArchiveTruncated(
            _(
                "the archive should hold %(chunks)s chunks after its header but holds "
                "%(bytes)s bytes that do not fit them: part of it is missing, or it was spliced"
            )
            % {"chunks": f"{chunks:,}", "bytes": f"{region:,}"}
        )
    stream.seek(header_bytes)
    header = ArchiveHeader(version, params, header_bytes, chunk_size, chunks, plain_bytes)
    return header, b"".join(lines), bytes.fromhex(lines[2][:-1].decode("ascii"))


def archive_protection(path: Path) -> str:
    """``passphrase`` or ``x25519``: how an archive is sealed (read from its header)."""
    try:
        with open(path, "rb") as stream:
            return read_header(stream, os.fstat(stream.fileno()).st_size)[0].kind
    except OSError as exc:
        raise _cannot_read(path, exc) from None


class OpeningReader:
    """A read-only stream of an archive's plaintext; every chunk is authenticated before any of
    its bytes are handed out. :meth:`drain` reads to the end (and so authenticates the rest)."""

    def __init__(self, stream: BinaryIO, size: int, opener: Opener | None) -> None:
        self.header, header_bytes, check = read_header(stream, size)
        keys = _open_keys(self.header.params, opener)
        signed = header_bytes[: -len(check) * 2 - 1]  # the format and parameters lines
        expected = hmac.new(keys.check, signed, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, check):
            if self.header.kind == "passphrase":
                message = _(
                    "wrong passphrase: it does not open this archive (or the archive's header "
                    "was altered)"
                )
            else:
                message = _(
                    "this identity does not open this archive (or the archive's header was altered)"
                )
            raise WrongSecret(message)
        self.header_digest = hashlib.sha256(header_bytes).digest()
        self._prefix = _header_value(self.header.params, "nonce_prefix", (PREFIX_BYTES,) * 2)
        self._cipher = AESGCM(keys.seal)
        self._stream = stream
        self._index = 0
        self._pending = b""
        self._offset = 0
        self.bytes_read = 0

    def _next_chunk(self) -> bytes:
        header = self.header
        last = self._index == header.chunks - 1
        size = header.chunk_size + TAG_BYTES
        if last:
            size = header.plain_bytes - (header.chunks - 1) * header.chunk_size + TAG_BYTES
        sealed = self._stream.read(size)
        start = header.header_bytes + self._index * (header.chunk_size + TAG_BYTES)
        if len(sealed) != size:
            raise ArchiveTruncated(
                _("the archive is cut short inside chunk %(chunk)d") % {"chunk": self._index + 1}
            )
        nonce, aad = _nonce_and_aad(self._prefix, self.header_digest, self._index, last)
        try:
            plain = self._cipher.decrypt(nonce, sealed, aad)
        except InvalidTag:
            if last and self._opens_as_middle(sealed):
                raise ArchiveTruncated(
                    _(
                        "the archive ends after chunk %(chunk)d, which is not its last chunk: "
                        "it was cut short (and its end marker rewritten)"
                    )
                    % {"chunk": self._index + 1}
                ) from None
            raise ArchiveDamaged(
                _(
                    "chunk %(chunk)d of %(chunks)d (bytes %(start)s to %(end)s) failed "
                    "authentication: the archive was altered, or its chunks were reordered or "
                    "mixed with another archive's"
                )
                % {
                    "chunk": self._index + 1,
                    "chunks": header.chunks,
                    "start": f"{start:,}",
                    "end": f"{start + size - 1:,}",
                }
            ) from None
        self._index += 1
        self.bytes_read = start + size - header.header_bytes
        return plain

    def _opens_as_middle(self, sealed: bytes) -> bool:
        nonce, aad = _nonce_and_aad(self._prefix, self.header_digest, self._index, False)
        try:
            self._cipher.decrypt(nonce, sealed, aad)
        except InvalidTag:
            return False
        return True

    def read(self, size: int = -1) -> bytes:
        parts = []
        wanted = size if size >= 0 else 1 << 62
        while wanted > 0:
            if self._offset >= len(self._pending):
                if self._index >= self.header.chunks:
                    break
                self._pending, self._offset = self._next_chunk(), 0
            piece = self._pending[self._offset : self._offset + wanted]
            self._offset += len(piece)
            wanted -= len(piece)
            parts.append(piece)
        return b"".join(parts)

    def drain(self) -> tuple[int, bool]:
        """Authenticate every chunk not read yet: how many plaintext bytes were left, and
        whether they were all zero (a tar stream's padding)."""
        rest = self._pending[self._offset :]
        left, zero = len(rest), not any(rest)
        while self._index < self.header.chunks:
            chunk = self._next_chunk()
            left, zero = left + len(chunk), zero and not any(chunk)
        self._pending, self._offset = b"", 0
        return left, zero


# --- the origin check ----------------------------------------------------------------------------


def origin_mac(key: bytes, header_digest: bytes, checksums: bytes) -> str:
    """HMAC-SHA256 over the header's digest and ``checksums.json``, under a key derived from a
    field key: only an installation holding that key can make it."""
    origin_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=ORIGIN_LABEL).derive(
        key
    )
    return hmac.new(origin_key, header_digest + checksums, hashlib.sha256).hexdigest()


# --- what is being backed up ---------------------------------------------------------------------


def saebom_version() -> str:
    try:
        return metadata.version("saebom")
    except metadata.PackageNotFoundError:
        return "unknown"


def _key_check(key: bytes) -> str:
    return hmac.new(key, KEY_CHECK_MESSAGE, hashlib.sha256).hexdigest()[:16]


def key_checks(ring: KeyRing) -> dict[str, Any]:
    """Check values of the ring's keys: enough to tell whether a restore has the same keys,
    nothing that helps find them."""
    return {
        "active": ring.active_id,
        "keys": {key_id: _key_check(key) for key_id, key in sorted(ring.keys.items())},
        "index_key": _key_check(ring.index_key),
    }


def key_mismatches(expected: Mapping[str, Any], ring: KeyRing) -> list[str]:
    """What the configured ring lacks compared with the ring the archive was made under."""
    have = key_checks(ring)
    problems = []
    for key_id, value in sorted(dict(expected.get("keys", {})).items()):
        if key_id not in have["keys"]:
            problems.append(_("key %(key)s is missing") % {"key": key_id})
        elif have["keys"][key_id] != value:
            problems.append(_("key %(key)s is a different key") % {"key": key_id})
    if expected.get("index_key") != have["index_key"]:
        problems.append(_("the index key is different"))
    return problems


def ring_if_present(environ: Mapping[str, str] = os.environ) -> KeyRing | None:
    """The field key ring when one is configured (``--verify-only`` needs none)."""
    directory = data_dir(environ)
    if env_secret("SAEBOM_FIELD_KEYS", environ) is None and not field_keys_path(directory).exists():
        return None
    return load_keyring(directory, environ)


def find_pg_tool(name: str) -> str:
    """``pg_dump`` or ``pg_restore``: on PATH, else the newest in /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found

    def major(path: str) -> int:
        part = Path(path).parent.parent.name
        return int(part) if part.isdigit() else 0

    candidates = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), key=major, reverse=True)
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise BackupError(
        _(
            "%(program)s was not found on PATH or in /usr/lib/postgresql/*/bin: install the "
            "PostgreSQL client programs (Debian, Ubuntu: apt install postgresql-client) of the "
            "server's major version or newer"
        )
        % {"program": name}
    )


# libpq reads every connection parameter the pg tools need from its environment, so none of
# them appears on their command line, where other users can read it. Django's
# settings_to_cmd_args_env() is for psql: it puts the database name where pg_restore expects
# its input file, and leaves out options such as connect_timeout.
_PG_SETTINGS_ENV = {
    "HOST": "PGHOST",
    "PORT": "PGPORT",
    "USER": "PGUSER",
    "NAME": "PGDATABASE",
    "PASSWORD": "PGPASSWORD",
}
_PG_OPTIONS_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS",
    "service": "PGSERVICE",
    "passfile": "PGPASSFILE",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "gssencmode": "PGGSSENCMODE",
    "channel_binding": "PGCHANNELBINDING",
    "application_name": "PGAPPNAME",
}


def pg_environment(settings_dict: Mapping[str, Any]) -> dict[str, str]:
    """The environment of pg_dump and pg_restore: the connection in libpq's variables, and
    without Saebom's own (the backup passphrase is none of their business)."""
    options = dict(settings_dict.get("OPTIONS") or {})
    if options.get("sslpassword"):
        # libpq has no variable for it; on a command line every user could read it.
        raise BackupError(
            _(
                "the database option sslpassword cannot be given to pg_dump and pg_restore "
                "without showing it to other users: name a connection service instead "
                "(service=NAME) whose entry in a pg_service.conf of mode 0600 holds it"
            )
        )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SAEBOM_")}
    for name, variable in _PG_SETTINGS_ENV.items():
        if settings_dict.get(name):
            environ[variable] = str(settings_dict[name])
    for name, variable in _PG_OPTIONS_ENV.items():
        value = options.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            environ[variable] = str(value)
    return environ


def _run_pg_tool(arguments: list[str], environ: dict[str, str], what: str) -> None:
    try:
        result = subprocess.run(  # noqa: S603 (a fixed program with our own arguments)
            arguments, capture_output=True, text=True, env=environ, check=False
        )
    except OSError as exc:
        raise BackupError(
            _("%(what)s: %(program)s could not run (%(reason)s)")
            % {"what": what, "program": arguments[0], "reason": _reason(exc)}
        ) from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        shown = "; ".join(lines[-5:]) or f"exit status {result.returncode}"
        raise BackupError(_("%(what)s failed: %(output)s") % {"what": what, "output": shown})


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_facts(path: Path) -> tuple[dict[str, int], tuple[int, str]]:
    """Rows per table and the audit head of a SQLite file (the snapshot, or a staged restore)."""
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        ) as db:
            names = [
                row[0]
                for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
                )
            ]
            counts = {
                name: int(db.execute(f"SELECT count(*) FROM {_quoted(name)}").fetchone()[0])  # noqa: S608
                for name in names
            }
            head = _head_from(db.execute("SELECT seq, hash FROM core_audithead WHERE id = 1"))
    except sqlite3.Error as exc:
        raise BackupError(
            _("the database %(file)s cannot be read: %(reason)s")
            % {"file": path, "reason": _reason(exc)}
        ) from None
    return counts, head


def _head_from(cursor: Any) -> tuple[int, str]:
    from saebom.core.audit import GENESIS_HASH

    row = cursor.fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)


def _postgres_facts(cursor: Any) -> tuple[dict[str, int], tuple[int, str]]:
    from django.db import connection

    names = sorted(connection.introspection.table_names(cursor))
    counts = {}
    for name in names:
        cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(name)}")  # noqa: S608
        counts[name] = int(cursor.fetchone()[0])
    cursor.execute("SELECT seq, hash FROM core_audithead WHERE id = 1")
    return counts, _head_from(cursor)


@dataclass
class Snapshot:
    vendor: str
    path: Path
    counts: dict[str, int]
    audit_head: tuple[int, str]
    server_version: str = ""


def _snapshot(directory: Path) -> Snapshot:
    """A consistent copy of the database in ``directory``, with its counts and audit head."""
    from django.db import connection, transaction

    if connection.vendor == "sqlite":
        source_path = Path(connection.settings_dict["NAME"])
        target = directory / "saebom.sqlite3"
        try:
            with (
                contextlib.closing(sqlite3.connect(source_path, timeout=20)) as source,
                contextlib.closing(sqlite3.connect(target)) as copy,
            ):
                source.backup(copy)  # one step: one read transaction, so one consistent state
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no WAL
        except sqlite3.Error as exc:
            raise BackupError(
                _("cannot copy the database %(file)s to %(target)s: %(reason)s")
                % {"file": source_path, "target": target, "reason": _reason(exc)}
            ) from None
        counts, head = _sqlite_facts(target)
        return Snapshot("sqlite", target, counts, head, sqlite3.sqlite_version)
    if connection.vendor != "postgresql":
        raise BackupError(_("cannot back up a %(vendor)s database") % {"vendor": connection.vendor})
    pg_dump = find_pg_tool("pg_dump")
    environ = pg_environment(connection.settings_dict)
    target = directory / "saebom.pgdump"
    connection.ensure_connection()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
        snapshot_id, server_version = cursor.fetchone()
        # pg_dump reads inside the snapshot this transaction holds open, the counts too.
        _run_pg_tool(
            [pg_dump, "--format=custom", f"--snapshot={snapshot_id}", f"--file={target}"],
            environ,
            "pg_dump",
        )
        counts, head = _postgres_facts(cursor)
    return Snapshot("postgresql", target, counts, head, str(server_version))


# --- what an interrupted run left behind ---------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(directories: list[Path], pattern: re.Pattern[str]) -> list[Path]:
    """Remove what a killed backup or restore left in ``directories``: entries named by
    ``pattern`` (its group 1 is the process id) whose process is gone. They may hold plaintext.
    The paths removed."""
    removed = []
    for directory in dict.fromkeys(directories):
        try:
            entries = sorted(directory.iterdir()) if directory.is_dir() else []
        except OSError as exc:
            raise _cannot_read(directory, exc) from None
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            if match is None or _alive(int(match.group(1))):
                continue
            try:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            except OSError as exc:
                raise BackupError(
                    _("cannot remove %(file)s, left by an interrupted run: %(reason)s")
                    % {"file": entry, "reason": _reason(exc)}
                ) from None
            removed.append(entry)
    return removed


# --- backup --------------------------------------------------------------------------------------


def _evidence_files() -> tuple[list[tuple[str, Path]], list[str]]:
    """``(member name, path)`` of every blob in the evidence store, as it lies on disk; and
    what else is there (not backed up, and reported)."""
    from saebom.core import blobs

    base = blobs.root()
    members: list[tuple[str, Path]] = []
    skipped: list[str] = []
    if not base.is_dir():
        return members, skipped
    for directory, subdirectories, files in os.walk(base):
        subdirectories.sort()
        here = Path(directory)
        links = [name for name in subdirectories if (here / name).is_symlink()]
        for name in sorted(files) + links:
            path = here / name
            relative = path.relative_to(base).as_posix()
            member = "evidence/" + relative
            if EVIDENCE_MEMBER.fullmatch(member) and stat.S_ISREG(path.lstat().st_mode):
                members.append((member, path))
            else:
                skipped.append(relative)
    return members, skipped


class _HashingReader:
    """A member's source: hashed as tarfile reads it, a read error naming the file."""

    def __init__(self, stream: IO[bytes], path: Path) -> None:
        self._stream = stream
        self._path = path
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._stream.read(size)
        except OSError as exc:
            raise _cannot_read(self._path, exc) from None
        self.sha.update(data)
        return data


class _ArchiveFile:
    """The archive being written: a failed write (a full disk) names the archive."""

    def __init__(self, fd: int, name: Path) -> None:
        self._file = os.fdopen(fd, "wb")
        self._name = name

    def write(self, data: bytes, /) -> int:
        try:
            return self._file.write(data)
        except OSError as exc:
            raise _cannot_write(self._name, exc) from None

    def finish(self) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise _cannot_write(self._name, exc) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):  # only after finish() or on the way out of an error
            self._file.close()


def _tar_info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o600
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    tar.addfile(_tar_info(name, len(data), mtime), io.BytesIO(data))


@dataclass
class BackupResult:
    path: Path
    size: int
    kind: str
    manifest: dict[str, Any]
    skipped: list[str]
    scrypt_n: int | None


def create_backup(
    out: Path,
    protector: Protector,
    *,
    actor: Any,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int, int], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> BackupResult:
    """Write one sealed archive of the database and the evidence files to ``out``.

    The backup is recorded in the audit chain first, so the archive holds its own event and the
    audit head it names is the installation's head when it was taken. A backup that fails after
    that is recorded as ``backup_failed``, naming the archive and the reason."""
    from django.conf import settings
    from django.db import connection, transaction

    from saebom.core.audit import audit_record

    out = out.expanduser().absolute()
    if os.path.lexists(out):
        raise BackupError(_("%(file)s already exists; name a new file") % {"file": out})
    if not out.parent.is_dir():
        raise BackupError(_("%(directory)s is not a directory") % {"directory": out.parent})
    work_parent = Path(settings.DATA_DIR)
    stale = remove_stale([work_parent], STALE_WORK) + remove_stale([out.parent], STALE_PARTIAL)
    for path in stale:
        if notice:
            notice(_("removed %(file)s, left by an interrupted backup") % {"file": path})
    kind = "passphrase" if isinstance(protector, Passphrase) else "x25519"
    cost = scrypt_n() if kind == "passphrase" else None
    if connection.vendor == "postgresql":  # what would stop pg_dump, before the event
        find_pg_tool("pg_dump")
        pg_environment(connection.settings_dict)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="backup",
            object_type="installation",
            detail={"archive": out.name, "protection": kind},
        )
    try:
        manifest, skipped = _write_archive(out, work_parent, protector, chunk_size, progress)
    except BaseException as exc:
        _record_failure(actor, out, exc)
        raise
    return BackupResult(out, out.stat().st_size, kind, manifest, skipped, cost)


def _record_failure(actor: Any, out: Path, exc: BaseException) -> None:
    from django.db import DatabaseError, transaction

    from saebom.core.audit import audit_record

    if isinstance(exc, SystemExit):
        reason = "terminated"
    elif isinstance(exc, KeyboardInterrupt):
        reason = "interrupted"
    else:
        reason = _reason(exc)[:500]
    # The error being raised matters more than its record: a database that cannot take the
    # record (the cause itself, perhaps) must not hide it.
    with contextlib.suppress(DatabaseError), transaction.atomic():
        audit_record(
            actor=actor,
            action="backup_failed",
            object_type="installation",
            detail={"archive": out.name, "reason": reason},
        )


def _write_archive(
    out: Path,
    work_parent: Path,
    protector: Protector,
    chunk_size: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[str, Any], list[str]]:
    from django.db import connection

    from saebom.core.fields import keyring

    ring = keyring()
    work = _own_directory_name(work_parent, WORK_PREFIX)
    partial = out.parent / f".{out.name}{PARTIAL_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        _make_own_directory(work)
        snapshot = _snapshot(work)
        evidence, skipped = _evidence_files()
        database_member = DATABASE_MEMBERS[snapshot.vendor]
        members = [(database_member, snapshot.path), *evidence]
        try:
            sizes = {name: path.stat().st_size for name, path in members}
        except OSError as exc:
            raise _cannot_read(Path(exc.filename or work), exc) from None
        created = datetime.now(UTC)
        settings_name = str(connection.settings_dict["NAME"])
        manifest = {
            "format": "saebom-backup",
            "format_version": FORMAT_VERSION,
            "created_at": created.isoformat(timespec="seconds"),
            "saebom_version": saebom_version(),
            "database": {
                "vendor": snapshot.vendor,
                "member": database_member,
                "name": Path(settings_name).name if snapshot.vendor == "sqlite" else settings_name,
                "server_version": snapshot.server_version,
            },
            "audit_head": {"seq": snapshot.audit_head[0], "hash": snapshot.audit_head[1]},
            "table_counts": snapshot.counts,
            "evidence": {
                "files": len(evidence),
                "bytes": sum(sizes[n] for n, _ in evidence),
                "skipped": len(skipped),
            },
            "field_keys": key_checks(ring),
            "members": sorted(sizes),
        }
        total = sum(sizes.values())
        mtime = int(created.timestamp())
        checksums: dict[str, dict[str, Any]] = {}
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise _cannot_write(out, exc) from None
        archive = _ArchiveFile(fd, out)
        try:
            writer = SealingWriter(archive, protector, chunk_size)
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                manifest_bytes = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
                _add_bytes(tar, MANIFEST, manifest_bytes, mtime)
                checksums[MANIFEST] = {
                    "size": len(manifest_bytes),
                    "sha256": hashlib.sha256(manifest_bytes).hexdigest(),
                }
                done = 0
                for name, path in members:
                    try:
                        with open(path, "rb") as source:
                            hashing = _HashingReader(source, path)
                            tar.addfile(_tar_info(name, sizes[name], mtime), hashing)
                    except OSError as exc:  # opening it, or a file shorter than it was
                        raise _cannot_read(path, exc) from None
                    checksums[name] = {"size": sizes[name], "sha256": hashing.sha.hexdigest()}
                    done += sizes[name]
                    if progress:
                        progress(done, total)
                # The AEAD chunks already authenticate every byte; the checksums guard against
                # a writer bug (a member cut or shifted in the tar stream), and they are what
                # the origin check signs: one short digest of every member.
                checksum_bytes = json.dumps({"members": checksums}, indent=2).encode()
                _add_bytes(tar, CHECKSUMS, checksum_bytes, mtime)
                origin = {
                    "key": ring.active_id,
                    "mac": origin_mac(
                        ring.keys[ring.active_id], writer.header_digest, checksum_bytes
                    ),
                }
                _add_bytes(tar, ORIGIN, json.dumps(origin).encode(), mtime)
            writer.close()
            archive.finish()
        finally:
            archive.close()
        _publish(partial, out)
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    return manifest, skipped


def _own_directory_name(parent: Path, prefix: str) -> Path:
    """A new ``<prefix><pid>-<random>`` path in ``parent``, not made yet. The caller records it
    for removal first and makes it with :func:`_make_own_directory` after: a SIGTERM unwinds
    between any two statements, and a directory made before it was recorded would stay behind."""
    return parent / f"{prefix}{os.getpid()}-{secrets.token_hex(6)}"


def _make_own_directory(path: Path) -> None:
    try:
        path.mkdir(mode=0o700)
    except OSError as exc:
        raise _cannot_write(path.parent, exc) from None


def _write_new_file(path: Path, data: bytes) -> None:
    """Write ``path`` (mode 0600) through a temporary file, never replacing what is there."""
    try:
        handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), 0o600)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        _publish(temp, path)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    finally:
        temp.unlink(missing_ok=True)


def _publish(partial: Path, out: Path) -> None:
    """Give a finished file its name, never replacing a file that appeared meanwhile."""
    from saebom.core.blobs import fsync_dir

    try:
        os.link(partial, out)
    except FileExistsError:
        raise BackupError(
            _("%(file)s appeared while it was being written; name a new file") % {"file": out}
        ) from None
    except OSError:  # a file system without hard links (FAT, exFAT): claim the name first
        try:
            os.close(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise BackupError(
                _("%(file)s appeared while it was being written; name a new file") % {"file": out}
            ) from None
        except OSError as exc:
            raise _cannot_write(out, exc) from None
        try:
            os.replace(partial, out)  # over the empty file this process just made
        except OSError as exc:
            out.unlink(missing_ok=True)
            raise _cannot_write(out, exc) from None
    try:
        fsync_dir(out.parent)
    except OSError as exc:
        raise _cannot_write(out, exc) from None


# --- reading an archive --------------------------------------------------------------------------


@dataclass
class _Expectations:
    """What the manifest must agree with, checked as soon as it is read."""

    vendor: str | None = None  # the target's database, when restoring
    head: tuple[int, str] | None = None  # --expect-head
    ring: KeyRing | None = None
    keys_must_match: bool = False


@dataclass
class _Contents:
    """An archive read to its end, every chunk authenticated."""

    manifest: dict[str, Any]
    found: dict[str, tuple[int, str]]  # member: (size, SHA-256), checksums and origin aside
    checksums: bytes
    origin: Any
    header_digest: bytes
    kind: str
    scrypt_n: int | None
    key_problems: list[str]


Store = Callable[[str, IO[bytes], int], str]  # member name, its data, its size: its SHA-256


def _copy(source: IO[bytes], size: int, out: _Sink | None, name: str) -> str:
    sha = hashlib.sha256()
    written = 0
    while block := source.read(COPY_BUFFER):
        sha.update(block)
        if out is not None:
            out.write(block)
        written += len(block)
    if written != size:
        raise ArchiveDamaged(
            _("member %(name)s holds %(written)d bytes instead of %(size)d")
            % {"name": _shown(name), "written": written, "size": size}
        )
    return sha.hexdigest()


def hash_only(name: str, source: IO[bytes], size: int) -> str:
    """A :data:`Store` that writes nothing (``--verify-only``)."""
    return _copy(source, size, None, name)


def _plain_file(member: tarfile.TarInfo) -> bool:
    return member.type in (tarfile.REGTYPE, tarfile.AREGTYPE) and not member.issparse()


def _json_member(source: IO[bytes], size: int, name: str, limit: int) -> tuple[bytes, Any]:
    if size > limit:
        raise ArchiveDamaged(
            _("member %(name)s is too large (%(size)s bytes)") % {"name": name, "size": f"{size:,}"}
        )
    data = source.read()
    try:
        return data, json.loads(data)
    except ValueError:
        raise ArchiveDamaged(_("member %(name)s is not readable") % {"name": name}) from None


def _check_manifest(manifest: Any, expect: _Expectations) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(manifest, dict) or manifest.get("format") != "saebom-backup":
        raise UnknownFormat(_("the archive's manifest is not a Saebom backup manifest"))
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise UnknownFormat(
            _(
                "unknown backup manifest version %(version)s: this Saebom reads version "
                "%(supported)d"
            )
            % {"version": repr(version)[:20], "supported": FORMAT_VERSION}
        )
    database = manifest.get("database")
    vendor = database.get("vendor") if isinstance(database, dict) else None
    if (
        vendor not in DATABASE_MEMBERS
        or manifest["database"].get("member") != DATABASE_MEMBERS[vendor]
    ):
        raise UnknownFormat(
            _("the archive holds an unknown kind of database (%(vendor)s)")
            % {"vendor": repr(vendor)[:40]}
        )
    head = manifest.get("audit_head")
    if (
        not isinstance(head, dict)
        or type(head.get("seq")) is not int
        or not isinstance(head.get("hash"), str)
    ):
        raise UnknownFormat(_("the archive's manifest has no audit head"))
    keys = manifest.get("field_keys")
    if not isinstance(keys, dict) or not isinstance(keys.get("keys"), dict):
        raise UnknownFormat(_("the archive's manifest has no key check values"))
    if not isinstance(manifest.get("members"), list) or not isinstance(
        manifest.get("table_counts"), dict
    ):
        raise UnknownFormat(_("the archive's manifest lists no members"))
    if expect.vendor is not None and vendor != expect.vendor:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        raise BackupError(
            _(
                "the archive holds a %(archived)s database but DATABASE_URL points at "
                "%(target)s: restore it into the same kind of database"
            )
            % {"archived": names[vendor], "target": names.get(expect.vendor, expect.vendor)}
        )
    if expect.head is not None and (head["seq"], head["hash"]) != expect.head:
        raise BackupError(
            _(
                "the archive's audit head is %(archived)s, not the expected %(expected)s: it is "
                "an older archive (or another installation's); restore the one whose head you "
                "recorded"
            )
            % {
                "archived": f"{head['seq']}:{head['hash']}",
                "expected": f"{expect.head[0]}:{expect.head[1]}",
            }
        )
    problems = key_mismatches(keys, expect.ring) if expect.ring is not None else []
    if problems and expect.keys_must_match:
        raise BackupError(
            _(
                "the field key ring here is not the one the archive was made under (%(problems)s): "
                "restored identifiers, TOTP secrets and evidence files could not be read. Put "
                "the installation's field_keys.json in place (docs/backup.md), or pass "
                "--allow-other-keys to restore anyway"
            )
            % {"problems": "; ".join(problems)}
        )
    return manifest, problems


def _read_archive(
    archive: Path,
    opener: Opener | None,
    expect: _Expectations,
    store: Store,
    progress: Callable[[int, int], None] | None = None,
) -> _Contents:
    """Authenticate the whole archive, handing each database and evidence member to ``store``
    as it streams past; the members must come in the order the writer puts them."""
    try:
        stream = open(archive, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise _cannot_read(archive, exc) from None
    with stream:
        try:
            return _read_stream(stream, opener, expect, store, progress)
        except OSError as exc:  # reading the archive (a bad disk); writes name their file
            raise _cannot_read(archive, exc) from None


def _read_stream(
    stream: BinaryIO,
    opener: Opener | None,
    expect: _Expectations,
    store: Store,
    progress: Callable[[int, int], None] | None,
) -> _Contents:
    size = os.fstat(stream.fileno()).st_size
    reader = OpeningReader(stream, size, opener)
    found: dict[str, tuple[int, str]] = {}
    manifest: dict[str, Any] = {}
    key_problems: list[str] = []
    checksums: bytes | None = None
    origin: Any = None
    try:
        tar = tarfile.open(fileobj=reader, mode="r|")  # type: ignore[call-overload]  # noqa: SIM115
    except tarfile.TarError:
        raise ArchiveDamaged(_("the archive's contents are not a Saebom backup")) from None
    try:
        with tar:
            for position, member in enumerate(tar):
                name = member.name
                if origin is not None:
                    raise ArchiveDamaged(
                        _("member %(name)s follows the origin check") % {"name": _shown(name)}
                    )
                if checksums is not None and name != ORIGIN:
                    raise ArchiveDamaged(
                        _("member %(name)s follows the checksums") % {"name": _shown(name)}
                    )
                if not _plain_file(member):
                    raise ArchiveDamaged(
                        _("member %(name)s is not a regular file (a link, a directory or a device)")
                        % {"name": _shown(name)}
                    )
                if name in found:
                    raise ArchiveDamaged(
                        _("member %(name)s appears twice") % {"name": _shown(name)}
                    )
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                if position == 0:
                    if name != MANIFEST:
                        raise ArchiveDamaged(_("the archive does not start with its manifest"))
                    data, parsed = _json_member(source, member.size, MANIFEST, MAX_JSON_MEMBER)
                    manifest, key_problems = _check_manifest(parsed, expect)
                    found[name] = (len(data), hashlib.sha256(data).hexdigest())
                elif position == 1:
                    if name != manifest["database"]["member"]:
                        raise ArchiveDamaged(
                            _("the archive has no database (its second member is %(name)s)")
                            % {"name": _shown(name)}
                        )
                    found[name] = (member.size, store(name, source, member.size))
                elif name == CHECKSUMS:
                    checksums = _json_member(source, member.size, CHECKSUMS, MAX_JSON_MEMBER)[0]
                elif name == ORIGIN:
                    if checksums is None:
                        raise ArchiveDamaged(_("the origin check comes before the checksums"))
                    origin = _json_member(source, member.size, ORIGIN, MAX_ORIGIN_MEMBER)[1]
                elif EVIDENCE_MEMBER.fullmatch(name):
                    found[name] = (member.size, store(name, source, member.size))
                else:
                    raise ArchiveDamaged(
                        _("unexpected member %(name)s in the archive") % {"name": _shown(name)}
                    )
                if progress:
                    progress(reader.bytes_read, size)
    except tarfile.TarError as exc:
        raise ArchiveDamaged(
            _("the archive's contents are damaged: %(reason)s") % {"reason": _reason(exc)}
        ) from None
    left, zero = reader.drain()  # the tar's padding, and proof that nothing follows it
    if progress:
        progress(size, size)
    if not manifest:
        raise ArchiveDamaged(_("the archive has no manifest"))
    if len(found) < 2:
        raise ArchiveDamaged(_("the archive has no database"))
    if checksums is None:
        raise ArchiveDamaged(_("the archive has no checksums"))
    if origin is None:
        raise ArchiveDamaged(_("the archive has no origin check"))
    if left > tarfile.RECORDSIZE or not zero:
        raise ArchiveDamaged(
            _("%(bytes)s bytes follow the end of the archive's contents") % {"bytes": f"{left:,}"}
        )
    assert checksums is not None
    header = reader.header
    return _Contents(
        manifest=manifest,
        found=found,
        checksums=checksums,
        origin=origin,
        header_digest=reader.header_digest,
        kind=header.kind,
        scrypt_n=int(header.params["n"]) if header.kind == "passphrase" else None,
        key_problems=key_problems,
    )


def _check_checksums(contents: _Contents) -> None:
    try:
        checksums = json.loads(contents.checksums)["members"]
    except (ValueError, KeyError, TypeError):
        checksums = None
    if not isinstance(checksums, dict):
        raise ArchiveDamaged(_("the archive's checksums are not readable"))
    found = contents.found
    expected = set(checksums)
    listed = {MANIFEST, *map(str, contents.manifest["members"])}
    if expected != set(found) or expected != listed:
        missing = sorted((expected | listed) - set(found))
        extra = sorted(set(found) - expected)
        raise ArchiveDamaged(
            _(
                "the archive's members do not match its manifest (missing: %(missing)s; not "
                "listed: %(extra)s)"
            )
            % {"missing": ", ".join(missing[:5]) or "-", "extra": ", ".join(extra[:5]) or "-"}
        )
    for name, (size, sha) in sorted(found.items()):
        entry = checksums[name]
        if not isinstance(entry, dict) or entry.get("size") != size or entry.get("sha256") != sha:
            raise ArchiveDamaged(
                _("member %(name)s does not match its SHA-256 in the checksums") % {"name": name}
            )


def _check_origin(contents: _Contents, ring: KeyRing | None) -> str:
    """'' when the origin check proves the archive was made by an installation holding this
    ring's key; otherwise why it cannot be verified. Raises when it fails under the very key
    it names: a forged or altered archive."""
    origin = contents.origin
    if not (
        isinstance(origin, dict)
        and isinstance(origin.get("key"), str)
        and isinstance(origin.get("mac"), str)
    ):
        raise ArchiveDamaged(_("the archive's origin check is not readable"))
    if ring is None:
        return _("no field key ring is configured here")
    key_id = origin["key"]
    if key_id not in ring.keys:
        return _("its key %(key)s is not in the field key ring here") % {"key": key_id[:40]}
    expected = origin_mac(ring.keys[key_id], contents.header_digest, contents.checksums)
    if hmac.compare_digest(expected, origin["mac"]):
        return ""
    archived = contents.manifest["field_keys"]["keys"].get(key_id)
    if archived != _key_check(ring.keys[key_id]):
        return _("the field key ring here holds another key %(key)s") % {"key": key_id[:40]}
    raise ArchiveDamaged(
        _(
            "the archive's origin check fails: this installation did not make it. It was "
            "forged by someone who could seal an archive (with the passphrase, or for the "
            "recipient key), or altered; do not restore it"
        )
    )


@dataclass
class Verification:
    """What checking an archive found."""

    manifest: dict[str, Any]
    evidence_files: int
    kind: str
    scrypt_n: int | None
    key_problems: list[str]
    origin_problem: str  # '' when the origin was verified

    @property
    def archived_head(self) -> str:
        head = self.manifest["audit_head"]
        return f"{head['seq']}:{head['hash']}"

    @property
    def weak_kdf(self) -> bool:
        return self.scrypt_n is not None and self.scrypt_n < SCRYPT_N


def _verified(contents: _Contents, ring: KeyRing | None) -> Verification:
    _check_checksums(contents)
    return Verification(
        manifest=contents.manifest,
        evidence_files=sum(1 for name in contents.found if name.startswith("evidence/")),
        kind=contents.kind,
        scrypt_n=contents.scrypt_n,
        key_problems=contents.key_problems,
        origin_problem=_check_origin(contents, ring),
    )


def verify_archive(
    archive: Path,
    opener: Opener | None,
    *,
    ring: KeyRing | None,
    expect_head: tuple[int, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Verification:
    """Authenticate every chunk and hash every member, writing nothing; no database, and no key
    ring needed (with one, the keys and the origin are checked too)."""
    expect = _Expectations(head=expect_head, ring=ring)
    return _verified(_read_archive(archive, opener, expect, hash_only, progress), ring)


# --- restore -------------------------------------------------------------------------------------


@dataclass
class Target:
    """Where a restore writes: the configured database and evidence directory."""

    vendor: str
    settings_dict: Mapping[str, Any]
    evidence_dir: Path
    data_dir: Path

    @property
    def sqlite_path(self) -> Path:
        return Path(str(self.settings_dict["NAME"]))

    @property
    def database_dir(self) -> Path:
        """Where the database is staged: beside the SQLite file, or (a dump) in the data dir."""
        return self.sqlite_path.parent if self.vendor == "sqlite" else self.data_dir

    @property
    def label(self) -> str:
        if self.vendor == "sqlite":
            return str(self.sqlite_path)
        host = self.settings_dict.get("HOST") or "local socket"
        return _("database %(name)s on %(host)s") % {
            "name": repr(self.settings_dict.get("NAME")),
            "host": host,
        }


def current_target() -> Target:
    from django.conf import settings
    from django.db import connection

    return Target(
        vendor=connection.vendor,
        settings_dict=connection.settings_dict,
        evidence_dir=Path(settings.SAEBOM_EVIDENCE_DIR),
        data_dir=Path(settings.DATA_DIR),
    )


def _entries(directory: Path, skip: Path | None) -> int:
    """Files, links and other non-directories under ``directory`` (``skip`` aside)."""
    count = 0
    for here, subdirectories, files in os.walk(directory):
        links = [name for name in subdirectories if Path(here, name).is_symlink()]
        subdirectories[:] = [
            name for name in subdirectories if name not in links and Path(here, name) != skip
        ]
        count += len(files) + len(links)
    return count


def obstacles(target: Target, skip: Path | None = None) -> list[str]:
    """Everything a restore would overwrite, named; empty when the target is empty."""
    found = []
    if target.vendor == "sqlite":
        for suffix in ("", "-journal", "-wal", "-shm"):
            path = Path(f"{target.sqlite_path}{suffix}")
            if os.path.lexists(path):
                found.append(_("the database file %(file)s exists") % {"file": path})
    else:
        found.extend(_postgres_obstacles(target))
    if os.path.lexists(target.evidence_dir) and not target.evidence_dir.is_dir():
        found.append(_("%(directory)s is not a directory") % {"directory": target.evidence_dir})
    elif target.evidence_dir.is_dir():
        files = _entries(target.evidence_dir, skip)
        if files:
            found.append(
                _("the evidence directory %(directory)s holds %(count)d files")
                % {"directory": target.evidence_dir, "count": files}
            )
    return found


def _postgres_obstacles(target: Target) -> list[str]:
    from django.db import connection
    from django.db.utils import OperationalError

    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' "
                "ORDER BY 1, 2"
            )
            rows = cursor.fetchall()
    except OperationalError as exc:
        raise BackupError(
            _(
                "cannot connect to the target %(target)s: %(reason)s; create an empty database "
                "for the restore (createdb) and point DATABASE_URL at it"
            )
            % {"target": target.label, "reason": _reason(exc)}
        ) from None
    if not rows:
        return []
    tables = [f"{schema}.{name}" for schema, name, kind in rows if kind != "S"]
    named = tables or [f"{schema}.{name}" for schema, name, _kind in rows]
    shown = ", ".join(named[:5]) + (f", … (+{len(named) - 5})" if len(named) > 5 else "")
    return [
        _("the %(target)s is not empty: it holds %(count)d tables or sequences (%(names)s)")
        % {"target": target.label, "count": len(named), "names": shown}
    ]


def refuse_if_not_empty(target: Target, skip: Path | None = None) -> None:
    found = obstacles(target, skip)
    if found:
        raise TargetNotEmpty(
            _(
                "refusing to restore over existing data: %(found)s. Restore into a new data "
                "dir (SAEBOM_DATA_DIR) and an empty database, or move these away first"
            )
            % {"found": "; ".join(found)}
        )


class Staging:
    """Where a restore unpacks: a ``.restore-<pid>-*`` directory beside the database and one
    inside the evidence directory, so that moving into place is a rename on one file system
    (the evidence directory may be a mount point of its own). Removed when the restore ends;
    target directories it had to create are removed too unless the restore succeeded."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.database: Path | None = None
        self.evidence: Path | None = None  # the staged evidence store: aa/bb/<sha256>
        self.moved: list[str] = []  # its aa/ directories, once renamed into place
        self.done = False
        self._directories: list[Path] = []
        self._created: list[Path] = []

    def _make(self, parent: Path) -> Path:
        missing = [parent, *parent.parents]
        self._created.extend(p for p in missing if not os.path.lexists(p))  # deepest first
        path = _own_directory_name(parent, STAGING_PREFIX)
        self._directories.append(path)
        try:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise _cannot_write(parent, exc) from None
        _make_own_directory(path)
        return path

    def store(self, name: str, source: IO[bytes], size: int) -> str:
        if name.startswith("database/"):
            self.database = self._make(self.target.database_dir) / Path(name).name
            path = self.database
        else:
            match = EVIDENCE_MEMBER.fullmatch(name)
            assert match is not None  # the reader passes nothing else
            if self.evidence is None:
                self.evidence = self._make(self.target.evidence_dir)
            directory = self.evidence / match.group(1) / match.group(2)
            path = directory / match.group(3)
            try:
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise _cannot_write(directory, exc) from None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                sha = _copy(source, size, _Guarded(out, path), name)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise _cannot_write(path, exc) from None
        return sha

    def move_evidence(self) -> None:
        """Rename the staged ``aa/`` directories into the evidence directory (empty ones in
        the way give way; anything else stops the move, which :meth:`undo` reverses)."""
        from saebom.core.blobs import fsync_dir

        if self.evidence is None:
            return
        evidence_dir = self.target.evidence_dir
        for prefix in sorted(os.listdir(self.evidence)):
            destination = evidence_dir / prefix
            if destination.is_dir() and not destination.is_symlink():
                for directory, _subdirectories, _files in os.walk(destination, topdown=False):
                    os.rmdir(directory)  # fails on a file that appeared meanwhile
            os.rename(self.evidence / prefix, destination)
            self.moved.append(prefix)
        fsync_dir(evidence_dir)

    def undo(self) -> str:
        """Move the evidence back out of place; '' or why that failed."""
        staged = self.evidence
        while staged is not None and self.moved:
            prefix = self.moved[-1]
            try:
                os.rename(self.target.evidence_dir / prefix, staged / prefix)
            except OSError as exc:
                return _reason(exc)
            self.moved.pop()
        return ""

    def remove(self) -> None:
        for directory in self._directories:
            shutil.rmtree(directory, ignore_errors=True)
        self._directories.clear()
        if not self.done:
            for directory in self._created:
                with contextlib.suppress(OSError):
                    directory.rmdir()
        self._created.clear()


class _Guarded:
    """A staged member's file: a failed write names it."""

    def __init__(self, out: IO[bytes], path: Path) -> None:
        self._out, self._path = out, path

    def write(self, data: bytes) -> int:
        try:
            return self._out.write(data)
        except OSError as exc:
            raise _cannot_write(self._path, exc) from None


def _check_staged_sqlite(path: Path, manifest: Mapping[str, Any]) -> int:
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        ) as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise ArchiveDamaged(
            _("the archived SQLite database does not open: %(reason)s") % {"reason": _reason(exc)}
        ) from None
    if verdict != "ok":
        raise ArchiveDamaged(
            _("the archived SQLite database fails its check: %(verdict)s")
            % {"verdict": str(verdict)[:200]}
        )
    return _compare_facts(manifest, *_sqlite_facts(path))


def _compare_facts(
    manifest: Mapping[str, Any], counts: Mapping[str, int], head: tuple[int, str]
) -> int:
    """The number of tables whose rows were counted and found as the manifest says."""
    expected = dict(manifest["table_counts"])
    if dict(counts) != expected:
        differ = sorted(
            name for name in set(counts) | set(expected) if counts.get(name) != expected.get(name)
        )
        raise ArchiveDamaged(
            _("restored rows differ from the manifest in %(count)d tables (%(names)s)")
            % {"count": len(differ), "names": ", ".join(differ[:5])}
        )
    archived = manifest["audit_head"]
    if (head[0], head[1]) != (archived["seq"], archived["hash"]):
        raise ArchiveDamaged(
            _("the restored audit head %(restored)s differs from the manifest's %(archived)s")
            % {
                "restored": f"{head[0]}:{head[1]}",
                "archived": f"{archived['seq']}:{archived['hash']}",
            }
        )
    return len(counts)


def _put_in_place(staging: Staging, target: Target) -> None:
    """The evidence first (renames, undone if the database cannot follow), the database last:
    a link that fails rather than replace a file, or ``pg_restore --single-transaction``,
    which commits everything or nothing."""
    from saebom.core.blobs import fsync_dir

    assert staging.database is not None
    try:
        staging.move_evidence()
    except OSError as exc:
        problem = staging.undo()
        raise _not_undone(
            BackupError(
                _("the evidence files could not be moved into %(directory)s: %(reason)s")
                % {"directory": target.evidence_dir, "reason": _reason(exc)}
            ),
            problem,
            target,
        ) from None
    try:
        if target.vendor == "sqlite":
            try:
                os.link(staging.database, target.sqlite_path)
            except FileExistsError:
                raise TargetNotEmpty(
                    _("the database file %(file)s appeared meanwhile")
                    % {"file": target.sqlite_path}
                ) from None
            except OSError as exc:
                raise _cannot_write(target.sqlite_path, exc) from None
            with contextlib.suppress(OSError):
                fsync_dir(target.sqlite_path.parent)
        else:
            database = str(target.settings_dict.get("NAME") or "")
            _run_pg_tool(
                [
                    find_pg_tool("pg_restore"),
                    "--single-transaction",  # all or nothing
                    "--exit-on-error",
                    "--no-owner",
                    "--no-privileges",
                    f"--dbname={_conninfo_dbname(database)}",
                    str(staging.database),
                ],
                pg_environment(target.settings_dict),
                "pg_restore",
            )
    except BaseException as exc:
        problem = staging.undo()
        if problem and isinstance(exc, BackupError):
            raise _not_undone(exc, problem, target) from None
        raise
    staging.done = True


def _conninfo_dbname(name: str) -> str:
    """``dbname=...`` for --dbname: a name with ``=`` or spaces is not read as a conninfo."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dbname=name) if name else ""


def _not_undone(error: BackupError, problem: str, target: Target) -> BackupError:
    if not problem:
        return error
    return BackupError(
        _(
            "%(error)s; and the evidence files already moved into %(directory)s could not be "
            "moved back (%(reason)s): empty that directory before trying again"
        )
        % {"error": error, "directory": target.evidence_dir, "reason": problem}
    )


@dataclass
class RestoreResult:
    archive: Verification
    tables_checked: int
    audit_checked: int
    audit_problem: str
    evidence_files: int
    evidence_problems: list[str]
    orphans: int
    head_after: tuple[int, str] = (0, "")

    @property
    def ok(self) -> bool:
        return not self.audit_problem and not self.evidence_problems


@contextlib.contextmanager
def staged(
    archive: Path,
    opener: Opener | None,
    target: Target,
    *,
    ring: KeyRing,
    allow_other_keys: bool = False,
    expect_head: tuple[int, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[Staging, Verification, int]]:
    """Everything a restore does short of moving into place: unpack into staging directories,
    authenticate every chunk, match every checksum, verify the origin, open and count a SQLite
    database. Gives the staging, what was verified and the tables counted (0 for a dump, which
    is counted once restored); the staging is removed on the way out."""
    expect = _Expectations(target.vendor, expect_head, ring, keys_must_match=not allow_other_keys)
    staging = Staging(target)
    try:
        contents = _read_archive(archive, opener, expect, staging.store, progress)
        checked = _verified(contents, ring)
        if checked.origin_problem and not allow_other_keys:
            raise BackupError(
                _(
                    "the archive's origin cannot be verified (%(reason)s): it may be forged. "
                    "With the installation's field key ring in place it can be; "
                    "--allow-other-keys restores it anyway"
                )
                % {"reason": checked.origin_problem}
            )
        assert staging.database is not None  # the reader refuses an archive without one
        tables = 0
        if target.vendor == "sqlite":
            tables = _check_staged_sqlite(staging.database, checked.manifest)
        yield staging, checked, tables
    finally:
        staging.remove()


def restore_backup(
    archive: Path,
    opener: Opener | None,
    *,
    actor: Any,
    allow_other_keys: bool = False,
    expect_head: tuple[int, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> RestoreResult:
    """Restore ``archive`` into the configured (empty) database and evidence directory, then
    verify the audit chain and the evidence files."""
    from django.db import DatabaseError

    from saebom.core.fields import keyring

    target = current_target()
    directories = [target.database_dir, target.data_dir, target.evidence_dir]
    for path in remove_stale(directories, STALE_STAGING):
        if notice:
            notice(_("removed %(file)s, left by an interrupted restore") % {"file": path})
    refuse_if_not_empty(target)
    if target.vendor == "postgresql":
        find_pg_tool("pg_restore")
        pg_environment(target.settings_dict)
    with staged(
        archive,
        opener,
        target,
        ring=keyring(),
        allow_other_keys=allow_other_keys,
        expect_head=expect_head,
        progress=progress,
    ) as (staging, checked, tables):
        refuse_if_not_empty(target, skip=staging.evidence)  # again: something may have appeared
        _put_in_place(staging, target)
    try:  # committed: from here on, a failure leaves both targets holding the restore
        if target.vendor == "postgresql":
            tables = _compare_facts(checked.manifest, *_restored_postgres_facts())
        return _verify_and_record(checked, tables, actor)
    except (BackupError, DatabaseError, OSError) as exc:
        raise BackupError(
            _(
                "%(error)s; the %(database)s and the evidence directory %(evidence)s now hold "
                "what was restored: drop and re-create the database, empty the evidence "
                "directory, then try again"
            )
            % {"error": _reason(exc), "database": target.label, "evidence": target.evidence_dir}
        ) from None


def _restored_postgres_facts() -> tuple[dict[str, int], tuple[int, str]]:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return _postgres_facts(cursor)


def _verify_and_record(checked: Verification, tables: int, actor: Any) -> RestoreResult:
    from django.db import transaction

    from saebom.core.audit import audit_record, audit_verify

    # The testimony app's own check, the one `saebom evidence verify` runs: an archive holds
    # that app's evidence store, as it holds its tables.
    from saebom.testimony.evidence_check import evidence_check

    head = checked.manifest["audit_head"]
    expect = (head["seq"], head["hash"]) if head["seq"] else None
    verified = audit_verify(expect_head=expect)
    audit_problem = (
        ""
        if verified.ok
        else _("broken at event %(seq)s: %(reason)s")
        % {"seq": verified.first_bad_seq, "reason": verified.reason}
    )
    evidence = evidence_check()
    result = RestoreResult(
        checked,
        tables,
        verified.checked,
        audit_problem,
        evidence.files,
        evidence.problems,
        evidence.orphans,
    )
    with transaction.atomic():
        event = audit_record(
            actor=actor,
            action="restore",
            object_type="installation",
            detail={
                "archive_created_at": checked.manifest["created_at"],
                "archive_head": checked.archived_head,
                "origin_verified": not checked.origin_problem,
                "audit_events_verified": verified.checked,
                "audit_ok": verified.ok,
                "evidence_files": evidence.files,
                "evidence_problems": len(evidence.problems),
                "evidence_record_problems": evidence.record_problems,
                "evidence_orphans": evidence.orphans,
                "key_problems": len(checked.key_problems),
            },
        )
    result.head_after = (event.seq, event.hash)
    return result


# A secret key prepare_restore made for this process, written once the restore succeeded.
_new_secret_key: Path | None = None


def prepare_restore(directory: Path, environ: MutableMapping[str, str] = os.environ) -> None:
    """Before Django starts for ``saebom restore``: the data dir needs the field key ring of the
    installation that was backed up (copied in, or named by SAEBOM_FIELD_KEYS(_FILE)), never a
    new one, which would read nothing. Without a secret key (it signs sessions only) a new one
    is used, and written to the data dir only once the restore succeeded.

    Django's translations are not set up yet: the one message here stays in English, like the
    other configuration errors."""
    from saebom.config import secret_key_path

    global _new_secret_key
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ring = field_keys_path(directory)
    if env_secret("SAEBOM_FIELD_KEYS", environ) is None and not ring.exists():
        raise ConfigError(
            f"restore needs the field key ring of the installation that was backed up: copy "
            f"its field_keys.json to {ring} (mode 0600) or set SAEBOM_FIELD_KEYS_FILE; "
            "see docs/backup.md (saebom restore IN --verify-only checks an archive without it)"
        )
    secret = secret_key_path(directory)
    if env_secret("SAEBOM_SECRET_KEY", environ) is None and not secret.exists():
        environ["SAEBOM_SECRET_KEY"] = secrets.token_urlsafe(50)
        _new_secret_key = secret


def keep_new_secret_key() -> Path | None:
    """After a successful restore, write the secret key :func:`prepare_restore` made."""
    from django.conf import settings

    from saebom.core.crypto import write_secret_file

    global _new_secret_key
    path, _new_secret_key = _new_secret_key, None
    if path is None or path.exists():
        return None
    write_secret_file(path, str(settings.SECRET_KEY))
    return path


def key_locations(environ: Mapping[str, str] = os.environ) -> Iterator[tuple[str, str]]:
    """``(name, where)`` of each key a backup leaves out."""
    from django.conf import settings

    from saebom.config import secret_key_path

    directory = Path(settings.DATA_DIR)
    for name, variable, default in (
        (_("field key ring"), "SAEBOM_FIELD_KEYS", field_keys_path(directory)),
        (_("secret key"), "SAEBOM_SECRET_KEY", secret_key_path(directory)),
    ):
        if environ.get(variable):
            where = _("the environment variable %(variable)s") % {"variable": variable}
        elif environ.get(f"{variable}_FILE"):
            where = str(Path(environ[f"{variable}_FILE"]).absolute())
        else:
            where = str(default)
        yield name, where
