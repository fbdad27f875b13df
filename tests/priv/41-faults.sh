#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Failing backends, on both passthrough engines (443 sockmap, 444 userspace):
#   refuses      one of three endpoints listens: every connection fails over
#   all refuse   the client is closed (FIN/RST, never a TLS alert), promptly
#   black hole   an endpoint that swallows SYNs (a veth into a netns that
#                owns no address for it): connect timeout, then failover; all
#                black-holed -> closed after attempts x timeout
#   resets       backend RST mid-stream reaches the client; client RST
#                mid-stream reaches the backend
#   half-close   client FIN after upload / backend FIN after download, both
#                with every byte checked
# The agent stays up throughout and ends with no CLOSE-WAIT and empty maps.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/4x-lib.inc"
rel_require
FLAKY_EPS="127.0.0.1 127.0.0.2 127.0.0.3" rel_setup faults

# black hole: 10.99.0.2 is routed out of vA to vB's MAC; the netns of vB
# has no such address and does not forward, so SYNs vanish without a reply
HOLE_NS=$(new_netns hole)
ip -n "$NS" link add vA type veth peer name vB netns "$HOLE_NS" || fail "veth"
ip -n "$NS" link set vA up && ip -n "$HOLE_NS" link set vB up
ip -n "$NS" addr add 10.99.0.1/24 dev vA
mac=$(ip -n "$HOLE_NS" -j link show vB | jq -r '.[0].address')
ip -n "$NS" neigh add 10.99.0.2 lladdr "$mac" dev vA nud permanent || fail "neigh"

# flaky PORT N: N echo transfers to flaky.example.com; prints max ms
flaky() {
	local port=$1 n=$2 i j t0 t max=0
	for ((i = 0; i < n; i++)); do
		t0=$(ms_now)
		j=$(timeout -k 2 20 ip netns exec "$NS" "$XFER" client "127.0.0.1:$port" \
			--hello "$HELLO_FLAKY" --bytes 256k)
		t=$(( $(ms_now) - t0 ))
		echo "$j" | grep -q '"verdict":"ok"' || { echo "transfer $i: $j" >&2; return 1; }
		[ $t -gt $max ] && max=$t
	done
	echo $max
}
# refused PORT: one connection that must be closed without data; prints ms
refused() {
	local t0 j
	t0=$(ms_now)
	j=$(timeout -k 2 30 ip netns exec "$NS" "$XFER" client "127.0.0.1:$1" \
		--hello "$HELLO_FLAKY" --bytes 64k --expect-fail --timeout 20)
	echo "$j" | grep -q '"verdict":"ok"' || { echo "$j" >&2; return 1; }
	echo $(( $(ms_now) - t0 ))
}
restart_agent() {
	kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
	rel_agent "$@"
}
snap() { stats_json >"$TMP/s-$1.json" || fail "dump stats"; }
delta() { echo $(( $(outcome_sum "$TMP/s-$2.json" "$1") - $(outcome_sum "$TMP/s-$3.json" "$1") )); }

rel_backends
# --- refuses: only 127.0.0.3 listens ------------------------------------
rel_bg flaky3 "$XFER" server 127.0.0.3:9450 --mode echo
FLAKY_PID=$BG_PID
wait_port "$NS" 9450 5 || fail "flaky backend"
rel_agent --connect-timeout 1 --connect-attempts 3
for port in 443 444; do
	m=$(flaky $port 20) || fail "port $port: a connection did not fail over from refusing endpoints"
	ok "port $port refuses: 20/20 connections failed over to the listening endpoint (max ${m} ms)"
done

# --- all refuse ------------------------------------------------------------
kill "$FLAKY_PID"; wait "$FLAKY_PID" 2>/dev/null
snap a
for port in 443 444; do
	t=$(refused $port) || fail "port $port: all endpoints refuse: not a clean close"
	# 3 refused attempts take no time; 3 connect timeouts (1 s each) would
	# take over 3 s. A loaded TCG VM needs more than 1.5 s even for the
	# refusals (1,596 ms on 6.1, 2,220 ms on 6.12, two VMs beside a host
	# test loop): there the limit is just under the 3 s.
	lim=1500
	[ "${VMTEST:-0}" = 1 ] && lim=2900
	[ "$t" -lt $lim ] || fail "port $port: close took $t ms with every endpoint refusing (limit $lim)"
	ok "port $port all refuse: client closed without data in $t ms"
done
snap b
[ "$(delta connect_fail b a)" -eq 2 ] || fail "connect_fail counter +$(delta connect_fail b a), want +2"
ok "counter connect_fail +2"
rel_agent_alive "refusing backends"

