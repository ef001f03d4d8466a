"""``saebom backup OUT``: one encrypted archive of the database and the evidence files.

The passphrase comes from ``--passphrase-file`` or ``SAEBOM_BACKUP_PASSPHRASE`` (or a prompt on
a terminal), never from the command line; ``--recipient`` seals for a public key instead.
"""

from __future__ import annotations

import argparse
import getpass
import signal
import sys
import threading
from argparse import ArgumentParser, Namespace
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from django.core.management.base import CommandParser
from django.utils.translation import gettext as _

from saebom.core.actors import SystemActor
from saebom.core.backup import (
    CHUNK_SIZE,
    MIN_PASSPHRASE,
    PASSPHRASE_ENV,
    SCRYPT_N,
    SCRYPT_N_ENV,
    SCRYPT_P,
    SCRYPT_R,
    BackupError,
    Identity,
    Passphrase,
    Protector,
    Recipient,
    create_backup,
    key_locations,
    passphrase_from,
)
from saebom.core.exceptions import PermissionDenied
from saebom.core.management.base import SaebomCommand


class _NoEchoParser(CommandParser):
    """Never repeats an argument it does not know: `--passphrase SECRET` would print it."""

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Namespace | None = None
    ) -> Namespace:
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            names = sorted({item.split("=", 1)[0] for item in unknown if item.startswith("-")})
            self.error(
                _(
                    "unrecognized arguments: %(names)s (values are not repeated: one may be a "
                    "secret)"
                )
                % {"names": " ".join(names) or "…"}
            )
        return parsed


