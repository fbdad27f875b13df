# SPDX-License-Identifier: GPL-2.0-only
# Helpers for the Kubernetes API server STAND-IN tests (tests/priv/6x-*.sh).
# Source after tests/lib.sh. Needs python3 (stdlib only), curl, openssl.
# shellcheck shell=bash
# Run in a private network namespace (loopback only) when root: re-exec
# the test under unshare -n, as the xdp-tools test scripts do.
# (K8S_NO_UNSHARE=1: the test makes its own namespaces, e.g. with new_netns.)
if [ -z "${SNG_K8S_NETNS:-}" ] && [ -z "${K8S_NO_UNSHARE:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	rm -rf "$TMP"
	trap - EXIT
	exec unshare -n env SNG_K8S_NETNS=1 bash "$0" "$@"
fi
[ -n "${SNG_K8S_NETNS:-}" ] && ip link set lo up
K8S_DIR="$SNIGATE_ROOT/tests/k8s"
K8S_WATCH="$TOOLS/k8s_watch"
SA_USER=system:serviceaccount:snigate-system:snigate
SA_TOKEN=standin-sa-token-$$

k8s_require() {
	command -v python3 >/dev/null || skip "python3 missing (the API server stand-in needs it)"
	[ -x "$K8S_WATCH" ] || fail "$K8S_WATCH not built (make tests)"
	[ -x "$TOOLS/k8s_yaml2json" ] || fail "$TOOLS/k8s_yaml2json not built (make tests)"
}

# k8s_fixtures: $TMP/fixtures = the recorded lists with a certificate made
# now (no key material is committed).
k8s_fixtures() {
	[ -d "$TMP/fixtures" ] && return 0
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=bar.example.com -addext subjectAltName=DNS:bar.example.com \
		-keyout "$TMP/bar.key" -out "$TMP/bar.crt" 2>/dev/null || fail "openssl req"
	mkdir -p "$TMP/fixtures"
	python3 - "$K8S_DIR/recorded" "$TMP/fixtures" "$TMP/bar.crt" "$TMP/bar.key" <<'PY' || fail "fixtures"
import base64, os, sys
src, dst, crt, key = sys.argv[1:5]
c = open(crt, "rb").read(); k = open(key, "rb").read()
sub = {"@TLS_CRT_B64@": base64.b64encode(c).decode(), "@TLS_KEY_B64@": base64.b64encode(k).decode(),
       "@TLS_CRT_PEM@": c.decode().replace("\n", "\\n")}
for fn in os.listdir(src):
    s = open(os.path.join(src, fn)).read()
    for a, b in sub.items():
        s = s.replace(a, b)
    open(os.path.join(dst, fn), "w").write(s)
PY
	"$TOOLS/k8s_yaml2json" "$SNIGATE_ROOT/deploy/rbac.yaml" >"$TMP/rbac.json" || fail "rbac.yaml"
	printf '%s' "$SA_TOKEN" >"$TMP/token"
}

# standin_start [stand-in args...]: start the stand-in on a free loopback
# port with the fixtures, the deploy/ RBAC enforced and $SA_TOKEN accepted.
# Sets STANDIN_URL (scheme per --tls-cert) and STANDIN_PID.
standin_start() {
	local scheme=http i
	k8s_fixtures
	case " $* " in *" --tls-cert "*) scheme=https ;; esac
	rm -f "$TMP/standin.port"
	${K8S_EXEC:-} python3 "$K8S_DIR/standin.py" --fixtures "$TMP/fixtures" --rbac "$TMP/rbac.json" \
		--token "$SA_USER=$SA_TOKEN" --port-file "$TMP/standin.port" "$@" \
		>"$TMP/standin.log" 2>&1 &
	STANDIN_PID=$!
	at_exit "kill $STANDIN_PID"
	for ((i = 0; i < 100; i++)); do
		[ -s "$TMP/standin.port" ] && break
		kill -0 "$STANDIN_PID" 2>/dev/null || { cat "$TMP/standin.log"; fail "stand-in died"; }
		sleep 0.05
	done
	[ -s "$TMP/standin.port" ] || fail "stand-in did not start"
	STANDIN_PORT=$(cat "$TMP/standin.port")
	STANDIN_URL="$scheme://127.0.0.1:$STANDIN_PORT"
	CTL="http://127.0.0.1:$STANDIN_PORT"
	[ $scheme = https ] && CTL="https://127.0.0.1:$STANDIN_PORT"
}

# ctl GET|POST PATH [JSON]: the stand-in's control endpoint. $K8S_EXEC
# (e.g. "ip netns exec NS") prefixes the stand-in and ctl.
ctl() {
	local m=$1 p=$2
	shift 2
	${K8S_EXEC:-} curl -sSk -X "$m" -H 'Content-Type: application/json' ${1:+--data-binary "$1"} "$CTL/_standin/$p"
}

# watch_start NAME [k8s_watch args...]: run the harness in the background,
# stdout to $TMP/NAME.jsonl, stderr to $TMP/NAME.err. Sets WPID_<NAME>.
watch_start() {
	local name=$1
	shift
	"$K8S_WATCH" "$@" >"$TMP/$name.jsonl" 2>"$TMP/$name.err" &
	eval "WPID_$name=$!"
	at_exit "kill $! 2>/dev/null"
}

# wait_line FILE PYEXPR [SECONDS]: wait for a JSON line j with PYEXPR true;
# prints it. PYEXPR sees j (the parsed line).
wait_line() {
	python3 - "$1" "$2" "${3:-10}" <<'PY'
import json, sys, time
path, expr, t = sys.argv[1], sys.argv[2], float(sys.argv[3])
end = time.time() + t
seen = 0
while time.time() < end:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        lines = []
    for l in lines[seen:]:
        try:
            j = json.loads(l)
        except ValueError:
            continue
        if eval(expr):
            print(l)
            sys.exit(0)
    seen = len(lines)
    time.sleep(0.02)
sys.exit(1)
PY
}

# jq-free JSON query: pyjson EXPR < JSON (EXPR sees d).
pyjson() {
	python3 -c 'import json,sys; d=json.load(sys.stdin); r=eval(sys.argv[1]); print(r if not isinstance(r,(dict,list)) else json.dumps(r))' "$1"
}

# standin_local_agent_setup: for tests that run `snigate run --kubernetes`
# against the stand-in: point foo-svc at a local backend (127.0.0.1:9443; the
# recorded endpoints are pod IPs) and write $TMP/kubeconfig (token file
# $TMP/token). Call after standin_start.
standin_local_agent_setup() {
	ctl POST apply '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"foo-svc-abcde","namespace":"default","labels":{"kubernetes.io/service-name":"foo-svc"}},"addressType":"IPv4","ports":[{"name":"tls","protocol":"TCP","port":9443}],"endpoints":[{"addresses":["127.0.0.1"],"conditions":{"ready":true}}]}' >/dev/null
	cat >"$TMP/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: s, cluster: {server: "$STANDIN_URL"}}]
users: [{name: u, user: {tokenFile: "$TMP/token"}}]
contexts: [{name: c, context: {cluster: s, user: u}}]
current-context: c
KC
}
