#!/usr/bin/env bash
# Regenerates the TEST-ONLY certificates in this folder. INSECURE: the private keys are public.
# Used by tests/tls.rs and the TLS interop tests; never use these anywhere else.
set -euo pipefail
cd "$(dirname "$0")"
days=36500
ec() { openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out "$1"; }

ec ca-key.pem
openssl req -x509 -new -key ca-key.pem -sha256 -days $days -subj "/O=rnatsd test/CN=rnatsd test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem

ec other-ca-key.pem
openssl req -x509 -new -key other-ca-key.pem -sha256 -days $days -subj "/O=rnatsd test/CN=untrusted test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out other-ca.pem

issue() { # name ca subject extensions
  ec "$1-key.pem"
  openssl req -new -key "$1-key.pem" -subj "$3" -out "$1.csr"
  printf '%b' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2-key.pem" -CAcreateserial -sha256 -days $days \
    -extfile "$1.ext" -out "$1-cert.pem"
  rm -f "$1.csr" "$1.ext" "$2.srl"
}
issue server ca "/O=rnatsd test/CN=localhost" \
  "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
issue client ca "/O=rnatsd test/OU=clients/CN=alice" \
  "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=email:alice@example.com\n"
issue route ca "/O=rnatsd test/OU=routes/CN=localhost" \
  "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
issue rogue other-ca "/O=rnatsd test/CN=mallory" \
  "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
