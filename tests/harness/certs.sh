#!/usr/bin/env bash
# certs.sh OUTDIR: generate the test PKI with the openssl CLI only (STYLE 2.10). Idempotent:
# does nothing if OUTDIR/.done exists. Generates into a sibling temp directory and renames it
# into place, so concurrent runs never mix the files of two runs. Prints nothing on success.
#
#   ca.crt/key              CA A (ECDSA P-256)         ca2.crt/key        CA B
#   server.crt/key          SAN localhost, api.local, 127.0.0.1, signed by A
#   client{1,2,3}.crt/key   EKU clientAuth+serverAuth, signed by A
#   clientauth_only.crt/key EKU clientAuth only, signed by A
#   selfsigned.crt/key      self-signed leaf (not a CA)
#   other_ca_client.crt/key signed by B
#   expired.crt/key         signed by A, valid 2020-01-01 .. 2020-01-02
#   rsa.crt/rsa.key         RSA 2048 self-signed, key as PKCS#1 "RSA PRIVATE KEY"
#   rsa_pkcs8.key           the same key as PKCS#8
#   pub.pem (+ pub.key)     a PUBLIC KEY block
#   chain_client1.pem       client1.crt followed by ca.crt
# Keys are unencrypted PKCS#8 unless noted.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
out=$1
[ -e "$out/.done" ] && exit 0

parent=$(dirname -- "$out")
mkdir -p -- "$parent"
tmp=$(mktemp -d "$parent/.certs.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
log=$tmp/openssl.log

# Run openssl quietly; on failure show what it said.
ossl() {
    if ! openssl "$@" >>"$log" 2>&1; then
        echo "certs.sh: openssl $* failed:" >&2
        cat "$log" >&2
        exit 1
    fi
}

cat >"$tmp/pki.cnf" <<'EOF'
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, DNS:api.local, IP:127.0.0.1
[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth, serverAuth
[ clientauth_only ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[ selfsigned ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth, serverAuth
subjectAltName = DNS:selfsigned.local
[ rsa ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth, serverAuth
subjectAltName = DNS:rsa.local
# "openssl ca" is only used for explicit validity dates (OpenSSL 3.0's x509 -req lacks them).
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = .
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[ policy_any ]
commonName = supplied
EOF
export OPENSSL_CONF=$tmp/pki.cnf
cd "$tmp"

eckey() {
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

serial() {
    echo "0x$(openssl rand -hex 15)"
}

# selfsign NAME CN EXTSECTION
selfsign() {
    eckey "$1.key"
    ossl req -new -x509 -key "$1.key" -out "$1.crt" -days 3650 -sha256 -subj "/CN=$2" \
        -set_serial "$(serial)" -extensions "$3"
}

# issue NAME CN EXTSECTION CANAME
issue() {
    eckey "$1.key"
    ossl req -new -key "$1.key" -out "$1.csr" -subj "/O=certbound tests/CN=$2"
    ossl x509 -req -in "$1.csr" -CA "$4.crt" -CAkey "$4.key" -set_serial "$(serial)" \
        -days 825 -sha256 -extfile pki.cnf -extensions "$3" -out "$1.crt"
}

selfsign ca "certbound test CA A" v3_ca
selfsign ca2 "certbound test CA B" v3_ca
issue server localhost server ca
issue client1 client1 client ca
issue client2 client2 client ca
issue client3 client3 client ca
issue clientauth_only clientauth-only clientauth_only ca
selfsign selfsigned selfsigned selfsigned
issue other_ca_client other-ca-client client ca2

eckey expired.key
ossl req -new -key expired.key -out expired.csr -subj "/CN=expired"
mkdir newcerts
: >index.txt
openssl rand -hex 16 >serial
ossl ca -batch -notext -config pki.cnf -cert ca.crt -keyfile ca.key -in expired.csr \
    -startdate 20200101000000Z -enddate 20200102000000Z -extfile pki.cnf -extensions client \
    -out expired.crt

ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa_pkcs8.key
ossl pkey -in rsa_pkcs8.key -traditional -out rsa.key
ossl req -new -x509 -key rsa_pkcs8.key -out rsa.crt -days 3650 -sha256 -subj "/CN=rsa" \
    -set_serial "$(serial)" -extensions rsa

eckey pub.key
ossl pkey -in pub.key -pubout -out pub.pem

cat client1.crt ca.crt >chain_client1.pem

rm -rf -- newcerts index.txt* serial* ./*.csr "$log"
touch .done
chmod 0644 ./*.crt ./*.pem && chmod 0600 ./*.key

# rename(2) replaces OUTDIR if it is absent or an empty directory; otherwise a concurrent run
# got there first (it has .done) or OUTDIR held other files (copy ours in, .done last).
chmod 0755 "$tmp"
cd /
if ! mv -T -- "$tmp" "$out" 2>/dev/null; then
    if [ ! -e "$out/.done" ]; then
        mkdir -p -- "$out"
        cp -p -- "$tmp"/*.crt "$tmp"/*.key "$tmp"/*.pem "$tmp"/pki.cnf "$out"/
        touch "$out/.done"
    fi
else
    trap - EXIT
fi
