#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Bad-input battery against a running agent while checksummed transfers run
# through both passthrough engines: every sng_badinput case gets its spec'd
# outcome (routed, or closed without a TLS alert) on the sockmap (443) and
# the userspace (444) listener, the per-CPU counters (snigate dump stats)
# move by exactly what was sent, the agent stays up, the transfers finish
# byte-exact, and fds / map entries / sockets return to baseline.
# Env: BADINPUT_SLOWLORIS (silent conns per listener, default 300; the soak
# uses 5000), BADINPUT_HALFOPEN (vanishing conns, default 20).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/4x-lib.inc"
rel_require
SLOW=${BADINPUT_SLOWLORIS:-300}
VANISH=${BADINPUT_HALFOPEN:-20}
HELLO_TIMEOUT=3
ulimit -n "$(ulimit -Hn)" 2>/dev/null
rel_setup badinput
rel_backends
rel_agent --hello-timeout "$HELLO_TIMEOUT"
sleep 0.3
stats_json >"$TMP/stats0.json" || fail "snigate dump stats"
fds0=$(agent_fds) rss0=$(agent_rss_kb)
ok "agent up: $fds0 fds, RSS $rss0 KiB"

# checksummed transfers on other connections, one loop per engine, each
# transfer read-rate limited so that several overlap the whole battery
xfer_loop() { # PORT OUT
	local rc
	while [ ! -e "$TMP/stop" ]; do
		timeout -k 2 60 ip netns exec "$NS" "$XFER" client "127.0.0.1:$1" --hello "$HELLO" \
			--bytes "${BADINPUT_XFER:-48m}" --read-rate 12m >>"$2" 2>&1
		rc=$?
		# killed by the guard (a 4 s echo that ran 60 s): a hung transfer
		[ $rc = 124 ] || [ $rc = 137 ] && echo '{"hung":60}' >>"$2"
	done
}
xfer_loop 443 "$TMP/xfer-443.json" &
L1=$!
xfer_loop 444 "$TMP/xfer-444.json" &
L2=$!
at_exit "touch $TMP/stop; kill $L1 $L2"
sleep 1

bad=0
for port in 443 444; do
	timeout -k 5 $((60 + SLOW / 50)) ip netns exec "$NS" "$TOOLS/sng_badinput" \
		--connect "127.0.0.1:$port" --sni tls.example.com --timeout $(((HELLO_TIMEOUT + 5) * 1000)) \
		--slowloris "$SLOW" --half-open "$VANISH" >"$TMP/bad-$port.json" 2>&1
	rc=$?
	sed "s/^/    $port | /" "$TMP/bad-$port.json"
	# unindented, so that the vmtest summary's excerpt shows which case
	grep '"ok":false' "$TMP/bad-$port.json" | sed "s/^/wrong outcome on $port: /"
	[ $rc -eq 0 ] || { echo "battery on $port: rc $rc"; bad=1; }
	rel_agent_alive "battery on $port"
done
[ $bad -eq 0 ] || fail "bad-input cases with the wrong outcome (see above)"
ncases=$(grep -c '"ok":true' "$TMP/bad-443.json")
ok "battery: $ncases cases x 2 engines with the spec'd outcome ($SLOW slowloris, $VANISH half-open each)"

touch "$TMP/stop"
wait $L1 $L2
for port in 443 444; do
	n=$(grep -c '"verdict"' "$TMP/xfer-$port.json")
	nok=$(grep -c '"verdict":"ok"' "$TMP/xfer-$port.json")
	by=$(jq -s '[.[] | select(.verdict=="ok") | .bytes_recv] | add // 0' "$TMP/xfer-$port.json" 2>/dev/null)
	hung=$(grep -c '"hung"' "$TMP/xfer-$port.json")
	[ "$n" -eq "$nok" ] || { cat "$TMP/xfer-$port.json"; fail "port $port: $((n - nok)) of $n transfers not byte-exact"; }
	[ "$n" -ge 2 ] || { cat "$TMP/xfer-$port.json"
		fail "port $port: only $n transfers overlapped the battery ($hung hung past their 60 s guard)"; }
	ok "port $port: $n concurrent transfers byte-exact ($by bytes echoed and verified)"
	XFER_BYTES=$(( ${XFER_BYTES:-0} + by ))
done
rel_agent_alive "after the battery"

