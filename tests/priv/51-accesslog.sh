#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Access log: one JSON line per finished connection with the right bytes.
# Checksummed echo transfers of distinct sizes through both engines (route
# app/alpha, backend app/svc-a at 127.0.0.1:19001), a rejected unknown SNI,
# a not-TLS connection and an openssl s_client offering ALPN h2,http/1.1:
# exactly one line each; bytesUp/bytesDown equal the client's own counts;
# names, endpoint, engine and outcome right; rotation by rename + SIGHUP
# reopens the file (when the agent handles SIGHUP).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/5x-lib.inc"
command -v python3 >/dev/null || skip "no python3"
"$SNIGATE" run --help | grep -q -- --access-log || skip "snigate run has no --access-log yet (not wired)"
[ -x "$XFER" ] || skip "no $XFER"
ops_setup alog
"$TOOLS/sng_mkhello" -s alpha.test >"$TMP/h-alpha.bin" || fail "sng_mkhello"
"$TOOLS/sng_mkhello" -s nothing.test >"$TMP/h-none.bin" || fail "sng_mkhello"
ops_backend 19001 echo

for engine in sockmap userspace; do
	LOG="$TMP/access-$engine.log"
	ops_agent "$engine" --access-log "$LOG"
	: >"$TMP/expect-$engine"
	for size in 1000 1048576 5000001; do
		j=$(timeout 60 ip netns exec "$NS" "$XFER" client 127.0.0.1:18443 --mode echo \
			--hello "$TMP/h-alpha.bin" --bytes "$size" --timeout 30) || fail "$engine: xfer $size: $j"
		echo "$j" | grep -q '"verdict":"ok"' || fail "$engine: xfer $size: $j"
		echo "$j" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["bytes_sent"], j["bytes_recv"])' >>"$TMP/expect-$engine"
	done
	timeout 10 ip netns exec "$NS" "$XFER" client 127.0.0.1:18443 --hello "$TMP/h-none.bin" \
		--bytes 0 --expect-fail --timeout 5 >/dev/null || fail "$engine: unknown SNI was not closed"
	printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 ip netns exec "$NS" socat -t 3 - TCP:127.0.0.1:18443 >/dev/null 2>&1
	if command -v openssl >/dev/null; then
		echo | timeout 5 ip netns exec "$NS" openssl s_client -connect 127.0.0.1:18443 \
			-servername alpha.test -alpn h2,http/1.1 >/dev/null 2>&1
		alpn=1
	else
		alpn=0
	fi
	want=$((3 + 2 + alpn))
	for i in $(seq 50); do
		[ "$(wc -l <"$LOG")" -ge "$want" ] && break
		sleep 0.1
	done
	python3 - "$LOG" "$TMP/expect-$engine" "$engine" "$alpn" <<'PY' || fail "$engine: access log (above)"
import json, sys
log, exp, engine, alpn = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
lines = [json.loads(l) for l in open(log)]
want = [tuple(map(int, l.split())) for l in open(exp)]
keys = ["time", "client", "bind", "gateway", "listener", "sni", "alpn", "route", "backend",
        "endpoint", "engine", "mode", "bytesUp", "bytesDown", "durationMs", "outcome"]
n = len(want) + 2 + (1 if alpn else 0)
assert len(lines) == n, "%d lines, want %d: %s" % (len(lines), n, lines)
for l in lines:
    assert list(l) == keys, "keys %s" % list(l)
    assert l["client"].startswith("127.0.0.1:"), l
    assert l["time"].endswith("Z") and len(l["time"]) == 24, l
routed = [l for l in lines if l["outcome"] == "routed" and l["alpn"] is None]
assert len(routed) == len(want), "routed lines: %s" % routed
routed.sort(key=lambda l: l["bytesUp"])
for l, (up, down) in zip(routed, sorted(want)):
    assert (l["bytesUp"], l["bytesDown"]) == (up, down), \
        "line says %d up %d down, client sent %d received %d" % (l["bytesUp"], l["bytesDown"], up, down)
    assert l["sni"] == "alpha.test" and l["gateway"] == "infra/edge" and l["listener"] == "pass", l
    assert l["route"] == "app/alpha" and l["backend"] == "app/svc-a:443", l
    # a client that half-closes before the splice starts (the 1000-byte
    # one) is copied by the userspace engine: sockmap needs ESTABLISHED
    assert l["endpoint"] == "127.0.0.1:19001", l
    assert l["engine"] == engine or (up < 1000000 and l["engine"] == "userspace"), l
    assert l["mode"] == "Passthrough" and l["durationMs"] >= 0, l
    print("ok: %s %d up %d down in %d ms, %s" % (l["sni"], up, down, l["durationMs"], l["engine"]))
