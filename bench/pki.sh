#!/usr/bin/env bash
# pki.sh OUTDIR: the benchmark's test PKI, all ECDSA P-256 / SHA-256 (as the peer baseline):
#   ca.crt/key         the client and server CA
#   server.crt/key     CN=localhost, SAN DNS:localhost, DNS:static.localhost,
#                      DNS:certauth.localhost (one domain per certbound API), IP:127.0.0.1
#   client1.crt/key    CN=bench-client1, EKU clientAuth  (allowlisted and session-bound)
#   client1.pem        client1.crt + client1.key (what authd's /tyk/certs takes)
#   rogue.crt/key      from another CA (rogue-ca.crt): must be refused by every target
# Re-runnable: an existing complete OUTDIR is kept (FORCE=1 regenerates).
set -euo pipefail

OUT=${1:?usage: pki.sh OUTDIR}
DAYS=3650
mkdir -p "$OUT"
cd "$OUT"

VERSION=2 # bump when what this script generates changes
if [ "${FORCE:-0}" != 1 ] && [ "$(cat .version 2>/dev/null)" = "$VERSION" ] && [ -s ca.crt ] &&
    [ -s server.crt ] && [ -s client1.pem ] && [ -s rogue.crt ]; then
    exit 0
fi
rm -f ./*.crt ./*.key ./*.pem ./*.csr ./*.srl ./*.ext .version

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# ca NAME CN
ca() {
    newkey "$1.key"
    openssl req -x509 -new -key "$1.key" -sha256 -days "$DAYS" -subj "/O=certbound bench/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.crt"
}

# leaf NAME CA CN EXTFILE-CONTENT
leaf() {
    newkey "$1.key"
    openssl req -new -key "$1.key" -subj "/O=certbound bench/CN=$3" -out "$1.csr"
    printf '%s\n' "$4" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -sha256 \
        -days "$DAYS" -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

ca ca "certbound bench CA"
ca rogue-ca "rogue CA"
leaf server ca localhost "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:static.localhost,DNS:certauth.localhost,IP:127.0.0.1"
CLIENT_EXT="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
leaf client1 ca bench-client1 "$CLIENT_EXT"
leaf rogue rogue-ca bench-rogue "$CLIENT_EXT"
cat client1.crt client1.key >client1.pem
rm -f ./*.srl
chmod 600 ./*.key client1.pem
chmod 644 ./*.crt
openssl verify -CAfile ca.crt server.crt client1.crt >/dev/null
echo "$VERSION" >.version
