#!/usr/bin/env bash
# Seed 001: PostgreSQL idle connections -> incident -> kill_idle_connections -> verified -> resolved.
exec "$(dirname "$0")/remediation-drill.sh" postgres-test "$@"
