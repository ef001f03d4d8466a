"""Field encryption: AES-256-GCM under a key ring with key ids, and HMAC blind indexes.

A stored value looks like ``v1:<key id>:<base64 of nonce + ciphertext + tag>``. The key id lets
old values stay readable while ``saebom keys rotate`` re-encrypts them under the active key.
Associated data binds a value to its table and column, so a ciphertext copied into another column
fails to decrypt instead of being shown in the wrong place.

Nothing in this module imports Django: ``saebom init`` writes the key ring before Django starts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from saebom.config import ConfigError, env_secret, field_keys_path

TOKEN_VERSION = "v1"  # noqa: S105 (a format tag, not a secret)
NONCE_BYTES = 12
KEY_BYTES = 32


class DecryptionError(Exception):
    """A stored value could not be decrypted. Never fall back to showing the stored text."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise ConfigError(f"field key ring: {what} is not valid base64") from None


@dataclass(frozen=True)
class KeyRing:
    active_id: str
    keys: Mapping[str, bytes]
    index_key: bytes
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.active_id not in self.keys:
            raise ConfigError(f"field key ring: active key {self.active_id!r} is not in the ring")
        for key_id, key in self.keys.items():
            if len(key) != KEY_BYTES or not key_id.isalnum():
                raise ConfigError(
                    f"field key ring: key {key_id!r} must be 32 bytes, id letters and digits"
                )
        if len(self.index_key) != KEY_BYTES:
            raise ConfigError("field key ring: index_key must be 32 bytes")

    def __repr__(self) -> str:  # keys must never reach a log or an error page
        return f"KeyRing(active_id={self.active_id!r}, key_ids={sorted(self.keys)!r})"

    @classmethod
    def generate(cls) -> KeyRing:
        return cls(active_id="k1", keys={"k1": AESGCM.generate_key(256)}, index_key=os.urandom(32))

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        try:
            data = json.loads(text)
            keys = {str(k): _unb64(v, f"key {k!r}") for k, v in data["keys"].items()}
            return cls(
                active_id=str(data["active"]),
                keys=keys,
                index_key=_unb64(data["index_key"], "index_key"),
            )
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as exc:
            raise ConfigError(
                f"field key ring is not valid ({type(exc).__name__}: {exc})"
            ) from None

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "active": self.active_id,
                "keys": {k: b64(v) for k, v in self.keys.items()},
                "index_key": b64(self.index_key),
            },
            indent=2,
        )

    def with_new_active_key(self) -> KeyRing:
        number = len(self.keys) + 1
        while f"k{number}" in self.keys:
            number += 1
        new_id = f"k{number}"
        keys = {**self.keys, new_id: AESGCM.generate_key(256)}
        return KeyRing(active_id=new_id, keys=keys, index_key=self.index_key)

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = self._ciphers[key_id] = AESGCM(self.keys[key_id])
        return cipher

    def encrypt(self, plaintext: str, aad: bytes) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._cipher(self.active_id).encrypt(nonce, plaintext.encode("utf-8"), aad)
        return f"{TOKEN_VERSION}:{self.active_id}:{b64(nonce + sealed)}"

    def decrypt(self, token: str, aad: bytes) -> str:
        version, key_id, payload = split_token(token)
        if version != TOKEN_VERSION:
            raise DecryptionError(f"unknown encrypted value version {version!r}")
        if key_id not in self.keys:
            raise DecryptionError(f"key {key_id!r} is not in the key ring")
        try:
            raw = base64.b64decode(payload.encode("ascii"), validate=True)
            opened = self._cipher(key_id).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        except (InvalidTag, ValueError, UnicodeEncodeError):
            raise DecryptionError("encrypted value failed authentication") from None
        return opened.decode("utf-8")

    def encrypt_bytes(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """``(key id, nonce + ciphertext + tag)`` under the active key, for files (blobs)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return self.active_id, nonce + self._cipher(self.active_id).encrypt(nonce, plaintext, aad)

    def decrypt_bytes(self, key_id: str, sealed: bytes, aad: bytes) -> bytes:
        """The inverse of :meth:`encrypt_bytes`; fails closed with :class:`DecryptionError`."""
        if key_id not in self.keys:
            raise DecryptionError(f"key {key_id!r} is not in the key ring")
        try:
            return self._cipher(key_id).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except (InvalidTag, ValueError):
            raise DecryptionError("encrypted file failed authentication") from None

    def blind_index(self, normalised: str, purpose: str) -> str:
        message = f"{purpose}\x00{normalised}".encode()
        return hmac.new(self.index_key, message, hashlib.sha256).hexdigest()[:32]


def split_token(token: str) -> tuple[str, str, str]:
    parts = token.split(":", 2)
    if len(parts) != 3:
        raise DecryptionError("stored value is not an encrypted token")
    return parts[0], parts[1], parts[2]


def key_id_of(token: str) -> str:
    return split_token(token)[1]


def load_keyring(directory: Path, environ: Mapping[str, str] = os.environ) -> KeyRing:
    """The ring from ``SAEBOM_FIELD_KEYS`` (or ``_FILE``), else from the data directory."""
    text = env_secret("SAEBOM_FIELD_KEYS", environ)
    if text is None:
        path = field_keys_path(directory)
        if not path.exists():
            raise ConfigError(
                f"no field key ring: set SAEBOM_FIELD_KEYS(_FILE) or run `saebom init` "
                f"to create {path}"
            )
        require_private(path)
        text = path.read_text(encoding="utf-8")
    return KeyRing.from_json(text)


def require_private(path: Path) -> None:
    """Refuse a key file that other OS users can read: fix the mode rather than run exposed."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(
            f"{path} is readable by other users (mode {mode:o}); run chmod 600 {path}"
        )


def writable_keyring_path(directory: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """Where a rotated ring can be written: the ``_FILE`` or the data directory's file."""
    if environ.get("SAEBOM_FIELD_KEYS"):
        raise ConfigError(
            "the key ring comes from SAEBOM_FIELD_KEYS; rotate by pointing "
            "SAEBOM_FIELD_KEYS_FILE at a writable file instead"
        )
    file_name = environ.get("SAEBOM_FIELD_KEYS_FILE")
    return Path(file_name) if file_name else field_keys_path(directory)


def write_secret_file(path: Path, text: str) -> None:
    """Write atomically with mode 0600, so a crash never leaves half a key file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def ensure_key_files(directory: Path, environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Create the secret key and field key ring in the data dir when not configured otherwise."""
    from saebom.config import secret_key_path

    created = []
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    secret_path = secret_key_path(directory)
    if env_secret("SAEBOM_SECRET_KEY", environ) is None and not secret_path.exists():
        write_secret_file(secret_path, secrets.token_urlsafe(50))
        created.append(secret_path)
    ring_path = field_keys_path(directory)
    if env_secret("SAEBOM_FIELD_KEYS", environ) is None and not ring_path.exists():
        write_secret_file(ring_path, KeyRing.generate().to_json())
        created.append(ring_path)
    return created
