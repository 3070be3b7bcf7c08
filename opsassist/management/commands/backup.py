"""Back up the embedded SQLite database while OpsAssist runs, with SQLite's online backup API.

    manage.py backup                       # var/backups/opsassist-20261124-031500.sqlite3
    manage.py backup --output /srv/backups/opsassist.sqlite3
    manage.py backup --keep 14             # and delete all but the newest 14 in var/backups/

The copy is a consistent snapshot (writers keep going), checked with `PRAGMA integrity_check`, and
readable only by its owner (it holds API tokens and password hashes). PostgreSQL is backed up with
`pg_dump` instead (docs/operations.md).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

PREFIX = "opsassist-"


class Command(BaseCommand):
    help = "Back up the SQLite database (online, consistent) to var/backups/ or --output."

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, help="the backup file to write (must not exist)")
        parser.add_argument(
            "--keep", type=int, default=0, help="in var/backups/, keep only the newest N backups (0: keep all)"
        )

    def handle(self, *args, output: Path | None, keep: int, **options):
        if connection.vendor != "sqlite":
            raise CommandError(
                "the database is PostgreSQL: back it up with pg_dump, e.g. "
                'pg_dump --format=custom --file=opsassist.dump "$DATABASE_URL" (see docs/operations.md)'
            )
        if keep < 0:
            raise CommandError("--keep must be 0 (keep all) or more")
        backups = settings.VAR_DIR / "backups"
        target = output or backups / f"{PREFIX}{timezone.now():%Y%m%d-%H%M%S}.sqlite3"
        if target.exists():
            raise CommandError(f"--output: {target} already exists")
        if not target.parent.is_dir():
            if output is not None:
                raise CommandError(f"--output: directory {target.parent} does not exist")
            backups.mkdir(mode=0o700)
        do_backup(target)
        self.stdout.write(f"Backed up to {target} ({target.stat().st_size} bytes).")
        if keep and output is None:
            for old in prune(backups, keep):
                self.stdout.write(f"Deleted old backup {old}.")


def do_backup(target: Path) -> None:
    """Copy the live database into `target` in one consistent step, via a private temporary file."""
    partial = target.with_name(f".{target.name}.partial")
    if connection.in_atomic_block:  # the backup would wait forever for this connection's own write lock
        raise CommandError("cannot back up from inside a transaction")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        connection.ensure_connection()
        destination = sqlite3.connect(partial)
        try:
            connection.connection.backup(destination)
            (result,) = destination.execute("PRAGMA integrity_check").fetchone()
        finally:
            destination.close()
        if result != "ok":
            raise CommandError(f"the backup failed its integrity check: {result}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups this command wrote in `directory`."""
    backups = sorted(directory.glob(f"{PREFIX}*.sqlite3"), reverse=True)
    for old in backups[keep:]:
        old.unlink()
    return backups[keep:]
