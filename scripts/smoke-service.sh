#!/usr/bin/env bash
# The production shape from nothing: a fresh virtualenv from requirements.txt alone (no test tools), then
# `make up` in service mode on a PostgreSQL database created for the run and Redis DB 10 (emptied before
# and after), a burst of error events -> an incident -> its /ws/incidents/ message, and Ctrl-C with no
# process left behind. A runtime dependency that only the test requirements bring in fails it.
#
#   SMOKE_POSTGRES_URL  a PostgreSQL server where a throwaway database may be created
#                       (default postgres://postgres@127.0.0.1:5432/postgres)
#   SMOKE_REDIS_URL     a Redis DB this step owns and empties (default redis://127.0.0.1:6379/10)
#   PYTHON              the interpreter for the virtualenv (default: the Makefile's choice)
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d -t opsassist-smoke.XXXXXX)"
trap 'rm -rf "$work"' EXIT
venv="$work/venv"

echo "== smoke: fresh virtualenv from requirements.txt in $venv"
started=$SECONDS
make --no-print-directory install VENV="$venv"
echo "smoke: installed in $((SECONDS - started)) s"
"$venv/bin/python" -m pip check

echo "== smoke: service mode through make up"
"$venv/bin/python" scripts/smoke_service.py --venv "$venv" --work-dir "$work"
