#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# snigate benchmarks (`make bench`, `make bench-quick` with QUICK=1): direct, snigate
# (sockmap, userspace), HAProxy, NGINX stream, sniproxy, interleaved, in a private netns.
#
# Everything runs on loopback inside a network namespace of its own; every daemon gets
# a config generated into a temp dir, is started here and stopped on exit. Every figure
# in the output comes from a run of this script (raw runs in $OUT/results.json).
# Knobs: QUICK=1, REPS=N, BENCH_OUT=dir, BENCH_PATHS="direct haproxy ..." (subset),
# BENCH_PHASES="pt idle term scale reload redirect perf" (subset, for development).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${BUILD:=build}"
case $BUILD in /*) B=$BUILD ;; *) B=$ROOT/$BUILD ;; esac
QUICK=${QUICK:-0}
BIN=$B/tests/bench
OUT=${BENCH_OUT:-$B/bench}
SNIGATE=$B/snigate
HERE=$ROOT/tests/bench

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespace, BPF, apt-get)"

# ---- 1. peers from Debian, before entering the netns (apt needs the network) ----------
if [ -z "${SNG_BENCH_NETNS:-}" ]; then
	need=()
	command -v haproxy >/dev/null || need+=(haproxy)
	command -v nginx >/dev/null || need+=(nginx-light)
	[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
	command -v sniproxy >/dev/null || need+=(sniproxy)
	command -v gnuplot >/dev/null || need+=(gnuplot-nox)
	command -v python3 >/dev/null || need+=(python3)
	command -v ss >/dev/null || need+=(iproute2)
	if ((${#need[@]})); then
		log "installing missing Debian packages: ${need[*]}"
		# Keep the packages' own services from starting (NGINX would grab port 80).
		rcd=/usr/sbin/policy-rc.d made_rcd=0
		if [ ! -e $rcd ]; then printf '#!/bin/sh\nexit 101\n' >$rcd && chmod +x $rcd && made_rcd=1; fi
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y --no-install-recommends "${need[@]}" ||
			{ apt-get update && apt-get install -y --no-install-recommends "${need[@]}"; } ||
			{ ((made_rcd)) && rm -f $rcd; die "apt-get install ${need[*]} failed"; }
		((made_rcd)) && rm -f $rcd
	fi
	for f in bench_backend bench_load bench_tls bench_btfsize bench_redirect; do
		[ -x "$BIN/$f" ] || die "$BIN/$f missing: run 'make bench' (it builds them)"
	done
	export SNG_BENCH_NETNS=1
	exec unshare --net -- "$0" "$@"
fi

# ---- 2. the namespace ---------------------------------------------------------------
ip link set lo up
# ephemeral ports above every port we listen on (9000-9999), or a proxy's outgoing
# connection can sit on a port a later listener needs
sysctl -qw net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1 \
	net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 >/dev/null
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)

T0_ALL=$(date +%s.%N)
TMP=$(mktemp -d /tmp/snigate-bench.XXXXXX)
PIN_BASE=/sys/fs/bpf/snigate-bench-$$
DAEMONS=()   # "name:pid"
cleanup() {
	local d pid i
	for d in "${DAEMONS[@]}"; do
		pid=${d##*:}
		kill -TERM "$pid" 2>/dev/null || true
	done
	for d in "${DAEMONS[@]}"; do
		pid=${d##*:}
		for ((i = 0; i < 40; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -rf "$PIN_BASE"-* 2>/dev/null || true
	# keep the raw runs and the daemons' logs for inspection
	mkdir -p "$OUT/logs" && cp "$TMP"/*.log "$TMP"/*.jsonl "$TMP"/*.cfg "$TMP"/*.conf "$OUT/logs/" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$OUT"
# everything in $OUT comes from this run: drop the previous run's files
rm -rf "$OUT"/perf-*.txt "$OUT"/ratios.* "$OUT"/table.md "$OUT"/results.json "$OUT"/logs
RAW=$TMP/raw.jsonl
NOTES=$TMP/notes.jsonl
: >"$RAW"
: >"$NOTES"

NPROC=$(nproc)
if ((QUICK)); then
	REPS=${REPS:-3} BULK=128M RR_COUNT=2000 CONN_CONC="1 32" CONN_DUR=0.3
	IDLE_CONNS=${IDLE_CONNS:-1000} TLS_DUR=0.3 TLS_BYTES=64M TLS_REPS=${TLS_REPS:-2}
	SCALE_DUR=0.3 SCALE_REPS=5 MODE=quick
else
	REPS=${REPS:-5} BULK=2G RR_COUNT=20000 CONN_CONC="1 16 128" CONN_DUR=2
	IDLE_CONNS=${IDLE_CONNS:-10000} TLS_DUR=2 TLS_BYTES=512M TLS_REPS=${TLS_REPS:-5}
	SCALE_DUR=1 SCALE_REPS=10 MODE=full
fi
SCALE_N=100000
# A proxy holds two descriptors per connection: 10,000 idle connections need more than
# 20,000, and without CAP_SYS_RESOURCE the hard limit cannot be raised.
IDLE_MAX=$(((NOFILE - 500) / 2))
if ((IDLE_CONNS > IDLE_MAX)); then
	IDLE_WHY="idle connections capped at $IDLE_MAX (not $IDLE_CONNS): the open-files hard limit is $NOFILE and cannot be raised here (no CAP_SYS_RESOURCE); a proxy needs two descriptors per connection"
	IDLE_CONNS=$IDLE_MAX
fi
BE_PORT=9000
SNI=bench.example.com
declare -A PORT=([direct]=$BE_PORT [haproxy]=9101 [nginx]=9102 [sniproxy]=9103
	[snigate-sockmap]=9104 [snigate-userspace]=9105
	[nginx-tls-ec]=9201 [nginx-tls-rsa]=9202 [snigate-tls-ec]=9211 [snigate-tls-rsa]=9212
	[scale-10]=9106 [scale-100k]=9107 [reload]=9108)
declare -A PIDS=()      # path -> "pid" of the main process
declare -A UNAVAIL=()   # path -> reason
PT_PATHS=(direct snigate-sockmap snigate-userspace haproxy nginx sniproxy)
TERM_PATHS=(snigate-tls nginx-tls)
if [ -n "${BENCH_PATHS:-}" ]; then read -r -a PT_PATHS <<<"$BENCH_PATHS"; fi

PHASES=" ${BENCH_PHASES:-pt idle term scale reload redirect perf} "
want() { [[ $PHASES == *" $1 "* ]]; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
json_str() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
note() { printf '{"topic":%s,"text":%s}\n' "$(json_str "$1")" "$(json_str "$2")" >>"$NOTES"; }
unavail() { UNAVAIL[$1]=$2; log "$1: not available: $2"; }

# start_daemon NAME CMD...: background, output to $TMP/NAME.log, pid in PIDS[NAME]
start_daemon() {
	local name=$1
	shift
	"$@" >"$TMP/$name.log" 2>&1 &
	PIDS[$name]=$!
	DAEMONS+=("$name:$!")
}
stop_daemon() {
	local pid=${PIDS[$1]:-} i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "PIDS[$1]"
}
wait_listen() { # PORT [SECONDS [DAEMON]]: 1 on timeout or when DAEMON exited
	local end=$((SECONDS + ${2:-10}))
	while ((SECONDS <= end)); do
		ss -Htln "sport = :$1" | grep -q . && return 0
		[ -z "${3:-}" ] || alive "$3" || return 1
		sleep 0.05
	done
	return 1
}
alive() { kill -0 "${PIDS[$1]:-0}" 2>/dev/null; }
# pids of a daemon and its children (NGINX workers), comma separated
pids_of() {
	local p=${PIDS[$1]:-} c
	[ -n "$p" ] || return 0
	c=$(pgrep -P "$p" | paste -sd, -)
	echo "$p${c:+,$c}"
}
last_line() { tail -n 3 "$1" 2>/dev/null | tr '\n' ' ' | cut -c1-300; }

# ---- 3. certificates, backend ---------------------------------------------------------
log "mode $MODE: reps $REPS, bulk $BULK, conn concurrency $CONN_CONC, idle $IDLE_CONNS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" \
	-keyout "$TMP/ec.key" -out "$TMP/ec.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
	-subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" \
	-keyout "$TMP/rsa.key" -out "$TMP/rsa.crt" 2>/dev/null

start_daemon backend "$BIN/bench_backend" --listen 127.0.0.1:$BE_PORT --threads "$NPROC"
wait_listen $BE_PORT 5 || die "bench_backend did not listen: $(last_line "$TMP/backend.log")"

# ---- 4. peers ------------------------------------------------------------------------
cat >"$TMP/haproxy.cfg" <<EOF
global
	nbthread $NPROC
defaults
	mode tcp
	timeout connect 5s
	timeout client 1h
	timeout server 1h
frontend fe_tls
	bind 127.0.0.1:${PORT[haproxy]}
	tcp-request inspect-delay 5s
	tcp-request content accept if { req.ssl_hello_type 1 }
	use_backend be_bench if { req.ssl_sni -i $SNI }
backend be_bench
	server s1 127.0.0.1:$BE_PORT
EOF
start_daemon haproxy haproxy -db -f "$TMP/haproxy.cfg"

mkdir -p "$TMP/nginx"
cat >"$TMP/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
worker_processes $NPROC;
worker_rlimit_nofile $NOFILE;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections $NOFILE; }
stream {
	map \$ssl_preread_server_name \$up {
		$SNI 127.0.0.1:$BE_PORT;
		default 127.0.0.1:1;
	}
	server {
		listen 127.0.0.1:${PORT[nginx]};
		ssl_preread on;
		proxy_pass \$up;
	}
	server {
		listen 127.0.0.1:${PORT[nginx-tls-ec]} ssl;
		ssl_certificate $TMP/ec.crt;
		ssl_certificate_key $TMP/ec.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_session_tickets on;
		proxy_pass 127.0.0.1:$BE_PORT;
	}
	server {
		listen 127.0.0.1:${PORT[nginx-tls-rsa]} ssl;
		ssl_certificate $TMP/rsa.crt;
		ssl_certificate_key $TMP/rsa.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_session_tickets on;
		proxy_pass 127.0.0.1:$BE_PORT;
	}
}
EOF
start_daemon nginx nginx -e "$TMP/nginx-error.log" -p "$TMP/nginx" -c "$TMP/nginx.conf"

cat >"$TMP/sniproxy.conf" <<EOF
user root
pidfile $TMP/sniproxy.pid
error_log {
	filename $TMP/sniproxy-error.log
	priority warning
}
listener 127.0.0.1:${PORT[sniproxy]} {
	protocol tls
	table bench
}
table bench {
	^bench\\.example\\.com\$ 127.0.0.1:$BE_PORT
}
EOF
start_daemon sniproxy sniproxy -f -c "$TMP/sniproxy.conf"

# ---- 5. snigate ------------------------------------------------------------------------
b64() { base64 -w0 "$1"; }
# gen_manifests FILE GATEWAY: header of a Gateway + Service/EndpointSlice/Secrets;
# listeners and routes are appended by the callers.
manifest_common() {
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: bench-svc, namespace: default}
spec:
  ports: [{name: be, port: $BE_PORT, targetPort: $BE_PORT, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: bench-svc-1
  namespace: default
  labels: {kubernetes.io/service-name: bench-svc}
addressType: IPv4
ports: [{name: be, port: $BE_PORT, protocol: TCP}]
endpoints:
- addresses: [127.0.0.1]
  conditions: {ready: true}
---
apiVersion: v1
kind: Secret
metadata: {name: bench-ec, namespace: default}
type: kubernetes.io/tls
data: {tls.crt: $(b64 "$TMP/ec.crt"), tls.key: $(b64 "$TMP/ec.key")}
---
apiVersion: v1
kind: Secret
metadata: {name: bench-rsa, namespace: default}
type: kubernetes.io/tls
data: {tls.crt: $(b64 "$TMP/rsa.crt"), tls.key: $(b64 "$TMP/rsa.key")}
EOF
}
manifest_gateway() { # NAME "LISTENER-YAML..."
	cat <<EOF
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: $1, namespace: default}
spec:
  gatewayClassName: snigate
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
$2
EOF
}
listener() { # NAME PORT MODE [CERT]
	printf '  - name: %s\n    protocol: TLS\n    port: %s\n    tls:\n      mode: %s\n' "$1" "$2" "$3"
	[ -z "${4:-}" ] || printf '      certificateRefs: [{name: %s}]\n' "$4"
}
route() { # NAME GATEWAY SECTION HOSTNAMES(comma list)
	printf -- '---\napiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TLSRoute\n'
	printf 'metadata: {name: %s, namespace: default}\nspec:\n' "$1"
	printf '  parentRefs: [{name: %s, sectionName: %s}]\n' "$2" "$3"
	printf '  hostnames: [%s]\n' "$4"
	printf '  rules: [{backendRefs: [{name: bench-svc, port: %s}]}]\n' "$BE_PORT"
}
# scale_manifest FILE N PORT: N hostnames h<i>.scale.example.com, 16 per TLSRoute
scale_manifest() {
	local f=$1 n=$2 port=$3
	{
		manifest_common
		manifest_gateway scale "$(listener pt "$port" Passthrough)"
		awk -v n="$n" -v be="$BE_PORT" 'BEGIN {
			for (r = 0; r * 16 < n; r++) {
				printf "---\napiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TLSRoute\n"
				printf "metadata: {name: scale-%d, namespace: default}\nspec:\n", r
				printf "  parentRefs: [{name: scale, sectionName: pt}]\n  hostnames: ["
				for (i = r * 16; i < (r + 1) * 16 && i < n; i++)
					printf "%sh%d.scale.example.com", (i > r * 16 ? ", " : ""), i
				printf "]\n  rules: [{backendRefs: [{name: bench-svc, port: %d}]}]\n", be
			}
		}'
	} >"$f"
}

{
	manifest_common
	manifest_gateway bench "$(listener pt "${PORT[snigate-sockmap]}" Passthrough)
$(listener term-ec "${PORT[snigate-tls-ec]}" Terminate bench-ec)
$(listener term-rsa "${PORT[snigate-tls-rsa]}" Terminate bench-rsa)"
	route pt-route bench pt "$SNI"
	printf -- '---\napiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TLSRoute\n'
	printf 'metadata: {name: term-route, namespace: default}\nspec:\n'
	printf '  parentRefs: [{name: bench, sectionName: term-ec}, {name: bench, sectionName: term-rsa}]\n'
	printf '  hostnames: [%s]\n  rules: [{backendRefs: [{name: bench-svc, port: %s}]}]\n' "$SNI" "$BE_PORT"
} >"$TMP/snigate-main.yaml"
{
	manifest_common
	manifest_gateway bench-us "$(listener pt "${PORT[snigate-userspace]}" Passthrough)"
	route pt-route-us bench-us pt "$SNI"
} >"$TMP/snigate-userspace.yaml"

SNIGATE_WHY=""
if [ ! -x "$SNIGATE" ]; then
	SNIGATE_WHY="$BUILD/snigate is not built"
elif ! "$SNIGATE" run --help >/dev/null 2>&1; then
	SNIGATE_WHY="'snigate run --help' fails: $("$SNIGATE" run --help 2>&1 | tail -n1 | cut -c1-200)"
fi
# snigate_start NAME MANIFEST ENGINE PORT: starts `snigate run`, waits for PORT;
# on failure returns 1 with the reason in $WHY (not a subshell: PIDS must survive)
WHY=""
snigate_start() {
	local name=$1 mf=$2 engine=$3 port=$4
	rm -rf "$PIN_BASE-$name"
	start_daemon "$name" "$SNIGATE" run -f "$mf" --engine "$engine" --pin-dir "$PIN_BASE-$name"
	if ! wait_listen "$port" 60 "$name" || ! alive "$name"; then
		WHY="snigate run --engine $engine did not listen on :$port: $(last_line "$TMP/$name.log")"
		stop_daemon "$name"
		return 1
	fi
}
if [ -n "$SNIGATE_WHY" ]; then
	for p in snigate-sockmap snigate-userspace snigate-tls; do unavail $p "$SNIGATE_WHY"; done
else
	if snigate_start snigate-sockmap "$TMP/snigate-main.yaml" sockmap "${PORT[snigate-sockmap]}"; then
		PIDS[snigate-tls]=${PIDS[snigate-sockmap]}
	else
		unavail snigate-sockmap "$WHY"
		unavail snigate-tls "$WHY"
	fi
	snigate_start snigate-userspace "$TMP/snigate-userspace.yaml" userspace "${PORT[snigate-userspace]}" ||
		unavail snigate-userspace "$WHY"
fi
PIDS[nginx-tls]=${PIDS[nginx]}

# ---- 6. check each path routes a real ClientHello -------------------------------------
probe() { "$BIN/bench_load" --connect "127.0.0.1:$1" --sni "${2:-$SNI}" --mode probe --timeout "${3:-3}"; }
tls_probe() { "$BIN/bench_tls" --connect "127.0.0.1:$1" --sni "$SNI" --mode probe --timeout 5; }
for p in haproxy nginx sniproxy; do
	wait_listen "${PORT[$p]}" 10 "$p" || { unavail $p "did not listen: $(last_line "$TMP/$p.log")"; continue; }
done
for p in "${PT_PATHS[@]}"; do
	[ -z "${UNAVAIL[$p]:-}" ] || continue
	probe "${PORT[$p]}" || unavail "$p" "a ClientHello for $SNI on :${PORT[$p]} got no backend reply"
done
for k in ec rsa; do
	for p in "${TERM_PATHS[@]}"; do
		[ -z "${UNAVAIL[$p]:-}" ] || continue
		tls_probe "${PORT[$p-$k]}" 2>"$TMP/probe.err" ||
			unavail "$p" "no TLS handshake + backend reply on :${PORT[$p-$k]} ($k): $(last_line "$TMP/probe.err")"
	done
done

# ---- 7. runs ------------------------------------------------------------------------
# record PHASE PATH TEST REP CMD...: run one measurement, append its JSON to $RAW
record() {
	local phase=$1 path=$2 test=$3 rep=$4 out err
	shift 4
	err=$TMP/err.txt
	local w0=$EPOCHREALTIME
	if out=$("$@" 2>"$err") && [ -n "$out" ]; then
		printf '{"phase":"%s","path":"%s","test":"%s","rep":%s,"ok":true,"wall_s":%s,"result":%s}\n' \
			"$phase" "$path" "$test" "$rep" "$(elapsed "$w0" "$EPOCHREALTIME")" "${out##*$'\n'}" >>"$RAW"
	else
		printf '{"phase":"%s","path":"%s","test":"%s","rep":%s,"ok":false,"error":%s}\n' \
			"$phase" "$path" "$test" "$rep" "$(json_str "$(last_line "$err")")" >>"$RAW"
		log "$path $test rep $rep failed: $(last_line "$err")"
	fi
}
declare -A CPU_ARGS=() # path -> --cpu-* options, computed once (pgrep is slow on a busy machine)
for p in "${PT_PATHS[@]}" "${TERM_PATHS[@]}"; do
	[ -n "${UNAVAIL[$p]:-}" ] && continue
	CPU_ARGS[$p]="--cpu-backend $(pids_of backend)"
	[ "$p" = direct ] || CPU_ARGS[$p]+=" --cpu-pids $(pids_of "$p")"
done
cpu_args() { echo "${CPU_ARGS[$1]}"; }
load() { "$BIN/bench_load" --connect "127.0.0.1:${PORT[$1]}" --sni "$SNI" $(cpu_args "$1") "${@:2}"; }
tls() { "$BIN/bench_tls" --connect "127.0.0.1:$2" --sni "$SNI" $(cpu_args "$1") "${@:3}"; }

avail_pt=()
for p in "${PT_PATHS[@]}"; do [ -n "${UNAVAIL[$p]:-}" ] || avail_pt+=("$p"); done
PT_TESTS=(bulk-up-1 bulk-down-1 bulk-up-8 bulk-down-8 rr)
for c in $CONN_CONC; do PT_TESTS+=("conn-$c"); done
pt_run() { # PATH TEST REP
	local p=$1 t=$2 r=$3
	case $t in
	bulk-up-*) record pt "$p" "$t" "$r" load "$p" --mode up --streams "${t##*-}" --bytes $BULK ;;
	bulk-down-*) record pt "$p" "$t" "$r" load "$p" --mode down --streams "${t##*-}" --bytes $BULK ;;
	rr) record pt "$p" "$t" "$r" load "$p" --mode rr --count $RR_COUNT ;;
	conn-*) record pt "$p" "$t" "$r" load "$p" --mode conn --concurrency "${t##*-}" --duration $CONN_DUR ;;
	esac
}
# rotate ARRAY-NAME BY: print the array rotated (each round starts with another path)
rotate() { local -n a=$1; local n=${#a[@]} i; for ((i = 0; i < n; i++)); do echo "${a[(i + $2) % n]}"; done; }

want pt && log "passthrough: paths ${avail_pt[*]:-none}; $REPS rounds"
# quick mode keeps to a time budget: on a busy machine a round can take 3x longer
PT_BUDGET=${PT_BUDGET:-$( ((QUICK)) && echo 55 || echo 100000)}
PT_T0=$SECONDS PT_ROUNDS=0
for ((r = 1; r <= REPS; r++)); do
	want pt || break
	rt0=$SECONDS
	for t in "${PT_TESTS[@]}"; do
		for p in $(rotate avail_pt "$r"); do pt_run "$p" "$t" "$r"; done
	done
	log "round $r/$REPS done"
	PT_ROUNDS=$r
	if ((r < REPS && SECONDS - PT_T0 + SECONDS - rt0 > PT_BUDGET)); then
		note rounds "passthrough: $r of $REPS rounds (the ${PT_BUDGET} s budget of bench-quick ran out: busy machine)"
		log "time budget: stopping after $r of $REPS rounds"
		break
	fi
done

# ---- memory per idle connection ---------------------------------------------------------
# kernel: skmem (r+w+f+o) of the proxy's sockets (local port = the proxy's, or remote
# port = the backend's) + one TCP and one sock_inode_cache slab object per socket.
slab_size() { awk -v n="$1" '$1 == n { print $4 }' /proc/slabinfo; }
SLAB_SOCK=$(($(slab_size TCP) + $(slab_size sock_inode_cache)))
# sockmap engine: each socket in the sockhash also holds a kmalloc'd struct sk_psock and
# one sk_psock_link; sizes from the kernel BTF, rounded up to the kmalloc bucket.
kbucket() { local s=$1 b=8; ((s > 0)) || { echo 0; return; }; while ((b < s)); do b=$((b * 2)); done
	((s <= 96 && s > 64)) && b=96; ((s <= 192 && s > 128)) && b=192; echo $b; }
btf_size() { "$BIN/bench_btfsize" "$1" 2>/dev/null | awk '{ print $2 }'; }
PSOCK_SOCK=$(($(kbucket "$(btf_size sk_psock)") + $(kbucket "$(btf_size sk_psock_link)")))
sock_mem() { # PORT -> "sockets bytes"
	ss -tmnH state established "( sport = :$1 or dport = :$BE_PORT )" | awk '
		/skmem:/ { n++; s = $0; sub(/.*skmem:\(/, "", s); sub(/\).*/, "", s)
			k = split(s, f, ",")
			for (i = 1; i <= k; i++) {
				c = substr(f[i], 1, 1); v = substr(f[i], 2) + 0
				if (f[i] ~ /^(r|w|f|o)[0-9]/) b += v
			}
		}
		END { printf "%d %d\n", n, b }'
}
rss_kb() { # comma list of pids
	local t=0 p v
	for p in ${1//,/ }; do
		v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
		t=$((t + ${v:-0}))
	done
	echo $t
}
# settle PORT: wait (at most 15 s) until the proxy has closed every connection of the
# last test, so the next test does not start against a proxy still tearing down 10k
settle() {
	local end=$((SECONDS + 15))
	while ((SECONDS < end)); do
		ss -tnH "( sport = :$1 or dport = :$BE_PORT )" | awk '$1 != "TIME-WAIT"' | grep -q . || return 0
		sleep 0.1
	done
}
idle_run() { # PATH
	local p=$1 pids rss0 rss1 s0 s1 line res
	pids=$(pids_of "$p")
	rss0=$(rss_kb "$pids")
	s0=$(sock_mem "${PORT[$p]}")
	coproc IDLE { "$BIN/bench_load" --connect "127.0.0.1:${PORT[$p]}" --sni "$SNI" --mode idle \
		--conns "$IDLE_CONNS" --concurrency 256 --timeout 60 2>"$TMP/idle-err.txt"; }
	if ! read -r -t 90 line <&"${IDLE[0]}" || [[ $line != READY* ]]; then
		kill "$IDLE_PID" 2>/dev/null || true
		wait "$IDLE_PID" 2>/dev/null || true
		printf '{"phase":"idle","path":"%s","test":"idle","rep":1,"ok":false,"error":%s}\n' \
			"$p" "$(json_str "$(last_line "$TMP/idle-err.txt")")" >>"$RAW"
		return
	fi
	sleep 0.3 # let the proxy finish its per-connection setup
	rss1=$(rss_kb "$pids")
	s1=$(sock_mem "${PORT[$p]}")
	# sockmap engine: sockets in the sockhash each carry an sk_psock (counted, not assumed)
	npsock=0
	if [ "$p" = snigate-sockmap ] && [ -e "$PIN_BASE-$p/sng_socks" ]; then
		npsock=$(bpftool map dump pinned "$PIN_BASE-$p/sng_socks" 2>/dev/null |
			sed -n 's/^Found \([0-9]*\) element.*/\1/p')
	fi
	echo go >&"${IDLE[1]}"
	read -r -t 30 res <&"${IDLE[0]}" || res='{}'
	wait "$IDLE_PID" 2>/dev/null || true
	settle "${PORT[$p]}"
	printf '{"phase":"idle","path":"%s","test":"idle","rep":1,"ok":true,"result":{"client":%s,"held":%s,"rss_kb_before":%s,"rss_kb_after":%s,"sockets_before":%s,"skmem_before":%s,"sockets_after":%s,"skmem_after":%s,"slab_per_socket":%s,"psock_bytes":%s,"psock_entries":%s}}\n' \
		"$p" "$res" "${line#READY }" "$rss0" "$rss1" ${s0% *} ${s0#* } ${s1% *} ${s1#* } "$SLAB_SOCK" "$PSOCK_SOCK" "${npsock:-0}" >>"$RAW"
}
if want idle; then
	log "memory per idle connection at $IDLE_CONNS connections"
	[ -z "${IDLE_WHY:-}" ] || { note idle "$IDLE_WHY"; log "$IDLE_WHY"; }
fi
want idle && for p in "${avail_pt[@]}"; do [ "$p" = direct ] || idle_run "$p"; done

# ---- terminate ----------------------------------------------------------------------------
avail_term=()
for p in "${TERM_PATHS[@]}"; do [ -n "${UNAVAIL[$p]:-}" ] || avail_term+=("$p"); done
TERM_TESTS=(full-ec full-rsa resume-ec tls-down tls-up)
want term && log "terminate: paths ${avail_term[*]:-none}; $TLS_REPS rounds"
for ((r = 1; r <= TLS_REPS; r++)); do
	want term || break
	for t in "${TERM_TESTS[@]}"; do
		for p in $(rotate avail_term "$r"); do
			case $t in
			full-ec | full-rsa) record term "$p" "$t" "$r" tls "$p" "${PORT[$p-${t#full-}]}" \
				--mode full --concurrency 16 --duration $TLS_DUR ;;
			resume-ec) record term "$p" "$t" "$r" tls "$p" "${PORT[$p-ec]}" \
				--mode resume --concurrency 16 --duration $TLS_DUR ;;
			tls-down) record term "$p" "$t" "$r" tls "$p" "${PORT[$p-ec]}" --mode down --bytes $TLS_BYTES ;;
			tls-up) record term "$p" "$t" "$r" tls "$p" "${PORT[$p-ec]}" --mode up --bytes $TLS_BYTES ;;
			esac
		done
	done
