#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Zero-downtime restart: `snigate run --takeover` (TAKEOVERS times, default
# 2) in the middle of a 1 GiB checksummed echo and four 128 MiB ones through
# the sockmap engine (rate-limited readers, so flow-control pauses are
# handed over too), with a probe connection every 50 ms throughout. Asserts
# 0 bytes lost or changed, no probe refused or failed (before, during,
# after), each old agent exits 0 within 5 s, every open connection runs in
# the new agent, its access log has the whole transfer; a takeover that fails
# after the freeze leaves the old agent serving. Then the same with
# the userspace engine (256 MiB), and a Terminate session that must keep
# working in the old agent (it drains it) while new ones go to the new agent.
# TAKEOVERS=0: the same transfers without a takeover (a baseline).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/2x-lib.inc"
TAKEOVERS=${TAKEOVERS:-2}
dp_setup takeover
TKS="$TMP/run/takeover.sock"
# Any agent's BPF load (a takeover's new agent, or one of another test)
# stalls this shared host's agents for seconds under load: the probes check
# that every connection is served, not how fast, so the hello deadline and
# the probe timeout are generous.
HT=(--hello-timeout 30)
ALOG="$TMP/access.log"
NTK=0
log_ms() { date -d "$(grep "$2" "$1" | tail -1 | cut -d' ' -f1)" +%s%3N; }

# start ENGINE [ARGS...]: an agent ($AGENT_PID, $AGENT_LOG) on the hand-over socket
start() {
	local engine=$1
	shift
	dp_agent "$engine" --takeover-socket "$TKS" --control-socket none --access-log "$ALOG" \
		"${HT[@]}" ${TK_VERBOSE:+-v} "$@"
	for ((i = 0; i < 50; i++)); do [ -S "$TKS" ] && break; sleep 0.1; done
	[ -S "$TKS" ] || fail "no hand-over socket at $TKS"
	[ "$(stat -c %a "$TKS")" = 600 ] || fail "hand-over socket mode $(stat -c %a "$TKS"), not 600"
}

# takeover ENGINE: a new agent takes over from $AGENT_PID; waits until it
# runs the handed-over connections and the old one exited 0
takeover() {
	local engine=$1 old=$AGENT_PID oldlog=$AGENT_LOG i rc t0 t1 t2 line
	NTK=$((NTK + 1))
	# bytes the busiest spliced socket moved so far (kernel counters)
	"$SNIGATE" dump conns --pin-dir "$PIN" -o json 2>/dev/null |
		jq '[.[] | .redirected + .passed] | max // 0' >"$TMP/pos$NTK"
	AGENT_LOG="$TMP/agent-$engine-new$NTK.log"
	t0=$(ms_now)
	echo "$t0" >>"$TMP/takeover.times"
	: >"$AGENT_LOG"
	ip netns exec "$NS" "$SNIGATE" run -f "$MANIFESTS" --pin-dir "$PIN" --engine "$engine" \
		--workers 2 --takeover --takeover-socket "$TKS" --control-socket none \
		--access-log "$ALOG" "${HT[@]}" ${TK_VERBOSE:+-v} >"$AGENT_LOG" 2>&1 &
	AGENT_PID=$!
	at_exit "kill -9 $AGENT_PID"
	# (up to 30 s: the new agent compiles and loads BPF on a shared machine)
	for ((i = 0; i < 300; i++)); do
		grep -q "takeover: running" "$AGENT_LOG" && break
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "takeover: running" "$AGENT_LOG" ||
		{ cat "$AGENT_LOG"; tail -20 "$oldlog"; fail "takeover $NTK: the new agent did not take over"; }
	for ((i = 0; i < 50; i++)); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$old" 2>/dev/null && { tail -20 "$oldlog"; fail "takeover $NTK: old agent $old still runs 5 s later"; }
	wait "$old"
	rc=$?
	[ "$rc" = 0 ] || { tail -20 "$oldlog"; fail "takeover $NTK: old agent exited $rc"; }
	grep -q "snigate info: stopped" "$oldlog" || fail "takeover $NTK: old agent did not stop cleanly"
	for ((i = 0; i < 20; i++)); do grep -q "takeover: PID $old exited" "$AGENT_LOG" && break; sleep 0.1; done
	grep -q "takeover: PID $old exited" "$AGENT_LOG" || fail "takeover $NTK: new agent did not see the old one exit"
	echo "$(ms_now)" >>"$TMP/takeover.times"
	# the window in which nobody serves: the old agent froze -> the new one runs
	t1=$(log_ms "$oldlog" "takeover: stopped accepting")
	t2=$(log_ms "$AGENT_LOG" "takeover: running")
	line=$(grep -o "running .* listening sockets" "$AGENT_LOG")
	ok "takeover $NTK ($engine): $line; frozen for $((t2 - t1)) ms; old agent exited 0 $(( $(ms_now) - t0 )) ms after the exec"
	# TK_LOGS=DIR keeps the agents' logs
	[ -n "${TK_LOGS:-}" ] && cp "$oldlog" "$AGENT_LOG" "$TK_LOGS/"
	grep -q "takeover: running [1-9]" "$AGENT_LOG" || [ "$engine" != sockmap ] ||
		fail "takeover $NTK: no spliced connection was handed over"
}

