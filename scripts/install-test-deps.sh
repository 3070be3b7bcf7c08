#!/usr/bin/env bash
# System packages some end-to-end tests use (Debian/Ubuntu, as root). Those tests skip without them
# locally and fail without them in CI. Installs only what is missing; never starts a service.
set -euo pipefail
missing=()
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v chromium >/dev/null || missing+=(chromium)
# prometheus brings promtool too (rules check, real scrape of /metrics).
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "Missing ${missing[*]}; run this script as root to install them." >&2
  exit 0
fi
echo "Installing ${missing[*]}"
# Packages must not start daemons here (policy-rc.d 101 = "action forbidden").
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}
