#!/usr/bin/env bash
# compose-init.sh: the one-shot init of docker-compose.yml. Waits for authd, then uploads
# the demo client certificates and creates one demo API per auth mode and a key bound to
# client1, like etc/quickstart.sh does locally. Idempotent.
#   AUTHD=http://authd:8181 SECRET=… PKI=/pki UPSTREAM=http://upstream:8080 compose-init.sh
set -euo pipefail
AUTHD=${AUTHD:-http://authd:8181}
PKI=${PKI:-/pki}
UPSTREAM=${UPSTREAM:-http://upstream:8080}
H="X-Tyk-Authorization: ${SECRET:?SECRET is required}"

for _ in $(seq 120); do curl -fs "$AUTHD/hello" >/dev/null && break; sleep 1; done
curl -fs "$AUTHD/hello" >/dev/null || { echo "compose-init: authd is not answering" >&2; exit 1; }

sha() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
C1=default$(sha "$PKI/client1.crt")
C2=default$(sha "$PKI/client2.crt")
curl -s -o /dev/null -H "$H" --data-binary @"$PKI/client1.crt" "$AUTHD/tyk/certs?org_id=default"
curl -s -o /dev/null -H "$H" --data-binary @"$PKI/client2.crt" "$AUTHD/tyk/certs?org_id=default"

api() { # api ID BODY: (re)create
    curl -s -o /dev/null -H "$H" -X DELETE "$AUTHD/tyk/apis/$1"
    curl -fs -o /dev/null -H "$H" -d "$2" "$AUTHD/tyk/apis" || { echo "compose-init: cannot create API $1" >&2; exit 1; }
}
UP="\"target_url\":\"$UPSTREAM\",\"strip_listen_path\":true"
api demo-static "{\"api_id\":\"demo-static\",\"org_id\":\"default\",\"proxy\":{\"listen_path\":\"/static/\",$UP},\"use_keyless\":true,\"use_mutual_tls_auth\":true,\"client_certificates\":[\"$C1\"]}"
api demo-cert "{\"api_id\":\"demo-cert\",\"org_id\":\"default\",\"proxy\":{\"listen_path\":\"/cert/\",$UP},\"auth_configs\":{\"authToken\":{\"use_certificate\":true}}}"
api demo-bound "{\"api_id\":\"demo-bound\",\"org_id\":\"default\",\"proxy\":{\"listen_path\":\"/bound/\",$UP},\"use_standard_auth\":true,\"use_mutual_tls_auth\":true,\"client_certificates\":[\"$C1\",\"$C2\"]}"

RIGHTS='"access_rights":{"demo-cert":{"api_id":"demo-cert","versions":["Default"]},"demo-bound":{"api_id":"demo-bound","versions":["Default"]}}'
curl -s -o /dev/null -H "$H" -d "{\"org_id\":\"default\",\"certificate\":\"$C1\",$RIGHTS}" "$AUTHD/tyk/keys/create"
curl -s -H "$H" -d "{\"org_id\":\"default\",\"mtls_static_certificate_bindings\":[\"$C1\"],$RIGHTS}" "$AUTHD/tyk/keys" |
    sed -n 's/.*"key":"\([^"]*\)".*/bound key: \1/p'
echo "compose-init: demo data loaded"
