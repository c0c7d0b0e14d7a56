#!/usr/bin/env bash
# Migrates and serves healthexport: nginx on HOST:PORT in front of gunicorn, so that slow or large
# requests wait in nginx, never in one of gunicorn's few threads (deploy/nginx/local.conf.template),
# and the task queue's worker beside them. PROXY=0 serves gunicorn itself on HOST:PORT. Without
# SECRET_KEY a random one is kept in var/.
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
listen="${HOST:-127.0.0.1}:${PORT:-8000}"
export PATH="$PATH:/usr/sbin"  # Debian's nginx
proxy_dir="$PWD/var/nginx"
if [[ "${PROXY:-1}" == 0 ]] || ! command -v nginx >/dev/null; then
  [[ "${PROXY:-1}" == 0 ]] || echo "run.sh: no nginx (scripts/setup-system.sh run installs it): gunicorn serves slow clients itself" >&2
  bind="$listen"
else
  # gunicorn on a free loopback port; nginx forwards the client's address, believed from there only.
  bind="127.0.0.1:$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  export TRUSTED_PROXIES="${TRUSTED_PROXIES:-127.0.0.1}"
  mkdir -p "$proxy_dir"
  # As root, nginx would run its workers as an unprivileged user that cannot read var/.
  user_line=""
  [[ "$(id -u)" == 0 ]] && user_line="user root;"
  cat > "$proxy_dir/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $proxy_dir/nginx.pid;
error_log $proxy_dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $proxy_dir/client_body;
    proxy_temp_path $proxy_dir/proxy;
    fastcgi_temp_path $proxy_dir/fastcgi;
    uwsgi_temp_path $proxy_dir/uwsgi;
    scgi_temp_path $proxy_dir/scgi;
    include $proxy_dir/healthexport.conf;
}
CONF
fi

pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; }
trap stop EXIT INT TERM
# The task queue's worker (Apple Health imports) runs beside gunicorn and stops with it. More
# workers, here or on other machines sharing the database and IMPORT_DIR: `manage.py db_worker`.
.venv/bin/python manage.py db_worker --queue-name default --interval 2 --no-reload &
pids+=($!)
.venv/bin/gunicorn healthexport.wsgi --config deploy/gunicorn.conf.py --bind "$bind" &
pids+=($!)
if [[ "$bind" != "$listen" ]]; then
  TEMPLATE=local UPSTREAM="$bind" HTTP_LISTEN="$listen" SITE_CONF="$proxy_dir/healthexport.conf" \
    deploy/nginx/start.sh -c "$proxy_dir/nginx.conf" -p "$proxy_dir/" -e "$proxy_dir/error.log" &
  pids+=($!)
fi
# Whichever stops first (or a signal) stops the others.
wait -n "${pids[@]}"
