#!/usr/bin/env bash
# Create six realistic incidents by sending bursts of error events (five or more errors from one service
# within five minutes open one incident).
#
#   scripts/create_incidents.sh [BASE_URL] [TOKEN]
#
# BASE_URL defaults to http://127.0.0.1:8000; TOKEN defaults to $OPSASSIST_TOKEN, then var/admin-token.
set -euo pipefail
BASE_URL="${1:-http://127.0.0.1:8000}"
TOKEN="${2:-}"
source "$(dirname "$0")/lib.sh"

send_burst() {  # service level count message
  local service=$1 level=$2 count=$3 message=$4 body="[" i
  for ((i = 1; i <= count; i++)); do
    body+="{\"service\":\"$service\",\"level\":\"$level\",\"message\":\"$message (#$i)\",\"host\":\"$service-1\"}"
    [ "$i" -lt "$count" ] && body+=","
  done
  body+="]"
  local status
  status=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$BASE_URL/api/v1/events" \
    -H "Authorization: Token $TOKEN" -H "Content-Type: application/json" -d "$body")
  printf '  %-16s %-8s x%-2s -> HTTP %s\n' "$service" "$level" "$count" "$status"
  [ "$status" = "201" ]
}

echo "Sending error bursts to $BASE_URL"
send_burst order-service  CRITICAL 6 "Database connection timeout: failed to connect to PostgreSQL"
send_burst api-gateway    ERROR    6 "Upstream request timeout after 30s: connection refused by upstream service"
send_burst worker-service CRITICAL 6 "Out of memory: Java heap space exceeded, container OOMKilled"
send_burst auth-service   ERROR    6 "JWT token expired: authentication failed for user session"
send_burst public-api     ERROR    6 "Rate limit exceeded: 429 Too Many Requests from client"
send_burst storage-node   CRITICAL 6 "Disk space critical: /var/lib/data 98% used, no space left on device"

echo "Waiting for correlation..."
sleep 3
curl -sS "$BASE_URL/api/v1/incidents?status=open&limit=20" -H "Authorization: Token $TOKEN" |
  python3 -c '
import json, sys
for i in json.load(sys.stdin):
    category = i["category"] or "-"
    print("  #%-5s %s %-16s %3d events  %-18s %s" % (i["id"], i["priority"], i["service"], i["event_count"], category, i["title"][:60]))
'
