#!/usr/bin/env bash
# Migrates and serves healthexport with gunicorn. Without SECRET_KEY a random one is kept in var/.
set -euo pipefail
cd "$(dirname "$0")/.."

# .env fills in what the environment leaves unset, here as in the settings: a SECRET_KEY, HOST or
# PORT written there counts below too. (An assignment, so that a failure stops the script.)
dotenv_exports="$(.venv/bin/python -m healthexport.dotenv)"
eval "$dotenv_exports"

mkdir -p var
if [[ -z "${SECRET_KEY:-}" && -z "${SECRET_KEY_FILE:-}" ]]; then
  [[ -s var/secret_key ]] || .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key
  chmod 600 var/secret_key
  export SECRET_KEY_FILE="$PWD/var/secret_key"
fi

.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py migrate --noinput
# Without REDIS_URL the cache is a database table (a no-op with Redis).
.venv/bin/python manage.py createcachetable

# Prometheus multiprocess mode: the gunicorn workers share their metrics through files here,
# emptied at every start so counts of a previous run never come back.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -name '*.db' -delete
exec .venv/bin/gunicorn healthexport.wsgi --config deploy/gunicorn.conf.py --bind "${HOST:-127.0.0.1}:${PORT:-8000}"
