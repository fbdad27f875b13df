#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 10,000 connections through each engine (32 at a time, hello + 1 KiB echo
# each, checksummed), then `ss` and the map entry counts back to baseline:
# no CLOSE-WAIT, no established socket, no sng_ctl/sng_cnt/sng_socks entry.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/2x-lib.inc"
dp_setup many
# VMTEST=1 (a TCG guest, ~150 connections/s): 2,000 per engine, same checks
[ "${VMTEST:-0}" = 1 ] && : "${MANY_CONNS:=2000}"
N=${MANY_CONNS:-10000}

sock_count() {
	# sockhash values cannot be dumped; its keys can
	bpftool -j map dump pinned "$PIN/sng_socks" 2>/dev/null | jq 'length' 2>/dev/null || echo "?"
}

for engine in sockmap userspace; do
	dp_agent "$engine"
	dp_backend echo
	base_est=$(ip netns exec "$NS" ss -Htan state established | wc -l)
	j=$(xfer --mode many --hello "$HELLO" --bytes 1k --no-shut --count "$N" --conc 32 --timeout 10)
	echo "$j" | grep -q '"verdict":"ok"' || fail "$engine: $j"
	ok "$engine: $N connections: $(echo "$j" | jq -c '{ok,failed,secs,conn_per_s}')"
	for ((i = 0; i < 50; i++)); do
		est=$(ip netns exec "$NS" ss -Htan state established | wc -l)
		[ "$est" -le "$base_est" ] && break
		sleep 0.1
	done
	[ "$est" -le "$base_est" ] || fail "$engine: $est established sockets left (baseline $base_est)"
	no_close_wait
	wait_maps_empty 5
	s=$(sock_count)
	[ "$s" = 0 ] || [ "$s" = "?" ] || fail "$engine: $s sockets left in sng_socks"
	ok "$engine: ss back to baseline ($est established, 0 CLOSE-WAIT), sng_ctl=0 sng_cnt=0 sng_socks=$s"
	if [ "$engine" = sockmap ]; then
		routed=$(stat_sum sng_lstats 0 conns)
		[ "$routed" -ge "$N" ] || fail "sockmap: sng_lstats counts $routed connections, expected >= $N"
		ok "sockmap: sng_lstats[0].conns = $routed"
	fi
	kill "$BACKEND_PID"; BACKEND_PID=
	dp_agent_stop
done
echo PASS
