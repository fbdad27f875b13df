# SPDX-License-Identifier: GPL-2.0-only
# Test PKI for the Terminate tests, generated at test time with the openssl
# CLI into a temporary directory (no key is ever committed). Source it.
#   mk_ca DIR                       DIR/ca.crt, DIR/ca.key (ECDSA P-256)
#   mk_leaf DIR NAME rsa|ec SAN...  DIR/NAME.crt (leaf + CA chain), NAME.key;
#                                   SANs as DNS names (first one is the CN)
#   secret_yaml NAME DIR/NAME       a kubernetes.io/tls Secret (default ns)
#   ca_configmap_yaml NAME DIR      a ConfigMap with ca.crt (BackendTLSPolicy)

mk_ca() {
	local d=$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/O=snigate test/CN=snigate test CA" \
		-keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
}

mk_leaf() {
	local d=$1 name=$2 type=$3; shift 3
	local san="" h newkey
	for h in "$@"; do san="${san:+$san,}DNS:$h"; done
	case $type in
	rsa) newkey=(-newkey rsa:2048) ;;
	ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
	*) echo "mk_leaf: type rsa|ec" >&2; return 2 ;;
	esac
	openssl req "${newkey[@]}" -nodes -subj "/O=snigate test/CN=$1" \
		-keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null || return 1
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		"$san" > "$d/$name.ext"
	openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		-CAcreateserial -CAserial "$d/ca.srl" -days 2 -extfile "$d/$name.ext" \
		-out "$d/$name.leaf" 2>/dev/null || return 1
	cat "$d/$name.leaf" "$d/ca.crt" > "$d/$name.crt"
}

secret_yaml() {
	local name=$1 base=$2
	cat <<YAML
---
apiVersion: v1
kind: Secret
metadata:
  name: $name
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 < "$base.crt")
  tls.key: $(base64 -w0 < "$base.key")
YAML
}

ca_configmap_yaml() {
	local name=$1 d=$2
	printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  ca.crt: |\n' "$name"
	sed 's/^/    /' "$d/ca.crt"
}

# service_yaml NAME PORT TARGET_ADDR TARGET_PORT: a Service and its
# EndpointSlice with one ready endpoint
service_yaml() {
	local name=$1 port=$2 addr=$3 tport=$4
	cat <<YAML
---
apiVersion: v1
kind: Service
metadata:
  name: $name
spec:
  ports:
  - name: p$port
    port: $port
    targetPort: $tport
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $name-local
  labels:
    kubernetes.io/service-name: $name
addressType: IPv4
ports:
- name: p$port
  port: $tport
endpoints:
- addresses: ["$addr"]
  conditions:
    ready: true
YAML
}
