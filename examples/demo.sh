#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The seed example end to end on this machine (no cluster): the Gateway and
# TLSRoutes of examples/seed/, local backends, real openssl s_client clients.
# Runs in a private network namespace; needs root. `make demo` calls it.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
SNIGATE=$ROOT/$BUILD/snigate
TOOLS=$ROOT/$BUILD/tests/tools
SEED=$ROOT/examples/seed
NS=snigate-demo
PIN=/sys/fs/bpf/snigate-demo
WORK=$(mktemp -d /tmp/snigate-demo.XXXXXX)
pids=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$PIN" "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || die "needs root (network namespace, BPF): run as root"
[ -x "$SNIGATE" ] || die "$SNIGATE is not built: run make"
[ -x "$TOOLS/sng_tcpserver" ] || die "$TOOLS/sng_tcpserver is not built: run make tests"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || die "cannot mount bpffs"

say "compiling the seed example (snigate check -o text)"
"$SNIGATE" check -f "$SEED" -o text || die "snigate check failed on examples/seed"

ip netns del "$NS" 2>/dev/null
ip netns add "$NS" || die "ip netns add $NS"
ip -n "$NS" link set lo up
# nsenter, not "ip netns exec": the latter remounts /sys in a new mount
# namespace, which hides the bpffs at /sys/fs/bpf from the agent.
inns() { nsenter --net=/run/netns/"$NS" "$@"; }
# inns_bg CMD...: start CMD in the netns in the background and remember its
# pid (nsenter execs CMD, so $! is CMD itself and cleanup can kill it)
inns_bg() { nsenter --net=/run/netns/"$NS" "$@" & pids+=($!); }

say "starting demo backends in netns $NS"
# foo-svc: a TLS server with its own certificate (not the gateway's).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/O=foo backend/CN=foo.example.com" -addext "subjectAltName=DNS:foo.example.com" \
	-keyout "$WORK/foo.key" -out "$WORK/foo.crt" 2>/dev/null || die "openssl req failed"
inns_bg "$TOOLS/sng_tcpserver" --listen 127.0.0.1:9443 --name foo-svc \
	--cert "$WORK/foo.crt" --key "$WORK/foo.key" >"$WORK/foo.log" 2>&1
echo "  foo-svc: TLS on 127.0.0.1:9443, certificate CN=foo.example.com (O=foo backend)"
# bar-svc: plain TCP echo on 8080.
inns_bg "$TOOLS/sng_tcpserver" --listen 127.0.0.1:8080 --name bar-svc >"$WORK/bar.log" 2>&1
echo "  bar-svc: plain TCP on 127.0.0.1:8080"

say "starting snigate run -f examples/seed"
inns_bg "$SNIGATE" run -f "$SEED" --pin-dir "$PIN" >"$WORK/snigate.log" 2>&1
ready=0
for _ in $(seq 100); do
	if inns ss -Htln 'sport = :443' | grep -q . && inns ss -Htln 'sport = :8443' | grep -q .; then
		ready=1; break
	fi
	kill -0 "${pids[-1]}" 2>/dev/null || break
	sleep 0.1
done
sed 's/^/  | /' "$WORK/snigate.log"
[ $ready -eq 1 ] || die "snigate did not start listening on 443 and 8443 (log above)"

# client HOST PORT [openssl args...]: one TLS connection, prints what was seen
client() {
	local host=$1 port=$2; shift 2
	printf 'TEST\nQUIT\n' | inns timeout 10 openssl s_client -connect "127.0.0.1:$port" \
		-servername "$host" -ign_eof "$@" >"$WORK/client.out" 2>&1
	local rc=$?
	echo "  certificate seen by the client:"
	grep -E '^ *[0-9] s:|^ *i:|Verify return code|^ *Protocol *:' "$WORK/client.out" | sed 's/^ */    /' | awk '!seen[$0]++'
	echo "  backend answered:"
	grep -E '^Gateway API Test TCP Server|^\{"service"' "$WORK/client.out" | sed 's/^/    /'
	grep -q '^{"service"' "$WORK/client.out" || { echo "  (no answer from a backend; openssl rc $rc)"; return 1; }
	return 0
}

status=0
say "foo.example.com on 443 (Passthrough: the client must see foo-svc's own certificate)"
client foo.example.com 443 -tls1_3 || status=1
grep -q 'CN *= *foo.example.com' "$WORK/client.out" && grep -q '"serverName":"foo.example.com"' "$WORK/client.out" \
	|| { echo "  FAILED: expected foo-svc's certificate and SNI foo.example.com at the backend"; status=1; }

say "bar.example.com on 8443 (Terminate: the client must see tls-terminate-certificate, verified)"
client bar.example.com 8443 -CAfile "$SEED/demo-ca.crt" -verify_return_error -verify_hostname bar.example.com || status=1
grep -q 'Verify return code: 0 (ok)' "$WORK/client.out" && grep -q '{"service":"bar-svc","isTLS":false}' "$WORK/client.out" \
	|| { echo "  FAILED: expected a verified bar.example.com certificate and plaintext at bar-svc"; status=1; }

say "unknown.example.com on 443 (no route: the gateway must close without a TLS alert)"
printf '' | inns timeout 10 openssl s_client -connect 127.0.0.1:443 -servername unknown.example.com >"$WORK/client.out" 2>&1
if grep -qi 'alert' "$WORK/client.out"; then echo "  FAILED: a TLS alert was sent"; status=1
else echo "  closed without a TLS alert: $(grep -m1 -iE 'errno|unexpected eof|write:|read:' "$WORK/client.out" || echo 'connection closed')"; fi

if [ $status -eq 0 ]; then say "demo passed"; else say "demo FAILED"; sed 's/^/  | /' "$WORK/snigate.log" | tail -20; fi
exit $status