done

# ---- scale: 100,000 hostnames -------------------------------------------------------------
if ! want scale; then
	:
elif ((QUICK)); then
	note scale "policy compiler alone (bench_compile, 3 runs of 100,000 hostnames) is left to make bench; the snigate run start time includes the compile"
elif [ -x "$BIN/bench_compile" ]; then
	log "bench_compile (policy compile of $SCALE_N hostnames; its own 3 runs, best reported)"
	# its output is text: keep it whole and pick the figures out of it
	if bc_out=$("$BIN/bench_compile" 2>&1); then
		printf '{"phase":"scale","path":"bench_compile","test":"compile","rep":1,"ok":true,"result":%s}\n' \
			"$(python3 -c 'import json,re,sys
t=sys.argv[1]; d={"output":t.splitlines()}
m=re.search(r"best: parse (\d+) ms \+ compile (\d+) ms = (\d+) ms",t)
if m: d.update(parse_ms=int(m[1]),compile_ms=int(m[2]),total_ms=int(m[3]))
m=re.search(r"best[^:]*: parse\+compile (\d+) ms wall, (\d+) ms cpu",t)
if m: d.update(total_ms=int(m[1]),cpu_ms=int(m[2]))
m=re.search(r"input: .*= (\d+) hostnames",t)
if m: d["hostnames"]=int(m[1])
print(json.dumps(d))' "$bc_out")" >>"$RAW"
	else
		note scale "bench_compile failed: $(tail -n1 <<<"$bc_out")"
	fi
