#!/usr/bin/env bash
# quickstart.sh start|stop: everything on one Debian machine, no Docker. Installs the
# packages, builds, starts a private Redis and PostgreSQL under ./run (PostgreSQL as an
# unprivileged user), generates a demo PKI, starts certbound-authd, loads demo data and
# prints curl lines that work. Re-runnable: `start` restarts what an earlier run left.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN=$ROOT/run

stop_all() {
    if [ -f "$RUN/authd.pid" ] && kill -0 "$(cat "$RUN/authd.pid")" 2>/dev/null; then
        kill "$(cat "$RUN/authd.pid")"
        for _ in $(seq 100); do kill -0 "$(cat "$RUN/authd.pid")" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$RUN/authd.pid"
    if [ -d "$RUN/services" ]; then
        bash tests/harness/services.sh stop "$RUN/services" >/dev/null || true
    fi
}

case "${1:-start}" in
stop)
    stop_all
    echo "certbound stopped"
    exit 0
    ;;
start) ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac

bash etc/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -- --no-print-directory -s
stop_all
mkdir -p "$RUN"
chmod 755 "$RUN"
bash tests/harness/services.sh start "$RUN/services" >/dev/null
. "$RUN/services/env.sh"
psql "$CB_TEST_PG_CONNINFO" -qtAc "SELECT 1 FROM pg_database WHERE datname = 'certbound'" | grep -q 1 ||
    psql "$CB_TEST_PG_CONNINFO" -qc "CREATE DATABASE certbound"
bash tests/harness/certs.sh "$RUN/pki"

[ -f "$RUN/admin-secret" ] || openssl rand -hex 16 >"$RUN/admin-secret"
[ -f "$RUN/encoding-secret" ] || openssl rand -hex 32 >"$RUN/encoding-secret"
chmod 600 "$RUN/admin-secret" "$RUN/encoding-secret"
SECRET=$(cat "$RUN/admin-secret")
cat >"$RUN/authd.json" <<JSON
{
  "listen_address": "127.0.0.1",
  "listen_port": 8181,
  "rpc_listen": "127.0.0.1:9191",
  "secret": "$SECRET",
  "redis": { "unix_socket": "$CB_TEST_REDIS_SOCK" },
  "postgres": { "conninfo": "host=$CB_TEST_PG_HOST port=$CB_TEST_PG_PORT dbname=certbound user=postgres" },
  "security": { "private_certificate_encoding_secret": "$(cat "$RUN/encoding-secret")" }
}
JSON
chmod 600 "$RUN/authd.json"
rm -f "$RUN/authd.ready"
nohup build/bin/certbound-authd --config "$RUN/authd.json" --ready-file "$RUN/authd.ready" \
    >"$RUN/authd.log" 2>&1 &
echo $! >"$RUN/authd.pid"
for _ in $(seq 300); do [ -f "$RUN/authd.ready" ] && break; sleep 0.1; done
[ -f "$RUN/authd.ready" ] || { tail -n 30 "$RUN/authd.log"; echo "authd did not start" >&2; exit 1; }

H="X-Tyk-Authorization: $SECRET"
A=http://127.0.0.1:8181
# Demo data: a client certificate with its key under org "default", a session bound to it,
# and an API protected by Certificate Auth.
cat "$RUN/pki/client1.crt" "$RUN/pki/client1.key" >"$RUN/demo-client1.pem"
curl -s -o /dev/null -H "$H" --data-binary @"$RUN/demo-client1.pem" "$A/tyk/certs?org_id=default"
CERT_ID=default$(openssl x509 -in "$RUN/pki/client1.crt" -outform DER | sha256sum | cut -d' ' -f1)
curl -s -o /dev/null -H "$H" -X DELETE "$A/tyk/apis/demo-cert-auth"
curl -s -o /dev/null -H "$H" -d '{"api_id":"demo-cert-auth","name":"Demo (Certificate Auth)","org_id":"default","proxy":{"listen_path":"/demo/","target_url":"http://127.0.0.1:8080","strip_listen_path":true},"auth_configs":{"authToken":{"use_certificate":true}}}' "$A/tyk/apis"
curl -s -o /dev/null -H "$H" -d "{\"org_id\":\"default\",\"certificate\":\"$CERT_ID\",\"access_rights\":{\"demo-cert-auth\":{\"api_id\":\"demo-cert-auth\",\"versions\":[\"Default\"]}}}" "$A/tyk/keys/create"

cat <<MSG

certbound-authd is running (log: run/authd.log; stop with: etc/quickstart.sh stop)
  management API  http://127.0.0.1:8181   RPC 127.0.0.1:9191
  admin secret    run/admin-secret        demo PKI run/pki/

Try:
  export CB="X-Tyk-Authorization: \$(cat run/admin-secret)"
  curl -s http://127.0.0.1:8181/hello
  curl -s -H "\$CB" "http://127.0.0.1:8181/tyk/certs?org_id=default"
  curl -s -H "\$CB" "http://127.0.0.1:8181/tyk/certs/$CERT_ID"
  curl -s -H "\$CB" --data-binary @run/pki/client2.crt "http://127.0.0.1:8181/tyk/certs?org_id=default"
  curl -s -H "\$CB" http://127.0.0.1:8181/tyk/apis
  curl -s -H "\$CB" http://127.0.0.1:8181/tyk/keys
  curl -s http://127.0.0.1:8181/metrics
MSG
