#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Terminate bulk transfers: checksummed sng_xfer streams through `snigate run`
# (TLS from the client via socat, plaintext to the backend), echo both ways,
# then 16 concurrent connections with a slow reader on the backend side and
# 16 with a slow reader on the client side. The agent's RSS is sampled; the
# growth per connection must stay bounded (fixed buffers + backpressure).
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/terminate/lib.sh"
term_require
[ -x "$TOOLS/sng_xfer" ] || skip "$TOOLS/sng_xfer not built (make tests)"
command -v socat >/dev/null || skip "socat missing"

# VMTEST=1 (a TCG guest: userspace crypto ~20x slower) moves a quarter of
# the bytes; the connection count, the checks and the limits stay.
if [ "${VMTEST:-0}" = 1 ]; then
	: "${BULK_SIZE:=4m}" "${BULK_ECHO:=16m}" "${BULK_ECHO4:=4m}"
fi
N=${BULK_CONNS:-16}
SIZE=${BULK_SIZE:-16m}
ECHO1=${BULK_ECHO:-64m}
ECHO4=${BULK_ECHO4:-16m}
RATE=${BULK_RATE:-4m}
LIMIT_KB=${BULK_LIMIT_KB:-256}

NS=$(new_netns bulk)
PKI=$TMP/pki MAN=$TMP/manifests
mkdir -p "$PKI" "$MAN"
mk_ca "$PKI" && mk_leaf "$PKI" gw ec up.example.com down.example.com echo.example.com rst.example.com ||
	fail "certificates"
cat >"$MAN/gateway.yaml" <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: example-gateway-class
  listeners:
  - name: tls-terminate
    protocol: TLS
    port: 8443
    tls:
      mode: Terminate
      certificateRefs:
      - name: gw-cert
YAML
for r in up down echo rst; do
	cat >>"$MAN/gateway.yaml" <<YAML
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: $r-route
spec:
  parentRefs:
  - name: gw
  hostnames: ["$r.example.com"]
  rules:
  - backendRefs:
    - name: $r-svc
      port: 8080
YAML
done
{
	secret_yaml gw-cert "$PKI/gw"
	service_yaml up-svc 8080 127.0.0.1 18081
	service_yaml down-svc 8080 127.0.0.1 18082
	service_yaml echo-svc 8080 127.0.0.1 18083
	service_yaml rst-svc 8080 127.0.0.1 18084
} >"$MAN/objects.yaml"

inns() { ip netns exec "$NS" "$@"; }
ip netns exec "$NS" "$TOOLS/sng_xfer" server 127.0.0.1:18081 --mode sink --read-rate "$RATE" >"$TMP/sink.log" 2>&1 &
at_exit "kill $!"
ip netns exec "$NS" "$TOOLS/sng_xfer" server 127.0.0.1:18082 --mode source --bytes "$SIZE" >"$TMP/source.log" 2>&1 &
at_exit "kill $!"
ip netns exec "$NS" "$TOOLS/sng_xfer" server 127.0.0.1:18083 --mode echo >"$TMP/echo.log" 2>&1 &
at_exit "kill $!"
ip netns exec "$NS" "$TOOLS/sng_xfer" server 127.0.0.1:18084 --mode source --bytes 64m --rst-after 16m --count 1000 >"$TMP/rst.log" 2>&1 &
at_exit "kill $!"
for p in 18081 18082 18083 18084; do wait_port "$NS" $p || fail "sng_xfer server $p"; done
# --connect-timeout 10: in a TCG VM one worker batch of 16 handshakes can
# outlast the default 3 s connect timer (seen on kernel 7); --handshake-timeout
# 30: 2 of 16 handshakes passed the default 10 s deadline in the 6.1 VM
# beside another VM and a host test loop. This test is about buffering, not
# timing.
start_snigate "$NS" "$MAN" 8443 -- --connect-timeout 10 --handshake-timeout 30

# TLS client wrappers: plaintext in, TLS (SNI, verified) to the agent.
# VMTEST=1: offer ChaCha20-Poly1305 first (the TCG guest CPU has no AES-NI;
# AES-GCM runs at 22 MB/s there, ChaCha20 at 160 MB/s); kTLS carries it too.
CLI_ENV=()
[ "${VMTEST:-0}" = 1 ] && [ -r "$SNIGATE_ROOT/vmtest/openssl-chacha.cnf" ] &&
	CLI_ENV=(env OPENSSL_CONF="$SNIGATE_ROOT/vmtest/openssl-chacha.cnf")
port=19000
for r in up down echo; do
	port=$((port + 1))
	ip netns exec "$NS" "${CLI_ENV[@]}" socat -t 60 TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,backlog=64 \
		OPENSSL:127.0.0.1:8443,snihost=$r.example.com,cafile="$PKI/ca.crt",commonname=$r.example.com \
		>"$TMP/socat-$r.log" 2>&1 &
	at_exit "kill $!"
	wait_port "$NS" $port || fail "socat $port"
done

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SNG_PID/status"; }
# sample the agent's RSS every 50 ms into $1 until $2 disappears
sample_rss() {
	while [ -e "$2" ]; do rss_kb >>"$1"; sleep 0.05; done
}
verdicts_ok() { # FILE COUNT
	local n
	n=$(grep -c '"verdict":"ok"' "$1")
	[ "$n" -eq "$2" ] || { sed 's/^/    | /' "$1" | head -n 20; return 1; }
}

# warm-up: one small checksummed echo, so OpenSSL's one-time allocations
# are in the baseline and not counted per connection
inns timeout 30 "$TOOLS/sng_xfer" client 127.0.0.1:19003 --mode echo --bytes 1m >"$TMP/w" 2>&1
verdicts_ok "$TMP/w" 1 || fail "warm-up echo"