else
	note scale "bench_compile not built ($BIN/bench_compile missing): compile-only timing not measured"
fi
if ! want scale; then
	:
elif [ -n "$SNIGATE_WHY" ]; then
	note scale "snigate scale runs not measured: $SNIGATE_WHY"
	note reload "route change time not measured: $SNIGATE_WHY"
else
	log "scale: snigate with 10 and $SCALE_N hostnames"
	scale_manifest "$TMP/scale-10.yaml" 10 "${PORT[scale-10]}"
	scale_manifest "$TMP/scale-100k.yaml" $SCALE_N "${PORT[scale-100k]}"
	for s in scale-10 scale-100k; do
		n=$([ $s = scale-10 ] && echo 10 || echo $SCALE_N)
		t0=$(date +%s.%N)
		if snigate_start $s "$TMP/$s.yaml" sockmap "${PORT[$s]}"; then
			# loaded = the last hostname of the table is routed
			ok=0
			for ((i = 0; i < 600; i++)); do
				if probe "${PORT[$s]}" "h$((n - 1)).scale.example.com" 1; then ok=1; break; fi
				sleep 0.05
			done
			t1=$(date +%s.%N)
			if ((ok)); then
				printf '{"phase":"scale","path":"%s","test":"load","rep":1,"ok":true,"result":{"hostnames":%s,"seconds":%s,"manifest_bytes":%s}}\n' \
					$s $n "$(elapsed "$t0" "$t1")" "$(stat -c %s "$TMP/$s.yaml")" >>"$RAW"
			else
				unavail $s "started but h$((n - 1)).scale.example.com not routed within 30 s"
			fi
		else
			unavail $s "$WHY"
		fi
	done
	scale_paths=()
	for s in scale-10 scale-100k; do [ -n "${UNAVAIL[$s]:-}" ] || scale_paths+=($s); done
	# short alternating runs: the two instances see the same machine noise
	for ((r = 1; r <= SCALE_REPS; r++)); do
		for s in $(rotate scale_paths "$r"); do
			record scale $s conn-32 "$r" "$BIN/bench_load" --connect "127.0.0.1:${PORT[$s]}" \
				--sni-fmt "h%d.scale.example.com" --sni-count 10 --cpu-pids "$(pids_of $s)" \
				--mode conn --concurrency 32 --duration $SCALE_DUR
		done
	done
	stop_daemon scale-10
	stop_daemon scale-100k

	# ---- route change: needs `snigate run` to reload on SIGHUP --------------------------
	log "route change (SIGHUP)"
	rf=$TMP/reload.yaml
	{
		manifest_common
		manifest_gateway reload "$(listener pt "${PORT[reload]}" Passthrough)"
		route old-route reload pt "old.example.com"
	} >"$rf"
	if snigate_start reload "$rf" sockmap "${PORT[reload]}"; then
		route new-route reload pt "new.example.com" >>"$rf"
		t0=$(date +%s.%N)
		kill -HUP "${PIDS[reload]}"
		ok=0
		for ((i = 0; i < 200; i++)); do
			alive reload || break
			if probe "${PORT[reload]}" new.example.com 1; then ok=1; break; fi
			sleep 0.02
		done
		t1=$(date +%s.%N)
		if ((ok)); then
			printf '{"phase":"reload","path":"snigate-sockmap","test":"route-change","rep":1,"ok":true,"result":{"seconds":%s}}\n' \
				"$(elapsed "$t0" "$t1")" >>"$RAW"
		elif ! alive reload; then
			note reload "route change time not measured: SIGHUP ended 'snigate run' (no reload support yet)"
		else
			hup=$(grep -i 'hup' "$TMP/reload.log" | tail -n1 | sed 's/^[^ ]* //' | cut -c1-160)
			note reload "route change time not measured: a route added to the manifest was not served within 4 s of SIGHUP${hup:+ (the agent logged: $hup)}"
		fi
		stop_daemon reload
	else
		note reload "route change time not measured: $WHY"
	fi