# failed_takeover: a new agent that fails after the old one froze everything
# (its explicit control socket cannot be created): the old one must thaw
# and serve on, and can be taken over afterwards
failed_takeover() {
	local log="$TMP/agent-failed.log" pid rc i
	ip netns exec "$NS" "$SNIGATE" run -f "$MANIFESTS" --pin-dir "$PIN" --engine sockmap \
		--workers 2 --takeover --takeover-socket "$TKS" \
		--control-socket /proc/snigate-none/control.sock >"$log" 2>&1 &
	pid=$!
	at_exit "kill -9 $pid"
	wait "$pid"
	rc=$?
	[ "$rc" != 0 ] || { cat "$log"; fail "the failing takeover exited 0"; }
	grep -q "takeover: received" "$log" || { cat "$log"; fail "the failing takeover did not get as far as receiving"; }
	for ((i = 0; i < 50; i++)); do grep -q "takeover by PID $pid failed" "$AGENT_LOG" && break; sleep 0.1; done
	grep -q "takeover by PID $pid failed" "$AGENT_LOG" || { tail -20 "$AGENT_LOG"; fail "the old agent did not notice the failed takeover"; }
	kill -0 "$AGENT_PID" 2>/dev/null || fail "the old agent exited after a failed takeover"
	for ((i = 0; i < 50; i++)); do [ -S "$TKS" ] && break; sleep 0.1; done
	[ -S "$TKS" ] || fail "the old agent did not recreate its hand-over socket"
	ok "failed takeover (exit $rc after receiving): $(grep -o "resuming [0-9]* connections" "$AGENT_LOG"); the old agent serves on"
}

probes_check() {
	local n bad t e first last during after i max
	# a few probes after the last takeover, before stopping the loop
	last=$(tail -1 "$TMP/takeover.times" 2>/dev/null || echo 0)
	for ((i = 0; i < 200; i++)); do
		[ "$(awk -v l="$last" '$1 > l' "$TMP/probe.log" | wc -l)" -ge 3 ] && break
		sleep 0.1
	done
	touch "$TMP/probe.stop"
	wait "$PROBE_PID"
	n=$(wc -l <"$TMP/probe.log")
	bad=$(grep -vc '"verdict":"ok"' "$TMP/probe.log")
	[ "$bad" = 0 ] || { grep -v '"verdict":"ok"' "$TMP/probe.log" | head -5; fail "$1: $bad of $n probe connections failed"; }
	first=$(head -1 "$TMP/takeover.times" 2>/dev/null || echo 0)
	last=$(tail -1 "$TMP/takeover.times" 2>/dev/null || echo 0)
	during=0 after=0
	# during: the probe's connection overlapped a takeover's interval
	while read -r t e _; do
		[ "$e" -ge "$first" ] && [ "$t" -le "$last" ] && during=$((during + 1))
		[ "$t" -gt "$last" ] && after=$((after + 1))
	done <"$TMP/probe.log"
	if [ "$NTK" -gt 0 ]; then
		[ "$during" -gt 0 ] || fail "$1: no probe connection ran during the takeovers"
		[ "$after" -gt 0 ] || fail "$1: no probe connection after the last takeover"
	fi
	max=$(awk '{ d = $2 - $1; if (d > m) m = d } END { print m + 0 }' "$TMP/probe.log")
	ok "$1: $n probe connections, all served ($during during the takeovers, $after after; slowest $max ms)"
	rm -f "$TMP/probe.stop" "$TMP/probe.log" "$TMP/takeover.times"
}