rej = [l for l in lines if l["outcome"] == "no_route"]
assert len(rej) == 1 and rej[0]["sni"] == "nothing.test" and rej[0]["listener"] == "pass" \
    and rej[0]["route"] is None and rej[0]["bytesDown"] == 0, rej
nt = [l for l in lines if l["outcome"] == "not_tls"]
assert len(nt) == 1 and nt[0]["sni"] is None and nt[0]["listener"] is None, nt
if alpn:
    a = [l for l in lines if l["alpn"] is not None]
    assert len(a) == 1 and a[0]["alpn"] == ["h2", "http/1.1"] and a[0]["sni"] == "alpha.test", a
print("ok: %d lines, one per connection" % len(lines))
PY
	ok "$engine: one access-log line per connection, bytes equal the client's counts"
	if grep -q accesslog_reopen "$SNIGATE_ROOT/agent/cmd_run.c"; then
		mv "$LOG" "$LOG.1"
		kill -HUP "$AGENT_PID"
		sleep 0.5
		timeout 60 ip netns exec "$NS" "$XFER" client 127.0.0.1:18443 --mode echo \
			--hello "$TMP/h-alpha.bin" --bytes 4096 --timeout 30 >/dev/null || fail "$engine: xfer after SIGHUP"
		for i in $(seq 50); do [ -s "$LOG" ] && break; sleep 0.1; done
		[ "$(wc -l <"$LOG" 2>/dev/null)" = 1 ] || fail "$engine: after rotate + SIGHUP the new file has $(wc -l <"$LOG" 2>/dev/null) lines"
		kill -0 "$AGENT_PID" || fail "$engine: the agent died on SIGHUP"
		ok "$engine: rename + SIGHUP: the next line went to a new $LOG"
	fi
	ops_agent_stop
done

# Terminate (the seed's bar-route: bar.example.com on 8443 -> 127.0.0.1:8080):
# the line comes from the TLS proxy, bytes are the plaintext moved.
if command -v openssl >/dev/null && command -v socat >/dev/null; then
	ip netns exec "$NS" socat TCP-LISTEN:8080,bind=127.0.0.1,fork,reuseaddr EXEC:cat &
	at_exit "kill $!"
	wait_port "$NS" 8080 5 || fail "echo backend on 8080"
	LOG="$TMP/access-terminate.log"
	MANIFESTS="$SNIGATE_ROOT/examples/seed"
	AGENT_LOG="$TMP/agent-term.log"
	ip netns exec "$NS" "$SNIGATE" run -f "$MANIFESTS" --pin-dir "$PIN" --workers 1 \
		--access-log "$LOG" --control-socket none >"$AGENT_LOG" 2>&1 &
	AGENT_PID=$!
	at_exit "kill -9 $AGENT_PID"
	wait_port "$NS" 8443 10 || { cat "$AGENT_LOG"; fail "agent did not listen on 8443"; }
	out=$( (printf 'hello snigate\n'; sleep 3) | timeout 10 ip netns exec "$NS" openssl s_client \
		-connect 127.0.0.1:8443 -servername bar.example.com -alpn http/1.1 -quiet -no_ign_eof 2>/dev/null)
	[ "$out" = "hello snigate" ] || { tail -20 "$AGENT_LOG"; fail "terminate: echo through the gateway returned '$out'"; }
	for i in $(seq 50); do [ -s "$LOG" ] && break; sleep 0.1; done
	python3 - "$LOG" <<'PY' || { cat "$LOG"; fail "terminate: access log (above)"; }
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 1, lines
l = lines[0]
assert l["mode"] == "Terminate" and l["sni"] == "bar.example.com" and l["alpn"] == ["http/1.1"], l
assert l["route"] == "default/bar-route" and l["endpoint"] == "127.0.0.1:8080", l
assert (l["bytesUp"], l["bytesDown"]) == (14, 14) and l["bind"] == 2 and l["durationMs"] >= 2000, l
print("ok: terminate line:", json.dumps(l))
PY
	ok "terminate: one line, plaintext bytes 14 up / 14 down"
	ops_agent_stop
fi
echo PASS
