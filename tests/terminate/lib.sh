# SPDX-License-Identifier: GPL-2.0-only
# Helpers shared by the Terminate / Mixed end-to-end tests (tests/priv/3[5-9]-*):
# start `snigate run` in a netns, run openssl s_client with the tcpserver line
# protocol, read its answers. Source after tests/lib.sh.
. "$SNIGATE_ROOT/tests/terminate/certs.sh"

# fail with the agent's recent terminate/error lines (runs in VMs keep no
# other trace of the agent log)
fail() {
	echo "FAIL: $*" >&2
	if [ -n "${SNG_LOG:-}" ] && [ -f "$SNG_LOG" ]; then
		echo "--- agent log (terminate / warn / error, last 40 lines):" >&2
		grep -E 'terminate|kTLS|warn|error' "$SNG_LOG" | tail -n 40 | sed 's/^/    /' >&2
	fi
	exit 1
}

# term_require: skip unless everything the test needs is here
term_require() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (netns, BPF)"
	[ -x "$SNIGATE" ] || skip "$SNIGATE not built (make)"
	[ -x "$TOOLS/sng_tcpserver" ] || skip "$TOOLS/sng_tcpserver not built (make tests)"
	command -v openssl >/dev/null || skip "openssl CLI missing"
	"$SNIGATE" run --help 2>&1 | grep -q -- '-f' || skip "snigate run is not available yet"
}

# start_snigate NS MANIFEST_DIR PORT... [-- EXTRA ARGS]: run the agent in NS,
# wait until every PORT listens; sets SNG_PID and SNG_LOG
start_snigate() {
	local ns=$1 dir=$2; shift 2
	local ports=() extra=() p i
	while [ $# -gt 0 ]; do
		[ "$1" = "--" ] && { shift; extra=("$@"); break; }
		ports+=("$1"); shift
	done
	# `ip netns exec` remounts /sys, hiding /sys/fs/bpf: pin on a private
	# bpffs (also keeps the test apart from any running agent)
	local bpf=$TMP/bpf-$ns
	mkdir -p "$bpf"
	mount -t bpf bpf "$bpf" || fail "mount bpffs on $bpf"
	at_exit "umount $bpf"
	SNG_PIN=$bpf/snigate
	SNG_LOG=$TMP/snigate-$ns.log
	ip netns exec "$ns" "$SNIGATE" run -f "$dir" --pin-dir "$SNG_PIN" --workers 2 -v "${extra[@]}" \
		>"$SNG_LOG" 2>&1 &
	SNG_PID=$!
	at_exit "kill $SNG_PID; sleep 0.3; kill -9 $SNG_PID"
	for p in "${ports[@]}"; do
		for ((i = 0; i < 100; i++)); do
			ip netns exec "$ns" ss -Htln "sport = :$p" | grep -q . && break
			kill -0 "$SNG_PID" 2>/dev/null || { cat "$SNG_LOG"; fail "snigate run exited"; }
			sleep 0.1
		done
		[ $i -lt 100 ] || { cat "$SNG_LOG"; fail "snigate does not listen on $p"; }
	done
}

# start_tcpserver NS ADDR:PORT NAME [CERT KEY]: the line-protocol backend
start_tcpserver() {
	local ns=$1 listen=$2 name=$3 port=${2##*:}
	if [ $# -ge 5 ]; then
		ip netns exec "$ns" "$TOOLS/sng_tcpserver" --listen "$listen" --name "$name" \
			--cert "$4" --key "$5" >"$TMP/be-$name-$port.log" 2>&1 &
	else
		ip netns exec "$ns" "$TOOLS/sng_tcpserver" --listen "$listen" --name "$name" \
			>"$TMP/be-$name-$port.log" 2>&1 &
	fi
	at_exit "kill $!"
	wait_port "$ns" "$port" || fail "backend $name did not listen on $listen"
}

# tls_ask NS PORT SNI OUT [s_client args...]: one TLS connection sending
# PING, IS_TLS, TEST, QUIT; the full s_client output goes to OUT.
# Returns s_client's status.
tls_ask() {
	local ns=$1 port=$2 sni=$3 out=$4; shift 4
	printf 'PING\nIS_TLS\nTEST\nQUIT\n' | ip netns exec "$ns" timeout 10 \
		openssl s_client -connect "127.0.0.1:$port" -servername "$sni" -ign_eof \
		-CAfile "$PKI/ca.crt" -verify_hostname "$sni" "$@" >"$out" 2>&1
}

# Assertions on a tls_ask output file
leaf_cn() { sed -n 's/^ *0 s:.*CN *= *\([^,]*\).*/\1/p' "$1" | head -n1; }
verified() { grep -q 'Verify return code: 0 (ok)' "$1"; }
backend_name() { sed -n 's/^Gateway API Test TCP Server *//p' "$1" | head -n1; }
backend_tls() { grep -xE 'true|false' "$1" | head -n1; }
backend_sni() { sed -n 's/.*"serverName":"\([^"]*\)".*/\1/p' "$1" | head -n1; }
protocol_of() { sed -n 's/^ *Protocol *: *//p' "$1" | head -n1; }
no_app_data() { ! grep -qE '^Gateway API Test|^PONG|^(true|false)$' "$1"; }
show() { sed 's/^/    | /' "$1" | grep -vE 'BEGIN|END|^    \| [A-Za-z0-9+/=]{60,}$' | head -n 40; }

# ktls_check NS: when the agent found kTLS, the netns's /proc/net/tls_stat
# must count software TX and RX contexts (the terminated client legs) and no
# decrypt error, and the agent must say it moved a connection to kTLS;
# otherwise note the userspace path. Call after traffic.
ktls_check() {
	local st tx rx derr
	if grep -q 'kTLS available' "$SNG_LOG"; then
		st=$(ip netns exec "$1" cat /proc/net/tls_stat 2>/dev/null)
		echo "note: kTLS in use; tls_stat: $(echo $st)"
		tx=$(awk '$1 == "TlsTxSw" {print $2}' <<<"$st")
		rx=$(awk '$1 == "TlsRxSw" {print $2}' <<<"$st")
		derr=$(awk '$1 == "TlsDecryptError" {print $2}' <<<"$st")
		[ "${tx:-0}" -gt 0 ] && [ "${rx:-0}" -gt 0 ] ||
			fail "kTLS announced but no software kTLS contexts in tls_stat"
		[ "${derr:-0}" -eq 0 ] || fail "kTLS decrypt errors: $derr"
		grep -q 'kTLS: terminated connections now use kernel TLS' "$SNG_LOG" ||
			fail "kTLS available but no connection moved to it"
		ok "kTLS carried the terminated client legs ($tx TX / $rx RX contexts)"
	else
		echo "note: $(grep -m1 -o 'kTLS unavailable (TCP_ULP[^)]*)' "$SNG_LOG" || echo 'no kTLS line'): userspace copy"
	fi
}
