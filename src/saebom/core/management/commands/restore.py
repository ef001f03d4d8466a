"""``saebom restore IN``: restore an archive into an empty data dir or database, then verify it.

Runs as the system operator (`--as` is refused by the ``saebom`` command: there are no accounts
before the restore). The field key ring must be in place first (docs/backup.md).

``--verify-only`` checks the archive alone: the ``saebom`` command runs it before the project's
settings are loaded, so it needs no key ring, secret key or database, and writes nothing.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from saebom.core.actors import system_actor
from saebom.core.backup import (
    SCRYPT_N,
    BackupError,
    Identity,
    Opener,
    Verification,
    archive_protection,
    current_target,
    keep_new_secret_key,
    parse_head,
    passphrase_from,
    restore_backup,
    ring_if_present,
    verify_archive,
)
from saebom.core.crypto import KeyRing
from saebom.core.management.commands.backup import ArchiveCommand, ask_passphrase


def _ring_here() -> KeyRing | None:
    """The installation's ring; before the project's settings (--verify-only), the ring
    configured in the environment or the data dir, if there is one."""
    from django.conf import settings

    ring = getattr(settings, "SAEBOM_FIELD_KEYRING", None)
    return ring if isinstance(ring, KeyRing) else ring_if_present()


class Command(ArchiveCommand):
    help = (
        "Restore an archive written by `saebom backup` into an empty data dir (SQLite) or an "
        "empty database (PostgreSQL), then verify the audit chain and the evidence files."
    )
    # The checks could open the database, and on SQLite opening it creates the file.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("archive", type=Path, metavar="IN", help="archive to restore")
        self.add_passphrase_argument(parser)
        parser.add_argument(
            "--identity-file",
            type=Path,
            metavar="FILE",
            help="the private key (mode 0600), for an archive sealed with --recipient",
        )
        parser.add_argument(
            "--verify-only",
            action="store_true",
            help="authenticate every chunk and hash every member, writing nothing; needs no "
            "key ring and no database (with a ring, the keys and the origin are checked too)",
        )
        parser.add_argument(
            "--expect-head",
            type=parse_head,
            metavar="SEQ:HASH",
            help="refuse the archive unless its audit head is this one (printed by `saebom "
            "backup`): an older archive, replayed, is refused",
        )
        parser.add_argument(
            "--allow-other-keys",
            action="store_true",
            help="restore even though the field key ring here is not the one the archive was "
            "made under (its encrypted values will not be readable, its origin not verified)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        archive: Path = options["archive"]
        opener = self._opener(options["passphrase_file"], options["identity_file"], archive)
        if options["verify_only"]:
            with self.progress(_("Checking the archive"), None) as bar:
                checked = verify_archive(
                    archive,
                    opener,
                    ring=_ring_here(),
                    expect_head=options["expect_head"],
                    progress=lambda done, total: bar.update(
                        bar.task_ids[0], completed=done, total=total
                    ),
                )
            self._report(checked)
            self.stdout.write(
                _(
                    "nothing was written (--verify-only); the database itself is opened and "
                    "checked by a full restore"
                )
            )
            return
        target = current_target()
        with self.progress(_("Restoring the archive"), None) as bar:
            result = restore_backup(
                archive,
                opener,
                actor=system_actor(),
                allow_other_keys=options["allow_other_keys"],
                expect_head=options["expect_head"],
                progress=lambda done, total: bar.update(
                    bar.task_ids[0], completed=done, total=total
                ),
                notice=self.warn,
            )
        self._report(result.archive)
        write = self.stdout.write
        write(
            _("restored into %(database)s, evidence files into %(evidence)s")
            % {"database": target.label, "evidence": target.evidence_dir}
        )
        made = keep_new_secret_key()
        if made is not None:
            write(
                _("a new secret key was written to %(file)s (it signs sessions only)")
                % {"file": made}
            )
        write(_("rows in %(tables)d tables match the manifest") % {"tables": result.tables_checked})
        head_after = f"{result.head_after[0]}:{result.head_after[1]}"
        if result.audit_problem:
            self.warn(_("audit chain: %(problem)s") % {"problem": result.audit_problem})
        else:
            write(
                _("audit chain intact: %(count)d events verified up to the archived head")
                % {"count": result.audit_checked}
            )
        write(
            _("archived head %(archived)s; after the restore event %(after)s")
            % {"archived": result.archive.archived_head, "after": head_after}
        )
        for line in result.evidence_problems:
            self.warn(_("evidence: %(problem)s") % {"problem": line})
        if not result.evidence_problems:
            write(
                _(
                    "evidence intact: %(count)d files verified, with their records and chains "
                    "of custody (%(orphans)d unreferenced)"
                )
                % {"count": result.evidence_files, "orphans": result.orphans}
            )
        if not result.ok:
            raise CommandError(
                _(
                    "restored, but the integrity checks failed (see above): do not put this "
                    "installation into use before the cause is understood"
                )
            )

    def _opener(
        self, passphrase_file: Path | None, identity_file: Path | None, archive: Path
    ) -> Opener | None:
        if identity_file is not None:
            if passphrase_file is not None:
                raise BackupError(_("give --passphrase-file or --identity-file, not both"))
            return Identity.read(identity_file)
        passphrase = passphrase_from(passphrase_file)
        if passphrase is None and archive_protection(archive) == "passphrase":
            passphrase = ask_passphrase(twice=False)
        return passphrase

    def _report(self, checked: Verification) -> None:
        manifest = checked.manifest
        self.stdout.write(
            _(
                "archive authenticated: made %(created)s by Saebom %(version)s from a "
                "%(vendor)s database; every member matches its SHA-256"
            )
            % {
                "created": manifest["created_at"],
                "version": manifest["saebom_version"],
                "vendor": manifest["database"]["vendor"],
            }
        )
        self.stdout.write(
            _("archive holds %(tables)d tables, %(files)d evidence files and audit head %(head)s")
            % {
                "tables": len(manifest["table_counts"]),
                "files": checked.evidence_files,
                "head": checked.archived_head,
            }
        )
        if checked.weak_kdf:
            self.warn(
                _(
                    "warning: this archive's passphrase was stretched with scrypt n=%(n)d, "
                    "below the default n=%(default)d: it is cheaper to guess"
                )
                % {"n": checked.scrypt_n, "default": SCRYPT_N}
            )
        for problem in checked.key_problems:
            self.warn(_("field keys: %(problem)s") % {"problem": problem})
        if checked.origin_problem:
            self.warn(
                _(
                    "WARNING: the archive's origin is NOT verified (%(reason)s): whoever could "
                    "seal an archive with its passphrase, or for its recipient key, could have "
                    "made it"
                )
                % {"reason": checked.origin_problem}
            )
        else:
            self.stdout.write(_("origin verified: made under this installation's field key ring"))
