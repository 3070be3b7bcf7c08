#!/usr/bin/env bash
# Seed 001's failure drill end to end against a running OpsAssist (started with OPSASSIST_SIMULATION=1,
# as `make up` does): break a real service, watch the incident open, undo it, watch it resolve.
#
#   scripts/drill.sh [postgres-test|redis-test] [BASE_URL] [TOKEN]
set -euo pipefail
MONITOR="${1:-postgres-test}"
BASE_URL="${2:-http://127.0.0.1:8000}"
TOKEN="${3:-}"
source "$(dirname "$0")/lib.sh"

failure=$(drill_failure "$MONITOR")
case "$failure" in idle_connections) metric=idle_connections ;; *) metric=memory_percent ;; esac

status_line() {
  api POST "/api/v1/monitors/$MONITOR/check" | field "f'health {d[\"health\"]}%  {d[\"status\"]}  $metric={d[\"metrics\"].get(\"$metric\")}'"
}

phase "1. Baseline"
status_line

phase "2. Inject failure: $failure"
api POST "/api/v1/monitors/$MONITOR/simulate" "{\"failure\": \"$failure\"}"; echo
start=$(date +%s%N)

phase "3. Waiting for the incident (checked every interval by the scheduler)"
incident=$(wait_for_incident "$MONITOR")
echo "incident #$incident opened after $(ms_since "$start") ms"
api GET "/api/v1/incidents/$incident" | field "f'  {d[\"priority\"]} {d[\"status\"]}: {d[\"title\"]}'"

phase "4. Remediate: clear the drill"
api POST "/api/v1/monitors/$MONITOR/simulate/clear"; echo
start=$(date +%s%N)

phase "5. Waiting for automatic resolution"
for _ in $(seq 1 60); do
  state=$(api GET "/api/v1/incidents/$incident" | field 'd["status"]')
  [ "$state" = "resolved" ] && break
  sleep 0.5
done
echo "incident #$incident $state after $(ms_since "$start") ms"
api GET "/api/v1/incidents/$incident" | field "f'  resolution: {d[\"resolution_notes\"]}'"
status_line
[ "$state" = "resolved" ]
