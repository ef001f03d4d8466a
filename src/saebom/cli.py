"""The `saebom` command: Saebom's own commands, and any Django management command passed through.

Commands act as the system operator (recorded in the audit log with the OS user name) unless
``--as USERNAME`` names an account, whose role and agency then apply.
"""

from __future__ import annotations

import os
import sys

HELP = """\
usage: saebom [--as USERNAME] COMMAND [options]

Saebom (새봄): registry, resettlement support and testimony documentation.

commands:
  init                    create or migrate the database, keys and the default agency
  serve                   serve the web application (gunicorn, static files included)
  demo                    initialise a demo with synthetic data, print logins, then serve
  createagency CODE       create an agency (--name-ko, --name-en)
  createuser USERNAME     create a staff account with a role and agency
  worker                  run background tasks
  audit verify | head     verify the tamper-evident audit chain, or print its head
  keys rotate | status    rotate the field-encryption keys, or count values per key
  evidence verify         re-hash every stored evidence file; exit 1 naming any bad one
  backup OUT              write one encrypted archive of the database and evidence files
                          (passphrase from --passphrase-file or SAEBOM_BACKUP_PASSPHRASE;
                          the keys are not in it: keep them separately, see docs/backup.md)
  restore IN              restore an archive into an empty data dir or database, then verify
                          the audit chain and evidence (needs the field key ring in place;
                          --verify-only checks an archive with its passphrase alone)

Any Django management command also works (saebom migrate, saebom shell, saebom check --deploy).
`saebom COMMAND --help` describes each command's options.

options:
  --as USERNAME           act as this account (its permissions apply) instead of the operator

configuration (environment): SAEBOM_DATA_DIR, DATABASE_URL, SAEBOM_SECRET_KEY(_FILE),
SAEBOM_FIELD_KEYS(_FILE), SAEBOM_ALLOWED_HOSTS, SAEBOM_DEBUG; see docs/deployment.md.
"""

CREATES_KEYS = frozenset({"init", "demo"})

# The demo is served over plain HTTP on the loopback address, so it cannot insist on TLS.
DEMO_ENVIRONMENT = {
    "SAEBOM_SSL_REDIRECT": "0",
    "SAEBOM_SECURE_COOKIES": "0",
    "SAEBOM_HSTS_SECONDS": "0",
}


def _pop_as(argv: list[str]) -> tuple[str, list[str]]:
    """Take ``--as USERNAME`` (or ``--as=USERNAME``) out of the arguments, wherever it stands."""
    rest, username, items = [], "", iter(argv)
    for item in items:
        if item == "--as":
            username = next(items, "")
            if not username:
                raise SystemExit("saebom: --as needs a user name")
        elif item.startswith("--as="):
            username = item.split("=", 1)[1]
        else:
            rest.append(item)
    return username, rest


def _verify_only(args: list[str]) -> int:
    """`saebom restore IN --verify-only` checks the archive alone: no key ring, secret key or
    database, so the project's settings (which need them) are never loaded. Django is set up
    for translations only, so that the messages are in the operator's language."""
    from pathlib import Path

    import django
    from django.conf import settings

    settings.configure(
        USE_I18N=True,
        LANGUAGE_CODE="en",
        LANGUAGES=[("ko", "Korean"), ("en", "English")],
        LOCALE_PATHS=[Path(__file__).resolve().parent / "locale"],
    )
    django.setup()
    from saebom.core.management.commands.restore import Command

    try:
        Command().run_from_argv(["saebom", *args])
    except KeyboardInterrupt:
        sys.stderr.write("saebom: interrupted\n")
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # databases, exports and keys written by any command: the operator's only
    args = list(sys.argv[1:] if argv is None else argv)
    username, args = _pop_as(args)
    if not args or args[0] in {"-h", "--help", "help"}:
        sys.stdout.write(HELP)
        return 0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saebom.settings")

    from saebom.config import ConfigError, data_dir
    from saebom.core.crypto import ensure_key_files

    if args[0] == "demo":
        for name, value in DEMO_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
    try:
        if args[0] in CREATES_KEYS:
            ensure_key_files(data_dir())
        if args[0] == "restore" and not {"-h", "--help"} & set(args):
            if username:
                raise SystemExit("saebom: restore runs as the system operator, without --as")
            if "--verify-only" in args:
                return _verify_only(args)
            from saebom.core.backup import prepare_restore

            prepare_restore(data_dir())
        import django

        django.setup()
    except ConfigError as exc:
        sys.stderr.write(f"saebom: configuration error: {exc}\n")
        return 2

    from django.core.management import execute_from_command_line
    from django.db import DatabaseError

    from saebom.core.actors import set_cli_username
    from saebom.core.exceptions import storage_full

    set_cli_username(username)
    try:
        execute_from_command_line(["saebom", *args])
    except KeyboardInterrupt:
        sys.stderr.write("saebom: interrupted\n")
        return 130
    except (OSError, DatabaseError) as exc:
        full = storage_full(exc)
        if not full:
            raise
        # A transaction that could not be written was rolled back: free space and run again.
        sys.stderr.write(f"saebom: no space left: {full}; free some space and run it again\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
