#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Run the Check unit-test binaries given as arguments; each prints Check's
# own summary line. Exits non-zero if any binary fails.
set -u
fail=0 n=0
for t in "$@"; do
	n=$((n + 1))
	echo "== unit: ${t##*/}"
	if ! CK_FORK=yes "$t"; then
		echo "FAIL unit ${t##*/}"
		fail=$((fail + 1))
	fi
done
echo "unit test binaries: $n run, $fail failed"
[ "$fail" -eq 0 ]
