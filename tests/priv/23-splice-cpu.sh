#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Evidence of the in-kernel path: 1 GiB through the sockmap engine costs the
# agent (all threads, utime + stime from /proc/PID/stat) < 50 ms of CPU,
# while the userspace engine costs far more (asserted >= 150 ms) for the
# same checksummed transfer. (/proc/PID/io cannot see recv/send.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/2x-lib.inc"
dp_setup cpu
[ "$(getconf CLK_TCK)" -gt 0 ] || skip "no CLK_TCK"

measure() {
	local engine=$1 c0 c1 j
	dp_agent "$engine"
	dp_backend sink --hello "$HELLO"
	c0=$(agent_cpu_ms)
	j=$(xfer --mode up --hello "$HELLO" --bytes 1g)
	echo "$j" | grep -q '"verdict":"ok"' || fail "$engine: $j"
	c1=$(agent_cpu_ms)
	kill "$BACKEND_PID"; BACKEND_PID=
	dp_agent_stop
	echo "$((c1 - c0)) $(echo "$j" | jq -r .gbit_s)"
}

read -r cs gs < <(measure sockmap)
read -r cu gu < <(measure userspace)
ok "1 GiB upload: sockmap agent CPU $cs ms ($gs Gbit/s), userspace agent CPU $cu ms ($gu Gbit/s)"
[ "$cs" -lt 50 ] || fail "sockmap: the agent used $cs ms of CPU for 1 GiB (limit 50)"
[ "$cu" -ge 150 ] || fail "userspace: only $cu ms for 1 GiB: the comparison proves nothing"
echo PASS
