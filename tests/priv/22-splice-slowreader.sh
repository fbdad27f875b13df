#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Bounded memory with a slow reader in each direction (sockmap engine):
# the bytes held inside the proxy (sent by one end minus its own unsent
# queue, minus what the other end read or holds unread) stay under
#   budget          the psock queue (redirected, not yet in the peer's TCP
#                   write queue: unaccounted by TCP, so the verdict pauses
#                   the direction at --conn-budget)
#   + rcvbuf        the paused socket's receive queue: at the first pause
#                   the agent fixes its SO_RCVBUF at budget / 2 (never
#                   below 4 x MSS: 256 KiB on loopback), or where receive
#                   autotuning had grown it, never lower; where
#                   net.core.rmem_max is too small for that, autotuning
#                   keeps it (up to tcp_rmem[2]). Its largest value is
#                   sampled with ss while running, as max(budget / 2, it)
#   + sndbuf        the reader-side socket's write queue (ordinary TCP
#                   memory; its sndbuf sampled with ss while running)
#   + 1 MiB         measurement tolerance (the two ends sample 100 ms apart
#                   at 8 MB/s; skb granularity; the agent's 256 KiB buffer).
# With flow control off (--conn-budget 0) the same run holds far more, so
# the test can fail.
# Then the same bound for an echo whose client writes at full speed and reads
# slowly (a slow reader and a fast writer on one socket, both directions
# paused): bugs B13, where the bytes a socket passed sat unaccounted behind
# the bytes redirected to it, its window stayed open and 192 MB piled up in
# the proxy's client socket (2 MiB rcvbuf) before the verdict redirected only
# what the peer's write queue takes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/2x-lib.inc"
dp_setup slow
BUDGET=$((4 * 1024 * 1024))
# reader speed, bytes/s. VMTEST=1: 4m, so that a TCG guest's slower sender
# still outruns the reader by enough for the control below (a 6.1 and a 7
# guest beside a third VM on a slower host sent ~10 MB/s: 20 MB held in 8 s)
[ "${VMTEST:-0}" = 1 ] && : "${SLOW_RATE:=4m}"
RATE=${SLOW_RATE:-8m}
# VMTEST=1: the timeout below also covers `ip netns exec` + start-up, which
# takes 1-2 s in a loaded TCG guest; 8 s leaves the transfer its ~4 s
[ "${VMTEST:-0}" = 1 ] && : "${SLOW_SECS:=8}"
SECS=${SLOW_SECS:-4}

# skmem_sampler FIELD FILTER OUT: while the transfer runs, sample the ss
# skmem FIELD (rb = rcvbuf, tb = sndbuf) of the proxy socket matching
# FILTER; the largest value seen is kept in OUT
skmem_sampler() {
	local field=$1 filter=$2 out=$3 m=0 v
	while :; do
		for v in $(ip netns exec "$NS" ss -Htmn state established "$filter" |
			   grep -o "$field[0-9]*" | tr -d a-z); do
			[ "$v" -gt "$m" ] && m=$v && echo "$m" >"$out"
		done
		sleep 0.2
	done
}

# held SENDER_FILE RECEIVER_FILE: max over the sender's samples of
# (sent - sender queue) - (received + receiver queue at that time)
held() {
	# the receiver's samples are interpolated to the sender's sample times
	# (100 ms apart, a stale sample would count 800 KB at 8 MB/s as held)
	awk 'FNR == NR { rt[n] = $1; rb[n] = $2; rq[n] = $3; n++; next }
	     { while (k + 1 < n && rt[k + 1] <= $1) k++
	       if (n < 2 || rt[k] > $1 || k + 1 >= n) next
	       f = ($1 - rt[k]) / (rt[k + 1] - rt[k])
	       r = rb[k] + (rb[k + 1] - rb[k]) * f + rq[k] + (rq[k + 1] - rq[k]) * f
	       h = ($2 - $3) - r; if (h > m) m = h }
	     END { printf "%d\n", m + 0 }' "$2" "$1"
}

