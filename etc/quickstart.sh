#!/usr/bin/env bash
# quickstart.sh start|stop: everything on one Debian machine, no Docker. Installs the
# packages, builds, starts a private Redis and PostgreSQL under ./run (PostgreSQL as an
# unprivileged user), generates a demo PKI, starts an echo upstream, certbound-authd and
# certbound-proxy, creates one demo API per auth mode, and prints curl lines that show each
# mode allowing and denying. Re-runnable: `start` restarts what an earlier run left.
#
# Two authd+proxy pairs share the stores: the main one (authd :8181/:9191, proxy :8443) in
# the secure default, and a second (authd :8182/:9192, proxy :8444) with
# security.allow_unsafe_dynamic_mtls_token on, to show the legacy mode side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN=$ROOT/run
DAEMONS="proxy proxy-legacy authd authd-legacy upstream"

stop_pid() {
    local f=$RUN/$1.pid
    if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
        kill "$(cat "$f")"
        for _ in $(seq 100); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$f"
}

stop_all() {
    for d in $DAEMONS; do stop_pid "$d"; done
    if [ -d "$RUN/services" ]; then
        bash tests/harness/services.sh stop "$RUN/services" >/dev/null || true
    fi
}

# start NAME READYFILE CMD...: run CMD in the background, log to run/NAME.log, wait for
# its ready file.
start_daemon() {
    local name=$1 ready=$2
    shift 2
    rm -f "$ready"
    nohup "$@" >"$RUN/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
    for _ in $(seq 300); do [ -f "$ready" ] && return 0; sleep 0.1; done
    tail -n 30 "$RUN/$name.log"
    echo "$name did not start (log: run/$name.log)" >&2
    exit 1
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
PKI=$RUN/pki

[ -f "$RUN/admin-secret" ] || openssl rand -hex 16 >"$RUN/admin-secret"
[ -f "$RUN/encoding-secret" ] || openssl rand -hex 32 >"$RUN/encoding-secret"
chmod 600 "$RUN/admin-secret" "$RUN/encoding-secret"
SECRET=$(cat "$RUN/admin-secret")

# authd_config FILE HTTP_PORT RPC_PORT LEGACY
authd_config() {
    cat >"$1" <<JSON
{
  "listen_address": "127.0.0.1",
  "listen_port": $2,
  "rpc_listen": "127.0.0.1:$3",
  "secret": "$SECRET",
  "redis": { "unix_socket": "$CB_TEST_REDIS_SOCK" },
  "postgres": { "conninfo": "host=$CB_TEST_PG_HOST port=$CB_TEST_PG_PORT dbname=certbound user=postgres" },
  "security": {
    "private_certificate_encoding_secret": "$(cat "$RUN/encoding-secret")",
    "allow_unsafe_dynamic_mtls_token": $4
  }
}
JSON
    chmod 600 "$1"
}

# proxy_config FILE PORT AUTHD_RPC_PORT
proxy_config() {
    cat >"$1" <<JSON
{
  "listen_address": "127.0.0.1",
  "listen_port": $2,
  "authd": "127.0.0.1:$3",
  "workers": 2,
  "http_server_options": {
    "use_ssl": true,
    "certificates": [ { "domain_name": "", "cert_file": "$PKI/server.crt", "key_file": "$PKI/server.key" } ]
  }
}
JSON
}

start_daemon upstream "$RUN/upstream.ready" build/bin/cb-echo-upstream --port 8080 --ready-file "$RUN/upstream.ready"
authd_config "$RUN/authd.json" 8181 9191 false
authd_config "$RUN/authd-legacy.json" 8182 9192 true
start_daemon authd "$RUN/authd.ready" build/bin/certbound-authd --config "$RUN/authd.json" --ready-file "$RUN/authd.ready"
start_daemon authd-legacy "$RUN/authd-legacy.ready" build/bin/certbound-authd --config "$RUN/authd-legacy.json" --ready-file "$RUN/authd-legacy.ready"

H="X-Tyk-Authorization: $SECRET"
A=http://127.0.0.1:8181
sha() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
C1=default$(sha "$PKI/client1.crt")
C2=default$(sha "$PKI/client2.crt")

# Demo data (idempotent): client1 and client2 in the store; four APIs, one per auth mode;
# a session bound to client1; a key bound to client1 for the binding API.
curl -s -o /dev/null -H "$H" --data-binary @"$PKI/client1.crt" "$A/tyk/certs?org_id=default"
curl -s -o /dev/null -H "$H" --data-binary @"$PKI/client2.crt" "$A/tyk/certs?org_id=default"
api() { # api ID BODY
    curl -s -o /dev/null -H "$H" -X DELETE "$A/tyk/apis/$1"
    curl -sf -o /dev/null -H "$H" -d "$2" "$A/tyk/apis" || { echo "cannot create API $1" >&2; exit 1; }
}
UP='"target_url":"http://127.0.0.1:8080","strip_listen_path":true'
api demo-static "{\"api_id\":\"demo-static\",\"name\":\"static allowlist\",\"org_id\":\"default\",\"proxy\":{\"listen_path\":\"/static/\",$UP},\"use_keyless\":true,\"use_mutual_tls_auth\":true,\"client_certificates\":[\"$C1\"]}"
api demo-cert "{\"api_id\":\"demo-cert\",\"name\":\"Certificate Auth\",\"org_id\":\"default\",\"proxy\":{\"listen_path\":\"/cert/\",$UP},\"auth_configs\":{\"authToken\":{\"use_certificate\":true}}}"
api demo-bound "{\"api_id\":\"demo-bound\",\"name\":\"token bound to a certificate\",\"org_id\":\"default\",\"proxy\":{\"listen_path\":\"/bound/\",$UP},\"use_standard_auth\":true,\"use_mutual_tls_auth\":true,\"client_certificates\":[\"$C1\",\"$C2\"]}"
api demo-open "{\"api_id\":\"demo-open\",\"name\":\"open\",\"org_id\":\"default\",\"proxy\":{\"listen_path\":\"/open/\",$UP},\"use_keyless\":true}"

RIGHTS='"access_rights":{"demo-cert":{"api_id":"demo-cert","versions":["Default"]},"demo-bound":{"api_id":"demo-bound","versions":["Default"]}}'
CERT_KEY=$(curl -s -H "$H" -d "{\"org_id\":\"default\",\"certificate\":\"$C1\",$RIGHTS}" "$A/tyk/keys/create" |
    sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
if [ -z "$CERT_KEY" ]; then # already there from an earlier run: the name is derived from the cert
    CERT_KEY=$(printf '{"org":"default","id":"%s","h":"sha256"}' "${C1#default}" | base64 -w0)
fi
# (The demo Redis keeps nothing across restarts: sessions are created on every start.)
BOUND_KEY=$(curl -s -H "$H" -d "{\"org_id\":\"default\",\"mtls_static_certificate_bindings\":[\"$C1\"],$RIGHTS}" "$A/tyk/keys" |
    sed -n 's/.*"key":"\([^"]*\)".*/\1/p')

proxy_config "$RUN/proxy.json" 8443 9191
proxy_config "$RUN/proxy-legacy.json" 8444 9192
start_daemon proxy "$RUN/proxy.ready" build/bin/certbound-proxy --config "$RUN/proxy.json" --ready-file "$RUN/proxy.ready"
start_daemon proxy-legacy "$RUN/proxy-legacy.ready" build/bin/certbound-proxy --config "$RUN/proxy-legacy.json" --ready-file "$RUN/proxy-legacy.ready"

P="https://localhost:8443"
T="--cacert run/pki/ca.crt"
K1="--cert run/pki/client1.crt --key run/pki/client1.key"
K2="--cert run/pki/client2.crt --key run/pki/client2.key"
cat <<MSG

certbound is running (logs: run/*.log; stop with: etc/quickstart.sh stop)
  proxy           https://localhost:8443  (legacy-mode pair: https://localhost:8444)
  management API  http://127.0.0.1:8181   RPC 127.0.0.1:9191
  upstream        http://127.0.0.1:8080   (echoes what it receives)
  admin secret    run/admin-secret        demo PKI run/pki/

Each mode, allowed then denied (-w prints the status):
  # 1. static allowlist (/static/ allows client1 only)
  curl -s $T $K1 -w ' %{http_code}\n' $P/static/hello
  curl -s $T $K2 -w ' %{http_code}\n' $P/static/hello
  # 2. Certificate Auth (/cert/: client1 has a session)
  curl -s $T $K1 -w ' %{http_code}\n' $P/cert/hello
  curl -s $T $K2 -w ' %{http_code}\n' $P/cert/hello
  curl -s $T -H "Authorization: $CERT_KEY" -w ' %{http_code}\n' $P/cert/hello
  # 3. token binding (/bound/: the key is bound to client1; client2 is allowlisted too)
  curl -s $T $K1 -H "Authorization: $BOUND_KEY" -w ' %{http_code}\n' $P/bound/hello
  curl -s $T $K2 -H "Authorization: $BOUND_KEY" -w ' %{http_code}\n' $P/bound/hello
  # 4. allow_unsafe_dynamic_mtls_token (port 8444): the derived key alone is accepted there
  curl -s $T -H "Authorization: $CERT_KEY" -w ' %{http_code}\n' https://localhost:8444/cert/hello

Management:
  export CB="X-Tyk-Authorization: \$(cat run/admin-secret)"
  curl -s http://127.0.0.1:8181/hello
  curl -s -H "\$CB" "http://127.0.0.1:8181/tyk/certs?org_id=default"
  curl -s -H "\$CB" http://127.0.0.1:8181/tyk/apis
  curl -s -H "\$CB" http://127.0.0.1:8181/tyk/keys
  curl -s http://127.0.0.1:8181/metrics
MSG
