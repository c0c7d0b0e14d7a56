#!/usr/bin/env bash
# Installs the Debian packages healthexport needs, only those missing: fast when all are there.
#   scripts/setup-system.sh run    what `make run` needs (SpatiaLite, GDAL, a Python venv)
#   scripts/setup-system.sh test   plus PostgreSQL 15 + PostGIS and Redis
set -euo pipefail

packages=(python3-venv python3-dev gdal-bin libsqlite3-mod-spatialite)
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
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
