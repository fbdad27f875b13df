#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Passthrough end to end: the seed's foo-route on 443 to a real
# `openssl s_server` behind foo-svc (127.0.0.1:9443) that presents its own
# foo.example.com certificate only when it receives SNI foo.example.com
# (-servername ... -cert2; any other SNI gets a "default" cert), for each
# engine: TLS 1.2 and 1.3 with s_client (verified against the test CA),
# curl --resolve, uppercase SNI routed like lowercase; unknown SNI and no
# SNI closed by the gateway with no TLS alert and no byte sent.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/2x-lib.inc"
command -v openssl >/dev/null || skip "no openssl"
command -v curl >/dev/null || skip "no curl"
dp_setup pass
PKI=$TMP/pki
mkdir -p "$PKI"
(
	cd "$PKI" || exit 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=snigate test CA" -keyout ca.key -out ca.crt
	for n in foo default; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/CN=$n.example.com" -keyout $n.key -out $n.csr
		printf 'subjectAltName=DNS:%s.example.com\n' $n >$n.ext
		openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-days 2 -extfile $n.ext -out $n.crt
	done
) >/dev/null 2>&1 || fail "test PKI"

start_backend() {
	ip netns exec "$NS" openssl s_server -accept 127.0.0.1:9443 -www -quiet \
		-cert "$PKI/default.crt" -key "$PKI/default.key" \
		-servername foo.example.com -cert2 "$PKI/foo.crt" -key2 "$PKI/foo.key" \
		>"$TMP/s_server.log" 2>&1 &
	SSERVER_PID=$!
	at_exit "kill $SSERVER_PID"
	wait_port "$NS" 9443 5 || fail "openssl s_server did not start"
}

# s_client SNI VERSION-FLAG...: prints its output; -msg shows every record
s_client() {
	local sni=$1
	shift
	echo | timeout 10 ip netns exec "$NS" openssl s_client -connect 127.0.0.1:443 \
		${sni:+-servername "$sni"} -CAfile "$PKI/ca.crt" -verify_return_error -msg "$@" 2>&1
}

start_backend
for engine in sockmap userspace; do
	dp_agent "$engine"
	for v in -tls1_3 -tls1_2; do
		out=$(s_client foo.example.com "$v")
		echo "$out" | grep -q "Verify return code: 0 (ok)" || { echo "$out" | tail -20; fail "$engine $v: verification failed"; }
		echo "$out" | grep -q "subject=CN = foo.example.com" || fail "$engine $v: client did not see the backend's foo cert"
		# "New, TLSv1.3, Cipher is ...": printed right after the handshake
		proto=$(echo "$out" | grep -m1 -o "^New, TLSv1\.[0-9]" | cut -d' ' -f2)
		case "$v:$proto" in -tls1_3:TLSv1.3 | -tls1_2:TLSv1.2) ;; *) echo "$out" | grep -v "^ *[0-9a-f]\{4\} - " | tail -30; fail "$engine $v: negotiated '$proto'" ;; esac
		ok "$engine $v: $proto through the gateway, backend cert CN=foo.example.com (backend saw SNI foo.example.com)"
	done
	out=$(s_client FOO.Example.COM -tls1_3)
	echo "$out" | grep -q "subject=CN = foo.example.com" || fail "$engine: uppercase SNI not routed to foo"
	echo "$out" | grep -q "Verify return code: 0 (ok)" || fail "$engine: uppercase SNI: verification"
	ok "$engine: SNI FOO.Example.COM routed like lowercase"

	body=$(timeout 10 ip netns exec "$NS" curl -sS --max-time 5 --cacert "$PKI/ca.crt" \
		--resolve foo.example.com:443:127.0.0.1 https://foo.example.com/ 2>&1) ||
		fail "$engine: curl: $body"
	echo "$body" | grep -q "s_server" || fail "$engine: curl got no s_server status page: $(echo "$body" | head -3)"
	ok "$engine: curl --resolve https://foo.example.com/ got the backend's status page"

	for sni in unknown.example.com ""; do
		what=${sni:-no SNI}
		out=$(s_client "$sni" -tls1_3 ${sni:+} $([ -z "$sni" ] && echo -noservername))
		echo "$out" | grep -q "<<< .*Alert" && fail "$engine: $what: the client received a TLS alert"
		echo "$out" | grep -q "<<< .*ServerHello" && fail "$engine: $what: a ServerHello came back"
		echo "$out" | grep -q "subject=" && fail "$engine: $what: a certificate came back"
		ok "$engine: $what: closed by the gateway, no TLS alert, no ServerHello"
	done
	# and byte-exact: the gateway sends nothing at all before closing
	"$TOOLS/sng_mkhello" -s unknown.example.com >"$TMP/h-unknown.bin"
	"$TOOLS/sng_mkhello" -n >"$TMP/h-nosni.bin"
	for h in h-unknown h-nosni; do
		j=$(xfer --hello "$TMP/$h.bin" --bytes 0 --expect-fail --timeout 5)
		echo "$j" | grep -q '"bytes_recv":0' || fail "$engine: $h: bytes came back: $j"
		echo "$j" | grep -q '"end":"eof"' || fail "$engine: $h: not a clean close (FIN): $j"
		ok "$engine: $h: closed with a FIN, 0 bytes sent"
	done
	nr=$(stat_sum sng_lstats 0 "reasons[11]")
	[ "$nr" -ge 2 ] || fail "$engine: sng_lstats[0] counts $nr NO_ROUTE rejections, expected >= 2"
	ok "$engine: sng_lstats[0].reasons[NO_ROUTE] = $nr"
	no_close_wait
	wait_maps_empty 5
	dp_agent_stop
done
echo PASS
