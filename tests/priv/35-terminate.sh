#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Terminate end to end: `snigate run` + real openssl s_client. The seed's
# tls-terminate listener (8443) with two certificateRefs, RSA 2048 for
# bar.example.com and ECDSA P-256 for ec.example.com/*.ec.example.com,
# (and first the seed example itself, examples/seed, with its demo CA),
# chosen by SNI; TLS 1.2 and 1.3; no ALPN by default; resumption; plaintext
# to a TCP line backend; rejections close without application data.
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/terminate/lib.sh"
term_require

# 0. the seed example verbatim: s_client -servername bar.example.com to 8443
#    sees the tls-terminate-certificate chain, verified against its CA, and
#    the plain TCP bar-svc backend answers
SEED=$SNIGATE_ROOT/examples/seed
if [ -f "$SEED/demo-ca.crt" ] && [ -f "$SEED/tls-terminate-certificate.yaml" ]; then
	NS0=$(new_netns seed)
	start_tcpserver "$NS0" 127.0.0.1:8080 bar-svc
	start_snigate "$NS0" "$SEED" 443 8443
	PKI=$TMP/seedpki; mkdir -p "$PKI"; cp "$SEED/demo-ca.crt" "$PKI/ca.crt"
	tls_ask "$NS0" 8443 bar.example.com "$TMP/seed.out" || { show "$TMP/seed.out"; fail "seed: s_client failed"; }
	verified "$TMP/seed.out" || { show "$TMP/seed.out"; fail "seed: chain not verified by demo-ca.crt"; }
	[ "$(leaf_cn "$TMP/seed.out")" = bar.example.com ] || { show "$TMP/seed.out"; fail "seed: leaf"; }
	[ "$(backend_name "$TMP/seed.out")" = bar-svc ] || { show "$TMP/seed.out"; fail "seed: no bar-svc"; }
	[ "$(backend_tls "$TMP/seed.out")" = false ] || { show "$TMP/seed.out"; fail "seed: not plaintext"; }
	ok "seed: bar.example.com on 8443 verified against demo-ca.crt, plaintext to bar-svc"
	kill "$SNG_PID"
else
	echo "note: examples/seed lacks demo-ca.crt/tls-terminate-certificate.yaml; seed check skipped"
fi

NS=$(new_netns term)
PKI=$TMP/pki MAN=$TMP/manifests
mkdir -p "$PKI" "$MAN"
mk_ca "$PKI" || fail "mk_ca"
mk_leaf "$PKI" bar rsa bar.example.com || fail "mk_leaf bar"
mk_leaf "$PKI" ec ec ec.example.com '*.ec.example.com' || fail "mk_leaf ec"

cat >"$MAN/gateway.yaml" <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: example-gateway
spec:
  gatewayClassName: example-gateway-class
  listeners:
  - name: tls-terminate
    protocol: TLS
    port: 8443
    tls:
      mode: Terminate
      certificateRefs:
      - name: bar-cert
      - name: ec-cert
  - name: tls-terminate-alpn
    protocol: TLS
    port: 8444
    tls:
      mode: Terminate
      certificateRefs:
      - name: ec-cert
      options:
        snigate.io/alpn: postgresql
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: bar-route
spec:
  parentRefs:
  - name: example-gateway
    sectionName: tls-terminate
  hostnames: ["bar.example.com", "ec.example.com", "*.ec.example.com"]
  rules:
  - backendRefs:
    - name: bar-svc
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: dead-route
spec:
  parentRefs:
  - name: example-gateway
    sectionName: tls-terminate
  hostnames: ["dead.example.com"]
  rules:
  - backendRefs:
    - name: dead-svc
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: alpn-route
spec:
  parentRefs:
  - name: example-gateway
    sectionName: tls-terminate-alpn
  hostnames: ["ec.example.com"]
  rules:
  - backendRefs:
    - name: bar-svc
      port: 8080
YAML
{
	secret_yaml bar-cert "$PKI/bar"
	secret_yaml ec-cert "$PKI/ec"
	service_yaml bar-svc 8080 127.0.0.1 18080
	service_yaml dead-svc 8080 127.0.0.1 18089 # nothing listens there
} >"$MAN/objects.yaml"

