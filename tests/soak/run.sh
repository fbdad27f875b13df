#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Soak (`make soak`, root): SOAK_CONNS (default 5000) concurrent long-lived
# connections through one agent for SOAK_SECONDS (default 180): 40 % on the
# sockmap Passthrough listener, 30 % userspace Passthrough, 30 % Terminate
# (real TLS), each streaming a checked pattern to an echo backend; midway
# the bad-input battery runs with SOAK_SLOWLORIS (default 5000) silent
# connections. Asserts 0 bytes lost or corrupted, the agent alive, and fds,
# map entries and sockets back to baseline afterwards; two more rounds of
# SOAK_ROUND2 s (default 30) under the same load must not grow RSS (a leak),
# and RSS must come back within SOAK_RSS_SLACK_KB of the baseline.
# SOAK_BATTERY_TIMEOUT_MS (default 13000) is the battery's --timeout: the
# slowloris connections must be closed that long after the last connect
# (hello deadline 10 s + slack for a loaded machine).
# SOAK_MIX="S U T" (default "40 30 30") sets the percentages of the three
# groups (0 leaves a group out: to look at one engine's memory alone).
set -u
export SNIGATE_ROOT=${SNIGATE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
export BUILD=${BUILD:-build}
. "$SNIGATE_ROOT/tests/lib.sh"
. "$SNIGATE_ROOT/tests/priv/4x-lib.inc"
rel_require
[ -x "$TOOLS/sng_soak" ] || skip "no $TOOLS/sng_soak: run make tests"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
SECS=${SOAK_SECONDS:-180}
CONNS=${SOAK_CONNS:-5000}
SLOW=${SOAK_SLOWLORIS:-5000}
RATE=${SOAK_RATE:-4k}
RSS_SLACK=${SOAK_RSS_SLACK_KB:-65536}
read -r M1 M2 M3 <<<"${SOAK_MIX:-40 30 30}"
N1=$((CONNS * M1 / 100)) N2=$((CONNS * M2 / 100))
N3=$((CONNS * (M1 + M2 + M3) / 100 - N1 - N2))
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -ge $((2 * CONNS + SLOW + 1000)) ] ||
	skip "open-file limit $(ulimit -n) too low for $CONNS conns + $SLOW slowloris (agent holds 2 per conn)"

rel_setup soak
# keep the logs (agent, clients, battery, counters) after the run
LOGS=$SNIGATE_ROOT/$BUILD/test-logs/soak
rm -rf "$LOGS" && mkdir -p "$LOGS"
at_exit "cp $TMP/*.log $TMP/*.json $LOGS/ 2>/dev/null; \"$SNIGATE\" dump stats --pin-dir $PIN -o json >$LOGS/stats.json 2>&1"
rel_bg echo-pt "$TOOLS/sng_soak" server --listen 127.0.0.1:9443
rel_bg echo-term "$TOOLS/sng_soak" server --listen 127.0.0.1:9500
rel_bg tls-be "$TOOLS/sng_tcpserver" --listen 127.0.0.1:9444 --name tls-svc \
	--cert "$PKI/tls.crt" --key "$PKI/tls.key"
wait_port "$NS" 9443 5 && wait_port "$NS" 9500 5 && wait_port "$NS" 9444 5 || fail "backends"
rel_agent
sleep 1
# TCP sockets still open (TIME-WAIT is the kernel's, not a leak; LISTEN is ours)
sock_count() { ip netns exec "$NS" ss -Htan | grep -vcE '^(LISTEN|TIME-WAIT)'; }
fds0=$(agent_fds) rss0=$(agent_rss_kb) socks0=$(sock_count)
echo "baseline: agent fds $fds0, RSS $rss0 KiB, TCP sockets (non-listening) $socks0, sng_ctl $(map_entries sng_ctl), sng_cnt $(map_entries sng_cnt)"
echo "soak: $CONNS connections ($N1 sockmap, $N2 userspace, $N3 terminate) for $SECS s at $RATE/s each"