# --- black hole ------------------------------------------------------------
rel_manifests "10.99.0.2 127.0.0.3"
rel_bg flaky3 "$XFER" server 127.0.0.3:9450 --mode echo
FLAKY_PID=$BG_PID
wait_port "$NS" 9450 5 || fail "flaky backend"
restart_agent --connect-timeout 1 --connect-attempts 3
for port in 443 444; do
	m=$(flaky $port 8) || fail "port $port: no failover from a black-holed endpoint"
	[ "$m" -ge 900 ] || echo "note: port $port: no connection hit the black hole first (max $m ms)"
	[ "$m" -lt 2900 ] || fail "port $port: failover took $m ms (connect timeout 1 s)"
	ok "port $port black hole: 8/8 connections served, slowest ${m} ms (1 s connect timeout + failover)"
done
rel_manifests "10.99.0.2"
restart_agent --connect-timeout 1 --connect-attempts 3
snap c
for port in 443 444; do
	t=$(refused $port) || fail "port $port: all black-holed: not a clean close"
	[ "$t" -ge 900 ] && [ "$t" -lt 4000 ] || fail "port $port: all black-holed: closed after $t ms (want ~1 s)"
	ok "port $port all black-holed: client closed without data after $t ms"
done
snap d
[ "$(delta connect_fail d c)" -eq 2 ] || fail "connect_fail counter +$(delta connect_fail d c), want +2"
ok "counter connect_fail +2"
rel_agent_alive "black hole"
[ "$(ip netns exec "$NS" ss -Htan state syn-sent | wc -l)" -eq 0 ] || fail "SYN-SENT sockets left: $(ns_tcp_states)"

# --- resets mid-stream, half-close -------------------------------------------
rel_manifests "127.0.0.3"
restart_agent
kill "$FLAKY_PID" 2>/dev/null; wait "$FLAKY_PID" 2>/dev/null
xf() { timeout -k 2 60 ip netns exec "$NS" "$XFER" client "127.0.0.1:$1" --hello "$HELLO_FLAKY" "${@:2}"; }
be() { # MODE ARGS...: the flaky backend on 127.0.0.3:9450
	[ -n "${FLAKY_PID:-}" ] && { kill "$FLAKY_PID" 2>/dev/null; wait "$FLAKY_PID" 2>/dev/null; }
	FLAKY_LOG=$TMP/flaky-$RANDOM.json
	rel_bg flaky3 "$XFER" server 127.0.0.3:9450 --mode "$1" "${@:2}" --report "$FLAKY_LOG"
	FLAKY_PID=$BG_PID
	wait_port "$NS" 9450 5 || fail "flaky backend ($1)"
}
for port in 443 444; do
	be source --hello "$HELLO_FLAKY" --bytes 64m --rst-after 2m
	j=$(xf $port --mode down --bytes 64m --timeout 5)
	echo "$j" | grep -q '"end":"reset"' || fail "port $port: backend RST mid-stream not seen by the client: $j"
	ok "port $port backend reset mid-stream -> client reset ($(echo "$j" | jq -c '{bytes_recv,secs}'))"
	be echo
	j=$(xf $port --bytes 64m --rst-after 2m)
	t0=$(ms_now)
	echo "$j" | grep -q '"end":"sent-rst"' || fail "port $port: client did not reset: $j"
	for ((i = 0; i < 300; i++)); do grep -qs '"end"' "$FLAKY_LOG" && break; sleep 0.01; done
	grep -q '"end":"reset"\|"end":"eof"' "$FLAKY_LOG" || fail "port $port: backend still open 3 s after the client's RST"
	ok "port $port client reset mid-stream -> backend closed in $(( $(ms_now) - t0 )) ms"
	be sink --hello "$HELLO_FLAKY"
	j=$(xf $port --mode up --bytes 128m)
	echo "$j" | grep -q '"verdict":"ok"' || fail "port $port: upload + client FIN: $j"
	ok "port $port client half-close after 128 MiB up: backend saw every byte, then FIN"
	be source --hello "$HELLO_FLAKY" --bytes 128m
	j=$(xf $port --mode down --bytes 128m --shut-early)
	echo "$j" | grep -q '"verdict":"ok"' || fail "port $port: download after early client FIN: $j"
	sleep 0.2
	grep -q '"end":"eof".*"verdict":"ok"' "$FLAKY_LOG" || fail "port $port: backend did not see the early FIN: $(cat "$FLAKY_LOG")"
	ok "port $port backend half-close: 128 MiB down after the client's early FIN, byte-exact"
done
rel_agent_alive "resets and half-close"

sleep 0.5
[ "$(ip netns exec "$NS" ss -Htan state close-wait | wc -l)" -eq 0 ] || fail "CLOSE-WAIT left: $(ns_tcp_states)"
c1=$(map_entries sng_ctl) c2=$(map_entries sng_cnt)
[ "$c1" = 0 ] && [ "$c2" = 0 ] || fail "map entries left: sng_ctl=$c1 sng_cnt=$c2"
ok "no CLOSE-WAIT, sng_ctl/sng_cnt empty"
echo PASS
