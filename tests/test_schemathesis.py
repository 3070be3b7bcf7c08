"""schemathesis over the whole API, against the product running in service mode (PostgreSQL + Redis):
every operation in /api/schema, generated valid and invalid input, with an admin token. Passes only with
zero server errors and zero responses that contradict the schema."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import TEST_POSTGRES_URL, TEST_REDIS_URL, _reachable, need, owned_redis_db
from tests.server import running_server, scratch_database

pytestmark = [pytest.mark.server, pytest.mark.postgres]


def test_the_whole_api_survives_schemathesis():
    need("PostgreSQL", _reachable(TEST_POSTGRES_URL, 5432))
    schemathesis = Path(sys.executable).parent / "schemathesis"
    with (
        owned_redis_db(TEST_REDIS_URL.rsplit("/", 1)[0] + "/11") as redis_url,
        scratch_database(TEST_POSTGRES_URL, "opsassist_fuzz") as database_url,
        tempfile.TemporaryDirectory() as var,
        running_server(Path(var), env={"DATABASE_URL": database_url, "REDIS_URL": redis_url}, timeout=120) as (
            base,
            token,
            _,
        ),
    ):
        result = subprocess.run(
            [str(schemathesis), "run", f"{base}/api/schema", "--header", f"Authorization: Token {token}",
             "--checks", "not_a_server_error,response_schema_conformance", "--phases", "examples,coverage,fuzzing",
             "--max-examples", "15", "--workers", "2", "--seed", "20261123", "--warnings", "off"],
            capture_output=True, text=True, timeout=600, cwd=var,  # its cache stays out of the checkout
        )  # fmt: skip
        server_log = (Path(var) / "server.log").read_text()
    assert result.returncode == 0, result.stdout[-6000:] + "\n--- server log ---\n" + server_log[-4000:]