start_tcpserver "$NS" 127.0.0.1:18080 bar-svc
start_snigate "$NS" "$MAN" 8443 8444 -- --idle-timeout 2
out=$TMP/out

# 1. SNI bar.example.com: the RSA chain, verified against the CA; plaintext
#    reaches the TCP backend (it parses our lines, IS_TLS=false), both versions
for v in -tls1_3 -tls1_2; do
	tls_ask "$NS" 8443 bar.example.com "$out" $v || { show "$out"; fail "bar $v: s_client failed"; }
	verified "$out" || { show "$out"; fail "bar $v: chain not verified"; }
	[ "$(leaf_cn "$out")" = bar.example.com ] || { show "$out"; fail "bar $v: wrong leaf"; }
	grep -q 'Server public key is 2048 bit' "$out" || { show "$out"; fail "bar $v: not RSA 2048"; }
	grep -q '^ *1 s:.*CN *= *snigate test CA' "$out" || { show "$out"; fail "bar $v: chain lacks the CA"; }
	[ "$(backend_name "$out")" = bar-svc ] || { show "$out"; fail "bar $v: no backend greeting"; }
	grep -qx PONG "$out" || { show "$out"; fail "bar $v: no PONG"; }
	[ "$(backend_tls "$out")" = false ] || { show "$out"; fail "bar $v: backend leg is not plaintext"; }
	want=TLSv1.3; [ $v = -tls1_2 ] && want=TLSv1.2
	[ "$(protocol_of "$out")" = $want ] || { show "$out"; fail "bar $v: protocol $(protocol_of "$out")"; }
	ok "bar.example.com $want: RSA chain verified, plaintext backend answered"
done

# 2. the second certificateRef, chosen by SNI (exact and wildcard SAN)
for sni in ec.example.com x.ec.example.com; do
	for v in -tls1_3 -tls1_2; do
		tls_ask "$NS" 8443 $sni "$out" $v || { show "$out"; fail "$sni $v: s_client failed"; }
		verified "$out" || { show "$out"; fail "$sni $v: not verified"; }
		[ "$(leaf_cn "$out")" = ec.example.com ] || { show "$out"; fail "$sni $v: wrong leaf $(leaf_cn "$out")"; }
		grep -q 'Server public key is 256 bit' "$out" || { show "$out"; fail "$sni $v: not P-256"; }
		[ "$(backend_tls "$out")" = false ] || { show "$out"; fail "$sni $v: no backend"; }
	done
	ok "$sni: ECDSA certificate chosen by SNI (TLS 1.2 and 1.3)"
done

# 3. no ALPN advertised by default even when the client offers h2
tls_ask "$NS" 8443 bar.example.com "$out" -alpn h2,http/1.1 || fail "alpn: s_client failed"
grep -q 'No ALPN negotiated' "$out" || { show "$out"; fail "ALPN negotiated by default"; }
ok "no ALPN by default"
#    and the configured one (tls.options snigate.io/alpn) when offered
tls_ask "$NS" 8444 ec.example.com "$out" -alpn h2,postgresql || fail "alpn 8444: s_client failed"
grep -q 'ALPN protocol: postgresql' "$out" || { show "$out"; fail "configured ALPN not selected"; }
ok "configured ALPN postgresql selected"

# 4. TLS 1.1 refused
if printf '' | ip netns exec "$NS" timeout 10 openssl s_client -connect 127.0.0.1:8443 \
	-servername bar.example.com -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' >"$out" 2>&1; then
	grep -q 'Cipher is (NONE)\|Cipher    : 0000' "$out" || { show "$out"; fail "TLS 1.1 accepted"; }
fi
ok "TLS 1.1 refused"

