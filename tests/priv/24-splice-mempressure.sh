#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Spliced transfers under TCP memory pressure (sockmap engine): with
# net.ipv4.tcp_mem lowered, four concurrent checksummed echoes with slow
# readers must all finish byte-exact and in time. Bytes queued in psock
# queues are charged to TCP but held back by no socket's window; before the
# verdict honoured the pressure flag they pushed TCP past tcp_mem[2], every
# receiver then dropped every segment, the senders backed off to RTOs of
# minutes and the transfers stalled (found in a 1 GiB VM, whose tcp_mem is
# small: docs/reliability.md B14). Checks that TCP's memory really went
# past tcp_mem[0], where the verdict stops filling psock queues, and that the
# verdict paused for it.
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
# pages over what TCP holds now (sockstat "mem"): tcp_mem[0] 8 MiB above it,
# pressure at 16 MiB, the hard limit at 24 MiB; the four echoes below want
# far more (their psock queues alone up to 8 x the 4 MiB budget). At 6 / 12 /
# 18 MiB the userspace engine too took up to 36 s for an echo in loaded VMs.
base=$(awk '/^TCP:/ { print $NF }' /proc/net/sockstat)
MEM="$((base + 2048)) $((base + 4096)) $((base + 6144))"
old=$(cat /proc/sys/net/ipv4/tcp_mem)
at_exit "echo '$old' >/proc/sys/net/ipv4/tcp_mem"
dp_agent "${MEMP_ENGINE:-sockmap}" -v
dp_backend echo
p0=$(ip netns exec "$NS" nstat -az TcpExtTCPMemoryPressures | awk '/TcpExt/ { print $2 }')
a0=$(ip netns exec "$NS" nstat -az TcpExtTCPAbortOnMemory | awk '/TcpExt/ { print $2 }')
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
a1=$(ip netns exec "$NS" nstat -az TcpExtTCPAbortOnMemory | awk '/TcpExt/ { print $2 }')
echo "TCPAbortOnMemory (resets the kernel sent for lack of TCP memory): $((a1 - a0))"
bad=0 stalled=0 reset=0
for ((k = 1; k <= N; k++)); do
	j=$(cat "$TMP/x$k.json")
	if echo "$j" | grep -q '"verdict":"ok"'; then
		ok "echo $k of $BYTES byte-exact: $j"
	elif echo "$j" | grep -q '"end":"timeout"' && ! echo "$j" | grep -q '"damage'; then
		echo "echo $k stalled (60 s without a byte, none wrong): $j"
		stalled=$((stalled + 1))
	elif echo "$j" | grep -q '"end":"reset"' && ! echo "$j" | grep -q '"damage' &&
		echo "$j" | grep -qE '"bytes_sent":([0-9]+),"bytes_recv":\1,'; then
		echo "echo $k: every byte back, none wrong, then a reset instead of the FIN: $j"
		reset=$((reset + 1))
	else
		echo "echo $k: $j"
		bad=1
	fi
done
npress=$(grep -c "passing (TCP memory)" "$AGENT_LOG")
if [ $bad = 1 ]; then
	grep -E "warn|passing" "$AGENT_LOG" | tail -10
	fail "a spliced echo under TCP memory pressure failed"
fi
# The residual of B14 (docs/reliability.md): in loaded VMs about 1 run in 7
# of the tighter 6 / 12 / 18 MiB squeeze still stalled one echo with the fix
# (the userspace engine took up to 36 s there). Reported, not hidden; the
# checks below still fail a build without the fix.
[ $stalled = 0 ] ||
	known_bug B14 "$stalled of $N spliced echoes stalled under TCP memory pressure (no byte lost or changed)"
# B15 (docs/reliability.md): seen once (6.1 VM, CI run of 2026-12-03): an
# echo got all its bytes back, then a reset. Suspected, not shown: the
# kernel resets a closed socket past tcp_mem[2] (TCPAbortOnMemory above).
[ $reset = 0 ] ||
	known_bug B15 "$reset of $N spliced echoes ended in a reset after every byte came back unchanged"
mmax=$(sort -n "$TMP/mem.log" | tail -1)
echo "TCP memory (pages) during the echoes: max $mmax, limits $MEM"
[ "${mmax:-0}" -gt "${MEM%% *}" ] ||
	fail "TCP memory stayed under tcp_mem[0] (max $mmax pages, limits $MEM): the test did not test it"
[ "$npress" -gt 0 ] || fail "the verdict never paused for TCP memory ($mmax pages, limits $MEM)"
ok "TCP memory up to $mmax pages (limits $MEM), memory pressure entered $((p1 - p0)) times; the verdict paused $npress times for it"
# a stalled echo's sockets may never see its client's close (dropped like
# everything else): the agent then drains for its whole --drain-timeout (30 s)
[ $stalled = 0 ] || DP_STOP_WAIT=40
dp_agent_stop
echo PASS
