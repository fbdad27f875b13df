#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# BPF proof of the shared ClientHello parser: the sk_skb test program loads
# (verifier stats printed), runs on real skbs and agrees with the host build.
. "$(dirname "$0")/../lib.sh"

bin=$SNIGATE_ROOT/$BUILD/tests/sock/bpf_hello_check
corpus=$SNIGATE_ROOT/tests/fuzz/corpus/clienthello
[ -x "$bin" ] || fail "$bin missing (make $BUILD/tests/sock/bpf_hello_check)"
[ "$(ls "$corpus" | wc -l)" -ge 10 ] || fail "corpus $corpus has fewer than 10 inputs"

ns=$(new_netns hello)
ip netns exec "$ns" timeout 300 "$bin" -m 200 "$corpus" >"$TMP/out" 2>"$TMP/err"
rc=$?
cat "$TMP/out"
[ -s "$TMP/err" ] && sed 's/^/stderr: /' "$TMP/err" | head -n 40
[ $rc -eq 0 ] || fail "bpf_hello_check exited $rc"

grep -q '^verifier: processed [0-9]* insns' "$TMP/out" || fail "no verifier stats"
grep -Eq '^inputs [0-9]+: agree [0-9]+, differ 0;' "$TMP/out" || fail "kernel and host disagree"
# Known answers, so the comparison cannot pass on two equally broken builds.
expect() {
	grep -Eq "^  $1 .* kernel $2 +sni=$3\$" "$TMP/out" || fail "$1: expected kernel $2 sni=$3"
}
expect openssl-tls1_2.bin ok foo.example.com
expect openssl-tls1_3.bin ok foo.example.com
expect curl.bin ok foo.example.com
expect synth-pq-sni-last.bin ok pq.example.com
expect openssl-nosni.bin no_sni -
expect http-get.bin not_tls -
expect sslv2-hello.bin not_tls -
expect openssl-alpn-20k.bin too_big -
# Split over records: not sound in BPF, must never claim a result.
expect synth-small-1b-records.bin truncated -
n_lo=$(sed -En 's/^inputs ([0-9]+):.*/\1/p' "$TMP/out")

# Phase 2: a veth path with MTU 1500 and TSO/GSO/GRO off, so the verdict sees
# one 1448-byte segment first (sockmap-facts 4.2): the BPF entry must say
# TRUNCATED there, never guess, and still agree with the host build.
srv=$(new_netns hello-srv)
cli=$(new_netns hello-cli)
ip link add sngh0 netns "$srv" type veth peer name sngh1 netns "$cli" || fail "veth"
ip -n "$srv" addr add 10.199.0.1/30 dev sngh0
ip -n "$cli" addr add 10.199.0.2/30 dev sngh1
for side in "$srv sngh0" "$cli sngh1"; do
	set -- $side
	ip -n "$1" link set "$2" mtu 1500 up
	ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 ||
		fail "ethtool -K $2: cannot turn segmentation offloads off"
done
ip netns exec "$srv" timeout 300 "$bin" -m 20 -a 10.199.0.1 -n "/run/netns/$cli" "$corpus" \
	>"$TMP/out2" 2>"$TMP/err2"
rc=$?
sed -n '/first skb/p;/^inputs/p' "$TMP/out2"
[ -s "$TMP/err2" ] && sed 's/^/stderr: /' "$TMP/err2" | head -n 40
[ $rc -eq 0 ] || fail "bpf_hello_check over veth exited $rc"
grep -Eq '^inputs [0-9]+: agree [0-9]+, differ 0;' "$TMP/out2" || fail "veth: kernel and host disagree"
grep -Eq '^  synth-pq-sni-last.bin +1555 B  first skb   1448 B  kernel truncated +sni=-$' "$TMP/out2" ||
	fail "veth: post-quantum hello should arrive as a 1448 B first skb and be TRUNCATED in BPF"
grep -Eq '^  openssl-ffdhe8192.bin +1297 B  first skb   1297 B  kernel ok +sni=foo.example.com$' "$TMP/out2" ||
	fail "veth: a 1297 B hello fits one segment and must be found in BPF"
n_veth=$(sed -En 's/^inputs ([0-9]+):.*/\1/p' "$TMP/out2")
ok "kernel and host parsers agree on $n_lo loopback and $n_veth veth (MTU 1500) inputs"
