#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Slow readers on each side, both passthrough engines: a backend reading at
# 4 MiB/s while the client uploads as fast as it can, and a client reading at
# 4 MiB/s while the backend sends as fast as it can. What the kernel and the
# agent hold for the connection must stay within the per-connection budget
# (--conn-budget 1M here), where without flow control a sockmap redirect
# absorbs hundreds of MB in a second (sockmap-facts 1.7).
#   in flight   = bytes the sender wrote - bytes the slow reader read
#   in sockets  = sum of Recv-Q + Send-Q of every TCP socket in the netns
#                 (what normal TCP accounting bounds: the socket buffers)
#   outside     = in flight - in sockets: psock queues + agent buffers, the
#                 memory only the agent's flow control bounds
# Asserts in flight <= 32 MiB per connection (unbounded: hundreds of MB) and
# outside <= budget + 1.5 MiB: the psock queue (budget + one 64 KiB skb by
# the verdict's check), the agent's copy buffer (256 KiB), and what ss cannot
# see of a sockmap socket: bytes the verdict passed to its ingress queue
# (charged to its rcvbuf, not in Recv-Q). Worst measured here: 1.7 MiB.
# The agent's RSS growth since its start, over every slow connection run
# (four; more when one is retried longer), must stay below 2 MiB. The agent
# runs without transparent huge pages: with THP "always", as in Debian's 6.1
# guest kernel, a 2 MiB page collapsed over an arena is the likely cause of
# one CI failure at +2232 KiB. Then the transfers
# finish and are verified byte-exact (32 MiB each). Last, echo transfers with
# a rate-limited reader (flow control in both directions, then a FIN).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/4x-lib.inc"
rel_require
BUDGET=$((1024 * 1024))
LIMIT=$((BUDGET + 1536 * 1024))
RATE=4m
FLAKY_EPS="127.0.0.3" rel_setup slow
rel_backends
rel_agent --conn-budget 1M
sleep 0.3
rss0=$(agent_rss_kb)
kmem0=$(kmem_kb)

# tcp_snapshot: one `ss -tni` of the netns: "local peer recvq sendq acked received"
tcp_snapshot() {
	ip netns exec "$NS" ss -Htni state established state fin-wait-1 state fin-wait-2 \
		state close-wait state last-ack state closing | awk '
		/^[A-Z]/ { rq = $2; sq = $3; l = $4; p = $5; next }
		/^[0-9]/ { rq = $1; sq = $2; l = $3; p = $4; next }
		{ ba = 0; br = 0
		  for (i = 1; i <= NF; i++) {
			if ($i ~ /^bytes_acked:/) { split($i, a, ":"); ba = a[2] }
			if ($i ~ /^bytes_received:/) { split($i, a, ":"); br = a[2] }
		  }
		  print l, p, rq, sq, ba, br }'
}
# outside_now DIR PORT: from one consistent snapshot, print
# "written read queued": bytes the fast writer's app wrote (acked + Send-Q),
# bytes the slow reader's app read (received - Recv-Q), and the sum of all
# Recv-Q + Send-Q
outside_now() {
	tcp_snapshot | awk -v dir="$1" -v port="$2" '
		{ q += $3 + $4 }
		$2 ~ (":" port "$") { cw = $5 - 1 + $4; cr = $6 - $3 }      # the client
		$1 ~ /127\.0\.0\.3:9450$/ { bw = $5 - 1 + $4; br = $6 - $3 } # the backend
		END { if (dir == "up") print cw + 0, br + 0, q + 0; else print bw + 0, cr + 0, q + 0 }'
}

