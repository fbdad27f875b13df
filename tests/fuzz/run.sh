#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Run libFuzzer targets for a bounded time each: tests/fuzz/run.sh BIN...
# Seeds come from tests/fuzz/corpus/<name without fuzz_>/, copied to a temp
# working corpus so the repo stays clean. Env: FUZZ_SECONDS (default 60),
# BUILD (crash artifacts are kept in $BUILD/fuzz-artifacts/<name>/).
set -u
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-60}
build=${BUILD:-build}
if [ $# -eq 0 ]; then
	echo "usage: $0 build/fuzz/fuzz_NAME..." >&2
	exit 2
fi

fails=0
for bin in "$@"; do
	name=$(basename "$bin")
	short=${name#fuzz_}
	if [ ! -x "$bin" ]; then
		echo "FAIL $name: $bin is not an executable (make $bin)"
		fails=$((fails + 1))
		continue
	fi
	work=$(mktemp -d /tmp/sng-fuzz-"$short".XXXXXX)
	mkdir -p "$work/corpus" "$work/artifacts"
	seeds=tests/fuzz/corpus/$short
	nseeds=0
	if [ -d "$seeds" ]; then
		cp -r "$seeds"/. "$work/corpus/"
		nseeds=$(find "$work/corpus" -type f | wc -l)
	fi
	timeout -k 10 $((secs + 60)) "$bin" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" \
		>"$work/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n1)
	cov=$(grep -Eo 'cov: [0-9]+' "$work/log" | tail -n1 | cut -d' ' -f2)
	corp=$(find "$work/corpus" -type f | wc -l)
	ncrash=$(find "$work/artifacts" -type f | wc -l)
	if [ "$rc" -ne 0 ] || [ "$ncrash" -gt 0 ]; then
		keep=$build/fuzz-artifacts/$short
		mkdir -p "$keep"
		cp "$work/artifacts/"* "$keep/" 2>/dev/null || true
		cp "$work/log" "$keep/log"
		grep -E 'ERROR|invariant|SUMMARY' "$work/log" | head -n 5 | sed 's/^/    | /'
		printf 'FAIL %-24s %ss execs=%s cov=%s rc=%d artifacts=%d kept in %s\n' \
			"$name" "$secs" "${execs:-?}" "${cov:-?}" "$rc" "$ncrash" "$keep"
		fails=$((fails + 1))
	else
		printf 'PASS %-24s %ss execs=%s cov=%s seeds=%d corpus=%d\n' \
			"$name" "$secs" "${execs:-?}" "${cov:-?}" "$nseeds" "$corp"
	fi
	rm -rf "$work"
done
echo "fuzz: $(( $# - fails )) passed, $fails failed"
[ "$fails" -eq 0 ]