def _terminated(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


class ArchiveCommand(SaebomCommand):
    """What `saebom backup` and `saebom restore` share: no abbreviated options (`--passphrase
    SECRET` must be an error, not --passphrase-file SECRET), errors that never repeat an
    argument, and a SIGTERM that unwinds like an error, so that the clean-up runs and no
    plaintext copy of the database stays behind."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)
        parser.__class__ = _NoEchoParser
        return parser

    def execute(self, *args: Any, **options: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return super().execute(*args, **options)
        previous = signal.signal(signal.SIGTERM, _terminated)
        try:
            return super().execute(*args, **options)
        finally:
            signal.signal(signal.SIGTERM, previous)

    def warn(self, message: str) -> None:
        self.stderr.write(message)

    @staticmethod
    def add_passphrase_argument(parser: ArgumentParser) -> None:
        parser.add_argument(
            "--passphrase-file",
            type=Path,
            metavar="FILE",
            help=f"read the passphrase from FILE's first line (FILE of mode 0600; or set "
            f"{PASSPHRASE_ENV}; on a terminal without either, it is asked for)",
        )


def ask_passphrase(*, twice: bool) -> Passphrase | None:
    """On a terminal, the passphrase typed without echo (twice for a new archive); else None."""
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass(_("backup passphrase: "))
    if twice and getpass.getpass(_("again: ")) != first:
        raise BackupError(_("the two passphrases differ"))
    return Passphrase(first)


class Command(ArchiveCommand):
    help = (
        "Write one encrypted archive of the database and the evidence files. The field keys "
        "and the secret key are not in it: keep them separately (docs/backup.md)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("out", nargs="?", type=Path, metavar="OUT", help="archive to write")
        self.add_passphrase_argument(parser)
        parser.add_argument(
            "--recipient",
            metavar="KEY",
            help="seal for this public key (saebom-recipient-1:...) instead of a passphrase",
        )
        parser.add_argument(
            "--recipient-file", type=Path, metavar="FILE", help="read --recipient from FILE"
        )
        parser.add_argument(
            "--new-identity",
            type=Path,
            metavar="FILE",
            help="write a new private key to FILE (mode 0600, never over an existing file), "
            "print its public key for --recipient, and stop",
        )
        parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor()
        if not isinstance(actor, SystemActor):
            raise PermissionDenied(_("backups are made by the system operator, not with --as"))
        if options["new_identity"] is not None:
            self._new_identity(options["new_identity"], options["out"])
            return
        if options["out"] is None:
            raise BackupError(_("name the archive to write: saebom backup OUT"))
        protector = self._protector(options)
        with self.progress(_("Writing the archive"), None) as bar:
            result = create_backup(
                options["out"],
                protector,
                actor=actor,
                chunk_size=options["chunk_size"],
                progress=lambda done, total: bar.update(
                    bar.task_ids[0], completed=done, total=total
                ),
                notice=self.warn,
            )
        manifest = result.manifest
        head = manifest["audit_head"]
        head_text = f"{head['seq']}:{head['hash']}"
        write = self.stdout.write
        write(
            _("backup written: %(file)s (%(size)s bytes)")
            % {"file": result.path, "size": f"{result.size:,}"}
        )
        write(
            _("  database: %(vendor)s, %(tables)d tables, %(rows)s rows; audit head %(head)s")
            % {
                "vendor": manifest["database"]["vendor"],
                "tables": len(manifest["table_counts"]),
                "rows": f"{sum(manifest['table_counts'].values()):,}",
                "head": head_text,
            }
        )
        write(
            _("  evidence: %(count)s files (copied as stored, encrypted)")
            % {"count": f"{manifest['evidence']['files']:,}"}
        )
        if result.skipped:
            self.warn(
                _(
                    "warning: %(count)d files in the evidence directory are not evidence files "
                    "and were not backed up: %(names)s"
                )
                % {"count": len(result.skipped), "names": ", ".join(result.skipped[:10])}
            )
        if result.scrypt_n is not None:
            write(
                _("  sealed with AES-256-GCM under a passphrase (scrypt n=%(n)d, r=%(r)d, p=%(p)d)")
                % {"n": result.scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P}
            )
        else:
            write(
                _("  sealed with AES-256-GCM under the recipient key %(recipient)s")
                % {"recipient": protector}
            )
        if result.scrypt_n is not None and result.scrypt_n < SCRYPT_N:
            self.warn(
                _(
                    "warning: %(variable)s=%(n)d makes this archive's passphrase far cheaper to "
                    "guess than the default n=%(default)d: it is meant for tests only"
                )
                % {"variable": SCRYPT_N_ENV, "n": result.scrypt_n, "default": SCRYPT_N}
            )
        write(
            _(
                "  record its audit head, to be sure later that a restore uses this archive and "
                "not an older one: saebom restore %(file)s --expect-head %(head)s"
            )
            % {"file": result.path, "head": head_text}
        )
        write("")
        write(_("The keys are NOT in this archive. Keep them separately:"))
        for name, where in key_locations():
            write(f"  {name}: {where}")
        write(
            _(
                "Without the field key ring, restored identifiers, TOTP secrets and evidence "
                "files cannot be read, and the archive's origin cannot be verified."
            )
        )
        write(
            _(
                "Keep the key copies apart from the archives, with another custodian "
                "(docs/backup.md)."
            )
        )

    def _protector(self, options: dict[str, Any]) -> Protector:
        recipient_text = options["recipient"]
        recipient_file = options["recipient_file"]
        if recipient_file is not None:
            if recipient_text:
                raise BackupError(_("give --recipient or --recipient-file, not both"))
            try:
                recipient_text = recipient_file.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise BackupError(
                    _("%(file)s cannot be read: %(reason)s")
                    % {"file": recipient_file, "reason": getattr(exc, "strerror", None) or exc}
                ) from None
        if recipient_text:
            if options["passphrase_file"] is not None:
                raise BackupError(_("give a passphrase or a recipient key, not both"))
            return Recipient.parse(recipient_text)
        passphrase = passphrase_from(options["passphrase_file"]) or ask_passphrase(twice=True)
        if passphrase is None:
            raise BackupError(
                _(
                    "no passphrase: give --passphrase-file FILE or set %(variable)s (a "
                    "passphrase is never taken on the command line), or --recipient KEY"
                )
                % {"variable": PASSPHRASE_ENV}
            )
        if len(passphrase.text) < MIN_PASSPHRASE:
            raise BackupError(
                _(
                    "the backup passphrase must be at least %(count)d characters (a few "
                    "unrelated words are easier to keep than symbols)"
                )
                % {"count": MIN_PASSPHRASE}
            )
        return passphrase

    def _new_identity(self, path: Path, out: Path | None) -> None:
        if out is not None:
            raise BackupError(_("--new-identity makes a key only; make the backup separately"))
        identity = Identity.generate()
        identity.write_new(path)
        self.stdout.write(
            _(
                "private key written to %(file)s (mode 0600): keep it offline, apart from the "
                "archives; restoring needs it (--identity-file). Public key, for --recipient:"
            )
            % {"file": path}
        )
        self.stdout.write(str(identity.recipient()))