# slow_client MODE ARGS...: the client of one run, for $SECS seconds
slow_client() {
	local mode=$1
	shift
	timeout "$SECS" ip netns exec "$NS" "$XFER" client 127.0.0.1:443 --mode "$mode" \
		--hello "$HELLO" --bytes 1g "$@" >/dev/null
}
# run_end PIDS...: stop the samplers, the backend and the agent of one run
run_end() {
	kill "$@" "$BACKEND_PID"; BACKEND_PID=
	wait "$@" 2>/dev/null
	dp_agent_stop
}

# tcp_mem_pages: TCP memory in use on this kernel, pages (sockstat "mem")
tcp_mem_pages() { awk '$1 == "TCP:" { print $NF }' /proc/net/sockstat; }

# tcp_mem_settle BASE: wait (up to 20 s) until TCP memory is back within
# 1 MiB of BASE pages. A control run leaves tens of MB queued that the
# kernel frees after the agent is gone; a run started before that begins
# near tcp_mem[0], where the verdict's memory guard stops redirecting onto
# busy queues (sockmap-facts, B14), and holds nothing: in CI the later
# control tries held 1.5 MB and 0.6 MB after a first one of 20 MB.
tcp_mem_settle() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(tcp_mem_pages)" -le $(($1 + 256)) ] && return 0
		sleep 0.2
	done
	echo "TCP memory still at $(tcp_mem_pages) pages (was $1 before the runs; tcp_mem $(cat /proc/sys/net/ipv4/tcp_mem))"
}

# run DIR BUDGET: one slow transfer of SECS seconds; prints the max held
run() {
	local dir=$1 budget=$2 cf="$TMP/c-$1-$2" sf="$TMP/s-$1-$2"
	: >"$cf"; : >"$sf"
	dp_agent sockmap --conn-budget "$budget"
	echo 0 >"$TMP/rb-$dir-$budget"
	echo 0 >"$TMP/tb-$dir-$budget"
	if [ "$dir" = up ]; then
		# paused: the proxy's client socket (local port 443); reader
		# side: its backend socket (remote port 9443)
		skmem_sampler rb "( sport = :443 )" "$TMP/rb-$dir-$budget" &
		s1=$!
		skmem_sampler tb "( dport = :9443 )" "$TMP/tb-$dir-$budget" &
	else
		skmem_sampler rb "( dport = :9443 )" "$TMP/rb-$dir-$budget" &
		s1=$!
		skmem_sampler tb "( sport = :443 )" "$TMP/tb-$dir-$budget" &
	fi
	local s2=$!
	if [ "$dir" = up ]; then
		dp_backend sink --hello "$HELLO" --read-rate "$RATE" --progress "$sf"
		slow_client up --progress "$cf"
		held "$cf" "$sf"
	else
		dp_backend source --hello "$HELLO" --bytes 1g --progress "$sf"
		slow_client down --read-rate "$RATE" --progress "$cf"
		held "$sf" "$cf"
	fi
	run_end "$s1" "$s2"
}

# echo_run: the echo case; prints the max held by the proxy and the echo
# server together (what the client's socket has handed over, minus what
# reached it back)
echo_run() {
	local cf="$TMP/c-echo"
	: >"$cf"
	dp_agent sockmap --conn-budget "$BUDGET"
	echo 0 >"$TMP/tb-echo"; echo 0 >"$TMP/rb-echo"
	skmem_sampler tb "( sport = :443 or dport = :9443 )" "$TMP/tb-echo" &
	local s1=$!
	skmem_sampler rb "( sport = :443 or dport = :9443 )" "$TMP/rb-echo" &
	local s2=$!
	dp_backend echo
	slow_client echo --read-rate "$RATE" --progress "$cf"
	# sent - unacked (SIOCOUTQ) - (received + unread)
	awk '{ h = ($2 - $3) - ($4 + $5); if (h > m) m = h } END { printf "%d\n", m + 0 }' "$cf"
	run_end "$s1" "$s2"
}

