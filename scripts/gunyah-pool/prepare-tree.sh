#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Usage: [GUNYAH_POOL_KERNEL_SRC=TREE] scripts/gunyah-pool/prepare-tree.sh
#
# Make build/linux: a Linux 6.12 tree with the repository's kernel files
# overlaid and patches/*.patch applied in name order, then the test-only
# code of tools/testing/gunyah-pool/kernel/ (new files, and patches applied
# after the product's), which the series leaves out and the lanes build.
#
# The pristine tree is extracted once into build/linux-pristine, from
# $GUNYAH_POOL_KERNEL_SRC (a tarball or a directory; default Debian's
# /usr/src/linux-source-6.12.tar.xz). A re-run rewrites only files whose
# content changed, so make rebuilds only what changed, and a re-run on an
# overlaid tree is a no-op. A patch that does not apply is an error naming it.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '4,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac

top=$(cd "$(dirname "$0")/../.." && pwd)
testkernel=$top/tools/testing/gunyah-pool/kernel
src=${GUNYAH_POOL_KERNEL_SRC:-/usr/src/linux-source-6.12.tar.xz}
pristine=$top/build/linux-pristine
tree=$top/build/linux
overlay_dirs=(arch Documentation drivers include)

die() { echo "prepare-tree: $*" >&2; exit 1; }

# Write $2 from $1 only if the content differs; never write through a hard
# link into the pristine tree.
sync_file() {
	if ! cmp -s "$1" "$2"; then
		mkdir -p "$(dirname "$2")"
		rm -f "$2"
		cp "$1" "$2"
	fi
}

if [ ! -f "$pristine/.extracted" ]; then
	rm -rf "$pristine" "$tree" "$top/build/extract"
	mkdir -p "$top/build/extract"
	if [ -d "$src" ]; then
		echo "prepare-tree: copying $src"
		cp -a "$src/." "$top/build/extract/"
		mv "$top/build/extract" "$pristine"
	elif [ -f "$src" ]; then
		echo "prepare-tree: extracting $src"
		tar -xf "$src" -C "$top/build/extract"
		one=$(find "$top/build/extract" -mindepth 1 -maxdepth 1)
		[ "$(echo "$one" | wc -l)" -eq 1 ] || die "$src has more than one top directory"
		mv "$one" "$pristine"
		rmdir "$top/build/extract"
	else
		die "no kernel source at $src (set GUNYAH_POOL_KERNEL_SRC)"
	fi
	grep -q '^PATCHLEVEL = 12$' "$pristine/Makefile" ||
		die "$src is not a Linux 6.12 tree"
	touch "$pristine/.extracted"
fi

if [ ! -d "$tree" ]; then
	# Hard links: a second tree for the cost of its directories.
	cp -al "$pristine" "$tree"
	rm -f "$tree/.extracted"
fi

shopt -s nullglob
patches=("$top"/patches/*.patch)
test_patches=("$testkernel"/patches/*.patch)
touched_by() { cat /dev/null "$@" | sed -n 's#^+++ b/\([^[:space:]]*\).*#\1#p' | LC_ALL=C sort -u; }
touched=$(touched_by "${patches[@]}" "${test_patches[@]}")

# Where a new file comes from: the product's, else the test-only code's.
origin() {
	if [ -e "$top/$1" ]; then echo "$top/$1"; else echo "$testkernel/$1"; fi
}

# New files: copied as they are, unless a test-only patch changes them
# (below). They must not exist upstream; edits to upstream files belong in
# patches/.
manifest=$tree/.gunyah-pool-files
new_manifest=$(mktemp)
trap 'rm -f "$new_manifest"' EXIT
for d in "${overlay_dirs[@]}"; do
	if [ -d "$top/$d" ]; then (cd "$top" && find "$d" -type f); fi
	if [ -d "$testkernel/$d" ]; then (cd "$testkernel" && find "$d" -type f); fi
done | LC_ALL=C sort > "$new_manifest"
[ -z "$(uniq -d "$new_manifest")" ] ||
	die "in the product and in the test-only code: $(uniq -d "$new_manifest" | tr '\n' ' ')"
while read -r f; do
	[ -e "$pristine/$f" ] && die "$f exists upstream; change it with a patch in patches/"
	printf '%s\n' $touched | grep -qxF "$f" || sync_file "$(origin "$f")" "$tree/$f"
done < "$new_manifest"
# Files dropped from the repository since the last run leave the tree too.
if [ -f "$manifest" ]; then
	comm -23 "$manifest" "$new_manifest" | while read -r f; do rm -f "$tree/$f"; done
fi
cp "$new_manifest" "$manifest"

# Patches: apply the product's, then the test-only ones, to pristine copies
# of the upstream files and to copies of the new files they touch, then sync
# the results into the tree.
stage=$top/build/patch-stage
rm -rf "$stage" && mkdir -p "$stage"
for f in $touched; do
	if [ -e "$pristine/$f" ]; then
		mkdir -p "$stage/$(dirname "$f")"
		cp "$pristine/$f" "$stage/$f"
	elif grep -qxF "$f" "$new_manifest"; then
		mkdir -p "$stage/$(dirname "$f")"
		cp "$(origin "$f")" "$stage/$f"
	fi
done
for p in "${patches[@]}" "${test_patches[@]}"; do
	if ! out=$(patch -p1 -d "$stage" -f -s --fuzz=0 --no-backup-if-mismatch < "$p" 2>&1); then
		echo "$out" >&2
		die "patch $(basename "$p") does not apply to $(basename "$src")"
	fi
done
for f in $touched; do
	if [ -e "$stage/$f" ]; then
		sync_file "$stage/$f" "$tree/$f"
	fi
done
# A file a patch touched before and no longer does goes back to pristine.
pmanifest=$tree/.gunyah-pool-patched
if [ -f "$pmanifest" ]; then
	comm -23 "$pmanifest" <(printf '%s\n' $touched) | while read -r f; do
		if [ -e "$pristine/$f" ]; then sync_file "$pristine/$f" "$tree/$f"; fi
	done
fi
printf '%s\n' $touched > "$pmanifest"
echo "prepare-tree: $tree ready ($(wc -l < "$manifest") new files, ${#patches[@]} patches, ${#test_patches[@]} test-only)"
