#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Socket-level correctness of both passthrough engines through `snigate run`:
# checksummed transfers both ways (hello pipelined, hello dripped 1 byte at
# a time), half-close in each direction after drain, RST from either side,
# then no CLOSE-WAIT and no map entry left; a budget below one skb.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/2x-lib.inc"
dp_setup splice

run_engine() {
	local engine=$1 j t0 n
	dp_agent "$engine"
	grep -q "info: ${engine} engine" "$AGENT_LOG" || { cat "$AGENT_LOG"; fail "$engine: start line does not name the engine"; }

	dp_backend echo
	j=$(xfer --hello "$HELLO" --bytes 64m); expect_ok "$engine echo 64 MiB, data pipelined behind the hello" "$j"
	j=$(xfer --hello "$HELLO" --bytes 1m --drip --drip-us 300); expect_ok "$engine echo, hello dripped 1 byte at a time" "$j"
	j=$(xfer --hello "$HELLO" --bytes 4m --gap-ms 50); expect_ok "$engine echo, pause after the hello" "$j"

	# client -> backend half-close: the sink answers only after it saw
	# every byte and the FIN; a FIN overtaking data shows as a short count
	dp_backend sink --hello "$HELLO"
	for n in 1 2 3; do
		j=$(xfer --mode up --hello "$HELLO" --bytes 256m)
		expect_ok "$engine upload 256 MiB + client FIN (run $n)" "$j"
	done
	# backend -> client half-close, with the client's FIN sent first
	dp_backend source --hello "$HELLO" --bytes 256m
	# (--gap-ms: the FIN comes 200 ms after the hello, once spliced: a
	# socket that got its FIN already cannot enter a sockhash)
	j=$(xfer --mode down --hello "$HELLO" --bytes 256m --shut-early --gap-ms 200)
	expect_ok "$engine download 256 MiB after an early client FIN" "$j"
	sleep 0.3
	grep -q '"end":"eof".*"verdict":"ok"' "$BACKEND_LOG" || fail "$engine: backend did not see the client's FIN: $(cat "$BACKEND_LOG")"
	ok "$engine: backend saw the client's early FIN"

	# RST from the client: the backend must see the connection end promptly
	dp_backend echo
	# (a 200 ms pause after the hello: the splice is set up before the RST)
	j=$(xfer --hello "$HELLO" --bytes 8m --gap-ms 200 --rst-after 1m)
	echo "$j" | grep -q '"end":"sent-rst"' || fail "$engine: client did not reset: $j"
	t0=$(date +%s%N)
	for ((i = 0; i < 30; i++)); do grep -q '"end"' "$BACKEND_LOG" && break; sleep 0.1; done
	grep -q '"end":"reset"' "$BACKEND_LOG" || fail "$engine: backend not reset within 3 s of the client's RST: $(cat "$BACKEND_LOG")"
	ok "$engine: client RST reset the backend side within $(( ($(date +%s%N) - t0) / 1000000 )) ms"
	# RST from the backend after 1 MiB: the client sees a reset, not a hang
	dp_backend source --hello "$HELLO" --bytes 64m --rst-after 1m
	j=$(xfer --mode down --hello "$HELLO" --bytes 64m --timeout 5)
	echo "$j" | grep -q '"end":"reset"' || fail "$engine: client did not see the backend's RST: $j"
	ok "$engine: backend RST reset the client ($(echo "$j" | jq -c '{bytes_recv,secs}'))"

	sleep 0.5
	no_close_wait
	wait_maps_empty 5
	ok "$engine: no CLOSE-WAIT, sng_ctl/sng_cnt empty"
	if [ "$engine" = sockmap ]; then
		# the kernel, not the agent, moved the bytes
		local up
		local up down
		up=$(stat_sum sng_lstats 0 bytes_up)
		down=$(stat_sum sng_lstats 0 bytes_down)
		[ "$up" -gt $((700 * 1024 * 1024)) ] || fail "sockmap: only $up bytes redirected upstream by BPF"
		[ "$down" -gt $((300 * 1024 * 1024)) ] || fail "sockmap: only $down bytes redirected downstream by BPF"
		ok "sockmap: BPF redirected $up bytes up, $down down (sng_lstats; agent copies are counted there too)"
	fi
	kill "$BACKEND_PID"; BACKEND_PID=
	dp_agent_stop
	[ -e "$PIN/sng_routes" ] || fail "pins removed on stop"
}

run_engine sockmap
run_engine userspace

# A budget below one loopback skb (64 KiB < MSS 65,483): every skb pauses its
# direction, the agent forwards it, and the paused socket's receive buffer
# must still take a full segment (it once stalled both directions: window
# probes only). Byte-exact both ways, within --timeout.
dp_agent sockmap --conn-budget 64k
dp_backend echo
j=$(xfer --hello "$HELLO" --bytes 16m --timeout 20); expect_ok "sockmap --conn-budget 64k echo 16 MiB" "$j"
dp_backend sink --hello "$HELLO"
j=$(xfer --mode up --hello "$HELLO" --bytes 64m --timeout 20); expect_ok "sockmap --conn-budget 64k upload 64 MiB" "$j"
dp_backend source --hello "$HELLO" --bytes 64m
j=$(xfer --mode down --hello "$HELLO" --bytes 64m --timeout 20); expect_ok "sockmap --conn-budget 64k download 64 MiB" "$j"
kill "$BACKEND_PID"; BACKEND_PID=
dp_agent_stop

# A retransmission that overlaps bytes the proxy has received (B9): the
# client injects one segment [OFF - LEN, OFF + LEN) when the proxy holds
# everything up to OFF, then sends from OFF itself (partial overlap again).
# TCP queues such a segment whole; tcp_read_skb() hands all of it to the
# verdict, which must cut the repeated head (sockmap) - the copy engine's
# recv() skips it. Needs TCP timestamps off (no PAWS on the forged segment).
ip netns exec "$NS" sysctl -qw net.ipv4.tcp_timestamps=0 || fail "sysctl tcp_timestamps"
# D-SACKs sent for old data in $NS (absolute; -s: no nstat history file)
dsack_old() { ip netns exec "$NS" nstat -asz TcpExtTCPDSACKOldSent | awk '/DSACKOld/ { print $2 }'; }
for engine in sockmap userspace; do
	dp_agent "$engine" -v
	dp_backend sink --hello "$HELLO"
	for ov in 8192:1000 1m:12000; do
		d0=$(dsack_old)
		j=$(xfer --mode up --hello "$HELLO" --bytes 4m --chunk 4096 --overlap-at "$ov" --timeout 20)
		d=$(( $(dsack_old) - d0 ))
		expect_ok "$engine upload with an overlapping retransmission at $ov" "$j"
		[ "${d:-0}" -ge 1 ] || fail "$engine: the forged segment did not reach TCP as old data (DSACKOldSent $d)"
	done
	kill "$BACKEND_PID"; BACKEND_PID=
	dp_agent_stop
	if [ "$engine" = sockmap ]; then
		n=$(grep -o "the verdict cut [0-9]* retransmit" "$AGENT_LOG" | awk '{ s += $4 } END { print s + 0 }')
		[ "$n" -ge 2 ] || fail "sockmap: the verdict cut $n overlaps, expected >= 2 (one per injection)"
		ok "sockmap: the verdict cut $n retransmit overlaps"
	fi
done
ip netns exec "$NS" sysctl -qw net.ipv4.tcp_timestamps=1
echo "PASS"
