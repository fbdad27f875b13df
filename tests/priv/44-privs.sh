#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Least privilege and secrets of a running agent:
#  - after setup it keeps only CAP_NET_BIND_SERVICE (effective, permitted and
#    bounding sets; no_new_privs), and with only that it still does all of
#    its runtime work: sockhash inserts and map updates (sng_ctl entries),
#    BPF_PROG_RUN counting (sng_lstats moves), accept, connect, Terminate;
#  - SNIGATE_CAPS_KEEP=none (nothing kept) fails to bind port 443: that
#    capability is the one that is needed (workers bind after the drop);
#  - the pin directory, the pinned maps and the control socket are root-only;
#  - the Terminate private key is never in the agent's log (-v) nor in the
#    status `snigate check` prints;
#  - Terminate speaks TLS 1.2 and 1.3 but refuses TLS 1.1 and 1.0.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/4x-lib.inc"
rel_require
rel_setup privs
rel_backends
rel_agent -v
status_field() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$AGENT_PID/status"; }
eff=$(status_field CapEff) prm=$(status_field CapPrm) bnd=$(status_field CapBnd)
nnp=$(status_field NoNewPrivs)
[ "$eff" = 0000000000000400 ] && [ "$prm" = 0000000000000400 ] && [ "$bnd" = 0000000000000400 ] ||
	fail "capabilities after setup: eff $eff prm $prm bnd $bnd (want only cap_net_bind_service = 0x400)"
[ "$nnp" = 1 ] || fail "no_new_privs not set ($nnp)"
grep -q 'capabilities after setup: cap_net_bind_service' "$AGENT_LOG" || fail "the drop is not logged"
ok "running agent: CapEff=CapPrm=CapBnd=0x400 (cap_net_bind_service), NoNewPrivs=1"

# the runtime work, with that one capability
stats_json >"$TMP/s0.json"
for port in 443 444; do
	j=$(timeout 20 ip netns exec "$NS" "$XFER" client "127.0.0.1:$port" --hello "$HELLO" --bytes 16m)
	echo "$j" | grep -q '"verdict":"ok"' || fail "port $port without privileges: $j"
done
ip netns exec "$NS" "$XFER" client 127.0.0.1:443 --hello "$HELLO" --bytes 256m --read-rate 64m \
	--timeout 20 >"$TMP/live.json" 2>&1 &
live=$!
for ((i = 0; i < 40; i++)); do [ "$(map_entries sng_ctl)" -ge 2 ] && break; sleep 0.05; done
inserted=$(map_entries sng_ctl)
kill $live 2>/dev/null
wait $live 2>/dev/null
[ "$inserted" -ge 2 ] || fail "no sng_ctl entries for a live sockmap connection ($inserted)"
stats_json >"$TMP/s1.json"
r0=$(outcome_sum "$TMP/s0.json" routed) r1=$(outcome_sum "$TMP/s1.json" routed)
[ $((r1 - r0)) -ge 2 ] || fail "BPF_PROG_RUN counting without CAP_BPF: routed +$((r1 - r0)), want +2 or more"
# (the pause is how long s_client waits for the echo: longer in a TCG guest,
# where the backend connect and the kTLS hand-off took over 1 s under load)
(printf 'PING\n'; sleep "$([ "${VMTEST:-0}" = 1 ] && echo 5 || echo 1)") | ip netns exec "$NS" timeout 10 openssl s_client -connect 127.0.0.1:8443 \
	-servername term.example.com -CAfile "$PKI/ca.crt" -verify_return_error -brief >"$TMP/t.out" 2>&1
grep -q '^PING' "$TMP/t.out" && grep -q 'Verification: OK' "$TMP/t.out" ||
	{ cat "$TMP/t.out"; fail "terminate without privileges"; }
ok "with only cap_net_bind_service: sockmap splice (sockhash insert, sng_ctl $inserted entries), userspace copy, Terminate, counters routed +$((r1 - r0)) via BPF_PROG_RUN"

