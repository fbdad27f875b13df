#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# vmtest stage 2 (PID 1 in the guest, the host's bash over the shared root):
# mount the pseudo filesystems, set up modprobe, run the job, report its status.
#
# The job comes from job.env on the writable 9p share "vmout": VMTEST_REPO,
# VMTEST_BUILD, VMTEST_KROOT, VMTEST_TESTS, VMTEST_GUEST_TIMEOUT, TEST_TIMEOUT,
# VMTEST_CMD (optional: a command instead of the privileged tiers).
# Status reaches the host three ways: the file rc on the share, the console
# marker VMTEST_RC=<rc>, and qemu's exit code through isa-debug-exit.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8 VMTEST=1
OUT=/run/vmtest-out

# poweroff_rc RC: report RC on every channel, then leave the VM.
poweroff_rc() {
	local rc=$1
	[ "$rc" -ge 0 ] && [ "$rc" -le 127 ] 2>/dev/null || rc=127
	echo "$rc" >"$OUT/rc.tmp" && mv "$OUT/rc.tmp" "$OUT/rc"
	sync
	echo "VMTEST_RC=$rc"
	# isa-debug-exit at 0xf4 (244): qemu exits with (rc << 1) | 1.
	# shellcheck disable=SC2059 # the format is the byte itself
	printf "\\x$(printf %02x "$rc")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
	echo o >/proc/sysrq-trigger
	sleep 5
	poweroff -f
}

# early_fail MSG: setup failed; no result share may exist yet.
early_fail() {
	echo "VMTEST_SETUP_FAIL: $*"
	[ -d "$OUT" ] && mountpoint -q "$OUT" && poweroff_rc 125
	echo o >/proc/sysrq-trigger
	sleep 5
	exit 1 # PID 1 exiting panics the kernel: still no marker, still a FAIL
}

# main: everything below runs from one function, parsed before it starts.
# bash reads a script as it goes: an edit of this file (or of the shared
# tree) during a run made the guest resume at a shifted offset and run the
# whole suite a second time.
main() {
	mount -t proc proc /proc || early_fail "mount proc"
	mount -t sysfs sysfs /sys || early_fail "mount sysfs"
	mkdir -p /dev/pts /dev/shm
	mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
	mount -t tmpfs tmpfs /dev/shm
	# devtmpfs has no /dev/fd (udev makes it): bash process substitution
	# <(...) needs it (23-splice-cpu failed with "/dev/fd/63: No such file").
	ln -sfn /proc/self/fd /dev/fd
	ln -sf /proc/self/fd/0 /dev/stdin
	ln -sf /proc/self/fd/1 /dev/stdout
	ln -sf /proc/self/fd/2 /dev/stderr
	# /run must be the guest's own: the shared root would show the host's /run/netns.
	mount -t tmpfs -o mode=0755 tmpfs /run || early_fail "mount /run"
	mkdir -p /run/netns /run/lock "$OUT"
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmout "$OUT" || early_fail "mount 9p vmout"
	# shellcheck source=/dev/null
	. "$OUT/job.env" || early_fail "no job.env on the vmout share"
	exec >>"$OUT/guest.log" 2>&1 </dev/null
	# The console keeps getting the markers and a copy of the test output below.
	CONSOLE=/dev/ttyS0

	say() { echo "$*"; echo "$*" >"$CONSOLE"; }

	mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || say "vmtest: warning: cannot mount cgroup2"
	mount -t bpf bpf /sys/fs/bpf || say "vmtest: warning: cannot mount bpffs"
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
	ip link set lo up
	hostname vmtest

	# Modules: the host has no /lib/modules and no kmod; bind the prepared tree
	# and let busybox modprobe serve both us and the kernel's auto-loading
	# (veth, gcm/ghash for kTLS, tcp_diag for ss, ...).
	KVER=$(uname -r)
	mkdir -p "/lib/modules/$KVER" /sbin
	mount --bind "$VMTEST_KROOT/lib/modules/$KVER" "/lib/modules/$KVER" || say "vmtest: warning: no module tree"
	[ -x /sbin/modprobe ] || ln -sf /bin/busybox /sbin/modprobe
	echo /sbin/modprobe >/proc/sys/kernel/modprobe
	modprobe tls || say "vmtest: warning: modprobe tls failed"
	for c in "$VMTEST_KROOT/boot/config-$KVER" "/lib/modules/$KVER/config"; do
		[ -r "$c" ] && { export VMTEST_KCONFIG=$c; break; }
	done

	say "VMTEST_READY kernel=$KVER uptime=$(cut -d' ' -f1 /proc/uptime)"

	cd "$VMTEST_REPO" || poweroff_rc 125
	if [ -n "${VMTEST_CMD:-}" ]; then
		set -- bash -c "$VMTEST_CMD"
	else
		rm -rf "$VMTEST_BUILD/test-logs" # the host's logs, seen through the overlay
		# shellcheck disable=SC2086 # VMTEST_TESTS is a list of name substrings
		set -- env BUILD="$VMTEST_BUILD" TEST_TIMEOUT="${TEST_TIMEOUT:-300}" tests/run-priv.sh ${VMTEST_TESTS:-}
	fi
	# The guest's own guard fires before the host's outer timeout, so a hung
	# test still yields logs and a status instead of a killed VM.
	timeout -k 10 "${VMTEST_GUEST_TIMEOUT:-600}" "$@" 2>&1 | tee "$CONSOLE"
	rc=${PIPESTATUS[0]}
	[ "$rc" -ne 124 ] || say "vmtest: the guest timeout (${VMTEST_GUEST_TIMEOUT:-600} s) expired"
	if [ -d "$VMTEST_BUILD/test-logs" ]; then
		cp -r "$VMTEST_BUILD/test-logs" "$OUT/" 2>/dev/null
	fi
	dmesg >"$OUT/dmesg.log" 2>&1
	say "vmtest: command finished rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
	exec >"$CONSOLE" 2>&1
	poweroff_rc "$rc"
}

main "$@"
exit $?
