# Shared by the drill scripts: where OpsAssist is, how to call it, and the drill's monitor.
# Set BASE_URL and TOKEN (or leave TOKEN empty for $OPSASSIST_TOKEN, then var/admin-token) before sourcing.
TOKEN="${TOKEN:-${OPSASSIST_TOKEN:-$(cat "$(dirname "${BASH_SOURCE[0]}")/../var/admin-token" 2>/dev/null || true)}}"
[ -n "$TOKEN" ] || { echo "No API token: pass it as an argument or set OPSASSIST_TOKEN." >&2; exit 2; }

api() {  # METHOD PATH [JSON]
  curl -sS -X "$1" "$BASE_URL$2" -H "Authorization: Token $TOKEN" -H "Content-Type: application/json" ${3:+-d "$3"}
}
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }
phase() { printf '\n== %s\n' "$*"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

drill_failure() {  # MONITOR -> the drill it allows (the monitor's `drill`, set when drills_allowed)
  local failure
  failure=$(api GET "/api/v1/monitors/$1" | field 'd.get("drill") or ""')
  if [ -z "$failure" ]; then
    echo "Monitor $1 allows no drill (its kind has none, or an admin has not set drills_allowed)." >&2
    return 2
  fi
  echo "$failure"
}

wait_for_incident() {  # MONITOR -> the id of its open incident, within 30 s
  local incident=""
  for _ in $(seq 1 60); do
    incident=$(api GET "/api/v1/monitors/$1" | field 'd["open_incident_id"] or ""')
    [ -n "$incident" ] && { echo "$incident"; return 0; }
    sleep 0.5
  done
  echo "no incident after 30 s" >&2
  return 1
}
