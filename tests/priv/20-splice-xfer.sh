#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Socket-level correctness of both passthrough engines through `snigate run`:
# checksummed transfers both ways (hello pipelined, hello dripped 1 byte at
# a time), half-close in each direction after drain, RST from either side,
# then no CLOSE-WAIT and no map entry left.
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
echo "PASS"