# 5. session resumption (tickets), both versions
for v in -tls1_3 -tls1_2; do
	rm -f "$TMP/sess"
	tls_ask "$NS" 8443 bar.example.com "$out" $v -sess_out "$TMP/sess" || fail "resume $v: first"
	[ -s "$TMP/sess" ] || fail "resume $v: no session saved"
	tls_ask "$NS" 8443 bar.example.com "$out" $v -sess_in "$TMP/sess" || fail "resume $v: second"
	grep -q '^Reused,' "$out" || { show "$out"; fail "resume $v: not resumed"; }
	[ "$(backend_tls "$out")" = false ] || { show "$out"; fail "resume $v: no backend"; }
	ok "session resumed ($v)"
done

# 6. rejections close without application data
#    unknown SNI (listener has no hostname, no route): closed before the handshake
tls_ask "$NS" 8443 nope.example.org "$out"
grep -q 'no peer certificate available' "$out" || { show "$out"; fail "unknown SNI got a certificate"; }
no_app_data "$out" || fail "unknown SNI got data"
ok "unknown SNI rejected without a certificate or data"
#    backend unreachable: the handshake completes, then a plain close
tls_ask "$NS" 8443 dead.example.com "$out"
no_app_data "$out" || { show "$out"; fail "dead backend: data seen"; }
kill -0 "$SNG_PID" || fail "snigate died"
ok "unreachable backend: closed without application data"

# 7. a non-TLS client and a client that stalls mid-handshake do not hurt
printf 'GET / HTTP/1.0\r\n\r\n' | ip netns exec "$NS" timeout 5 socat - TCP:127.0.0.1:8443 >"$out" 2>&1
[ ! -s "$out" ] || { show "$out"; fail "plain HTTP got an answer"; }
tls_ask "$NS" 8443 bar.example.com "$out" || fail "after bad clients: s_client failed"
[ "$(backend_tls "$out")" = false ] || fail "after bad clients: no backend"
kill -0 "$SNG_PID" || fail "snigate died"
ok "non-TLS client closed; service still fine"
# 8. idle timeout (--idle-timeout 2): a terminated connection idle for 2 s
#    is closed; one that keeps talking is not
mkfifo "$TMP/idle.in"
ip netns exec "$NS" timeout 20 openssl s_client -connect 127.0.0.1:8443 -servername bar.example.com \
	-CAfile "$PKI/ca.crt" -ign_eof <"$TMP/idle.in" >"$TMP/idle.out" 2>&1 &
IDLE=$!
exec 8>"$TMP/idle.in"
for i in 1 2 3; do echo PING >&8; sleep 1; done
[ "$(grep -cx PONG "$TMP/idle.out")" -eq 3 ] || { show "$TMP/idle.out"; fail "active connection closed early"; }
t0=$SECONDS
while kill -0 $IDLE 2>/dev/null && [ $((SECONDS - t0)) -lt 8 ]; do sleep 0.2; done
kill -0 $IDLE 2>/dev/null && fail "idle terminated connection not closed after 8 s"
exec 8>&-
ok "idle terminated connection closed after ~$((SECONDS - t0)) s (limit 2 s), active one kept"

# 9. handshake deadline (10 s): a client that sends its ClientHello and then
#    stalls is closed by the agent, with no application data
ip netns exec "$NS" timeout 20 python3 - >"$out" 2>&1 <<'PY'
import socket, ssl, time
ctx = ssl.create_default_context()
inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, outb, server_hostname="bar.example.com")
try:
    obj.do_handshake()
except ssl.SSLWantReadError:
    pass
s = socket.create_connection(("127.0.0.1", 8443))
s.sendall(outb.read())  # the ClientHello, then silence
t0 = time.time()
s.settimeout(15)
n = 0
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        n += len(d)
except Exception as e:
    print("error", e)
print("closed after %.1f s, %d bytes (server flight)" % (time.time() - t0, n))
PY
grep -q 'closed after' "$out" || { show "$out"; fail "stalled handshake: not closed"; }
secs=$(sed -n 's/closed after \([0-9.]*\) s.*/\1/p' "$out")
awk -v s="$secs" 'BEGIN { exit !(s >= 8 && s <= 13) }' || fail "stalled handshake closed after $secs s, not ~10 s"
ok "stalled handshake closed by the deadline after $secs s"

ktls_check "$NS"
