#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Regenerate tests/fuzz/corpus/policy_pem/: real OpenSSL certificates and keys
# (RSA, EC, Ed25519, chains, mismatched pairs, encrypted keys, CA bundles) in
# the input layout of fuzz_policy_pem.c: MODE byte, CRT, 0xff 0xfe, KEY.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/corpus/policy_pem}
mkdir -p "$out"
tmp=$(mktemp -d /tmp/sng-pem.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
ossl() { openssl "$@" 2>/dev/null; }
# ca: a small CA that signs the leaves (a real chain)
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
	-out ca.crt -subj /CN=fuzz-ca -days 3650
leaf() { # NAME KEYGEN-ARGS...
	local n=$1; shift
	ossl req -newkey "$@" -nodes -keyout "$n.key" -out "$n.csr" -subj "/CN=$n.example.com"
	printf 'subjectAltName=DNS:%s.example.com,DNS:*.%s.example.com,DNS:UPPER.Example.COM,IP:127.0.0.1,email:a@b\n' "$n" "$n" >"$n.ext"
	ossl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
		-extfile "$n.ext" -out "$n.crt"
}
leaf rsa rsa:2048
leaf ec ec -pkeyopt ec_paramgen_curve:P-256
leaf ed ed25519
ossl req -x509 -newkey rsa:1024 -nodes -keyout nosan.key -out nosan.crt -subj /CN=nosan -days 30
ossl pkey -in ec.key -aes128 -passout pass:secret -out ec-enc.key
ossl pkey -in rsa.key -traditional -out rsa-trad.key
emit() { # FILE MODE CRT [KEY]
	{ printf "\\x$(printf %02x "$2")"; cat "$3"; if [ $# -ge 4 ]; then printf '\xff\xfe'; cat "$4"; fi; } >"$out/$1"
}
for m in 0 1; do
	emit rsa-m$m $m rsa.crt rsa.key
	emit ec-m$m $m ec.crt ec.key
	emit ed-m$m $m ed.crt ed.key
done
cat ec.crt ca.crt >chain.crt
emit chain-m0 0 chain.crt ec.key
emit nosan-m0 0 nosan.crt nosan.key
emit mismatch-m0 0 rsa.crt ec.key
emit encrypted-m0 0 ec.crt ec-enc.key
emit traditional-m1 1 rsa.crt rsa-trad.key
emit opaque-m4 4 ec.crt ec.key
emit nokey-m0 0 ec.crt
base64 -w 64 ec.crt >ec.b64; base64 -w 0 ec.key >ec.keyb64
emit b64text-m2 2 ec.b64 ec.keyb64
base64 -w 0 rsa.key | tr '+/' '-_' >rsa.keyurl; base64 -w 76 rsa.crt | tr '+/' '-_' >rsa.crturl
emit b64url-m2 2 rsa.crturl rsa.keyurl
emit ca-m3 3 ca.crt
emit cabundle-m3 3 chain.crt
echo "wrote $(ls "$out" | wc -l) seeds to $out"