# ---- sockmap: 1 GiB + 4 x 128 MiB ------------------------------------------
start sockmap
grep -q "info: sockmap engine" "$AGENT_LOG" || { cat "$AGENT_LOG"; fail "not the sockmap engine"; }
dp_backend echo
: >"$ALOG"
probe_loop &
PROBE_PID=$!
at_exit "kill $PROBE_PID"
# the kernel's per-socket counters every second (a hung transfer's record)
stall_watch "run -f $MANIFESTS --pin-dir $PIN"
BIG_T0=$(ms_now)
xfer --hello "$HELLO" --bytes 1g --read-rate 80m --timeout 100 >"$TMP/big.json" 2>&1 &
BIG=$!
SMALL=()
for k in 1 2 3 4; do
	xfer --hello "$HELLO" --bytes 128m --read-rate 24m --timeout 100 >"$TMP/small$k.json" 2>&1 &
	SMALL+=($!)
done
sleep 2
[ "$TAKEOVERS" -gt 0 ] && failed_takeover
sleep 1
for ((r = 1; r <= TAKEOVERS; r++)); do
	takeover sockmap
	sleep 1
done
if [ "$TAKEOVERS" -gt 0 ]; then
	# the lock went with the open file: the old agents' exits released nothing
	third=$(ip netns exec "$NS" timeout 20 "$SNIGATE" run -f "$MANIFESTS" --pin-dir "$PIN" \
		--takeover-socket none --control-socket none 2>&1)
	rc=$?
	[ "$rc" = 1 ] && echo "$third" | grep -q "in use by another snigate run (it took the lock over" ||
		fail "a third agent on the pin directory was not refused (exit $rc): $third"
	ok "pin directory still locked by the last agent: a third agent exits 1 ($(echo "$third" | grep -o 'in use by.*'))"
fi
wait "$BIG"
BIG_T1=$(ms_now)
kill "$STALL_MON" 2>/dev/null
# a transfer that did not end well: what the kernel counters did before
grep -q '"verdict":"ok"' "$TMP/big.json" || stall_report "the 1 GiB echo"

cp "$TMP/takeover.times" "$TMP/takeover.times.all" 2>/dev/null
for p in "${SMALL[@]}"; do wait "$p"; done
probes_check sockmap
j=$(cat "$TMP/big.json")
expect_ok "sockmap 1 GiB echo across $TAKEOVERS takeovers" "$j"
for k in 1 2 3 4; do expect_ok "sockmap 128 MiB echo $k across $TAKEOVERS takeovers" "$(cat "$TMP/small$k.json")"; done
if [ "$TAKEOVERS" -gt 0 ] && echo "$j" | grep -q '"verdict":"ok"'; then
	total=$(echo "$j" | jq '.bytes_sent')
	# every takeover began after the 1 GiB echo started, ended before it did
	first=$(head -1 "$TMP/takeover.times.all")
	last=$(tail -1 "$TMP/takeover.times.all")
	[ "$BIG_T0" -lt "$first" ] && [ "$BIG_T1" -gt "$last" ] ||
		fail "the takeovers ($first..$last ms) were not inside the 1 GiB echo ($BIG_T0..$BIG_T1 ms)"
	ok "all $NTK takeovers inside the 1 GiB echo: it ran $((first - BIG_T0)) ms before the first, $((BIG_T1 - last)) ms after the last (busiest spliced socket at $(cat "$TMP/pos1")$( [ "$NTK" -gt 1 ] && echo " and $(cat "$TMP/pos2")") bytes when they began)"
	# the last agent logs the whole connection, bytes of every agent included
	for ((i = 0; i < 20; i++)); do grep -q '"bytesUp":'"$total" "$ALOG" && break; sleep 0.1; done
	n=$(grep -c '"bytesUp":'"$total"',"bytesDown":'"$total" "$ALOG")
	[ "$n" = 1 ] || { grep -v '"bytesUp":16' "$ALOG" | head -5
		fail "access log: $n lines (not 1) with $total bytes each way for the 1 GiB echo"; }
	n=$(grep -c '"bytesUp":134217905,"bytesDown":134217905' "$ALOG")
	[ "$n" = 4 ] || fail "access log: $n lines (not 4) for the 128 MiB echoes"
	ok "access log: one line each for the 1 GiB and the 128 MiB echoes, with every byte of every agent"
