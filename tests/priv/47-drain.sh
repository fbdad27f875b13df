#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Graceful shutdown: on SIGTERM the agent stops accepting at once, lets
# in-flight passthrough (sockmap and userspace) and Terminate connections
# finish within --drain-timeout and exits 0 as soon as the last one ended;
# connections still open when the drain timeout expires are closed then.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/4x-lib.inc"
rel_require
"$SNIGATE" run --help 2>&1 | grep -q -- '--drain-timeout' || skip "snigate run has no --drain-timeout"
rel_setup drain
rel_backends
HELLO_TLS=$TMP/hello-tls.bin

listening() { ip netns exec "$NS" ss -Htln "sport = :$1" | grep -q .; }
est() { ip netns exec "$NS" ss -Htn state established | awk -v p=":$1" 'substr($3, length($3) - length(p) + 1) == p' | wc -l; }
# term_client NAME: an openssl s_client to the Terminate listener fed from
# fifo $TMP/NAME.in (fd opened by the caller), output $TMP/NAME.out
term_client() {
	mkfifo "$TMP/$1.in"
	ip netns exec "$NS" timeout 60 openssl s_client -connect 127.0.0.1:8443 -servername term.example.com \
		-CAfile "$PKI/ca.crt" -quiet -no_ign_eof <"$TMP/$1.in" >"$TMP/$1.out" 2>"$TMP/$1.err" &
	TERM_PID=$!
	at_exit "kill $TERM_PID"
}
wait_grep() { # wait_grep FILE PATTERN SECONDS
	local i
	for ((i = 0; i < $3 * 20; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# wait_open N: the agent's snigate_connections_open (passthrough connections
# accepted and not closed) reaches N: they are in flight (10 s at most)
wait_open() {
	local i n
	for ((i = 0; i < 200; i++)); do
		n=$(ip netns exec "$NS" curl -s http://127.0.0.1:9464/metrics | awk '$1 == "snigate_connections_open" { print $2 }')
		[ "${n:-0}" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# ---- 1. everything in flight finishes within the drain -----------------------
rel_agent --drain-timeout 20 --metrics 127.0.0.1:9464
term_client t1
exec 7>"$TMP/t1.in"
echo "before-term" >&7
wait_grep "$TMP/t1.out" before-term 5 || { cat "$TMP/t1.err"; fail "terminate connection: no echo before SIGTERM"; }
# ~2 s transfers on both passthrough engines
for port in 443 444; do
	ip netns exec "$NS" "$XFER" client "127.0.0.1:$port" --hello "$HELLO" --bytes 24m --read-rate 12m \
		--timeout 30 >"$TMP/pt-$port.json" 2>&1 &
	eval "PT_$port=\$!"
	at_exit "kill $!"
done
wait_open 2 || fail "passthrough transfers did not start: $(cat "$TMP"/pt-*.json)"
kill -0 "$PT_443" && kill -0 "$PT_444" && kill -0 "$TERM_PID" ||
	fail "connections ended before SIGTERM: $(cat "$TMP"/pt-*.json)"
t0=$(date +%s%N)
kill -TERM "$AGENT_PID"
for ((i = 0; i < 40; i++)); do
	listening 443 || listening 444 || listening 8443 || break
	sleep 0.025
done
listening 443 || listening 444 || listening 8443 && fail "still listening $(ms_since "$t0") ms after SIGTERM"
ok "listeners closed $(ms_since "$t0") ms after SIGTERM"
ip netns exec "$NS" "$XFER" client 127.0.0.1:444 --hello "$HELLO" --bytes 1k --timeout 2 \
	>"$TMP/new.json" 2>&1 && fail "a new connection was accepted while draining: $(cat "$TMP/new.json")"
ok "new connections refused while draining"
code=$(ip netns exec "$NS" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9464/readyz)
[ "$code" = 503 ] || fail "/readyz answered $code while draining (want 503)"
ok "/readyz 503 while draining"
rel_agent_alive "draining with connections open"
# the Terminate connection still works during the drain
echo "during-drain" >&7
wait_grep "$TMP/t1.out" during-drain 5 || fail "terminate connection broken during the drain"
ok "terminate connection served during the drain"
wait "$PT_443"; wait "$PT_444"
j=$(cat "$TMP/pt-444.json")
echo "$j" | grep -q '"verdict":"ok"' || fail "userspace passthrough did not finish during the drain: $j"
j=$(cat "$TMP/pt-443.json")
echo "$j" | grep -q '"verdict":"ok"' || fail "sockmap passthrough did not finish during the drain: $j"
ok "passthrough transfers (sockmap, userspace) finished during the drain"
rel_agent_alive "terminate connection still open"
t_eof=$(date +%s%N)
exec 7>&- # the client sends EOF: the last connection ends
for ((i = 0; i < 100; i++)); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$AGENT_PID" 2>/dev/null && { tail "$AGENT_LOG"; fail "agent still running 5 s after its last connection ended"; }
wait "$AGENT_PID"
rc=$?
el=$(ms_since "$t0")
[ "$rc" = 0 ] || { tail "$AGENT_LOG"; fail "agent exited $rc after the drain"; }
grep -q "drained: every connection ended" "$AGENT_LOG" || { tail "$AGENT_LOG"; fail "no drained message"; }
[ "$el" -lt 20000 ] || fail "exit took $el ms: waited for the drain timeout although every connection ended"
ok "agent exited 0 ${el} ms after SIGTERM, $(ms_since "$t_eof") ms after its last connection ended (drain timeout 20 s)"

# ---- 2. connections outliving the drain are closed when it expires --------------
rel_agent --drain-timeout 2 --metrics 127.0.0.1:9464
term_client t2
exec 8>"$TMP/t2.in"
echo "hello-2" >&8
wait_grep "$TMP/t2.out" hello-2 5 || fail "terminate connection 2: no echo"
T2=$TERM_PID
# 256 MiB at 16 MiB/s: 16 s, far longer than the drain
for port in 443 444; do
	ip netns exec "$NS" "$XFER" client "127.0.0.1:$port" --hello "$HELLO" --bytes 256m --read-rate 16m \
		--timeout 60 >"$TMP/long-$port.json" 2>&1 &
	eval "LONG_$port=\$!"
	at_exit "kill $!"
done
wait_open 2 || fail "long transfers did not start"
t0=$(date +%s%N)
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
rc=$?
el=$(ms_since "$t0")
[ "$rc" = 0 ] || { tail "$AGENT_LOG"; fail "agent exited $rc after the drain timeout"; }
[ "$el" -ge 1900 ] && [ "$el" -lt 4500 ] || fail "agent stopped $el ms after SIGTERM, drain timeout 2 s"
grep -q "drain timeout: closing 3 open connection(s)" "$AGENT_LOG" ||
	{ grep drain "$AGENT_LOG"; fail "drain timeout with 3 connections not logged"; }
ok "drain timeout: agent exited 0 after $el ms with 3 connections open"
for port in 443 444; do
	eval "p=\$LONG_$port"
	for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$p" 2>/dev/null && fail "passthrough client on $port still running after the agent stopped"
	grep -q '"verdict":"ok"' "$TMP/long-$port.json" && fail "256 MiB on $port completed within a 2 s drain?"
done
for ((i = 0; i < 100; i++)); do kill -0 "$T2" 2>/dev/null || break; sleep 0.05; done
kill -0 "$T2" 2>/dev/null && fail "terminate client still connected after the agent stopped"
exec 8>&-
[ "$(est 443)" = 0 ] && [ "$(est 444)" = 0 ] && [ "$(est 8443)" = 0 ] ||
	{ ip netns exec "$NS" ss -tn; fail "established connections left after the drain"; }
ok "connections outliving the drain were closed when it expired"
echo PASS
