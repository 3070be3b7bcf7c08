#!/usr/bin/env bash
# What the benchmarks in bench/ use besides the project's venv (Debian/Ubuntu, as root): wrk, the HTTP
# load generator. bench/peer.py installs Alerta itself, into var/bench/alerta-venv.
set -euo pipefail
command -v wrk >/dev/null && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "wrk is missing; run this script as root to install it." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends wrk >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends wrk >/dev/null
}
