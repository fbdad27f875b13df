#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Rolling update of the DaemonSet, with the API server STAND-IN
# (tests/k8s/standin.py, not a real API server): agent A runs `snigate run
# --kubernetes` and splices a long checksummed echo (XFER_BYTES, default
# 1 GiB, rate-limited reader; and 128 MiB) while a probe connection runs
# every 50 ms;
# first a new agent that cannot list the API server (bad token) begins a
# takeover: A must serve on meanwhile with /readyz 503, and resume (200)
# when that agent dies;
# agent B starts with `--kubernetes --takeover`, lists the stand-in, writes
# its first snapshot and takes over A's listeners and connections. Both run
# with the DaemonSet's arguments (deploy/daemonset.yaml): `--takeover=auto
# --linger`, so A (no agent before it) starts fresh, and after the hand-over
# idles until the SIGTERM of its pod's deletion. Asserts 0 bytes lost or
# changed, no probe refused or failed, A holds no listening socket after
# the hand-over and exits 0 on SIGTERM, B swapped the verdict program in, B
# takes the status Lease, and a TLSRoute added through the stand-in after
# the takeover is served by B within 1 s of its watch event.
K8S_NO_UNSHARE=1
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/2x-lib.inc"
. "$SNIGATE_ROOT/tests/k8s/lib-k8s.sh"
k8s_require
[ -x "$SNIGATE" ] || skip "no $SNIGATE: run make"
[ -x "$TOOLS/sng_routewait" ] || skip "no sng_routewait: run make tests"
command -v jq >/dev/null || skip "jq missing"
XFER_BYTES=${XFER_BYTES:-1g}
dp_setup k8stk
K8S_EXEC="ip netns exec $NS"
standin_start
standin_local_agent_setup
TKS="$TMP/run/takeover.sock"
log_ms() { date -d "$(grep "$2" "$1" | head -1 | cut -d' ' -f1)" +%s%3N; }
# agent POD LOG [ARGS...]: `snigate run --kubernetes` in $NS, PID in $APID
agent() {
	local pod=$1 log=$2
	shift 2
	ip netns exec "$NS" env POD_NAME="$pod" "$SNIGATE" run --kubernetes \
		--kubeconfig "$TMP/kubeconfig" --address 127.0.0.1 --pin-dir "$PIN" --engine sockmap \
		--workers 2 --takeover-socket "$TKS" --control-socket none --hello-timeout 30 \
		--takeover=auto --linger --metrics 127.0.0.1:9464 "$@" >"$log" 2>&1 &
	APID=$!
	at_exit "kill -9 $APID"
}

LOG_A=$TMP/agent-a.log LOG_B=$TMP/agent-b.log
agent node-a "$LOG_A"
PID_A=$APID
wait_port "$NS" 443 20 || { cat "$LOG_A"; fail "agent A did not listen on 443 after the initial list"; }
for ((i = 0; i < 50; i++)); do [ -S "$TKS" ] && break; sleep 0.1; done
[ -S "$TKS" ] || fail "agent A: no hand-over socket at $TKS"
grep -q "info: sockmap engine" "$LOG_A" || { cat "$LOG_A"; fail "agent A: not the sockmap engine"; }
grep -q "takeover=auto: no agent answers" "$LOG_A" || fail "agent A (--takeover=auto, no agent before it) did not start fresh"
dp_backend echo
j=$(xfer --hello "$HELLO" --bytes 1m); expect_ok "agent A serves the recorded foo-route" "$j"
# A Gateway added while A runs: its bind id comes from A's reload history
# (a fresh compile could number it otherwise); B must keep A's ids.
ctl POST apply '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"name":"aaa-gateway","namespace":"default"},"spec":{"gatewayClassName":"snigate","listeners":[{"name":"tls","protocol":"TLS","port":7443,"tls":{"mode":"Passthrough"}}]}}' >/dev/null
wait_port "$NS" 7443 10 || { tail "$LOG_A"; fail "agent A did not open the added Gateway's port 7443"; }
# binds LOG: "port=bind id" of every listener the agent opened or adopted
binds() { grep -o "listening on 127.0.0.1 port [0-9]* (bind [0-9]*" "$1" | sed 's/.*port \([0-9]*\) (bind \([0-9]*\)/\1=\2/' | sort -u | tr '\n' ' '; }

: >"$TMP/probe.log"
probe_loop 0 &
PROBE_PID=$!
at_exit "kill $PROBE_PID"
probe_loop 0.03 &
PROBE_PID2=$!
at_exit "kill $PROBE_PID2"
# the kernel's per-socket counters every second (a hung transfer's record)
stall_watch "run --kubernetes .*--pin-dir $PIN"
BIG_T0=$(ms_now)
xfer --hello "$HELLO" --bytes "$XFER_BYTES" --read-rate 50m --timeout 150 >"$TMP/big.json" 2>&1 &
BIG=$!
xfer --hello "$HELLO" --bytes 128m --read-rate 8m --timeout 150 >"$TMP/small.json" 2>&1 &
SMALL=$!
sleep 2