# measure DIR PORT: one slow connection in direction DIR (up|down) on PORT,
# sampled while the fast side is blocked, then finished and verified
measure() {
	local dir=$1 port=$2 be cl sent recv qs out worst=0 maxrss=0 rss kmem j t
	local flight maxflight=0 nvalid=0
	rm -f "$TMP/be.json"
	if [ "$dir" = up ]; then
		rel_bg slow-be "$XFER" server 127.0.0.3:9450 --mode sink --hello "$HELLO_FLAKY" \
			--read-rate $RATE --report "$TMP/be.json"
	else
		rel_bg slow-be "$XFER" server 127.0.0.3:9450 --mode source --hello "$HELLO_FLAKY" \
			--bytes $SIZE --report "$TMP/be.json"
	fi
	be=$BG_PID
	wait_port "$NS" 9450 5 || fail "slow backend"
	if [ "$dir" = up ]; then
		ip netns exec "$NS" "$XFER" client "127.0.0.1:$port" --mode up --hello "$HELLO_FLAKY" \
			--bytes $SIZE --timeout 60 >"$TMP/cl.json" 2>&1 &
	else
		ip netns exec "$NS" "$XFER" client "127.0.0.1:$port" --mode down --hello "$HELLO_FLAKY" \
			--bytes $SIZE --read-rate $RATE --timeout 60 >"$TMP/cl.json" 2>&1 &
	fi
	cl=$!
	at_exit "kill -9 $cl"
	sleep 0.5
	# the samples mean something once the client is connected and sending
	# (process start-up alone took over 3 s in a loaded TCG guest)
	for ((t = 0; t < 100; t++)); do
		read -r sent recv qs < <(outside_now "$dir" "$port")
		[ "$sent" -gt 0 ] && break
		sleep 0.1
	done
	for t in 1 2 3 4 5 6 7 8; do
		sleep 0.3
		read -r sent recv qs < <(outside_now "$dir" "$port")
		# a sample counts only while the transfer runs (on a loaded
		# machine the samples can outlast it)
		kill -0 "$cl" 2>/dev/null && [ "$sent" -gt 0 ] || continue
		nvalid=$((nvalid + 1))
		out=$((sent - recv - qs))
		flight=$((sent - recv))
		[ $out -gt $worst ] && worst=$out
		[ $flight -gt $maxflight ] && maxflight=$flight
		[ -n "${SLOW_DEBUG:-}" ] && echo "    sample $t: written $sent read $recv sockets $qs outside $out"
		rss=$(agent_rss_kb)
		[ "$rss" -gt $maxrss ] && maxrss=$rss
	done
	kmem=$(kmem_kb)
	echo "  $dir port $port: in flight max $((maxflight / 1024)) KiB ($nvalid samples), in socket buffers $((qs / 1024)) KiB (last), outside them worst $((worst / 1024)) KiB; agent RSS max +$((maxrss - rss0)) KiB ($(agent_thp_kb) KiB in huge pages); skbuff+TCP kmem +$((kmem - kmem0)) KiB (system-wide, noisy)"
	if [ $nvalid -lt 3 ]; then
		# inconclusive, not failed: the caller retries with a longer transfer
		echo "  $dir port $port: only $nvalid samples while the transfer ran: retrying longer"
		wait $cl; kill "$be" 2>/dev/null; wait "$be" 2>/dev/null
		INCONCLUSIVE=1
		return 0
	fi
	[ $maxflight -gt $((1024 * 1024)) ] || fail "$dir port $port: the fast side was not ahead (at most $maxflight bytes in flight)"
	[ $maxflight -le $((32 * 1024 * 1024)) ] || fail "$dir port $port: $((maxflight / 1024)) KiB in flight for one connection"
	[ $worst -le $LIMIT ] || fail "$dir port $port: $((worst / 1024)) KiB outside the socket buffers (budget $((BUDGET / 1024)) KiB)"
	[ $((maxrss - rss0)) -le 2048 ] || fail "$dir port $port: agent RSS grew $((maxrss - rss0)) KiB since its start ($(agent_thp_kb) KiB in huge pages)"
	wait $cl
	j=$(cat "$TMP/cl.json")
	echo "$j" | grep -q '"verdict":"ok"' || fail "$dir port $port: transfer not byte-exact: $j"
	sleep 0.2
	kill "$be" 2>/dev/null; wait "$be" 2>/dev/null
	rel_agent_alive "$dir $port"
	ok "$dir port $port: $((worst / 1024)) KiB outside socket buffers <= $((LIMIT / 1024)) KiB; $SIZE byte-exact ($(echo "$j" | jq -c '{secs}'))"
}

# VMTEST=1: the 8 samples take ~8 s in a TCG guest (ss, awk, /proc reads:
# each exec costs 35x), as long as a whole 32m transfer at 4m/s; 64m keeps
# the transfer running while they are taken
[ "${VMTEST:-0}" = 1 ] && : "${SLOW_SIZE:=64m}"
SIZE=${SLOW_SIZE:-32m}
# measure_retry DIR PORT: measure, with a 2x longer transfer (twice at most)
# when the samples outlasted the transfer
measure_retry() {
	local size0=$SIZE try
	for try in 1 2 3; do
		INCONCLUSIVE=0
		measure "$1" "$2"
		[ $INCONCLUSIVE = 0 ] && break
		SIZE=$(( $(numfmt --from=iec "${SIZE^^}") * 2 ))
	done
	SIZE=$size0
	[ $INCONCLUSIVE = 0 ] || fail "$1 port $2: the samples outlasted even a 4x longer transfer"
}
for port in 443 444; do
	measure_retry up $port
	measure_retry down $port
done
# echo with a rate-limited reader: both directions under flow control, then
# the client's FIN; every byte must come back (bugs-reliability.md B9)
be_echo() {
	rel_bg echo-be "$XFER" server 127.0.0.3:9450 --mode echo --report "$TMP/echo-be.json"
	wait_port "$NS" 9450 5 || fail "echo backend"
}
be_echo
for port in 443 444; do
	n=0 bad=0
	for ((k = 0; k < ${SLOW_ECHO_RUNS:-10}; k++)); do
		j=$(timeout -k 2 30 ip netns exec "$NS" "$XFER" client "127.0.0.1:$port" --hello "$HELLO_FLAKY" \
			--bytes 16m --read-rate 32m)
		n=$((n + 1))
		echo "$j" | grep -q '"verdict":"ok"' || { bad=$((bad + 1)); echo "  port $port run $k: $j"; }
	done
	[ $bad -eq 0 ] || fail "port $port: $bad of $n echo transfers with a 32 MB/s reader lost bytes (B9)"
	ok "port $port: $n echo transfers of 16 MiB with a 32 MB/s reader, flow control both ways, byte-exact"
done
sleep 0.3
c1=$(map_entries sng_ctl) c2=$(map_entries sng_cnt)
[ "$c1" = 0 ] && [ "$c2" = 0 ] || fail "map entries left: sng_ctl=$c1 sng_cnt=$c2"
echo PASS
