"""Reading configuration from the environment, loudly.

Used by ``settings.py`` and by the CLI before Django is set up, so nothing here imports Django.
Every reader raises :class:`ConfigError` naming the variable and the value it could not accept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


class ConfigError(Exception):
    """A configuration value that cannot be used; the message names the variable."""


def env_str(name: str, default: str, environ: Mapping[str, str] = os.environ) -> str:
    return environ.get(name, default)


def env_bool(name: str, default: bool, environ: Mapping[str, str] = os.environ) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] = os.environ,
) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum of {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is above the maximum of {maximum}")
    return value


def env_list(name: str, default: list[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    raw = environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE``; never both."""
    inline = environ.get(name)
    file_name = environ.get(f"{name}_FILE")
    if inline and file_name:
        raise ConfigError(f"set either {name} or {name}_FILE, not both")
    if inline:
        return inline.strip()
    if file_name:
        path = Path(file_name)
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}") from None
    return None


def data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("SAEBOM_DATA_DIR", "./var")).expanduser().resolve()


def secret_key_path(directory: Path) -> Path:
    return directory / "secret_key"


def field_keys_path(directory: Path) -> Path:
    return directory / "field_keys.json"