# /readyz on the shared metrics port (the DaemonSet's readiness probe) every
# 20 ms, "ms code" lines (one netns exec for the loop: the hand-over's 503
# window can be as short as 200 ms)
ip netns exec "$NS" bash -c 'while [ ! -e "$1" ]; do
	echo "$(date +%s%3N) $(curl -s -o /dev/null -m 1 -w "%{http_code}" http://127.0.0.1:9464/readyz)"
	sleep 0.02
done' _ "$TMP/readyz.stop" >"$TMP/readyz.log" 2>&1 &
READYZ_PID=$!
at_exit "kill $READYZ_PID"
sleep 0.3

# ---- a new pod that cannot reach the API server ------------------------------
# (401 on every list: the initial list never completes, so it never sends GO)
echo "not-the-token" >"$TMP/badtoken"
sed "s|$TMP/token|$TMP/badtoken|" "$TMP/kubeconfig" >"$TMP/kubeconfig.bad"
ip netns exec "$NS" env POD_NAME=node-stuck "$SNIGATE" run --kubernetes \
	--kubeconfig "$TMP/kubeconfig.bad" --address 127.0.0.1 --pin-dir "$PIN" --engine sockmap \
	--workers 2 --takeover-socket "$TKS" --control-socket none --takeover=auto --linger \
	--metrics 127.0.0.1:9464 >"$TMP/agent-stuck.log" 2>&1 &
