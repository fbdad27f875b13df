#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# vmtest: fetch and prepare one Debian kernel (image + modules) into the cache.
# Resolves the current ABI from the meta package, so security updates need no edit.
#
# Usage: vmtest/kernel.sh LABEL     (LABEL: 6.1, 6.12, ..., or 7 for a 7.x
#                                    from sid / trixie-backports)
# Writes $VMTEST_CACHE/LABEL/kernel.env (KVER, KROOT, VMLINUZ, PKG, PKGVER) and
# prints its path. Exit 0 = ready, 77 = kernel not reachable (reason on stderr),
# else error. Reuses the cache while the resolved package is unchanged.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${VMTEST_CACHE:=$here/cache}"
label=${1:?usage: kernel.sh LABEL}
case $label in
*[!0-9.]* | "") echo "kernel.sh: bad kernel label '$label' (want e.g. 6.1, 6.12, 7)" >&2; exit 2 ;;
esac
dir=$VMTEST_CACHE/$label
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9 # two runs preparing the same kernel would corrupt the tree

log() { echo "vmtest[$label]: $*" >&2; }

# APT: the system configuration, or a private one with newer suites of the
# same mirror (nothing on the system changes; lists live in the cache).
APT_OPTS=()
private_apt() {
	local d=$VMTEST_CACHE/apt-new uri
	uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
	[ -n "$uri" ] || uri=http://deb.debian.org/debian
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
	printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
		"$uri" sid "$uri" trixie-backports >"$d/sources.list"
	APT_OPTS=(-o "Dir::Etc::sourcelist=$d/sources.list" -o Dir::Etc::sourceparts=-
		-o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o Dir::State::status=/dev/null)
	# Refresh at most hourly: the index is 11 MB and a run should not depend on it.
	if [ -z "$(find "$d/lists" -maxdepth 1 -name '*Packages*' -mmin -60 2>/dev/null)" ]; then
		log "apt-get update (private config: sid, trixie-backports from $uri)"
		if ! timeout 180 apt-get "${APT_OPTS[@]}" -q update >"$d/update.log" 2>&1 ||
			grep -q '^[WE]: ' "$d/update.log"; then
			if [ -z "$(find "$d/lists" -maxdepth 1 -name '*Packages*' 2>/dev/null)" ]; then
				log "newer suites not reachable: $(grep -m1 '^[WE]: ' "$d/update.log" || tail -n1 "$d/update.log")"
				exit 77
			fi
			log "apt-get update failed, using the lists from the last update"
		fi
	fi
}

# depends_on PKG[=VER] PREFIX: the first hard dependency whose name starts with PREFIX
depends_on() {
	apt-cache "${APT_OPTS[@]}" depends "$1" 2>/dev/null |
		awk -v p="$2" '$1 == "Depends:" && index($2, p) == 1 && !n++ {print $2}' || true
}

# Resolve the versioned image package for the label.
case $label in
7 | 7.*)
	private_apt
	# The newest linux-image-amd64 whose version starts with the label.
	metaver=$(apt-cache "${APT_OPTS[@]}" madison linux-image-amd64 | awk -F' *[|] *' '{print $2}' |
		grep "^${label//./\\.}[.-]" | sort -V | tail -n1 || true)
	[ -n "$metaver" ] || { log "no linux-image-amd64 $label.x in sid or trixie-backports"; exit 77; }
	pkg=$(depends_on "linux-image-amd64=$metaver" linux-image-)
	;;
*)
	pkg=
	for meta in "linux-image-$label-amd64" linux-image-amd64; do
		p=$(depends_on "$meta" linux-image-)
		case $p in "linux-image-$label."* | "linux-image-$label-"*) pkg=$p; break ;; esac
	done
	[ -n "$pkg" ] || { log "no meta package resolves to a $label kernel (tried linux-image-$label-amd64, linux-image-amd64; apt-get update?)"; exit 77; }
	;;
esac
[ -n "$pkg" ] || { log "cannot resolve the kernel package"; exit 1; }
kver=${pkg#linux-image-}
pkgver=$(apt-cache "${APT_OPTS[@]}" show "$pkg" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
stamp="$pkg $pkgver"
kroot=$dir/root
env=$dir/kernel.env

if [ -f "$env" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
	log "cached $pkg $pkgver"
	echo "$env"
	exit 0
fi

log "preparing $pkg $pkgver"
rm -rf "$kroot" "$dir/debs" "$env" "$dir/stamp"
mkdir -p "$kroot" "$dir/debs"
# Newer suites split the image: linux-image-V is a meta over linux-binary-V
# (vmlinuz), linux-modules-V and linux-base-V (modules.builtin, config).
# Fetch whichever of these exist.
pkgs=("$pkg")
for part in linux-base- linux-binary- linux-modules-; do
	d=$(depends_on "$pkg" "$part$kver")
	[ -z "$d" ] || pkgs+=("$d")
done
t0=$EPOCHREALTIME
(cd "$dir/debs" && timeout 600 apt-get "${APT_OPTS[@]}" -o APT::Sandbox::User=root -q download "${pkgs[@]}" >&2) ||
	{ log "apt-get download ${pkgs[*]} failed"; exit 1; }
for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$kroot"; done
# The .debs are not needed once extracted; they would double the cache size.
rm -rf "$dir/debs"

if [ ! -e "$kroot/lib/modules/$kver" ] && [ -d "$kroot/usr/lib/modules/$kver" ]; then
	[ -e "$kroot/lib" ] || ln -s usr/lib "$kroot/lib"
fi
moddir=$kroot/lib/modules/$kver
[ -d "$moddir" ] || { log "no modules directory for $kver in ${pkgs[*]}"; exit 1; }
vmlinuz=
for f in "$kroot/boot/vmlinuz-$kver" "$moddir/vmlinuz"; do
	[ -f "$f" ] && { vmlinuz=$f; break; }
done
[ -n "$vmlinuz" ] || { log "no vmlinuz for $kver in ${pkgs[*]}"; exit 1; }

# busybox insmod/modprobe cannot load .ko.xz (the kernel then logs
# "Invalid ELF header magic"): decompress them once, here.
find "$moddir" \( -name '*.ko.xz' -o -name '*.ko.zst' \) -print >"$dir/compressed.lst"
if [ -s "$dir/compressed.lst" ]; then
	grep -q '\.zst$' "$dir/compressed.lst" && { log "zstd-compressed modules are not supported"; exit 1; }
	log "decompressing $(wc -l <"$dir/compressed.lst") modules"
	tr '\n' '\0' <"$dir/compressed.lst" | xargs -0 -P"$(nproc)" -n200 xz -d
fi
rm -f "$dir/compressed.lst"
# The .debs ship no modules.dep/alias; the postinst would have generated them.
busybox depmod -b "$kroot" "$kver"
[ -s "$moddir/modules.dep" ] || { log "depmod produced no modules.dep"; exit 1; }

{
	printf 'KVER=%q\n' "$kver"
	printf 'KROOT=%q\n' "$kroot"
	printf 'VMLINUZ=%q\n' "$vmlinuz"
	printf 'PKG=%q\n' "$pkg"
	printf 'PKGVER=%q\n' "$pkgver"
} >"$env.tmp"
mv "$env.tmp" "$env"
echo "$stamp" >"$dir/stamp"
log "ready in $(printf '%.1f' "$(echo "$EPOCHREALTIME - $t0" | bc)") s: $vmlinuz"
echo "$env"
