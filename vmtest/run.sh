#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# vmtest driver (`make vmtest`): prepare each Debian kernel, boot them in
# parallel QEMU VMs (one per core), run the privileged tiers inside, print a table.
#
# Usage: vmtest/run.sh [KERNEL...]     default: 6.1 6.12 7; "7" = newest 7.x from
#        sid / trixie-backports (SKIP when that suite is not reachable).
# Env:   BUILD (host build dir, relative to the repo; default build)
#        VMTEST_TIERS   first digits of the tests/priv tiers to run (default
#                       "1 2 3": BPF load, socket-level splice, end to end
#                       passthrough and terminate with kTLS); "all" = every tier
#        VMTEST_ALSO    more tests by name (default "40-badinput 41-faults
#                       42-slowreader 44-privs": the fault tests whose outcome
#                       depends on the kernel: in-kernel hello parsing and
#                       counters, TCP connect failures and black holes, sockmap
#                       flow control, BPF_PROG_RUN and sockhash inserts without
#                       CAP_BPF/CAP_NET_ADMIN). The rest of 4x-6x exercises
#                       user space (policy compiler limits, reload, takeover,
#                       metrics text, Kubernetes stand-ins) and runs on the host
#                       in `make check`; VMTEST_TIERS="1 2 3 4 5" runs it here too.
#        VMTEST_TESTS   test-name substrings passed to tests/run-priv.sh
#                       (overrides VMTEST_TIERS)
#        VMTEST_CMD     run this shell command in the guest instead of the tiers
#        VMTEST_JOBS    VMs at once (default: number of cores)
#        VMTEST_TIMEOUT outer guard per VM in seconds (default 3000); the guest
#                       stops its command a minute earlier. TEST_TIMEOUT per test
#                       (default 450). VMTEST_RETRIES (default 1, boot hangs only).
#        VMTEST_CACHE   kernel cache (default vmtest/cache, reused across runs)
#        VMTEST_SNAPSHOT 0: the guests run the live tree, not a snapshot of it
# Logs:  $BUILD/vmtest/<kernel>/{console,guest,dmesg,qemu}.log, test-logs/, result
# Exit:  0 when every kernel passed (or was skipped as unreachable), else 1.
set -uo pipefail
# One compound command, parsed whole before it runs: an edit of this file
# during a run must not change what the run does (bash reads scripts lazily).
{

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo" || exit 1
export BUILD=${BUILD:-build}
export VMTEST_REPO=$repo VMTEST_BUILD=$BUILD
export VMTEST_CACHE=${VMTEST_CACHE:-$here/cache}
[ $# -gt 0 ] || set -- 6.1 6.12 7
jobs=${VMTEST_JOBS:-$(nproc)}
[ "$jobs" -le $# ] || jobs=$#
logroot=$BUILD/vmtest
t_start=$EPOCHREALTIME

die() { echo "vmtest: $*" >&2; exit 1; }
case $BUILD in /*) die "BUILD must be relative to the repository (the guest sees it there): $BUILD" ;; esac
[ -d "$BUILD" ] || die "no build directory '$BUILD': run 'make tests' first (the VM runs prebuilt binaries)"
for tool in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static xz:xz-utils apt-get:apt; do
	command -v "${tool%%:*}" >/dev/null ||
		die "missing ${tool%%:*}: apt-get install -y --no-install-recommends ${tool#*:}"
done
[ "$(id -u)" -eq 0 ] || die "run as root: the 9p share of / must read every file the tests use"

# Test selection: the kernel-facing tiers, by full name, unless told otherwise.
: "${VMTEST_TIERS:=1 2 3}"
: "${VMTEST_ALSO=40-badinput 41-faults 42-slowreader 44-privs}"
if [ -z "${VMTEST_CMD:-}" ] && [ -z "${VMTEST_TESTS:-}" ] && [ "$VMTEST_TIERS" != all ]; then
	sel=()
	for tier in $VMTEST_TIERS; do
		case $tier in [0-9]) ;; *) die "VMTEST_TIERS: '$tier' is not a tier digit (or use all)" ;; esac
		for t in tests/priv/"$tier"[0-9]-*.sh; do
			[ -e "$t" ] && sel+=("$(basename "$t" .sh)")
		done
	done
	also=()
	for t in $VMTEST_ALSO; do
		[ -e "tests/priv/$t.sh" ] || die "VMTEST_ALSO: no tests/priv/$t.sh"
		case " ${sel[*]} " in *" $t "*) ;; *) sel+=("$t") also+=("$t") ;; esac
	done
	[ ${#sel[@]} -gt 0 ] || die "no tests/priv/*.sh in tiers $VMTEST_TIERS"
	export VMTEST_TESTS="${sel[*]}"
	selection="tiers ${VMTEST_TIERS// /,}x${also[*]:+ + ${also[*]}} (${#sel[@]} tests)"
else
	selection=${VMTEST_CMD:+cmd: }${VMTEST_CMD:-${VMTEST_TESTS:-all tests/priv}}
fi

mkdir -p "$logroot"
# One run per build directory: a second one would delete the first one's
# result shares and interleave its consoles (seen: a bogus rc file '').
exec 8>"$logroot/.lock"
if ! flock -n 8; then
	echo "vmtest: another vmtest run uses $logroot; waiting for it (lock $logroot/.lock)" >&2
	flock 8
fi
t_start=$EPOCHREALTIME # the wall time reported excludes the wait

# The guests run a snapshot of the tree (sources, scripts, the built
# binaries; 20 MB, 0.1 s): the 9p share shows the live tree, and a rebuild
# or an edit on the host during a run gave the guests half-written binaries
# and scripts. VMTEST_SNAPSHOT=0 runs the live tree.
if [ "${VMTEST_SNAPSHOT:-1}" != 0 ]; then
	tree=$logroot/tree
	rm -rf "${tree:?}"
	mkdir -p "$tree"
	excl=(--exclude=./.git --exclude=./vmtest/cache --exclude="./$BUILD/vmtest" --exclude="./$BUILD/fuzz"
		--exclude="./$BUILD/test-logs" --exclude='*.o' --exclude='*.d')
	for d in build*; do
		[ "$d" = "$BUILD" ] || excl+=(--exclude="./$d")
	done
	tar -C "$repo" "${excl[@]}" -cf - . | tar -C "$tree" -xf - ||
		die "cannot snapshot the tree into $tree"
	export VMTEST_REPO=$repo/$tree
fi
declare -A kenv=() prep=()
# Kernel preparation is mostly download and xz: do it first, one at a time.
for k in "$@"; do
	rm -rf "${logroot:?}/$k"
	mkdir -p "$logroot/$k"
	e=$("$here/kernel.sh" "$k" 2>"$logroot/$k/kernel.log")
	rc=$?
	cat "$logroot/$k/kernel.log" >&2
	if [ $rc -eq 0 ]; then
		kenv[$k]=$e
	elif [ $rc -eq 77 ] && [[ $k == 7* ]]; then
		prep[$k]="SKIP	$(tail -n1 "$logroot/$k/kernel.log")"
	else
		prep[$k]="FAIL	kernel preparation failed (rc $rc): $(tail -n1 "$logroot/$k/kernel.log")"
	fi
done

# Boot the prepared kernels, at most $jobs at once (-smp 1 each: two
# single-CPU VMs finish sooner than two dual-CPU VMs one after the other).
running=0
for k in "$@"; do
	[ -n "${kenv[$k]:-}" ] || continue
	if [ $running -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	"$here/boot.sh" "$k" "${kenv[$k]}" "$logroot/$k" &
	running=$((running + 1))
done
wait

# per_test_matrix KERNEL...: one row per test, one column per kernel, from
# the run-priv.sh lines in each guest.log; FAIL/SKIP reasons listed below it.
per_test_matrix() {
	local k t line res name dur
	declare -A cell=()
	local -a tests=() notes=()
	for k in "$@"; do
		[ -s "$logroot/$k/guest.log" ] || continue
		while IFS= read -r line; do
			read -r res name dur _ <<<"$line"
			[ -n "${cell[$name]+x}" ] || tests+=("$name")
			cell[$name]=1
			cell[$name/$k]="$res ${dur%.*}s"
			case $res in
			FAIL) notes+=("  $k $name: FAIL, log $logroot/$k/test-logs/$name.log")
			      # the reason too: CI shows only the end of the output
			      while IFS= read -r why; do notes+=("      | ${why:0:240}"); done < <(
				grep -v -E '^(ok:|    )' "$logroot/$k/test-logs/$name.log" 2>/dev/null | tail -n 4) ;;
			SKIP) notes+=("  $k $name: SKIP, $(echo "$line" | sed -E 's/^SKIP +[^ ]+ +[0-9.]+s +//')") ;;
			XFAIL) notes+=("  $k $name: XFAIL, $(echo "$line" | sed -E 's/^XFAIL +[^ ]+ +[0-9.]+s +//' | cut -c1-200)") ;;
			esac
		done < <(grep -E '^(PASS|FAIL|SKIP|XFAIL) [^ ]' "$logroot/$k/guest.log")
	done
	[ ${#tests[@]} -gt 0 ] || return 0
	echo
	printf '%-28s' test
	for k in "$@"; do printf ' %-11s' "$k"; done
	echo
	for t in "${tests[@]}"; do
		printf '%-28s' "$t"
		for k in "$@"; do printf ' %-11s' "${cell[$t/$k]:--}"; done
		echo
	done
	[ ${#notes[@]} -eq 0 ] || printf '%s\n' "${notes[@]}"
}

t_total=$(printf '%.0f' "$(echo "$EPOCHREALTIME - $t_start" | bc)")
fails=0
summary=$logroot/summary.txt
{
	echo
	echo "vmtest results (BUILD=$BUILD, $selection)"
	printf '%-6s %-26s %-7s %-16s %7s %5s %5s %5s  %s\n' kernel version result "boot wall/guest" "vm" pass fail skip note
	for k in "$@"; do
		if [ -n "${prep[$k]:-}" ]; then
			st=${prep[$k]%%$'\t'*}
			printf '%-6s %-26s %-7s %-16s %7s %5s %5s %5s  %s\n' "$k" - "$st" - - - - - "${prep[$k]#*$'\t'}"
			[ "$st" = SKIP ] || fails=$((fails + 1))
			continue
		fi
		if [ ! -s "$logroot/$k/result" ]; then
			printf '%-6s %-26s %-7s %-16s %7s %5s %5s %5s  %s\n' "$k" - FAIL - - - - - "no result from boot.sh"
			fails=$((fails + 1))
			continue
		fi
		IFS='|' read -r _ kv st bw bg vw p f s tries note <"$logroot/$k/result"
		[ "$tries" -le 1 ] || note="${note} (tries $tries)"
		printf '%-6s %-26s %-7s %-16s %7s %5s %5s %5s  %s\n' "$k" "$kv" "$st" "$([ "$bw" = - ] && echo - || echo "${bw}s/${bg}s")" "${vw}s" "$p" "$f" "$s" "$note"
		[ "$st" = PASS ] || fails=$((fails + 1))
	done
	per_test_matrix "$@"
	echo "wall time ${t_total}s for $# kernel(s), $jobs VM(s) at once; logs in $logroot/<kernel>/"
} >"$summary"
cat "$summary"
[ $fails -eq 0 ] || { echo "vmtest: $fails kernel(s) FAILED" >&2; exit 1; }
echo "vmtest: all kernels passed"
exit
}