fi
sleep 0.5
no_close_wait
kill "$BACKEND_PID"; BACKEND_PID=
dp_agent_stop
wait_maps_empty 5
ok "sockmap: no CLOSE-WAIT; sng_ctl/sng_cnt empty after the last agent stopped"

# ---- userspace engine: 256 MiB ---------------------------------------------
NTK=0
start userspace
dp_backend echo
probe_loop &
PROBE_PID=$!
at_exit "kill $PROBE_PID"
xfer --hello "$HELLO" --bytes 256m --read-rate 48m --timeout 60 >"$TMP/us.json" 2>&1 &
US=$!
sleep 2
[ "$TAKEOVERS" -gt 0 ] && takeover userspace
wait "$US"
probes_check userspace
expect_ok "userspace 256 MiB echo across $([ "$TAKEOVERS" -gt 0 ] && echo 1 || echo 0) takeover" "$(cat "$TMP/us.json")"
kill "$BACKEND_PID"; BACKEND_PID=
dp_agent_stop

# ---- Terminate: not handed over, drained by the old agent ------------------
if [ "$TAKEOVERS" -gt 0 ]; then
	start sockmap --drain-timeout 20
	OLD=$AGENT_PID OLDLOG=$AGENT_LOG
	ip netns exec "$NS" "$TOOLS/sng_tcpserver" --listen 127.0.0.1:8080 --name bar >/dev/null 2>&1 &
	at_exit "kill -9 $!"
	wait_port "$NS" 8080 5 || fail "bar backend did not listen"
	mkfifo "$TMP/tin"
	ip netns exec "$NS" timeout 60 openssl s_client -connect 127.0.0.1:8443 -servername bar.example.com \
		-quiet <"$TMP/tin" >"$TMP/tout" 2>/dev/null &
	SC=$!
	at_exit "kill -9 $SC"
	exec 3>"$TMP/tin"
	echo "line-before" >&3
	for ((i = 0; i < 50; i++)); do grep -q line-before "$TMP/tout" && break; sleep 0.1; done
	grep -q line-before "$TMP/tout" || fail "Terminate session: no echo before the takeover"
	AGENT_LOG="$TMP/agent-term-new.log"
	: >"$AGENT_LOG"
	ip netns exec "$NS" "$SNIGATE" run -f "$MANIFESTS" --pin-dir "$PIN" --engine sockmap \
		--workers 2 --takeover --takeover-socket "$TKS" --control-socket none >"$AGENT_LOG" 2>&1 &
	AGENT_PID=$!
	at_exit "kill -9 $AGENT_PID"
	for ((i = 0; i < 300; i++)); do grep -q "takeover: running" "$AGENT_LOG" && break; sleep 0.1; done
	grep -q "takeover: running" "$AGENT_LOG" || { cat "$AGENT_LOG"; fail "Terminate phase: no takeover"; }
	sleep 0.5
	kill -0 "$OLD" 2>/dev/null || fail "the old agent exited with a Terminate session open (no drain)"
	echo "line-after" >&3
	for ((i = 0; i < 50; i++)); do grep -q line-after "$TMP/tout" && break; sleep 0.1; done
	grep -q line-after "$TMP/tout" || fail "Terminate session: no echo while the old agent drains"
	j=$(echo hi | ip netns exec "$NS" timeout 5 openssl s_client -connect 127.0.0.1:8443 \
		-servername bar.example.com -quiet 2>/dev/null | head -2 | tr '\n' ' ')
	echo "$j" | grep -q "Gateway API Test TCP Server bar hi" || fail "new Terminate connection after the takeover: $j"
	exec 3>&-
	kill "$SC" 2>/dev/null
	for ((i = 0; i < 50; i++)); do kill -0 "$OLD" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$OLD" 2>/dev/null && fail "the old agent still runs 5 s after its last Terminate session ended"
	wait "$OLD" || fail "the draining old agent exited non-zero"
	grep -q "drained: every connection ended" "$OLDLOG" || fail "the old agent did not log a complete drain"
	ok "Terminate: the open session kept working in the old agent until it ended, then it exited 0; new sessions went to the new agent"
	dp_agent_stop
fi
[ -e "$TKS" ] && fail "hand-over socket $TKS left after the stop"
ok "hand-over socket removed on stop"
echo PASS
