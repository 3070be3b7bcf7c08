"""`manage.py backup`: an online, consistent copy of the SQLite database; PostgreSQL points to pg_dump."""

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from incidents.tests.factories import IncidentFactory

ROOT = Path(__file__).resolve().parents[2]
STRIPPED = ("DATABASE_URL", "REDIS_URL", "OPSASSIST_TEST_DB_NAME", "DJANGO_SETTINGS_MODULE")

sqlite_only = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="the SQLite backup (SQLite pass)")


def _manage(var_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    env.update({"OPSASSIST_VAR_DIR": str(var_dir), "LOG_LEVEL": "WARNING"})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def test_it_backs_up_a_live_database_file_including_writes_still_in_the_wal(tmp_path):
    assert _manage(tmp_path, "migrate", "--noinput").returncode == 0
    live = sqlite3.connect(tmp_path / "opsassist.sqlite3")  # stays open: its write is not checkpointed
    try:
        live.execute("INSERT INTO auth_group (name) VALUES ('written-just-now')")
        live.commit()
        assert (tmp_path / "opsassist.sqlite3-wal").stat().st_size > 0
        done = _manage(tmp_path, "backup", "--output", str(tmp_path / "copy.sqlite3"))
    finally:
        live.close()
    assert done.returncode == 0, done.stderr
    copy = sqlite3.connect(tmp_path / "copy.sqlite3")
    try:
        assert copy.execute("SELECT count(*) FROM auth_group WHERE name = 'written-just-now'").fetchone() == (1,)
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        copy.close()


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_the_backup_holds_the_data_and_only_its_owner_may_read_it(tmp_path):
    IncidentFactory(title="kept in the backup")
    target = tmp_path / "b.sqlite3"
    call_command("backup", output=target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    copy = sqlite3.connect(target)
    try:
        rows = copy.execute("SELECT title FROM incidents_incident").fetchall()
    finally:
        copy.close()
    assert rows == [("kept in the backup",)]
    assert not list(tmp_path.glob(".*.partial"))


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_keep_leaves_only_the_newest_backups(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    backups = tmp_path / "backups"
    backups.mkdir()
    for day in ("20260101", "20260102", "20260103"):
        (backups / f"opsassist-{day}-000000.sqlite3").write_text("old")
    (backups / "notes.txt").write_text("not a backup")
    call_command("backup", keep=2)
    left = sorted(p.name for p in backups.iterdir())
    assert len(left) == 3 and left[0] == "notes.txt"
    assert left[1] == "opsassist-20260103-000000.sqlite3"


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_an_existing_output_is_never_overwritten(tmp_path):
    target = tmp_path / "b.sqlite3"
    target.write_text("precious")
    with pytest.raises(CommandError, match=r"--output: .* already exists"):
        call_command("backup", output=target)
    assert target.read_text() == "precious"


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_missing_output_directory_or_a_negative_keep_is_refused(tmp_path):
    with pytest.raises(CommandError, match=r"--output: directory .* does not exist"):
        call_command("backup", output=tmp_path / "nowhere" / "b.sqlite3")
    with pytest.raises(CommandError, match="--keep"):
        call_command("backup", keep=-1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_it_says_to_use_pg_dump(tmp_path):
    assert connection.vendor == "postgresql"
    with pytest.raises(CommandError, match="pg_dump"):
        call_command("backup", output=tmp_path / "b.sqlite3")
    assert not (tmp_path / "b.sqlite3").exists()
