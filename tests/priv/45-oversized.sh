#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Oversized and hostile manifests through `snigate check` (the policy
# library the agent uses): each must end with a clear, specific error (exit
# 2) or succeed, within a memory cap (ulimit -v) and a time limit, never an
# OOM or a hang. Measured peak RSS and time are printed per case.
#   laughs      YAML "billion laughs" alias bomb (393 bytes)
#   deep        2 MB of nested flow sequences (a million levels)
#   hosts       one TLSRoute with a million hostnames (24 MB)
#   scalar200   a 200 MB manifest (one 200 MB string): over the 64 MiB
#               input budget (B8), refused before it is read; with
#               --max-input-bytes 256M it compiles
#   routes200   200 MB of TLSRoutes: over the budget, refused at once; the
#               same on stdin (at most budget + 1 bytes are read)
#   dir3x30     a directory of three 30 MB files: the third crosses the
#               budget and is named
#   over        a 300 MB file (over the per-file limit)
#   run         `snigate run -f routes200.yaml` (root): the same budget error
#               before any setup
#   OVERSIZED_FULL=1 adds routes200 with --max-input-bytes 256M: it stops at
#               the 65,537th TLSRoute, the most the route table could hold
# Unprivileged; lives in the 4x tier with the other bad-input tests.
. "$(dirname "$0")/../lib.sh"
[ -x "$SNIGATE" ] || skip "no $SNIGATE: run make"
[ -x /usr/bin/time ] || skip "/usr/bin/time missing (apt-get install time)"
cd "$TMP" || fail "cd"
python3 - "${OVERSIZED_FULL:-0}" <<'EOF' || fail "generate inputs"
import sys
head = '''apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: c
  listeners:
  - {name: tls, protocol: TLS, port: 443, tls: {mode: Passthrough}}
'''
with open('laughs.yaml', 'w') as f:
    f.write('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n')
    prev = 'a'
    for n in 'bcdefghi':
        f.write('%s: &%s [%s]\n' % (n, n, ','.join(['*' + prev] * 9)))
        prev = n
    f.write('kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n')
with open('deep.yaml', 'w') as f:
    f.write('a: ' + '[' * 1000000 + ']' * 1000000 + '\n')
with open('hosts.yaml', 'w') as f:
    f.write(head + '''---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: svc, port: 443}]}]
  hostnames:
''')
    for i in range(1000000):
        f.write('  - h%d.example.com\n' % i)
with open('scalar200.yaml', 'w') as f:
    f.write('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  big: "')
    chunk = 'a' * (1 << 20)
    for _ in range(200):
        f.write(chunk)
    f.write('"\n')
import os
os.makedirs('dir3x30', exist_ok=True)
for n in 'abc':
    with open('dir3x30/%s.yaml' % n, 'w') as f:
        f.write('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata:\n  big: "' % n)
        f.write('b' * (30 << 20))
        f.write('"\n')
with open('over.yaml', 'w') as f:
    f.truncate(300 << 20)  # sparse: the size check comes first
if True:
    with open('routes200.yaml', 'w') as f:
        f.write(head)
        i = 0
        while f.tell() < 200 * 1024 * 1024:
            f.write('''---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: r%d, annotations: {note: "%s"}}
spec:
  parentRefs: [{name: gw}]
  hostnames: [h%d.example.com, w%d.example.com]
  rules: [{backendRefs: [{name: svc, port: 443}]}]
''' % (i, 'x' * 600, i, i))
            i += 1
EOF

# run_case NAME SECONDS MAX_RSS_MB WANT_RC WANT_MSG [ARGS...]: `snigate
# check -f NAME.yaml ARGS` (NAME: a directory if there is no NAME.yaml;
# NAME=stdin:FILE feeds FILE.yaml on stdin)
bad=0
run_case() {
	local name=$1 secs=$2 mb=$3 want_rc=$4 want=$5 rc out m src=/dev/null f
	shift 5
	local args=("$@") size
	f=$name.yaml
	[ -e "$f" ] || f=$name
	case $name in stdin:*) src=${name#stdin:}.yaml f=- ;; esac
	out=$( (ulimit -v $((mb * 1024 + 200 * 1024)); /usr/bin/time -f 'TIME %x %M %e' \
		timeout -k 2 "$secs" "$SNIGATE" check -f "$f" -o text "$@" <"$src") 2>&1)
	size=$(du -sb --apparent-size ${src#/dev/null} ${f#-} 2>/dev/null | awk '{ s += $1 } END { print s }')
	m=$(echo "$out" | sed -n 's/^TIME //p')
	rc=${m%% *}
	set -- $m
	local msg
	msg=$(echo "$out" | grep -m1 'snigate check:' | cut -c1-160)
	if [ "$rc" = "$want_rc" ] && { [ -z "$want" ] || echo "$out" | grep -q "$want"; } &&
		[ "$2" -le $((mb * 1024)) ]; then
		ok "$name${args[*]:+ ${args[*]}} ($size bytes): exit $rc in $3 s, peak RSS $(( $2 / 1024 )) MiB: ${msg:-compiled}"
	else
		echo "BAD $name: exit $rc (want $want_rc) in $3 s, peak RSS $(( $2 / 1024 )) MiB (cap $mb): $(echo "$out" | tail -n 3)"
		bad=1
	fi
}
run_case laughs 10 64 2 "too large"
run_case deep 10 64 2 "nested too deeply"
run_case hosts 30 512 2 "at most"
run_case scalar200 5 64 2 "over its budget of 67108864 bytes (--max-input-bytes)"
run_case scalar200 60 1024 0 "" --max-input-bytes 256M
run_case routes200 5 64 2 "file is 209715781 bytes, which takes the input to 209715781 bytes, over its budget"
run_case stdin:routes200 10 256 2 "<stdin>: more than 67108864 bytes: over the input's budget"
run_case dir3x30 10 256 2 "dir3x30/c.yaml: file is 31457347 bytes, which takes the input to 94372041 bytes, over its budget"
run_case over 10 64 2 "over the"
# `snigate run` reads its manifests through the same budget, before any BPF
# or socket setup (root only: run needs it to get that far)
if [ "$(id -u)" -eq 0 ]; then
	out=$( (ulimit -v $((264 * 1024)); /usr/bin/time -f 'TIME %x %M %e' timeout -k 2 10 \
		"$SNIGATE" run -f routes200.yaml --pin-dir "$TMP/nopin" --control-socket none \
		--takeover-socket none) 2>&1)
	set -- $(echo "$out" | sed -n 's/^TIME //p')
	if [ "$1" = 2 ] && echo "$out" | grep -q "snigate run: routes200.yaml: file is 209715781 bytes.*over its budget" &&
		[ "$2" -le $((64 * 1024)) ] && [ ! -e "$TMP/nopin" ]; then
		ok "run routes200: exit 2 in $3 s, peak RSS $(( $2 / 1024 )) MiB: $(echo "$out" | grep -m1 'snigate run:' | cut -c1-120)"
	else
		echo "BAD run routes200: $out"
		bad=1
	fi
fi
[ "${OVERSIZED_FULL:-0}" = 1 ] && run_case routes200 300 2048 2 "more than 65536 TLSRoute objects" \
	--max-input-bytes 256M
[ $bad -eq 0 ] || fail "oversized input not handled within bounds"
echo PASS
