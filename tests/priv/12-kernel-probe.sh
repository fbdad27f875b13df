#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Tier 1x: report what this kernel offers snigate (sockmap, sockhash, sk_skb
# verdict attach, sk_msg, sockops, sockmap links, kTLS) and assert the mandatory part.
#
# PASS needs sockmap + sockhash + sk_skb stream-verdict attach, and a kTLS
# answer that agrees with the kernel config when one is readable. Under
# VMTEST=1 (the vmtest guests, whose Debian kernels have CONFIG_TLS=m) kTLS
# must work. On a host without CONFIG_TLS (e.g. 6.18-fc) "absent" is the
# correct answer and is reported as such.
. "$(dirname "$0")/../lib.sh"

probe=$TOOLS/ktls_probe
[ -x "$probe" ] || fail "$probe not built: run make tests"

out=$TMP/probe.out
"$probe" >"$out" 2>&1
rc=$?
cat "$out"
[ $rc -le 1 ] || fail "ktls_probe failed to run (rc $rc)"
for f in sockmap sockhash sk_skb sk_skb_verdict_sockmap sk_skb_verdict_sockhash; do
	grep -Eq "^$f +yes" "$out" || fail "mandatory kernel feature missing: $f"
done
grep -Eq '^ktls +(yes|no)' "$out" || fail "ktls_probe printed no kTLS line"
if grep -Eq '^ktls +no \(BROKEN' "$out"; then
	fail "kTLS is configured but does not work: $(grep '^ktls' "$out")"
fi
[ $rc -eq 0 ] || fail "ktls_probe rc $rc"
ktls=no
grep -Eq '^ktls +yes' "$out" && ktls=yes

# What the kernel config says about CONFIG_TLS, where a config is readable.
cfg=
for c in /proc/config.gz "${VMTEST_KCONFIG:-}" "/boot/config-$(uname -r)" "/lib/modules/$(uname -r)/config"; do
	[ -n "$c" ] && [ -r "$c" ] && { cfg=$c; break; }
done
if [ -n "$cfg" ]; then
	case $cfg in *.gz) cat_cfg="zcat" ;; *) cat_cfg="cat" ;; esac
	tls_cfg=$($cat_cfg "$cfg" | sed -n 's/^CONFIG_TLS=\([ym]\)$/\1/p')
	echo "kernel config $cfg: CONFIG_TLS=${tls_cfg:-not set}"
	if [ -n "$tls_cfg" ] && [ $ktls = no ]; then
		fail "CONFIG_TLS=$tls_cfg but the kTLS probe found no working tls ULP"
	fi
	if [ -z "$tls_cfg" ] && [ $ktls = yes ]; then
		fail "kTLS works although $cfg has no CONFIG_TLS: wrong config file?"
	fi
else
	echo "no readable kernel config; kTLS presence taken from the probe alone"
fi

if [ "${VMTEST:-0}" = 1 ] && [ $ktls = no ]; then
	fail "VMTEST=1: the vmtest kernels ship tls.ko, kTLS must work here"
fi
ok "mandatory sockmap features present; kTLS: $ktls"
