#!/bin/sh
# The proxy's entry point (the image of deploy/nginx/Dockerfile; tests/deploy/test_slow_clients.py
# runs it too): renders healthexport.conf.template, makes a certificate when there is none, and
# runs nginx in the foreground. Arguments go to nginx (the test passes its own -c, -p and -e).
#   TEMPLATE      healthexport (TLS, the default) or local (plain HTTP on HTTP_LISTEN: make run)
#   SERVER_NAME   the domain or IP address phones use (default localhost)
#   UPSTREAM      gunicorn's host:port (default app:8000)
#   HTTPS_LISTEN, HTTP_LISTEN   nginx listen addresses (default 443, 80)
#   CERT_DIR      holds fullchain.pem and privkey.pem (default /etc/nginx/certs)
#   SITE_CONF     the rendered file (default /etc/nginx/conf.d/healthexport.conf)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
SERVER_NAME=${SERVER_NAME:-localhost}
UPSTREAM=${UPSTREAM:-app:8000}
HTTPS_LISTEN=${HTTPS_LISTEN:-443}
HTTP_LISTEN=${HTTP_LISTEN:-80}
CERT_DIR=${CERT_DIR:-/etc/nginx/certs}
SITE_CONF=${SITE_CONF:-/etc/nginx/conf.d/healthexport.conf}
TEMPLATE=${TEMPLATE:-healthexport}
CONF_DIR=$(dirname "$SITE_CONF")

# A certificate for SERVER_NAME signed by a local CA made here once: install local-ca.crt on the
# phone to trust it. (A self-signed leaf would do for curl -k, not for iOS, which trusts only a
# CA certificate in Settings → General → About → Certificate Trust Settings.) 825 days is the
# longest validity iOS accepts for a server certificate.
make_certificate() {
  mkdir -p "$CERT_DIR"
  umask 077
  if [ ! -s "$CERT_DIR/local-ca.key" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=healthexport local CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$CERT_DIR/local-ca.key" -out "$CERT_DIR/local-ca.crt" 2>/dev/null
    chmod 644 "$CERT_DIR/local-ca.crt"
  fi
  case "$SERVER_NAME" in
    *:*) san="IP:$SERVER_NAME" ;;
    *[!0-9.]*) san="DNS:$SERVER_NAME" ;;
    *) san="IP:$SERVER_NAME" ;;
  esac
  printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
    "$san" >"$CERT_DIR/server.ext"
  openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$SERVER_NAME" \
    -keyout "$CERT_DIR/privkey.pem" -out "$CERT_DIR/server.csr" 2>/dev/null
  openssl x509 -req -sha256 -days 825 -in "$CERT_DIR/server.csr" -extfile "$CERT_DIR/server.ext" \
    -CA "$CERT_DIR/local-ca.crt" -CAkey "$CERT_DIR/local-ca.key" -CAcreateserial \
    -out "$CERT_DIR/server.crt" 2>/dev/null
  cat "$CERT_DIR/server.crt" "$CERT_DIR/local-ca.crt" >"$CERT_DIR/fullchain.pem"
  rm -f "$CERT_DIR/server.csr" "$CERT_DIR/server.ext" "$CERT_DIR/server.crt" "$CERT_DIR/local-ca.srl"
  echo "start.sh: made a certificate for $SERVER_NAME signed by $CERT_DIR/local-ca.crt" >&2
}

if [ "$TEMPLATE" = healthexport ] && { [ ! -s "$CERT_DIR/fullchain.pem" ] || [ ! -s "$CERT_DIR/privkey.pem" ]; }; then
  make_certificate
fi

mkdir -p "$CONF_DIR"
# .inc, not .conf: the image's nginx.conf includes conf.d/*.conf at the http level.
cp "$here/proxy.inc" "$CONF_DIR/healthexport-proxy.inc"
sed -e "s|\${SERVER_NAME}|$SERVER_NAME|g" -e "s|\${UPSTREAM}|$UPSTREAM|g" \
  -e "s|\${HTTPS_LISTEN}|$HTTPS_LISTEN|g" -e "s|\${HTTP_LISTEN}|$HTTP_LISTEN|g" \
  -e "s|\${CERT_DIR}|$CERT_DIR|g" -e "s|\${CONF_DIR}|$CONF_DIR|g" "$here/$TEMPLATE.conf.template" >"$SITE_CONF"

exec nginx -g "daemon off;" "$@"