fi

# ---- redirect shapes: could any sockmap shape bring a round trip to 1.2x direct? -------
# bench_redirect times the same 64-byte ping-pong direct and through each way a
# sockmap program can move bytes (sk_skb egress = the agent's engine, sk_msg egress
# and ingress from local senders), interleaved so each round sees the same load.
if want redirect; then
	log "redirect shapes: $REPS rounds of $RR_COUNT round trips"
	for ((r = 1; r <= REPS; r++)); do
		for s in direct sk_skb sk_msg sk_msg_in; do
			record redirect "$s" rtt "$r" "$BIN/bench_redirect" --shape "$s" --count "$RR_COUNT"
		done
	done
fi

# ---- perf: what limits the bulk numbers (full mode) -------------------------------------
PERF_OK=0
if perf record -o "$TMP/perf-probe.data" -e cpu-clock -a -- true >/dev/null 2>&1; then PERF_OK=1; fi
if ! want perf; then
	:
elif ((PERF_OK)) && ((!QUICK)); then
	for p in "${avail_pt[@]}"; do
		perf record -q -o "$TMP/perf-$p.data" -e cpu-clock -F 499 -a -g -- \
			"$BIN/bench_load" --connect "127.0.0.1:${PORT[$p]}" --sni "$SNI" --mode down \
			--bytes $BULK >/dev/null 2>&1 || continue
		ourpids=$(pids_of backend)
		[ "$p" = direct ] || ourpids+=",$(pids_of "$p")"
		perf report -i "$TMP/perf-$p.data" --no-children --sort pid,sym --stdio 2>/dev/null |
			python3 "$HERE/perf_top.py" "$ourpids" bench_load >"$OUT/perf-$p.txt" || true
		note "perf-$p" "$(sed -n '2,7p' "$OUT/perf-$p.txt" | sed -E 's/ +/ /g' | paste -sd';' -)"
	done
