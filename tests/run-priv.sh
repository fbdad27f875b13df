#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Privileged test tiers. Every executable tests/priv/NN-*.sh is one test:
#   1x  BPF load      2x  socket-level      3x  end to end      4x  faults/bad input
# Exit 0 = PASS, 77 = SKIP (the test prints why), anything else = FAIL.
# Usage: run-priv.sh [NAME-SUBSTRING...]. Env: BUILD (build dir), TEST_TIMEOUT.
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
export SNIGATE_ROOT=$PWD
export PATH="$PWD/$BUILD:$PWD/$BUILD/tests/tools:$PWD/$BUILD/tests/sock:$PATH"
if [ "$(id -u)" -ne 0 ]; then
	echo "run-priv: the privileged tiers need root (BPF, netns, sockmap); run: sudo make check" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || {
	echo "run-priv: cannot mount bpffs on /sys/fs/bpf" >&2; exit 1; }

logdir=$BUILD/test-logs
mkdir -p "$logdir"
pass=0 fail=0 skip=0 failed=()
for t in tests/priv/[0-9]*.sh; do
	name=$(basename "$t" .sh)
	if [ $# -gt 0 ]; then
		m=0; for f in "$@"; do case $name in *"$f"*) m=1 ;; esac; done
		[ $m -eq 1 ] || continue
	fi
	start=$(date +%s.%N)
	timeout -k 10 "${TEST_TIMEOUT:-600}" bash "$t" >"$logdir/$name.log" 2>&1
	rc=$?
	dur=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")
	case $rc in
	0) pass=$((pass + 1)); printf 'PASS %-40s %6ss\n' "$name" "$dur" ;;
	77) skip=$((skip + 1)); printf 'SKIP %-40s %6ss  %s\n' "$name" "$dur" "$(tail -n1 "$logdir/$name.log")" ;;
	*) fail=$((fail + 1)); failed+=("$name")
	   printf 'FAIL %-40s %6ss  (rc %d, log %s)\n' "$name" "$dur" "$rc" "$logdir/$name.log"
	   sed 's/^/    | /' "$logdir/$name.log" | tail -n 25 ;;
	esac
done
echo "privileged tiers: $pass passed, $fail failed, $skip skipped"
[ ${#failed[@]} -eq 0 ] || echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ $((pass + skip)) -gt 0 ]
