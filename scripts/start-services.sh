#!/usr/bin/env bash
# Starts PostgreSQL and Redis on 127.0.0.1 when they are not already answering (idempotent).
set -euo pipefail

pg_version=15
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "Starting PostgreSQL $pg_version"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start || pg_ctlcluster "$pg_version" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432
fi
# A stock Debian cluster asks for a password over TCP: give the postgres role the one the tests use.
if ! PGCONNECT_TIMEOUT=5 psql -w -h 127.0.0.1 -U postgres -d postgres -Atqc "SELECT 1" >/dev/null 2>&1; then
  runuser -u postgres -- psql -q -c "ALTER ROLE postgres PASSWORD 'postgres'"
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/healthexport.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
  redis-cli -h 127.0.0.1 -p 6379 ping
fi