MEM0=$(tcp_mem_pages)
for dir in up down; do
	tcp_mem_settle "$MEM0"
	h=$(run "$dir" "$BUDGET")
	[ "$h" -gt 0 ] || fail "$dir: no progress samples"
	rb=$(cat "$TMP/rb-$dir-$BUDGET")
	tb=$(cat "$TMP/tb-$dir-$BUDGET")
	[ "$tb" -gt 0 ] || fail "$dir: could not sample the reader-side socket's sndbuf"
	[ "$rb" -gt 0 ] || fail "$dir: could not sample the paused socket's rcvbuf"
	rq=$((rb > BUDGET / 2 ? rb : BUDGET / 2))
	BOUND=$((BUDGET + rq + tb + 1024 * 1024))
	[ "$h" -le "$BOUND" ] || fail "$dir: $h bytes held in the proxy (bound $BOUND = 4 MiB budget + rcvbuf $rq + sndbuf $tb + 1 MiB)"
	ok "$dir: slow reader at $RATE/s: at most $((h / 1024)) KiB held in the proxy (bound $((BOUND / 1024)) KiB = budget 4096 + rcvbuf $((rq / 1024)) + sndbuf $((tb / 1024)) + 1024)"
	# The control: without flow control the same run must hold far more, or
	# the bound above proves nothing. It is a measurement of the load, not of
	# snigate, and a loaded VM can starve it (7.3.4 in a CI run with three VMs
	# on 2 cores: 483,990 bytes once; every other run well over 3 x the
	# bound; 6.1 beside two other VMs: 598,463 then 93 MiB up, 9.3 MB then
	# 1.0 MB down), so it must hold over 2 x the bound, and an inconclusive
	# control is measured again, up to twice, each time for longer
	# (start-up eats seconds of a loaded VM).
	base_secs=$SECS
	for try in 1 2 3; do
		tcp_mem_settle "$MEM0"
		m0=$(tcp_mem_pages)
		u=$(SECS=$((base_secs * try)) run "$dir" 0)
		[ "$u" -gt $((2 * BOUND)) ] && break
		echo "$dir: control without flow control held only $u bytes in $((base_secs * try)) s: inconclusive (TCP memory $m0 pages at its start, tcp_mem $(cat /proc/sys/net/ipv4/tcp_mem))"
	done
	[ "$u" -gt $((2 * BOUND)) ] || fail "$dir: without flow control only $u bytes were held (3 tries): the bound proves nothing"
	ok "$dir: same run without flow control: $((u / 1024 / 1024)) MiB held (unbounded egress redirect)"
done

# Echo: each direction is bounded as above (the largest rcvbuf and sndbuf of
# the proxy's two sockets), and the echo server holds up to its socket's
# largest receive and send buffers (tcp_rmem[2], tcp_wmem[2]: sampling them
# in a loaded VM missed their growth once) and its 256 KiB buffer.
tcp_mem_settle "$MEM0"
h=$(echo_run)
[ "$h" -gt 0 ] || fail "echo: no progress samples"
tb=$(cat "$TMP/tb-echo") rb=$(cat "$TMP/rb-echo")
[ "$tb" -gt 0 ] && [ "$rb" -gt 0 ] || fail "echo: could not sample the proxy sockets' buffers"
brb=$(ip netns exec "$NS" awk '{ print $3 }' /proc/sys/net/ipv4/tcp_rmem)
btb=$(ip netns exec "$NS" awk '{ print $3 }' /proc/sys/net/ipv4/tcp_wmem)
rq=$((rb > BUDGET / 2 ? rb : BUDGET / 2))
BOUND=$((2 * (BUDGET + rq + tb) + brb + btb + 256 * 1024 + 1024 * 1024))
[ "$h" -le "$BOUND" ] || fail "echo: $h bytes held in the proxy and the echo server (bound $BOUND = 2 x (budget + rcvbuf $rq + sndbuf $tb) + echo server tcp_rmem[2] $brb + tcp_wmem[2] $btb + 256 KiB + 1 MiB)"
ok "echo, client reading at $RATE/s: at most $((h / 1024)) KiB held in the proxy and the echo server (bound $((BOUND / 1024)) KiB = 2 x (budget 4096 + rcvbuf $((rq / 1024)) + sndbuf $((tb / 1024))) + echo server at most $((brb / 1024)) + $((btb / 1024)) + 256 + 1024)"
echo PASS
