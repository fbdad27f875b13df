#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The agent SIGKILLed with spliced connections open (both engines), then
# restarted at once: new connections are served within 1 s of the restart
# (measured: exec to the first byte-exact echo), the pinned maps are reused
# or cleanly replaced (map ids compared), the killed agent's connections end
# promptly for their clients, and nothing stale is left in sng_ctl / sng_cnt
# (snigate dump conns) once the new agent runs. Repeated RESTARTS times.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/4x-lib.inc"
rel_require
RESTARTS=${RESTARTS:-3}
K=${RESTART_CONNS:-10}
rel_setup restart
rel_backends
rel_agent
map_id() { bpftool -j map show pinned "$PIN/$1" 2>/dev/null | jq -r '.id'; }
ids() { echo "$(map_id sng_routes) $(map_id sng_socks) $(map_id sng_ctl) $(map_id sng_cnt) $(map_id sng_lstats)"; }

for ((r = 1; r <= RESTARTS; r++)); do
	# long-lived spliced connections on both engines, slowly read
	rm -f "$TMP"/live-*.json
	base=$(map_entries sng_ctl)
	for ((i = 0; i < K; i++)); do
		port=$((443 + i % 2))
		ip netns exec "$NS" "$XFER" client "127.0.0.1:$port" --hello "$HELLO" --bytes 1g \
			--read-rate 1m --timeout 30 >"$TMP/live-$i.json" 2>&1 &
		at_exit "kill -9 $!"
	done
	for ((i = 0; i < 50; i++)); do
		[ "$(map_entries sng_ctl)" -ge $((base + K)) ] && break
		sleep 0.1
	done
	live=$(( $(map_entries sng_ctl) - base ))
	[ "$live" -ge $K ] || fail "restart $r: only $live sng_ctl entries for $K live sockmap+userspace conns"
	before=$(ids)
	stats_json >"$TMP/st-before.json"

	kill -9 "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	t0=$(ms_now)
	AGENT_LOG="$TMP/agent-r$r.log"
	ip netns exec "$NS" "$SNIGATE" run -f "$MAN" --pin-dir "$PIN" --workers 2 "${CTL_ARGS[@]}" >"$AGENT_LOG" 2>&1 &
	AGENT_PID=$!
	at_exit "kill -9 $AGENT_PID"
	served=
	while [ $(( $(ms_now) - t0 )) -lt 5000 ]; do
		if ip netns exec "$NS" "$XFER" client 127.0.0.1:443 --hello "$HELLO" --bytes 64k \
			--timeout 2 2>/dev/null | grep -q '"verdict":"ok"'; then
			served=$(( $(ms_now) - t0 ))
			break
		fi
		kill -0 "$AGENT_PID" 2>/dev/null || { cat "$AGENT_LOG"; fail "restart $r: agent exited"; }
		sleep 0.01
	done
	[ -n "$served" ] || { cat "$AGENT_LOG"; fail "restart $r: no connection served within 5 s"; }
	[ "$served" -le 1000 ] || fail "restart $r: first new connection served after $served ms (> 1 s)"
	j=$(ip netns exec "$NS" "$XFER" client 127.0.0.1:444 --hello "$HELLO" --bytes 4m --timeout 5)
	echo "$j" | grep -q '"verdict":"ok"' || fail "restart $r: userspace listener after restart: $j"
	after=$(ids)
	if [ "$before" = "$after" ]; then how="reused (same map ids)"; else how="replaced ($before -> $after)"; fi

	# the killed agent's clients: their connections end (reset or EOF)
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -l '"end"' "$TMP"/live-*.json 2>/dev/null | wc -l)" -ge $K ] && break
		sleep 0.1
	done
	ended=$(grep -l '"end"' "$TMP"/live-*.json 2>/dev/null | wc -l)
	[ "$ended" -ge $K ] || fail "restart $r: $((K - ended)) of $K clients of the killed agent still hang after 5 s"

	# nothing stale: the killed agent's sockets are gone from every map
	for ((i = 0; i < 20; i++)); do
		[ "$(map_entries sng_ctl)" = 0 ] && [ "$(map_entries sng_cnt)" = 0 ] && break
		sleep 0.1
	done
	c1=$(map_entries sng_ctl) c2=$(map_entries sng_cnt) c3=$(map_entries sng_socks)
	dc=$("$SNIGATE" dump conns --pin-dir "$PIN" -o json | jq 'length')
	"$SNIGATE" dump routes --pin-dir "$PIN" | grep -q 'foo.example.com' || fail "restart $r: routes missing after restart"
	ok "restart $r: SIGKILL with $live live sockets; new connection served ${served} ms after exec; maps $how; $ended/$K old clients ended"
	if [ "$c1" = 0 ] && [ "$c2" = 0 ] && [ "$dc" = 0 ]; then
		ok "restart $r: sng_ctl/sng_cnt/dump conns empty"
	else
		echo "restart $r: stale entries after restart: sng_ctl=$c1 sng_cnt=$c2 sng_socks=$c3 dump conns=$dc (killed agent had $live sockets in sng_ctl)"
		stale=1
	fi
done
stats_json | jq -c '.listeners' >"$TMP/st-after.json"
[ -z "${stale:-}" ] || fail "stale map entries left by the killed agent"
echo "counters after the restarts (pinned per-CPU maps survive the agent): $(cat "$TMP/st-after.json")"
echo PASS
