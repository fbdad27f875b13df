#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# vmtest: build the busybox initramfs for one prepared kernel: static busybox,
# vmtest/init, and the modules needed to mount the 9p + overlay root, in load order.
#
# Usage: vmtest/initramfs.sh KERNEL_ENV OUT.gz    (KERNEL_ENV from kernel.sh)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
env=${1:?usage: initramfs.sh KERNEL_ENV OUT.gz}
out=${2:?usage: initramfs.sh KERNEL_ENV OUT.gz}
# shellcheck source=/dev/null
. "$env"
moddir=$KROOT/lib/modules/$KVER
BUSYBOX=${BUSYBOX:-$(command -v busybox)}
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
	{ echo "initramfs.sh: $BUSYBOX is not static: apt-get install busybox-static" >&2; exit 1; }

# What stage 1 needs before the root exists. Everything else (tls, veth,
# gcm, ...) is loaded later by modprobe from the bind-mounted module tree.
WANT=(virtio_pci 9pnet_virtio 9p overlay)

declare -A seen=()
order=()
# add_mod PATH: append PATH after its dependencies (depth first), once.
add_mod() {
	local m=$1 deps d
	[ -z "${seen[$m]:-}" ] || return 0
	seen[$m]=1
	deps=$(awk -v m="$m" -F': *' '$1 == m {print $2; exit}' "$moddir/modules.dep")
	for d in $deps; do add_mod "$d"; done
	order+=("$m")
}
for name in "${WANT[@]}"; do
	path=$(awk -F: -v n="$name" '{k = $1; sub(/.*\//, "", k); sub(/\.ko$/, "", k); gsub(/-/, "_", k)}
		k == n {print $1; exit}' "$moddir/modules.dep")
	if [ -n "$path" ]; then
		add_mod "$path"
	elif ! grep -Eq "/$name\.ko$" "$moddir/modules.builtin"; then
		echo "initramfs.sh: $KVER has no module $name and it is not built in" >&2
		exit 1
	fi
done

st=$(mktemp -d "${TMPDIR:-/tmp}/vmtest-initrd.XXXXXX")
trap 'rm -rf "$st"' EXIT
mkdir -p "$st"/{bin,dev,proc,sys,lower,upper,newroot,mods}
cp "$BUSYBOX" "$st/bin/busybox"
ln -s busybox "$st/bin/sh"
install -m 0755 "$here/init" "$st/init"
i=0
for m in "${order[@]}"; do
	i=$((i + 1))
	cp "$moddir/$m" "$st/mods/$(printf '%02d' $i)-$(basename "$m")"
done
mkdir -p "$(dirname "$out")"
(cd "$st" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
echo "initramfs: $out ($(du -k "$out" | cut -f1) KiB; modules: ${order[*]##*/})" >&2