elif ((!PERF_OK)); then
	note perf "perf record -e cpu-clock does not work here; limits inferred from per-process CPU only"
else
	note perf "perf profiles skipped in quick mode (make bench records them)"
fi
if ! perf stat -e instructions true 2>&1 | grep -q '[0-9] *instructions'; then
	note perf "hardware counters unavailable here (perf stat -e instructions: not supported); profiles use the cpu-clock software event, which charges time spent with interrupts off to the point they are re-enabled (_raw_spin_unlock_irqrestore: softirq/network work, not lock contention)"
fi

# ---- 8. report ----------------------------------------------------------------------------
log "report"
T1_ALL=$(date +%s.%N)
for p in "${!UNAVAIL[@]}"; do
	printf '{"path":%s,"reason":%s}\n' "$(json_str "$p")" "$(json_str "${UNAVAIL[$p]}")"
done >"$TMP/unavail.jsonl"
SNG_VERSION=$([ -x "$SNIGATE" ] && "$SNIGATE" --version 2>/dev/null || echo "not built")
python3 "$HERE/report.py" --raw "$RAW" --notes "$NOTES" --unavail "$TMP/unavail.jsonl" \
	--out "$OUT" --mode "$MODE" --reps "$( ((PT_ROUNDS)) && echo "$PT_ROUNDS" || echo "$REPS")" --seconds "$(elapsed "$T0_ALL" "$T1_ALL")" \
	--machine "$(uname -srm); nproc $NPROC; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
	--versions "$SNG_VERSION; $(haproxy -v | head -n1 | cut -d' ' -f1-3); $(nginx -v 2>&1 | cut -d' ' -f3); sniproxy $(sniproxy -V 2>&1 | head -n1 | awk '{print $NF}')" \
	--config "bulk $BULK per run, rr $RR_COUNT x 64 B, conn runs ${CONN_DUR}s at concurrency $CONN_CONC, idle $IDLE_CONNS conns, terminate ${TLS_DUR}s x $TLS_REPS rounds, 16 handshakes in flight"
if command -v gnuplot >/dev/null && [ -s "$OUT/ratios.dat" ]; then
	gnuplot "$OUT/ratios.gp" 2>"$TMP/gnuplot.err" || log "gnuplot failed: $(last_line "$TMP/gnuplot.err")"
fi
cat "$OUT/table.md"
log "wrote $OUT/table.md, $OUT/results.json, $OUT/ratios.png in $(elapsed "$T0_ALL" "$T1_ALL" | cut -d. -f1) s"