# pins root-only
perm=$(stat -c %a "$PIN")
[ "$perm" = 700 ] || fail "pin directory $PIN has mode $perm (want 700)"
for f in "$PIN"/*; do
	p=$(stat -c '%a %u' "$f")
	[ "$p" = "600 0" ] || fail "pinned $f: mode/owner $p (want 600 root)"
done
ok "pin dir 700, $(ls "$PIN" | wc -l) pinned maps 600 root"
if [ -n "${CTL_SOCK:-}" ]; then
	for ((i = 0; i < 20; i++)); do [ -S "$CTL_SOCK" ] && break; sleep 0.1; done
	[ -S "$CTL_SOCK" ] || fail "no control socket at $CTL_SOCK"
	p=$(stat -c '%a %u' "$CTL_SOCK")
	[ "$p" = "600 0" ] || fail "control socket $CTL_SOCK: mode/owner $p (want 600 root)"
	ok "control socket 600 root"
fi

# secrets: no line of the key's base64 body in the log or in status
"$SNIGATE" check -f "$MAN" -o yaml >"$TMP/status.yaml" 2>&1
"$SNIGATE" check -f "$MAN" -o json >"$TMP/status.json" 2>&1
b64=$(base64 -w0 "$PKI/term.key")
leak=0
while read -r line; do
	case $line in -----*|"") continue ;; esac
	for f in "$AGENT_LOG" "$TMP/status.yaml" "$TMP/status.json"; do
		grep -qF -- "$line" "$f" && { echo "key material in $f"; leak=1; }
	done
done <"$PKI/term.key"
for f in "$AGENT_LOG" "$TMP/status.yaml" "$TMP/status.json"; do
	grep -qF -- "${b64:20:40}" "$f" && { echo "base64 key in $f"; leak=1; }
done
grep -q 'PRIVATE KEY' "$AGENT_LOG" "$TMP/status.yaml" "$TMP/status.json" && { echo "PRIVATE KEY text"; leak=1; }
[ $leak -eq 0 ] || fail "private key material leaked"
ok "no private key material in the -v log ($(wc -l <"$AGENT_LOG") lines) or in the status"

# TLS floor: 1.2
for v in -tls1_3 -tls1_2; do
	echo | ip netns exec "$NS" timeout 10 openssl s_client -connect 127.0.0.1:8443 \
		-servername term.example.com -CAfile "$PKI/ca.crt" $v >"$TMP/v.out" 2>&1 ||
		{ cat "$TMP/v.out"; fail "terminate $v"; }
done
for v in -tls1_1 -tls1; do
	if echo | ip netns exec "$NS" timeout 10 openssl s_client -connect 127.0.0.1:8443 \
		-servername term.example.com $v -cipher 'DEFAULT:@SECLEVEL=0' >"$TMP/v.out" 2>&1 &&
		grep -q 'Protocol *: TLSv1\(\.1\)\?$' "$TMP/v.out"; then
		fail "terminate accepted $v"
	fi
done
ok "Terminate: TLS 1.3 and 1.2 accepted, TLS 1.1 and 1.0 refused"
rel_agent_alive "privs"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null

# what the one kept capability is for: without it the workers cannot bind 443
AGENT_LOG=$TMP/agent-none.log
ip netns exec "$NS" env SNIGATE_CAPS_KEEP=none "$SNIGATE" run -f "$MAN" --pin-dir "$PIN" "${CTL_ARGS[@]}" \
	--workers 1 >"$AGENT_LOG" 2>&1 &
p=$!
for ((i = 0; i < 50; i++)); do kill -0 $p 2>/dev/null || break; sleep 0.1; done
if kill -0 $p 2>/dev/null; then kill -9 $p; cat "$AGENT_LOG"; fail "agent with no capabilities still runs (bound 443?)"; fi
grep -qi 'permission denied' "$AGENT_LOG" || { cat "$AGENT_LOG"; fail "agent with no capabilities: no EACCES on bind"; }
ok "SNIGATE_CAPS_KEEP=none: $(grep -i -m1 'permission denied' "$AGENT_LOG" | cut -c1-120)"
echo PASS
