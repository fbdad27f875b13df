#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Spliced transfers under TCP memory pressure (sockmap engine): with
# net.ipv4.tcp_mem lowered, four concurrent checksummed echoes with slow
# readers must all finish byte-exact and in time. Bytes queued in psock
# queues are charged to TCP but held back by no socket's window; before the
# verdict honoured the pressure flag they pushed TCP past tcp_mem[2], every
# receiver then dropped every segment, the senders backed off to RTOs of
# minutes and the transfers stalled (found in a 1 GiB VM, whose tcp_mem is
# small: docs/reliability.md B14). Checks that pressure was really reached
# (TcpExtTCPMemoryPressures) and that the verdict paused for it.
# tcp_mem is global to the kernel, not per network namespace: this test
# changes it only inside the vmtest VMs (VMTEST=1) or with
# SNG_TEST_TCP_MEM=1, and restores it at exit.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/2x-lib.inc"
[ "${VMTEST:-0}" = 1 ] || [ "${SNG_TEST_TCP_MEM:-0}" = 1 ] ||
	skip "lowers the kernel-wide net.ipv4.tcp_mem: runs in make vmtest (or SNG_TEST_TCP_MEM=1)"
command -v nstat >/dev/null || skip "nstat (iproute2) missing"
dp_setup mempress
N=${MEMP_CONNS:-4}
BYTES=${MEMP_BYTES:-32m}
# pages over what TCP holds now (sockstat "mem"): pressure 12 MiB above it,
# the hard limit 18 MiB above it; the four echoes below want far more
base=$(awk '/^TCP:/ { print $NF }' /proc/net/sockstat)
MEM="$((base + 1536)) $((base + 3072)) $((base + 4608))"
old=$(cat /proc/sys/net/ipv4/tcp_mem)
at_exit "echo '$old' >/proc/sys/net/ipv4/tcp_mem"
dp_agent "${MEMP_ENGINE:-sockmap}" -v
dp_backend echo
p0=$(ip netns exec "$NS" nstat -az TcpExtTCPMemoryPressures | awk '/TcpExt/ { print $2 }')
echo "$MEM" >/proc/sys/net/ipv4/tcp_mem || fail "cannot set net.ipv4.tcp_mem"
ok "net.ipv4.tcp_mem $old -> $MEM (pages)"
pids=()
for ((k = 1; k <= N; k++)); do
	timeout -k 2 240 ip netns exec "$NS" "$XFER" client 127.0.0.1:443 --hello "$HELLO" \
		--bytes "$BYTES" --read-rate 8m --timeout 60 >"$TMP/x$k.json" 2>&1 &
	pids+=($!)
done
( while sleep 0.5; do awk '/^TCP:/ { print $NF }' /proc/net/sockstat; done ) >"$TMP/mem.log" &
MON=$!
at_exit "kill $MON"
for p in "${pids[@]}"; do wait "$p"; done
kill $MON
echo "$old" >/proc/sys/net/ipv4/tcp_mem
p1=$(ip netns exec "$NS" nstat -az TcpExtTCPMemoryPressures | awk '/TcpExt/ { print $2 }')
bad=0
for ((k = 1; k <= N; k++)); do
	j=$(cat "$TMP/x$k.json")
	if echo "$j" | grep -q '"verdict":"ok"'; then
		ok "echo $k of $BYTES byte-exact: $j"
	else
		echo "echo $k: $j"
		bad=1
	fi
done
npress=$(grep -c "passing (TCP memory pressure)" "$AGENT_LOG")
if [ $bad = 1 ]; then
	ip netns exec "$NS" ss -tnmi | head -30
	grep -E "warn|passing" "$AGENT_LOG" | tail -10
	fail "a spliced echo under TCP memory pressure failed or stalled"
fi
echo "TCP memory (pages) during the echoes: max $(sort -n "$TMP/mem.log" | tail -1), limits $MEM"
[ $((p1 - p0)) -gt 0 ] || fail "TCP never entered memory pressure (TcpExtTCPMemoryPressures $p0 -> $p1): the test did not test it"
[ "$npress" -gt 0 ] || fail "the verdict never paused for TCP memory pressure ($((p1 - p0)) pressure entries)"
ok "TCP entered memory pressure $((p1 - p0)) times (TCP memory up to $(sort -n "$TMP/mem.log" | tail -1) pages); the verdict paused $npress times for it"
dp_agent_stop
echo PASS