# counters: the delta over the run is exactly what the battery sent
sleep 0.5
stats_json >"$TMP/stats1.json" || fail "snigate dump stats"
d() { echo $(( $(outcome_sum "$TMP/stats1.json" "$1") - $(outcome_sum "$TMP/stats0.json" "$1") )); }
miss=0
want() { # WHAT GOT WANT
	if [ "$2" -eq "$3" ]; then ok "counter $1: +$2"; else echo "counter $1: +$2, want +$3"; miss=1; fi
}
wantge() {
	if [ "$2" -ge "$3" ]; then ok "counter $1: +$2 (>= $3)"; else echo "counter $1: +$2, want >= $3"; miss=1; fi
}
ntx=$(cat "$TMP/xfer-443.json" "$TMP/xfer-444.json" | grep -c '"verdict"')
# routed per engine: valid, uppercase, 7 records, 1-byte records, 1-byte
# segments, PQ-sized, half-open hello (rst_after_hello may or may not route)
wantge routed "$(d routed)" $((2 * 7 + ntx))
want not_tls "$(d not_tls)" $((2 * 3))   # random bytes, HTTP, SSLv2
want "too_big+malformed" $(( $(d too_big) + $(d malformed) )) 2
want no_sni "$(d no_sni)" 2
want bad_sni "$(d bad_sni)" 2
want several_sni "$(d several_sni)" 2
want "no_listener+no_route" $(( $(d no_listener) + $(d no_route) )) 2
# Every silent connection must meet the hello deadline. A vanished one
# (half a hello, socket gone without FIN or RST) meets it too unless an RST
# reaches the gateway first: the test's own stack answers any segment sent
# to a vanished socket's 4-tuple with one, and the gateway rightly counts
# that client_closed. Seen once in 12 VM runs (5 of 20 on one listener, 6.1);
# which segment drew it is not pinned down (the obvious one, a window
# update after the gateway's late peek, did not reproduce it).
# So the deadline's count is bounded by both, and every vanished connection
# must be counted as one or the other: client_closed is otherwise exactly
# truncated_then_fin + half_open_silent, plus rst_after_hello when its RST
# beat the peek (0 or 1 per listener).
ht=$(d hello_timeout) cc=$(d client_closed)
wantge hello_timeout "$ht" $((2 * SLOW))
[ "$ht" -le $((2 * (SLOW + VANISH))) ] || { echo "counter hello_timeout: +$ht, want <= $((2 * (SLOW + VANISH)))"; miss=1; }
early=$((2 * (SLOW + VANISH) - ht))
if [ $((ht + cc)) -ge $((2 * (SLOW + VANISH) + 4)) ] && [ $((ht + cc)) -le $((2 * (SLOW + VANISH) + 6)) ]; then
	ok "counter hello_timeout+client_closed: +$ht +$cc ($early of $((2 * VANISH)) vanished connections reset before the deadline)"
else
	echo "counter hello_timeout+client_closed: +$ht +$cc, want $((2 * (SLOW + VANISH) + 4))..$((2 * (SLOW + VANISH) + 6))"
	miss=1
fi
[ $miss -eq 0 ] || jq -c '.listeners' "$TMP/stats1.json"

# nothing left behind (the last connections may still be closing: a spliced
# one forwards its FIN only once the kernel drained its redirected bytes)
for ((i = 0; i < 50; i++)); do
	[ "$(ip netns exec "$NS" ss -Htan state close-wait | wc -l)" -eq 0 ] &&
		[ "$(agent_fds)" -le $((fds0 + 4)) ] &&
		[ "$(map_entries sng_ctl)" = 0 ] && [ "$(map_entries sng_cnt)" = 0 ] && break
	sleep 0.2
done
c1=$(map_entries sng_ctl) c2=$(map_entries sng_cnt)
if [ "$c1" != 0 ] || [ "$c2" != 0 ]; then
	# what is still open, as the kernel and the agent see it
	"$SNIGATE" dump conns --pin-dir "$PIN" 2>&1 | head -20
	ip netns exec "$NS" ss -tanm | grep -v LISTEN | head -20
	kill -USR1 "$AGENT_PID"
	sleep 0.5
	grep -A6 "signal USR1" "$AGENT_LOG" | cut -c1-1200
	fail "map entries left 10 s after the last connection: sng_ctl=$c1 sng_cnt=$c2"
fi
[ "$(ip netns exec "$NS" ss -Htan state close-wait | wc -l)" -eq 0 ] || fail "CLOSE-WAIT left: $(ns_tcp_states)"
[ "$(agent_fds)" -le $((fds0 + 4)) ] || fail "agent fds $fds0 -> $(agent_fds)"
ok "after: fds $fds0 -> $(agent_fds), RSS $rss0 -> $(agent_rss_kb) KiB, sng_ctl/sng_cnt empty, no CLOSE-WAIT"
[ $miss -eq 0 ] || fail "counters do not reflect the battery (pre-routing rejections uncounted)"
echo "summary: cases=$((2 * ncases)) slowloris=$((2 * SLOW)) halfopen=$((2 * VANISH)) transfers=$ntx bytes_verified=$XFER_BYTES"
echo PASS
