#!/usr/bin/env bash
# Seed 001's closed loop against a running OpsAssist (OPSASSIST_SIMULATION=1, as `make up` sets):
# drill -> incident -> analysis + proposed action -> approve -> execute -> verify -> resolved.
#
#   scripts/remediation-drill.sh MONITOR [BASE_URL] [TOKEN]
set -euo pipefail
MONITOR="${1:?usage: scripts/remediation-drill.sh MONITOR [BASE_URL] [TOKEN]}"
BASE_URL="${2:-http://127.0.0.1:8000}"
TOKEN="${3:-}"
source "$(dirname "$0")/lib.sh"

failure=$(drill_failure "$MONITOR")
trap 'api POST "/api/v1/monitors/$MONITOR/simulate/clear" >/dev/null 2>&1 || true' EXIT

phase "1. Baseline"
api POST "/api/v1/monitors/$MONITOR/check" | field "f'health {d[\"health\"]}%  {d[\"metrics\"]}'"

phase "2. Failure: $failure"
api POST "/api/v1/monitors/$MONITOR/simulate" "{\"failure\": \"$failure\"}" | field 'd'
start=$(date +%s%N)

phase "3. Detection"
incident=$(wait_for_incident "$MONITOR")
echo "incident #$incident after $(ms_since "$start") ms"
api GET "/api/v1/incidents/$incident" | field "f'  {d[\"priority\"]} {d[\"title\"]}'"

phase "4. Analysis and proposal"
run=$(api POST "/api/v1/incidents/$incident/remediations")
run_id=$(echo "$run" | field 'd["id"]')
# 202 with an empty action: the incident's analysis was still running; its action follows shortly.
for _ in $(seq 1 60); do
  [ -n "$(echo "$run" | field 'd["action"]')" ] && break
  sleep 0.5
  run=$(api GET "/api/v1/remediations/$run_id")
done
echo "$run" | field "f'  action {d[\"action\"]} (proposed by {d[\"proposed_by\"]}): {d[\"rationale\"]}'"
api GET "/api/v1/incidents/$incident" | field "f'  category {d[\"category\"]}: {d[\"summary\"]}'"

phase "5. Approve"
api POST "/api/v1/remediations/$run_id/approve" | field "f'  run {d[\"id\"]}: {d[\"status\"]}'"
start=$(date +%s%N)

phase "6. Execute and verify"
status=""
for _ in $(seq 1 120); do
  status=$(api GET "/api/v1/remediations/$run_id" | field 'd["status"]')
  case "$status" in succeeded|failed) break ;; esac
  sleep 0.5
done
api GET "/api/v1/remediations/$run_id" | field "f'  {d[\"status\"]} after $(ms_since "$start") ms: result {d[\"result\"]}'"

phase "7. Incident"
api GET "/api/v1/incidents/$incident" | field "f'  #{d[\"id\"]} {d[\"status\"]}: {d[\"resolution_notes\"]}'"
api POST "/api/v1/monitors/$MONITOR/check" | field "f'  health now {d[\"health\"]}%  {d[\"metrics\"]}'"
[ "$status" = "succeeded" ]
