#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Usage: scripts/gunyah-pool/deps.sh [--dtschema]
#
# Install everything building, booting and testing the pool needs, from
# Debian's packages, and skip what is already there. The one list of
# packages is here. The arm64 busybox is unpacked into build/busybox.
# With --dtschema (the check command: dt_binding_check needs it), a pinned
# dtschema from PyPI also goes into the virtual environment
# build/dtschema-venv; the demo, the tests and the benchmark need nothing
# but Debian's packages.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '4,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac
want_dtschema=
[ "${1:-}" = --dtschema ] && want_dtschema=1

top=$(cd "$(dirname "$0")/../.." && pwd)

packages=(
	linux-source-6.12	# the kernel tree we overlay
	gcc libc6-dev make bc flex bison libssl-dev libelf-dev cpio xz-utils
	gcc-aarch64-linux-gnu	# cross compiler, also for the static guest helpers
	libc6-dev-arm64-cross
	ccache
	sparse
	qemu-system-arm		# qemu-system-aarch64
	device-tree-compiler	# dtc, fdtoverlay
	python3 python3-pytest python3-pexpect
	python3-matplotlib	# the demo's occupancy figure, the benchmark's plot
	git
	python3-ply python3-git	# checkpatch's SPDX check
	python3-venv		# build/dtschema-venv
)

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	as_root apt-get update -qq
	# apt's own lines (Get:, Unpacking, Setting up) show it is working.
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}" |
		awk '/^(Get:|Unpacking|Setting up)/ { print; fflush() }'
fi

bb="$top/build/busybox/bin/busybox"
if [ ! -x "$bb" ]; then
	echo "deps: fetching busybox-static:arm64"
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		as_root dpkg --add-architecture arm64
		as_root apt-get update -qq
	fi
	dl="$top/build/dl"
	rm -rf "$dl" && mkdir -p "$dl"
	(cd "$dl" && apt-get download -qq busybox-static:arm64 2>/dev/null ||
		{ as_root apt-get update -qq && apt-get download -qq busybox-static:arm64; })
	rm -rf "$top/build/busybox"
	dpkg-deb -x "$dl"/busybox-static_*_arm64.deb "$top/build/busybox"
	test -x "$bb" || { echo "deps: busybox not found in the package" >&2; exit 1; }
fi

# dtschema, for the kernel's own "make dt_binding_check". Debian 12's
# dt-schema (2022.08) is older than the 2023.9 that 6.12's
# Documentation/devicetree/bindings/Makefile requires. 2024.11 is the
# release of 6.12's time: newer ones add meta-schema rules that 6.12's own
# bindings predate. Every dependency is pinned as well (--no-deps), so a
# fresh machine validates with exactly what this list says.
dtschema=(
	dtschema==2024.11 jsonschema==4.17.3 pyrsistent==0.20.0 attrs==26.1.0
	ruamel.yaml==0.19.1 rfc3987==1.3.8 pylibfdt==1.7.2.post2 PyYAML==6.0.4
	yamllint==1.38.0 pathspec==1.1.1
)
venv=$top/build/dtschema-venv
if [ -n "$want_dtschema" ] &&
   [ "$(cat "$venv/.pins" 2>/dev/null)" != "${dtschema[*]}" ]; then
	echo "deps: installing ${dtschema[0]} from PyPI into build/dtschema-venv"
	rm -rf "$venv"
	python3 -m venv "$venv"
	if ! "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "${dtschema[@]}" ||
	   ! "$venv/bin/pip" check -q --disable-pip-version-check; then
		rm -rf "$venv"
		echo "deps: cannot install ${dtschema[0]} from PyPI. Only the check command needs it, for the kernel's dt_binding_check of the binding; the demo, the tests and the benchmark do not." >&2
		exit 1
	fi
	echo "${dtschema[*]}" > "$venv/.pins"
fi
