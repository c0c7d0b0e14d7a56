#!/usr/bin/env bash
# Migrates and serves healthexport with gunicorn, and runs the task queue's worker beside it.
# Without SECRET_KEY a random one is kept in var/.
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

# Prometheus multiprocess mode: the gunicorn workers share their metrics through files here,
# emptied at every start so counts of a previous run never come back.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -name '*.db' -delete

# The task queue's worker (Apple Health imports) runs beside gunicorn and stops with it. More
# workers, here or on other machines sharing the database and IMPORT_DIR: `manage.py db_worker`.
.venv/bin/python manage.py db_worker --queue-name default --interval 2 --no-reload &
worker=$!
.venv/bin/gunicorn healthexport.wsgi --config deploy/gunicorn.conf.py --bind "${HOST:-127.0.0.1}:${PORT:-8000}" &
server=$!
trap 'kill -TERM "$server" "$worker" 2>/dev/null; wait "$server" "$worker" 2>/dev/null' EXIT INT TERM
# Whichever stops first (gunicorn, the worker), the other is stopped too.
wait -n "$server" "$worker"