STUCK=$!
at_exit "kill -9 $STUCK"
for ((i = 0; i < 300; i++)); do grep -q "listing the API server first" "$TMP/agent-stuck.log" && break; sleep 0.1; done
grep -q "listing the API server first" "$TMP/agent-stuck.log" || { cat "$TMP/agent-stuck.log"; fail "the stuck agent did not begin its takeover"; }
grep -q "PID $STUCK is loading on our pins" "$LOG_A" || fail "agent A did not see the takeover begin"
sleep 1
code=$(ip netns exec "$NS" curl -s -o /dev/null -m 2 -w '%{http_code}' http://127.0.0.1:9464/readyz)
[ "$code" = 503 ] || fail "/readyz of agent A during a takeover: $code, not 503 (a new pod would look Ready before it serves)"
j=$(xfer --hello "$HELLO" --bytes 1m --timeout 40); expect_ok "agent A serves while the new agent lists" "$j"
kill -9 "$STUCK"
wait "$STUCK" 2>/dev/null
for ((i = 0; i < 50; i++)); do grep -q "takeover by PID $STUCK abandoned before it began" "$LOG_A" && break; sleep 0.1; done
grep -q "takeover by PID $STUCK abandoned before it began" "$LOG_A" || { tail "$LOG_A"; fail "agent A did not resume after the stuck agent died"; }
code=$(ip netns exec "$NS" curl -s -o /dev/null -m 2 -w '%{http_code}' http://127.0.0.1:9464/readyz)
[ "$code" = 200 ] || fail "/readyz of agent A after the abandoned takeover: $code"
ok "a new agent that cannot list the API server: A served on (/readyz 503 meanwhile), resumed with 200 when it died"

# ---- the rolling update: B takes over from A --------------------------------
T0=$(ms_now)
agent node-b "$LOG_B"
PID_B=$APID
# (up to 60 s: B lists the stand-in, compiles and loads BPF on a shared machine)
for ((i = 0; i < 600; i++)); do
	grep -q "takeover: running" "$LOG_B" && break
	kill -0 "$PID_B" 2>/dev/null || break
	sleep 0.1
done
grep -q "takeover: running" "$LOG_B" || { cat "$LOG_B"; tail -20 "$LOG_A"; fail "agent B did not take over"; }
T1=$(ms_now)
grep -q "takeover: listing the API server first" "$LOG_B" || fail "agent B did not list before the hand-over"
# the first snapshot was in the maps before A stopped accepting
grep -n "policy loaded (kubernetes)\|takeover: received" "$LOG_B" | head -2 | tail -1 | grep -q "takeover: received" ||
	{ cat "$LOG_B"; fail "agent B: the first snapshot was not applied before the hand-over"; }
grep -q "takeover: running [1-9]" "$LOG_B" || { cat "$LOG_B"; fail "no spliced connection was handed over"; }
grep -q "listening sockets of PID $PID_A" "$LOG_B" || fail "agent B: no listening sockets of A"
grep -q "match no bind of this policy" "$LOG_B" && fail "agent B closed some of A's listening sockets"
grep -q "takeover: bind .* is new" "$LOG_B" && fail "agent B opened new sockets for binds A held: $(grep "is new" "$LOG_B")"
[ "$(binds "$LOG_A")" = "$(binds "$LOG_B")" ] && binds "$LOG_B" | grep -q "7443=" ||
	fail "bind ids: A had $(binds "$LOG_A"), B adopted with $(binds "$LOG_B")"
ok "B kept A's bind ids (port=id: $(binds "$LOG_B"))"
grep -q "verdict link taken over, sng_verdict replaced in place" "$LOG_B" ||
	{ grep -i verdict "$LOG_B"; fail "agent B did not swap its verdict program into the link (capabilities?)"; }
# --linger: A drains (no Terminate connection here), then idles
for ((i = 0; i < 100; i++)); do grep -q "idle until SIGTERM" "$LOG_A" && break; sleep 0.1; done
grep -q "idle until SIGTERM" "$LOG_A" || { tail -20 "$LOG_A"; fail "agent A (--linger) not idle 10 s after the takeover"; }
kill -0 "$PID_A" 2>/dev/null || fail "agent A (--linger) exited without SIGTERM"
for ((i = 0; i < 50; i++)); do grep -q "takeover: PID $PID_A exited" "$LOG_B" && break; sleep 0.1; done
grep -q "takeover: PID $PID_A exited" "$LOG_B" || fail "agent B did not see A release the verdict events"
ip netns exec "$NS" ss -Htlnp | grep -q "pid=$PID_A," &&
	{ ip netns exec "$NS" ss -tlnp; fail "agent A still holds a listening socket after the hand-over"; }
T2=$(ms_now)
touch "$TMP/readyz.stop"
wait "$READYZ_PID"
# 200 (A) before, 200 (B) after (the 503 while the takeover runs is
# checked deterministically above)
awk -v t="$T0" '$1 < t' "$TMP/readyz.log" | grep -q ' 200$' || { cat "$TMP/readyz.log"; fail "/readyz not 200 before the takeover"; }
[ "$(tail -1 "$TMP/readyz.log" | cut -d' ' -f2)" = 200 ] || { tail -3 "$TMP/readyz.log"; fail "/readyz not 200 after the takeover"; }
grep -q "metrics on http://127.0.0.1:9464" "$LOG_B" || fail "agent B did not bind the shared metrics port"
ok "/readyz on the shared port: 200 (A) before, 200 (B) after; $(awk -v t="$T0" '$1 >= t && $2 == 503' "$TMP/readyz.log" | wc -l) polls saw 503 in the hand-over"
# the pod's deletion: SIGTERM
kill -TERM "$PID_A"
for ((i = 0; i < 50; i++)); do kill -0 "$PID_A" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID_A" 2>/dev/null && { tail -20 "$LOG_A"; fail "agent A still runs 5 s after its SIGTERM"; }
wait "$PID_A"
rc=$?
[ "$rc" = 0 ] || { tail -20 "$LOG_A"; fail "agent A exited $rc"; }
grep -q "snigate info: stopped" "$LOG_A" || fail "agent A did not stop cleanly"
ok "agent A idled after the hand-over without a listening socket, exited 0 on SIGTERM"
t1=$(log_ms "$LOG_A" "takeover: stopped accepting")
t2=$(log_ms "$LOG_B" "takeover: running")
t3=$(log_ms "$LOG_B" "policy loaded (kubernetes)")
ok "takeover: $(grep -o "running .* listening sockets" "$LOG_B"); B's first snapshot in the maps $((t3 - T0)) ms after its exec (A serving), B ran the connections $((T1 - T0)) ms after its exec, frozen for $((t2 - t1)) ms; A idle $((T2 - T0)) ms after the exec"
[ -n "${TK_LOGS:-}" ] && cp "$LOG_A" "$LOG_B" "$TK_LOGS/"

# ---- a route added afterwards is served by B within 1 s ---------------------
"$TOOLS/sng_mkhello" -s baz.example.com >"$TMP/baz.bin" || fail "sng_mkhello"
j=$(xfer --hello "$TMP/baz.bin" --bytes 64k --timeout 2)
echo "$j" | grep -q '"verdict":"ok"' && fail "baz.example.com served before its route exists"
route='{"apiVersion":"gateway.networking.k8s.io/v1","kind":"TLSRoute","metadata":{"name":"baz-route","namespace":"default"},"spec":{"parentRefs":[{"name":"example-gateway","sectionName":"tls"}],"hostnames":["baz.example.com"],"rules":[{"backendRefs":[{"name":"foo-svc","port":443}]}]}}'
printf '%s' "$route" >"$TMP/ctl-body.json"
j=$(ip netns exec "$NS" "$TOOLS/sng_routewait" --connect 127.0.0.1:443 --hello "$TMP/baz.bin" \
	--until served --timeout-ms 3000 -- curl -sSf -X POST -H 'Content-Type: application/json' \
	--data-binary @"$TMP/ctl-body.json" -o /dev/null "$CTL/_standin/apply") ||
	{ echo "$j"; tail -20 "$LOG_B"; fail "added route not served within 3 s"; }
ev=$(ctl GET events | python3 -c 'import json,sys
ev=[e for e in json.load(sys.stdin) if e["key"].endswith("default/baz-route") and e["type"]=="ADDED" and e["sent"]]
print("%.1f" % (ev[-1]["sent"]*1000) if ev else "")')
[ -n "$ev" ] || fail "no ADDED event of baz-route recorded by the stand-in"
ms=$(jq -r --argjson ev "$ev" '.wall_ms - $ev | floor' <<<"$j")
[ "$ms" -le 1000 ] || fail "added TLSRoute served ${ms} ms after its watch event (> 1 s)"
grep -q "policy reloaded (kubernetes)" "$LOG_B" || fail "agent B logged no reload for the new route"
kill -0 "$PID_A" 2>/dev/null && fail "agent A is running: it cannot have served the route"
ok "TLSRoute added after the takeover served by agent B ${ms} ms after its watch event ($(jq -r .ms <<<"$j") ms after the API request)"
j=$(xfer --hello "$TMP/baz.bin" --bytes 1m); expect_ok "baz-route carries data through agent B" "$j"

# ---- the transfers and the probes -------------------------------------------
wait "$BIG"
BIG_T1=$(ms_now)
kill "$STALL_MON" 2>/dev/null
wait "$SMALL"
touch "$TMP/probe.stop"
wait "$PROBE_PID" "$PROBE_PID2"
j=$(cat "$TMP/big.json")
# a transfer that did not end well: what the kernel counters did before
grep -q '"verdict":"ok"' "$TMP/big.json" || stall_report "the $XFER_BYTES echo"
expect_ok "$XFER_BYTES spliced echo across the takeover (checksummed: 0 bytes lost or changed)" "$j"
expect_ok "128 MiB spliced echo, begun before the takeover" "$(cat "$TMP/small.json")"
[ "$BIG_T0" -lt "$T0" ] && [ "$BIG_T1" -gt "$T2" ] ||
	fail "the takeover ($T0..$T2 ms) was not inside the long echo ($BIG_T0..$BIG_T1 ms)"
ok "the takeover ran inside the long echo: $((T0 - BIG_T0)) ms after its start, $((BIG_T1 - T2)) ms before its end"
n=$(wc -l <"$TMP/probe.log")
bad=$(grep -vc '"verdict":"ok"' "$TMP/probe.log")
[ "$bad" = 0 ] || { grep -v '"verdict":"ok"' "$TMP/probe.log" | head -5; fail "$bad of $n probe connections failed or were refused"; }
during=$(awk -v a="$T0" -v b="$T2" '$2 >= a && $1 <= b' "$TMP/probe.log" | wc -l)
after=$(awk -v b="$T2" '$1 > b' "$TMP/probe.log" | wc -l)
[ "$during" -gt 0 ] || fail "no probe connection ran during the takeover"
[ "$after" -gt 0 ] || fail "no probe connection after the takeover"
max=$(awk '{ d = $2 - $1; if (d > m) m = d } END { print m + 0 }' "$TMP/probe.log")
ok "$n probe connections, none refused or failed ($during during the takeover, $after after; slowest $max ms)"

# ---- status write-back moved to B ------------------------------------------
holder() { ctl GET leases | pyjson '[l["spec"]["holderIdentity"] for l in d if l["metadata"]["name"] == "snigate-status-leader"][0]' 2>/dev/null; }
for ((i = 0; i < 250; i++)); do [ "$(holder)" = node-b ] && break; sleep 0.1; done
[ "$(holder)" = node-b ] || fail "agent B did not take the status Lease (holder: $(holder))"
ok "agent B holds the status Lease"

sleep 0.5
no_close_wait
kill "$BACKEND_PID"; BACKEND_PID=
AGENT_PID=$PID_B AGENT_LOG=$LOG_B
dp_agent_stop
wait_maps_empty 5
[ -e "$TKS" ] && fail "hand-over socket $TKS left after the stop"
ok "agent B stopped cleanly; sng_ctl/sng_cnt empty; hand-over socket removed"
echo PASS