client() { # NAME PORT N SECS ARGS...
	local name=$1 port=$2 n=$3 secs=$4
	shift 4
	if [ "$n" -eq 0 ]; then # group left out (SOAK_MIX): an empty, passing report
		echo '{"verdict":"ok","bytes_lost":0,"bytes_verified":0,"conns":0}' >"$TMP/$name.json"
		eval "PID_$name=0"
		return
	fi
	ip netns exec "$NS" "$TOOLS/sng_soak" client --connect "127.0.0.1:$port" --conns "$n" \
		--seconds "$secs" --rate "$RATE" "$@" >"$TMP/$name.json" 2>&1 &
	eval "PID_$name=$!"
	at_exit "kill -9 $!"
}
# round SECS BATTERY: one round of the three client groups (the battery in
# its first third when BATTERY=1); adds to $bytes, fails on any loss
bytes=0
round() {
	local secs=$1 battery=$2 start=$SECONDS next_print=30 t f r c n j brc
	client sockmap 443 "$N1" "$secs" --hello "$HELLO"
	client user 444 "$N2" "$secs" --hello "$HELLO"
	client term 8443 "$N3" "$secs" --tls term.example.com --ca "$PKI/ca.crt"
	while { [ "$PID_sockmap" != 0 ] && kill -0 "$PID_sockmap" 2>/dev/null; } ||
		{ [ "$PID_user" != 0 ] && kill -0 "$PID_user" 2>/dev/null; } ||
		{ [ "$PID_term" != 0 ] && kill -0 "$PID_term" 2>/dev/null; }; do
		sleep 5
		t=$((SECONDS - start))
		rel_agent_alive "soak at ${t}s"
		f=$(agent_fds) r=$(agent_rss_kb) c=$(map_entries sng_ctl)
		[ "$f" -gt $peak_fds ] && peak_fds=$f
		[ "$r" -gt $peak_rss ] && peak_rss=$r
		[ "$c" -gt $peak_ctl ] && peak_ctl=$c
		[ $t -ge $next_print ] && next_print=$((next_print + 30)) &&
			echo "  ${t}s: agent fds $f, RSS $r KiB, sng_ctl $c, sockets $(sock_count)"
		if [ "$battery" = 1 ] && [ $t -ge $((secs / 3)) ]; then
			battery=done
			echo "  ${t}s: bad-input battery with $SLOW slowloris connections on 443"
			timeout -k 5 $((120 + SLOW / 50)) ip netns exec "$NS" "$TOOLS/sng_badinput" \
				--connect 127.0.0.1:443 --sni tls.example.com --timeout "${SOAK_BATTERY_TIMEOUT_MS:-13000}" \
				--slowloris "$SLOW" --half-open 100 >"$TMP/battery.json" 2>&1
			brc=$?
			echo "  $((SECONDS - start))s: battery: $(tail -n 1 "$TMP/battery.json")"
			[ $brc -eq 0 ] || { cat "$TMP/battery.json"; fail "bad-input battery during the soak"; }
		fi
		[ $t -gt $((secs + 300)) ] && fail "soak clients still running $t s after start"
	done
	for n in sockmap user term; do
		j=$(cat "$TMP/$n.json")
		echo "  $n: $j"
		echo "$j" | grep -q '"verdict":"ok"' || fail "$n clients: not every connection verified every byte"
		[ "$(echo "$j" | jq .bytes_lost)" -eq 0 ] || fail "$n: bytes lost"
		bytes=$((bytes + $(echo "$j" | jq .bytes_verified)))
	done
	[ "$battery" != 1 ] || fail "the battery did not run"
}
# settle: wait until fds, map entries and sockets are back to baseline,
# then 2 s more: the agent trims its heap MEMTRIM_DELAY_MS (1 s) after a
# burst of connection ends (agent/memtrim.h), and RSS is read after that
settle() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(agent_fds)" -le "$fds0" ] && [ "$(map_entries sng_ctl)" = 0 ] &&
			[ "$(map_entries sng_cnt)" = 0 ] && [ "$(sock_count)" -le "$socks0" ] && break
		sleep 0.2
	done
	sleep 2
}

peak_fds=0 peak_rss=0 peak_ctl=0
cpu0=$(awk '{ print $14 + $15 }' "/proc/$AGENT_PID/stat")
round "$SECS" 1
settle
rss_r1=$(agent_rss_kb)
echo "round 1 done: agent RSS $rss_r1 KiB; rounds 2 and 3 (${SOAK_ROUND2:-30} s each, same load) tell retention from a leak"
round "${SOAK_ROUND2:-30}" 0
settle
rss_r2=$(agent_rss_kb)
echo "round 2 done: agent RSS $rss_r2 KiB"
round "${SOAK_ROUND2:-30}" 0
cpu1=$(awk '{ print $14 + $15 }' "/proc/$AGENT_PID/stat")

# back to baseline
settle
fds1=$(agent_fds) rss1=$(agent_rss_kb) socks1=$(sock_count)
c1=$(map_entries sng_ctl) c2=$(map_entries sng_cnt)
echo "after: agent fds $fds0 -> peak $peak_fds -> $fds1; RSS $rss0 -> peak $peak_rss -> $rss1 KiB; sng_ctl peak $peak_ctl -> $c1, sng_cnt $c2; sockets $socks0 -> $socks1 ($(ns_tcp_states))"
echo "agent CPU over the soak: $(( (${cpu1%.*} - ${cpu0%.*}) * 1000 / $(getconf CLK_TCK) )) ms"
[ "$fds1" -le "$fds0" ] || fail "agent fds not back to baseline: $fds0 -> $fds1"
[ "$c1" = 0 ] && [ "$c2" = 0 ] || fail "map entries left: sng_ctl=$c1 sng_cnt=$c2"
[ "$socks1" -le "$socks0" ] || fail "sockets left in the netns: $socks0 -> $socks1 ($(ns_tcp_states))"
echo "RSS: baseline $rss0, after round 1 $rss_r1, round 2 $rss_r2, round 3 $rss1 KiB"
[ $((rss1 - rss_r2)) -le 8192 ] || fail "agent RSS grew from round 2 to round 3 under the same load: $rss_r2 -> $rss1 KiB (leak)"
[ $((rss1 - rss0)) -le "$RSS_SLACK" ] || fail "agent RSS not back to baseline: $rss0 -> $rss1 KiB, more than $RSS_SLACK KiB above (retention or leak: bugs-reliability.md B11)"
rel_agent_alive "end of soak"
echo "soak: PASS: $CONNS conns x ($SECS + 2 x ${SOAK_ROUND2:-30}) s, $bytes bytes echoed and verified, 0 lost; battery with $SLOW slowloris passed"
