#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Usage: scripts/gunyah-pool/build-kernel.sh [--config-only] [--objdir DIR] [LANE]
#
# Configure and build arm64 Image for a lane, printing a progress line (objects
# built, time) at least every 30 seconds.
#
# A lane is tools/testing/gunyah-pool/configs/base.config, plus LANE.config
# for any lane but "default"; LANE may also be the path of a fragment. A
# fragment's "# base: OTHER" lines merge OTHER.config before it (the 16k lane
# is the pkvm lane with 16 KiB pages). The base goes through allnoconfig, the
# lane's fragments are merged on top with olddefconfig, and every option
# requested (the last fragment to name one wins) is then compared with the
# final .config: one that did not stick
# (usually a dependency the fragment does not enable) fails the build by
# name. A fragment's "# make: VAR=value ..." lines are passed to make (the
# kcsan lane instruments only the pool's objects that way). Each lane has its
# own O= directory, build/linux/obj-LANE (or --objdir), and configuration is redone only
# when its inputs change, so make rebuilds only what changed. An O= directory
# directly inside the source tree makes kbuild use relative paths only, so
# ccache serves one clone's objects to another.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '4,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac

config_only=
objdir=
while [ $# -gt 0 ]; do
	case "$1" in
	--config-only) config_only=1; shift ;;
	--objdir) objdir=$2; shift 2 ;;
	*) break ;;
	esac
done
lane=${1:-default}
top=$(cd "$(dirname "$0")/../.." && pwd)
tree=$top/build/linux
cfgdir=$top/tools/testing/gunyah-pool/configs

die() { echo "build-kernel: $*" >&2; exit 1; }

fragments=("$cfgdir/base.config")
if [ -f "$lane" ]; then
	frag=$(realpath "$lane")
	lane=$(basename "$lane" .config)
elif [ "$lane" != default ]; then
	[ -f "$cfgdir/$lane.config" ] || die "no lane '$lane' ($cfgdir/$lane.config)"
	frag=$cfgdir/$lane.config
fi
if [ -n "${frag:-}" ]; then
	# "# base: LANE" builds on another lane's fragment (one level).
	for b in $(sed -n 's/^# base: //p' "$frag"); do
		[ -f "$cfgdir/$b.config" ] || die "$frag: no base lane '$b'"
		fragments+=("$cfgdir/$b.config")
	done
	fragments+=("$frag")
fi
out=${objdir:-$tree/obj-$lane}

"$top/scripts/gunyah-pool/prepare-tree.sh"

cc="aarch64-linux-gnu-gcc"
command -v ccache >/dev/null && cc="ccache $cc"
kmake=(make -C "$tree" O="$out" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-
       CC="$cc" -j"$(nproc)" -s)
# A fragment's "# make: VAR=value ..." lines are extra make arguments.
read -r -a make_args <<< "$(sed -n 's/^# make: //p' "${fragments[@]}" | tr '\n' ' ')"
kmake+=("${make_args[@]}")

# Configuration inputs: the fragments, every Kconfig of ours, the patches.
stamp=$( (cat "${fragments[@]}"; cd "$top" && find drivers patches -type f \
	 \( -name 'Kconfig*' -o -name '*.patch' \) -print0 | LC_ALL=C sort -z |
	 xargs -0 cat) | sha256sum | cut -d' ' -f1)
mkdir -p "$out"
if [ ! -f "$out/.config" ] || [ "$(cat "$out/.gunyah-pool-config" 2>/dev/null)" != "$stamp" ]; then
	echo "build-kernel: configuring lane $lane"
	KCONFIG_ALLCONFIG="${fragments[0]}" "${kmake[@]}" allnoconfig >/dev/null
	if [ ${#fragments[@]} -gt 1 ]; then
		"$tree/scripts/kconfig/merge_config.sh" -m -O "$out" \
			"$out/.config" "${fragments[@]:1}" >/dev/null
		"${kmake[@]}" olddefconfig >/dev/null
	fi

	# Requested versus final: fail on every option that did not stick.
	bad=0
	while read -r opt want; do
		have=$(sed -n "s/^$opt=//p" "$out/.config")
		[ -n "$have" ] || have=n
		if [ "$have" != "$want" ]; then
			echo "build-kernel: $opt requested '$want' but the final .config has '$have' (a missing dependency?)" >&2
			bad=1
		fi
	done < <(cat "${fragments[@]}" | sed -n \
		-e 's/^\(CONFIG_[A-Za-z0-9_]*\)=\(.*\)$/\1 \2/p' \
		-e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1 n/p' |
		awk '{ want[$1] = $2; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
		     END { for (i = 0; i < n; i++) print order[i], want[order[i]] }')
	[ $bad -eq 0 ] || { rm -f "$out/.gunyah-pool-config"; die "lane $lane: configuration incomplete"; }
	echo "$stamp" > "$out/.gunyah-pool-config"
fi

[ -z "$config_only" ] || exit 0
# make's quiet lines ("  CC  file") become a count, printed with the time
# at least every 30 seconds (25, plus up to one 5-second read), also while
# make is silent (linking); anything else (warnings, errors) is passed
# through.
progress() {
	local n=0 start=$SECONDS last=$SECONDS line rc
	while :; do
		if IFS= read -r -t 5 line; then
			case "$line" in
			"  "[A-Z]*) n=$((n + 1)) ;;
			*": Entering directory "*|*": Leaving directory "*) ;;
			*) printf '%s\n' "$line" ;;
			esac
		else
			rc=$?
			[ $rc -gt 128 ] || break	# end of input, not a timeout
		fi
		if [ $((SECONDS - last)) -ge 25 ]; then
			last=$SECONDS
			printf 'build-kernel: lane %s: %d steps done, %d:%02d elapsed\n' \
				"$lane" $n $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))
		fi
	done
	printf 'build-kernel: lane %s: %d steps in %d:%02d\n' \
		"$lane" $n $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))
}

echo "build-kernel: building lane $lane"
verbose=()
for a in "${kmake[@]}"; do [ "$a" = -s ] || verbose+=("$a"); done
# With modules, "modules" also writes Module.symvers, which out-of-tree
# modules (tools/testing/gunyah-pool/modules/) link against.
targets=(Image)
grep -q '^CONFIG_MODULES=y' "$out/.config" && targets+=(modules)
"${verbose[@]}" "${targets[@]}" 2>&1 | progress
echo "build-kernel: $out/arch/arm64/boot/Image"