# 1./2. slow readers: N concurrent connections, RSS growth per connection
bulk_run() { # NAME PORT CLIENT_ARGS...
	local name=$1 port=$2; shift 2
	local base peak per flag=$TMP/sampling-$name i t0
	sleep 0.5
	base=$(rss_kb)
	: >"$flag"; : >"$TMP/rss-$name"
	sample_rss "$TMP/rss-$name" "$flag" &
	local sp=$!
	t0=$SECONDS
	for ((i = 0; i < N; i++)); do
		inns timeout 200 "$TOOLS/sng_xfer" client 127.0.0.1:$port "$@" >"$TMP/$name-$i" 2>&1 &
	done
	for ((i = 0; i < N; i++)); do
		while ! grep -q verdict "$TMP/$name-$i" 2>/dev/null; do
			kill -0 "$SNG_PID" 2>/dev/null || fail "$name: snigate died"
			[ $((SECONDS - t0)) -lt 200 ] || fail "$name: transfers did not finish"
			sleep 0.2
		done
	done
	rm -f "$flag"; wait $sp
	cat "$TMP/$name-"* >"$TMP/$name-all"
	verdicts_ok "$TMP/$name-all" "$N" || fail "$name: a transfer failed"
	peak=$(sort -n "$TMP/rss-$name" | tail -n1)
	per=$(( (peak - base) / N ))
	echo "MEASURED $name: $N connections x $SIZE, slow reader $RATE/s: agent RSS base ${base} KiB," \
		"peak ${peak} KiB, growth per connection ${per} KiB (limit ${LIMIT_KB} KiB), $((SECONDS - t0)) s"
	[ "$per" -le "$LIMIT_KB" ] || fail "$name: ${per} KiB per connection exceeds ${LIMIT_KB} KiB"
}
# slow backend reader: the client pushes, the sink reads at $RATE, answers
# SINK <bytes> OK after the client's FIN (half-close through the agent)
bulk_run up 19001 --mode up --bytes "$SIZE"
ok "client->backend with a slow backend reader: bounded, checksums ok"
# slow client reader: the source pushes $SIZE, the client reads at $RATE
bulk_run down 19002 --mode down --bytes "$SIZE" --read-rate "$RATE"
ok "backend->client with a slow client reader: bounded, checksums ok"
# 3. echo, checksummed both ways, one large stream then 4 in parallel
inns timeout 120 "$TOOLS/sng_xfer" client 127.0.0.1:19003 --mode echo --bytes "$ECHO1" >"$TMP/e1" 2>&1
verdicts_ok "$TMP/e1" 1 || fail "echo $ECHO1"
ok "echo $ECHO1 through TLS termination: $(sed -n 's/.*"gbit_s":\([0-9.]*\).*/\1/p' "$TMP/e1") Gbit/s"
pids=()
for i in 1 2 3 4; do
	inns timeout 120 "$TOOLS/sng_xfer" client 127.0.0.1:19003 --mode echo --bytes "$ECHO4" >"$TMP/e4-$i" 2>&1 &
	pids+=($!)
done
wait "${pids[@]}"
cat "$TMP"/e4-* >"$TMP/e4"
verdicts_ok "$TMP/e4" 4 || fail "4 parallel echo streams"
ok "4 parallel echo streams of $ECHO4"

# 4. resets: a client that resets mid-stream makes the agent reset the
#    backend leg (no socket left behind); a backend that resets mid-stream
#    makes the agent reset the client (the client sees ECONNRESET, not EOF)
if command -v python3 >/dev/null; then
	inns timeout 30 python3 - "$PKI/ca.crt" >"$TMP/rst.out" 2>&1 <<'PY'
import socket, ssl, struct, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[1])
# client reset, on the echo route
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", 8443)), server_hostname="echo.example.com")
s.sendall(b"x" * 100000)
s.recv(1000)
# SO_LINGER {1, 0}: close() sends an RST, no close_notify
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
socket.socket(fileno=s.detach()).close()
print("client-reset-sent")
# backend reset (a source that resets after 16 MiB: by then the agent has
# long finished connecting) on the rst route;
# read at the TCP level (TLS in memory BIOs) so an RST is ConnectionResetError
inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, outb, server_hostname="rst.example.com")
s = socket.create_connection(("127.0.0.1", 8443))
s.settimeout(10)
res = "no-reset"
try:
    while True:
        try:
            obj.do_handshake(); s.sendall(outb.read()); break
        except ssl.SSLWantReadError:
            s.sendall(outb.read()); inc.write(s.recv(65536))
    got = 0
    while got < 64 << 20:
        d = s.recv(65536)
        if not d:
            res = "eof-instead-of-reset"; break
        got += len(d)
except ConnectionResetError:
    res = "backend-reset-seen"
except Exception as e:
    res = "other:" + type(e).__name__ + ":" + str(e)
print(res)
PY
	grep -q client-reset-sent "$TMP/rst.out" || { cat "$TMP/rst.out"; fail "reset client script"; }
	sleep 1
	n=$(inns ss -Htn state established "( dport = :18083 or sport = :18083 )" | wc -l)
	[ "$n" -eq 0 ] || { inns ss -tn; fail "client reset: $n established sockets left on the echo backend"; }
	ok "client reset: the backend leg was closed too"
	grep -q backend-reset-seen "$TMP/rst.out" || { cat "$TMP/rst.out"; fail "backend reset not propagated as a reset"; }
	ok "backend reset: propagated to the client as a reset"
fi
kill -0 "$SNG_PID" || fail "snigate died"
ktls_check "$NS"
