#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# BackendTLSPolicy with a Terminate listener (upstream
# BackendTLSPolicyTLSRouteTerminate): the agent terminates the client's TLS
# (SNI tls.example.com) and re-encrypts to the backend with
# validation.hostname (abc.example.com) as SNI, verifying the backend's
# certificate against the policy's CA ConfigMap. The backend reports
# IS_TLS=true and the SNI it saw. A policy whose hostname the backend's
# certificate does not carry fails verification: closed, no data.
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/terminate/lib.sh"
term_require

NS=$(new_netns btls)
PKI=$TMP/pki MAN=$TMP/manifests
mkdir -p "$PKI" "$MAN"
mk_ca "$PKI" || fail "mk_ca"
mk_leaf "$PKI" terminate ec tls.example.com bad.example.com || fail "mk_leaf terminate"
mk_leaf "$PKI" backend rsa abc.example.com other.example.com || fail "mk_leaf backend"

cat >"$MAN/gateway.yaml" <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gateway-btls
spec:
  gatewayClassName: example-gateway-class
  listeners:
  - name: tls-terminate
    protocol: TLS
    port: 8443
    hostname: tls.example.com
    tls:
      mode: Terminate
      certificateRefs:
      - name: tls-terminate-checks-certificate
  - name: tls-terminate-bad
    protocol: TLS
    port: 8444
    hostname: bad.example.com
    tls:
      mode: Terminate
      certificateRefs:
      - name: tls-terminate-checks-certificate
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: backendtlspolicy-tlsroute-terminate
spec:
  parentRefs:
  - name: gateway-btls
    sectionName: tls-terminate
  hostnames: ["tls.example.com"]
  rules:
  - backendRefs:
    - name: btls-terminate-tls-backend
      port: 8443
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: btls-bad-route
spec:
  parentRefs:
  - name: gateway-btls
    sectionName: tls-terminate-bad
  hostnames: ["bad.example.com"]
  rules:
  - backendRefs:
    - name: btls-bad-backend
      port: 8443
---
apiVersion: v1
kind: Service
metadata:
  name: btls-terminate-tls-backend
spec:
  ports:
  - name: btls
    port: 8443
    targetPort: 9443
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: btls-terminate-tls-backend-1
  labels:
    kubernetes.io/service-name: btls-terminate-tls-backend
addressType: IPv4
ports:
- name: btls
  port: 9443
endpoints:
- addresses: ["127.0.0.1"]
  conditions:
    ready: true
---
apiVersion: v1
kind: Service
metadata:
  name: btls-bad-backend
spec:
  ports:
  - name: btls
    port: 8443
    targetPort: 9443
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: btls-bad-backend-1
  labels:
    kubernetes.io/service-name: btls-bad-backend
addressType: IPv4
ports:
- name: btls
  port: 9443
endpoints:
- addresses: ["127.0.0.1"]
  conditions:
    ready: true
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata:
  name: btls-tlsroute-terminate-test
spec:
  targetRefs:
  - group: ""
    kind: Service
    name: btls-terminate-tls-backend
    sectionName: btls
  validation:
    caCertificateRefs:
    - group: ""
      kind: ConfigMap
      name: tls-checks-ca-certificate
    hostname: abc.example.com
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata:
  name: btls-wrong-hostname
spec:
  targetRefs:
  - group: ""
    kind: Service
    name: btls-bad-backend
  validation:
    caCertificateRefs:
    - group: ""
      kind: ConfigMap
      name: tls-checks-ca-certificate
    hostname: nomatch.example.com
YAML
{
	secret_yaml tls-terminate-checks-certificate "$PKI/terminate"
	ca_configmap_yaml tls-checks-ca-certificate "$PKI"
} >"$MAN/objects.yaml"

start_tcpserver "$NS" 127.0.0.1:9443 tcp-backend "$PKI/backend.crt" "$PKI/backend.key"
start_snigate "$NS" "$MAN" 8443 8444
out=$TMP/out

for v in -tls1_3 -tls1_2; do
	tls_ask "$NS" 8443 tls.example.com "$out" $v || { show "$out"; fail "btls $v: s_client"; }
	verified "$out" || { show "$out"; fail "btls $v: gateway certificate not verified"; }
	[ "$(leaf_cn "$out")" = tls.example.com ] || { show "$out"; fail "btls $v: leaf $(leaf_cn "$out")"; }
	[ "$(backend_name "$out")" = tcp-backend ] || { show "$out"; fail "btls $v: no backend"; }
	[ "$(backend_tls "$out")" = true ] || { show "$out"; fail "btls $v: backend leg not TLS"; }
	[ "$(backend_sni "$out")" = abc.example.com ] ||
		{ show "$out"; fail "btls $v: backend saw SNI '$(backend_sni "$out")'"; }
	ok "tls.example.com $v: re-encrypted, backend IS_TLS=true, SNI abc.example.com"
done

# validation.hostname not in the backend certificate: no application data
tls_ask "$NS" 8444 bad.example.com "$out"
verified "$out" || { show "$out"; fail "bad: the client handshake itself failed"; }
no_app_data "$out" || { show "$out"; fail "bad: backend data despite failed verification"; }
kill -0 "$SNG_PID" || fail "snigate died"
ok "backend certificate without validation.hostname: closed, no data"
