#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Certificate rotation: the listener's Secret changes on disk, the agent
# reloads (SIGHUP; the -f paths are also watched), new handshakes get the new
# certificate while a connection established before keeps working on the
# old one, and a session ticket issued before the reload still resumes (the
# ticket keys are carried over the reload).
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/terminate/lib.sh"
term_require
"$SNIGATE" run --help 2>&1 | grep -qiE 'SIGHUP|reload' ||
	skip "snigate run has no reload yet (no SIGHUP/reload in run --help)"

NS=$(new_netns rot)
PKI=$TMP/pki MAN=$TMP/manifests
mkdir -p "$PKI" "$MAN"
mk_ca "$PKI" || fail "mk_ca"
mk_leaf "$PKI" v1 ec bar.example.com || fail "mk_leaf v1"
mk_leaf "$PKI" v2 rsa bar.example.com || fail "mk_leaf v2"
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
S1=$(serial_of "$PKI/v1.leaf") S2=$(serial_of "$PKI/v2.leaf")

cat >"$MAN/gateway.yaml" <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: example-gateway-class
  listeners:
  - name: tls-terminate
    protocol: TLS
    port: 8443
    tls:
      mode: Terminate
      certificateRefs:
      - name: tls-terminate-certificate
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: bar-route
spec:
  parentRefs:
  - name: gw
  hostnames: ["bar.example.com"]
  rules:
  - backendRefs:
    - name: bar-svc
      port: 8080
YAML
service_yaml bar-svc 8080 127.0.0.1 18080 >"$MAN/svc.yaml"
secret_yaml tls-terminate-certificate "$PKI/v1" >"$MAN/secret.yaml"

start_tcpserver "$NS" 127.0.0.1:18080 bar-svc
start_snigate "$NS" "$MAN" 8443
out=$TMP/out
served_serial() {
	printf 'QUIT\n' | ip netns exec "$NS" timeout 10 openssl s_client -connect 127.0.0.1:8443 \
		-servername bar.example.com -CAfile "$PKI/ca.crt" -ign_eof "$@" 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
[ "$(served_serial)" = "$S1" ] || fail "v1 certificate not served before the rotation"
ok "v1 served"

# a long-lived connection on v1 (its stdin is a fifo we keep open)
mkfifo "$TMP/in"
ip netns exec "$NS" timeout 60 openssl s_client -connect 127.0.0.1:8443 -servername bar.example.com \
	-CAfile "$PKI/ca.crt" -ign_eof <"$TMP/in" >"$TMP/long.out" 2>&1 &
LONG=$!
at_exit "kill $LONG"
exec 7>"$TMP/in"
echo PING >&7
for ((i = 0; i < 50; i++)); do grep -qx PONG "$TMP/long.out" && break; sleep 0.1; done
grep -qx PONG "$TMP/long.out" || { show "$TMP/long.out"; fail "long connection: no PONG"; }
# a TLS 1.3 ticket from before the rotation
printf 'QUIT\n' | ip netns exec "$NS" timeout 10 openssl s_client -connect 127.0.0.1:8443 \
	-servername bar.example.com -CAfile "$PKI/ca.crt" -ign_eof -sess_out "$TMP/sess" >/dev/null 2>&1

# rotate: rewrite the Secret, then ask for a reload
secret_yaml tls-terminate-certificate "$PKI/v2" >"$MAN/secret.yaml.new"
mv "$MAN/secret.yaml.new" "$MAN/secret.yaml"
kill -HUP "$SNG_PID"
got=""
for ((i = 0; i < 50; i++)); do
	got=$(served_serial)
	[ "$got" = "$S2" ] && break
	kill -0 "$SNG_PID" 2>/dev/null || { cat "$SNG_LOG"; fail "snigate died on SIGHUP"; }
	sleep 0.1
done
if [ "$got" != "$S2" ]; then
	sed 's/^/    | /' "$SNG_LOG" | tail -n 20
	fail "after reload the old certificate is still served"
fi
ok "v2 served to new handshakes after the reload"

# the connection established on v1 still works
echo PING >&7
for ((i = 0; i < 50; i++)); do [ "$(grep -cx PONG "$TMP/long.out")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -cx PONG "$TMP/long.out")" -ge 2 ] || { show "$TMP/long.out"; fail "established connection broken by the reload"; }
echo QUIT >&7
exec 7>&-
ok "connection established before the rotation still works"

# the pre-reload ticket still resumes (keys carried over)
printf 'QUIT\n' | ip netns exec "$NS" timeout 10 openssl s_client -connect 127.0.0.1:8443 \
	-servername bar.example.com -CAfile "$PKI/ca.crt" -ign_eof -sess_in "$TMP/sess" >"$out" 2>&1
grep -q '^Reused,' "$out" || { show "$out"; fail "ticket from before the reload not accepted"; }
ok "session ticket issued before the reload resumes after it"

# a second rotation, seen by the -f directory watch alone (no signal)
secret_yaml tls-terminate-certificate "$PKI/v1" >"$MAN/secret.yaml.new"
mv "$MAN/secret.yaml.new" "$MAN/secret.yaml"
got=""
for ((i = 0; i < 30; i++)); do
	got=$(served_serial)
	[ "$got" = "$S1" ] && break
	sleep 0.1
done
[ "$got" = "$S1" ] || { sed 's/^/    | /' "$SNG_LOG" | tail -n 20; fail "rotation by file change alone not served within 3 s"; }
grep -q "policy reloaded (file change)" "$SNG_LOG" || fail "no reload by the file watch logged"
ok "rotation picked up by the file watch without SIGHUP"
