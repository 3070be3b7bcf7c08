#!/usr/bin/env bash
# Seed 001's failure drill end to end against a running OpsAssist (started with OPSASSIST_SIMULATION=1,
# as `make up` does): break a real service, watch the incident open, undo it, watch it resolve.
#
#   scripts/drill.sh [postgres-test|redis-test] [BASE_URL] [TOKEN]
set -euo pipefail
MONITOR="${1:-postgres-test}"
BASE_URL="${2:-http://127.0.0.1:8000}"
TOKEN="${3:-${OPSASSIST_TOKEN:-$(cat "$(dirname "$0")/../var/admin-token" 2>/dev/null || true)}}"
[ -n "$TOKEN" ] || { echo "No API token: pass it as the third argument or set OPSASSIST_TOKEN." >&2; exit 2; }

api() {  # METHOD PATH [JSON]
  curl -sS -X "$1" "$BASE_URL$2" -H "Authorization: Token $TOKEN" -H "Content-Type: application/json" ${3:+-d "$3"}
}
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }

kind=$(api GET "/api/v1/monitors/$MONITOR" | field 'd["kind"]')
case "$kind" in
  postgres) failure=idle_connections; metric=idle_connections ;;
  redis) failure=memory_pressure; metric=memory_percent ;;
  *) echo "Monitor $MONITOR is a $kind monitor; drills exist for postgres and redis." >&2; exit 2 ;;
esac

phase() { printf '\n== %s\n' "$*"; }
status_line() {
  api POST "/api/v1/monitors/$MONITOR/check" | field "f'health {d[\"health\"]}%  {d[\"status\"]}  $metric={d[\"metrics\"].get(\"$metric\")}'"
}

phase "1. Baseline"
status_line

phase "2. Inject failure: $failure"
api POST "/api/v1/monitors/$MONITOR/simulate" "{\"failure\": \"$failure\"}"; echo
start=$(date +%s%N)

phase "3. Waiting for the incident (checked every interval by the scheduler)"
incident=""
for _ in $(seq 1 60); do
  incident=$(api GET "/api/v1/monitors/$MONITOR" | field 'd["open_incident_id"] or ""')
  [ -n "$incident" ] && break
  sleep 0.5
done
[ -n "$incident" ] || { echo "no incident after 30 s" >&2; exit 1; }
echo "incident #$incident opened after $(( ($(date +%s%N) - start) / 1000000 )) ms"
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
echo "incident #$incident $state after $(( ($(date +%s%N) - start) / 1000000 )) ms"
api GET "/api/v1/incidents/$incident" | field "f'  resolution: {d[\"resolution_notes\"]}'"
status_line
[ "$state" = "resolved" ]
