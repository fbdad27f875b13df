#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Kubernetes source against the API server STAND-IN over HTTPS: kubeconfig
# with a token and with a client certificate, the in-cluster service account,
# and clear errors for a bad token (401), missing RBAC (403), a wrong CA and
# broken kubeconfigs.
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/k8s/lib-k8s.sh"
k8s_require
command -v openssl >/dev/null || skip "openssl missing"
cd "$TMP" || fail "cd $TMP"
gen() { openssl "$@" 2>/dev/null || fail "openssl $1"; }
gen req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=standin-ca \
	-keyout ca.key -out ca.crt
gen req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=kubernetes -keyout srv.key -out srv.csr
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >srv.ext
gen x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile srv.ext -out srv.crt
gen req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$SA_USER" -keyout cli.key -out cli.csr
gen x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out cli.crt
gen req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=other-ca \
	-keyout other.key -out other.crt
standin_start --tls-cert srv.crt --tls-key srv.key --client-ca ca.crt --forbidden-token forbidden-token
b64() { base64 -w0 "$1"; }

kubeconfig() { # FILE USER-BLOCK CLUSTER-CA-LINE
	cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: standin
  cluster:
    server: $STANDIN_URL
    $3
contexts:
- name: standin-ctx
  context:
    cluster: standin
    user: agent
current-context: standin-ctx
users:
- name: agent
  user:
$2
KC
}
first_compile() { # NAME: the harness compiled the recorded objects
	wait_line "$TMP/$1.jsonl" 'j["serial"] == 1 and "default/foo-route" in j["routes"]' 10 >/dev/null ||
		{ cat "$TMP/$1.err"; fail "$1: no compile"; }
}

# 1. kubeconfig: bearer token, CA as a path relative to the kubeconfig.
mkdir -p kc && cp ca.crt kc/
kubeconfig kc/token.yaml "    token: $SA_TOKEN" "certificate-authority: ca.crt"
watch_start tok --kubeconfig kc/token.yaml --no-status
first_compile tok
ok "kubeconfig token auth over HTTPS (relative CA path)"

# 2. kubeconfig: client certificate, everything inline (*-data).
kubeconfig kc/cert.yaml "    client-certificate-data: $(b64 cli.crt)
    client-key-data: $(b64 cli.key)" "certificate-authority-data: $(b64 ca.crt)"
watch_start cert --kubeconfig kc/cert.yaml --no-status
first_compile cert
ctl GET requests | pyjson "[r for r in d if r['user'] == '$SA_USER' and 'snigate' in r['agent']][0]" >/dev/null ||
	fail "client-certificate identity not seen by the stand-in"
ok "kubeconfig client-certificate auth (inline data)"

# 3. In-cluster service account: env + token and ca.crt files.
mkdir -p sa && cp ca.crt sa/ca.crt && printf '%s\n' "$SA_TOKEN" >sa/token
KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$STANDIN_PORT \
	watch_start incl --sa-dir "$TMP/sa" --no-status
first_compile incl
ok "in-cluster service account"

# 4. Errors must say what is wrong.
expect_err() { # NAME PATTERN DESCRIPTION
	local i
	for ((i = 0; i < 60; i++)); do
		grep -Eq "$2" "$TMP/$1.err" && break
		sleep 0.05
	done
	grep -Eq "$2" "$TMP/$1.err" || { cat "$TMP/$1.err"; fail "$3: no error matching /$2/"; }
	[ -s "$TMP/$1.jsonl" ] && fail "$3: compiled anyway"
	ok "$3: $(grep -Eo "$2.*" "$TMP/$1.err" | head -1 | cut -c1-160)"
}
printf 'wrong-token' >bad.token
watch_start bad --server "$STANDIN_URL" --ca ca.crt --token-file bad.token --no-status
expect_err bad 'HTTP 401 Unauthorized.*authentication failed' "bad token"
printf 'forbidden-token' >forb.token
watch_start forb --server "$STANDIN_URL" --ca ca.crt --token-file forb.token --no-status
expect_err forb 'HTTP 403 Forbidden: .* cannot list resource .*forbidden: the ClusterRole' "missing RBAC"
watch_start ca --server "$STANDIN_URL" --ca other.crt --token-file "$TMP/token" --no-status
expect_err ca 'SSL peer certificate or SSH remote key was not OK|SSL certificate problem' "wrong CA"

# 5. Broken kubeconfigs fail at start with the file and the reason.
start_err() { # DESCRIPTION PATTERN ARGS...
	local d=$1 p=$2
	shift 2
	if "$K8S_WATCH" "$@" --no-status --duration 1 >/dev/null 2>"$TMP/start.err"; then
		fail "$d: started"
	fi
	grep -Eq "$p" "$TMP/start.err" || { cat "$TMP/start.err"; fail "$d: message"; }
	ok "$d: $(grep -Eo "$p.*" "$TMP/start.err" | head -1)"
}
start_err "missing kubeconfig" 'nope.yaml: No such file' --kubeconfig "$TMP/nope.yaml"
start_err "unknown context" 'context "nope" not found' --kubeconfig kc/token.yaml --context nope
kubeconfig kc/exec.yaml "    exec:
      command: aws" "certificate-authority: ca.crt"
start_err "exec plugin" 'exec and auth-provider plugins are not supported' --kubeconfig kc/exec.yaml
printf 'clusters: [\n' >kc/broken.yaml
start_err "malformed YAML" 'broken.yaml:[0-9]+:[0-9]+: ' --kubeconfig kc/broken.yaml
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
start_err "not in a cluster" 'KUBERNETES_SERVICE_HOST/PORT unset' --sa-dir "$TMP/sa"
