#!/usr/bin/env bash
# Makes sure the tests' PostgreSQL and Redis answer (idempotent). They are TEST_DATABASE_URL and
# TEST_REDIS_URL (the Makefile passes them): on this machine they are started when not running;
# elsewhere (CI's service containers) they are waited for, since only their owner can start them.
set -euo pipefail

database_url="${TEST_DATABASE_URL:-postgis://postgres:postgres@127.0.0.1:5432/healthexport}"
redis_url="${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
pg_version=15

# host and port of scheme://[user[:password]@]host[:port][/...]
url_host() { local rest="${1#*://}"; rest="${rest%%/*}"; rest="${rest##*@}"; echo "${rest%%:*}"; }
url_port() {
  local rest="${1#*://}"; rest="${rest%%/*}"; rest="${rest##*@}"
  [[ "$rest" == *:* ]] && echo "${rest##*:}" || echo "$2"
}
is_local() { [[ "$1" == 127.0.0.1 || "$1" == localhost ]]; }

# wait_for NAME COMMAND...: up to 60 s, then the command once more, loudly.
wait_for() {
  local name="$1"; shift
  for _ in $(seq 1 120); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "$name does not answer" >&2
  "$@"
}

pg_host="$(url_host "$database_url")" pg_port="$(url_port "$database_url" 5432)"
if ! pg_isready -q -h "$pg_host" -p "$pg_port"; then
  if is_local "$pg_host"; then
    echo "Starting PostgreSQL $pg_version"
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start || pg_ctlcluster "$pg_version" main start
  fi
  wait_for "PostgreSQL at $pg_host:$pg_port" pg_isready -q -h "$pg_host" -p "$pg_port"
fi
# A stock Debian cluster asks for a password over TCP: give the postgres role the one the tests use.
if is_local "$pg_host" &&
  ! PGCONNECT_TIMEOUT=5 psql -w -h "$pg_host" -p "$pg_port" -U postgres -d postgres -Atqc "SELECT 1" >/dev/null 2>&1; then
  runuser -u postgres -- psql -q -c "ALTER ROLE postgres PASSWORD 'postgres'"
fi

redis_host="$(url_host "$redis_url")" redis_port="$(url_port "$redis_url" 6379)"
if ! redis-cli -h "$redis_host" -p "$redis_port" ping >/dev/null 2>&1; then
  if is_local "$redis_host"; then
    echo "Starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/healthexport.log
  fi
  wait_for "Redis at $redis_host:$redis_port" redis-cli -h "$redis_host" -p "$redis_port" ping
fi
