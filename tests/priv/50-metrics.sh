#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Metrics against bytes actually sent: checksummed echo transfers of known
# size (sng_xfer verifies every byte) through the sockmap and the userspace
# engine to route app/alpha (listener infra/edge/pass, Service app/svc-a),
# then a curl scrape of --metrics: listener, route and backend byte counters
# must equal the client's bytes sent/received exactly, connection counts
# and outcomes (routed, no_route, not_tls) must match what was done, gauges
# back to 0, and /healthz, /readyz answer.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/5x-lib.inc"
command -v curl >/dev/null || skip "no curl"
"$SNIGATE" run --help | grep -q -- --metrics || skip "snigate run has no --metrics yet (not wired)"
[ -x "$XFER" ] || skip "no $XFER"
ops_setup metrics
"$TOOLS/sng_mkhello" -s alpha.test >"$TMP/h-alpha.bin" || fail "sng_mkhello"
"$TOOLS/sng_mkhello" -s nothing.test >"$TMP/h-none.bin" || fail "sng_mkhello"
ops_backend 19001 echo
MURL=http://127.0.0.1:19100

scrape() { ip netns exec "$NS" curl -sS --max-time 5 "$MURL/metrics"; }
# metric NAME LABELS-SUBSTRING: the value of the one series matching
metric() {
	scrape | awk -v n="$1" -v l="$2" 'index($0, n "{") == 1 && index($0, l) { print $2; c++ } END { if (c != 1) exit 1 }'
}
L='gateway_namespace="infra",gateway="edge",listener="pass",address="127.0.0.1",port="18443",mode="Passthrough"'
R='route_namespace="app",route="alpha"'
B='namespace="app",service="svc-a",port="443"'

for engine in sockmap userspace; do
	ops_agent "$engine" --metrics 127.0.0.1:19100
	code=$(ip netns exec "$NS" curl -s -o /dev/null -w '%{http_code}' "$MURL/healthz")
	[ "$code" = 200 ] || fail "$engine: /healthz answered $code"
	for i in $(seq 50); do
		code=$(ip netns exec "$NS" curl -s -o /dev/null -w '%{http_code}' "$MURL/readyz")
		[ "$code" = 200 ] && break
		sleep 0.1
	done
	[ "$code" = 200 ] || fail "$engine: /readyz answered $code while serving"
	ok "$engine: /healthz 200, /readyz 200"
	up=0 down=0 n=0
	for size in 1m 3m 7340033; do
		j=$(timeout 60 ip netns exec "$NS" "$XFER" client 127.0.0.1:18443 --mode echo \
			--hello "$TMP/h-alpha.bin" --bytes "$size" --timeout 30) || fail "$engine: xfer $size: $j"
		echo "$j" | grep -q '"verdict":"ok"' || fail "$engine: xfer $size: $j"
		s=$(echo "$j" | sed -n 's/.*"bytes_sent":\([0-9]*\).*/\1/p')
		r=$(echo "$j" | sed -n 's/.*"bytes_recv":\([0-9]*\).*/\1/p')
		up=$((up + s)) down=$((down + r)) n=$((n + 1))
	done
	ok "$engine: $n checksummed echo transfers, $up bytes up, $down down (client's count)"
	# rejected: unknown SNI on the listener (no_route), and not TLS at all
	timeout 10 ip netns exec "$NS" "$XFER" client 127.0.0.1:18443 --hello "$TMP/h-none.bin" \
		--bytes 0 --expect-fail --timeout 5 >/dev/null || fail "$engine: unknown SNI was not closed"
	printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 ip netns exec "$NS" socat -t 3 - TCP:127.0.0.1:18443 >/dev/null 2>&1
	# the agent adds its copied bytes when it closes: wait for that
	want="$up $down $up $down $up $down"
	for i in $(seq 50); do
		got="$(metric snigate_listener_bytes_total "$L,direction=\"up\"") $(metric snigate_listener_bytes_total "$L,direction=\"down\"")"
		got="$got $(metric snigate_route_bytes_total "$R,direction=\"up\"") $(metric snigate_route_bytes_total "$R,direction=\"down\"")"
		got="$got $(metric snigate_backend_bytes_total "$B,direction=\"up\"") $(metric snigate_backend_bytes_total "$B,direction=\"down\"")"
		[ "$got" = "$want" ] && break
		sleep 0.1
	done
	scrape >"$TMP/metrics-$engine.txt"
	[ "$got" = "$want" ] || fail "$engine: bytes listener/route/backend up,down = $got; sent $want"
	ok "$engine: listener, route and backend bytes = $up up, $down down, exactly"
	chk() { # NAME LABELS WANT
		local v
		v=$(metric "$1" "$2") || fail "$engine: no single series $1{$2}"
		[ "$v" = "$3" ] || fail "$engine: $1{$2} = $v, want $3"
	}
	chk snigate_listener_connections_total "$L" $n
	chk snigate_route_connections_total "$R" $n
	chk snigate_backend_connections_total "$B" $n
	chk snigate_listener_outcomes_total "$L,reason=\"routed\"" $n
	chk snigate_listener_outcomes_total "$L,reason=\"no_route\"" 1
	chk snigate_listener_connections_active "$L" 0
	chk snigate_route_connections_active "$R" 0
	chk snigate_backend_connections_active "$B" 0
	chk snigate_listener_connect_failures_total "$L" 0
	chk snigate_outcomes_total 'reason="routed"' $n
	chk snigate_outcomes_total 'reason="no_route"' 1
	chk snigate_outcomes_total 'reason="not_tls"' 1
	chk snigate_connections_total "engine=\"$engine\"" $n
	chk snigate_engine_info "engine=\"$engine\"" 1
	v=$(scrape | awk '$1 == "snigate_policy_serial" { print $2 }')
	[ "$v" -ge 1 ] || fail "$engine: snigate_policy_serial = '$v'"
	grep -q '^# TYPE snigate_listener_bytes_total counter$' "$TMP/metrics-$engine.txt" || fail "no TYPE line"
	grep -q '^snigate_bpf_hello_outcomes_total{reason="routed"} [0-9]' "$TMP/metrics-$engine.txt" ||
		fail "no in-kernel ClientHello outcome series (sng_chstats)"
	grep -q '^snigate_policy_generation [01]$' "$TMP/metrics-$engine.txt" || fail "no snigate_policy_generation"
	ok "$engine: connections $n, outcomes routed $n / no_route 1 / not_tls 1, gauges 0, engine $engine"
	# an open connection shows in the active gauges: a hello, then 3 s of silence
	( cat "$TMP/h-alpha.bin"; sleep 3 ) | timeout 10 ip netns exec "$NS" socat -t 1 - TCP:127.0.0.1:18443 >/dev/null 2>&1 &
	slow=$!
	for i in $(seq 20); do
		[ "$(metric snigate_listener_connections_active "$L")" = 1 ] && break
		sleep 0.1
	done
	chk snigate_listener_connections_active "$L" 1
	chk snigate_backend_connections_active "$B" 1
	wait "$slow" 2>/dev/null
	for i in $(seq 50); do
		[ "$(metric snigate_listener_connections_active "$L")" = 0 ] && break
		sleep 0.1
	done
	chk snigate_listener_connections_active "$L" 0
	ok "$engine: active gauges 1 during a connection, 0 after"
	ops_agent_stop
	# pinned counters survive a restart: start the next engine from zero
	"$SNIGATE" cleanup --pin-dir "$PIN" || fail "cleanup"
done
echo PASS
