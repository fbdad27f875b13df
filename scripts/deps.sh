#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Install every Debian package in scripts/deps.list that is not installed yet.
# Idempotent; needs root (apt-get). Used by `make deps` and .ci/run.
set -eu
cd "$(dirname "$0")"
mapfile -t want < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' deps.list | tr -d ' \t')
missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#want[@]} packages already installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run as root (sudo make deps) to install them" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -y -q --no-install-recommends)
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get "${apt_opts[@]}" install "${missing[@]}"
# Debian starts daemons it installs where an init system runs; snigate's
# benchmarks start their own peers, so make sure none is left holding ports.
for svc in haproxy nginx sniproxy; do
	command -v service >/dev/null 2>&1 && service "$svc" stop >/dev/null 2>&1 || true
done
echo "deps: done"
