#!/usr/bin/env bash
# Installs the Debian packages healthexport needs, only those missing: fast when all are there.
#   scripts/setup-system.sh run    what `make run` needs (SpatiaLite, GDAL, a Python venv, nginx)
#   scripts/setup-system.sh test   plus PostgreSQL 15 + PostGIS, Redis, chromium, promtool
set -euo pipefail

# nginx: `make run` serves through it (scripts/run.sh), so slow clients never hold gunicorn's threads;
# openssl: deploy/nginx/start.sh makes the TLS proxy's certificate.
packages=(python3-venv python3-dev gdal-bin libsqlite3-mod-spatialite nginx openssl)
if [[ "${1:-run}" == "test" ]]; then
  # prometheus: only for promtool, which checks deploy/prometheus/alerts.yaml in the tests.
  # chromium: the browser tests drive Debian's build (Playwright launches it by path, downloads nothing).
  packages+=(postgresql-15 postgresql-15-postgis-3 postgresql-client-15 redis-server prometheus chromium fonts-dejavu-core)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
((${#missing[@]})) || exit 0

sudo=""
[[ "$(id -u)" == 0 ]] || sudo="sudo"
echo "Installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
install() { DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"; }

others=()
for package in "${missing[@]}"; do
  [[ "$package" == nginx ]] || others+=("$package")
done
((${#others[@]} == 0)) || install "${others[@]}"
((${#others[@]} < ${#missing[@]})) || exit 0

# nginx's package would start a server of its own on port 80 (and fail to install where that port
# is taken); make run and the tests need only the binary, with configurations of their own. Debian's policy-rc.d switch keeps it from starting
# (unless the machine has a policy of its own), and its service is disabled after.
policy=/usr/sbin/policy-rc.d
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
install nginx
[[ ! -d /run/systemd/system ]] || $sudo systemctl disable --now nginx.service
