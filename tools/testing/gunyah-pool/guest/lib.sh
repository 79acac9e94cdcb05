# SPDX-License-Identifier: GPL-2.0-only
#
# Helpers for guest test scripts; sourced by /init and at the top of every
# /test.sh. The host parses the "@@GPOOL" lines from the console.

P=/sys/kernel/gunyah/pool
D=/sys/kernel/debug/gunyah_pool
# The kernel's PAGE_SIZE (4 KiB, or 16 KiB in the 16k lane).
: "${PAGE:=$(/bin/gpool-helper pagesize)}"
export PAGE

# mark WORDS...: one result line.
mark() { echo "@@GPOOL $*" > /dev/kmsg; }

# kv NAME VALUE: a named value for the host.
kv() { mark "kv $1=$2"; }

# kvc NAME CMD...: what CMD prints, as NAME. A failing CMD fails kvc, and so
# stops the script (set -e) where "kv NAME \"$(CMD)\"" would report an empty
# value and go on.
kvc() {
	_n=$1; shift
	_v=$("$@") || return
	kv "$_n" "$_v"
}

# dump NAME CMD...: every line CMD prints, in order, under NAME (cut to
# 900 bytes: /dev/kmsg refuses a record of more than 1 KiB); CMD's exit
# status, so that a failing CMD stops the script.
dump() {
	_n=$1; shift
	_rc=0
	"$@" > /tmp/.dump 2>&1 || _rc=$?
	while IFS= read -r _l; do
		printf '@@GPOOL dump %s|%.900s\n' "$_n" "$_l" > /dev/kmsg
	done < /tmp/.dump
	return $_rc
}

# snap PREFIX: every sysfs file of the pool as PREFIX.FILE=VALUE.
snap() {
	for _f in $P/* $P/stats/*; do
		if [ -f "$_f" ]; then kvc "$1.${_f#$P/}" cat "$_f"; fi
	done
}

# try NAME CMD...: run CMD, report its exit status as NAME for the test to
# assert; a failure does not stop the script. A CMD that could not be run at
# all (126, 127: not executable, not found) is a broken script, not a result:
# that status is returned, and stops it.
try() {
	_n=$1; shift
	_rc=0
	"$@" > /dev/null 2>&1 || _rc=$?
	kv "$_n" $_rc
	case $_rc in 126|127) return $_rc ;; esac
}

# on_exit RC LINE: /test.sh's exit trap. A script runs with "set -e" and
# stops at its first failing command; this says where, for the host.
on_exit() {
	[ "$1" = 0 ] || mark "failed rc=$1 line=$2"
}

# leakclear: scan, then forget what the scan found (clear greys only the
# objects a scan has reported): what boot leaked is not the script's. The
# harness runs it before a script whose leaks it scans for.
leakclear() {
	if [ -e /sys/kernel/debug/kmemleak ]; then
		echo scan > /sys/kernel/debug/kmemleak
		echo clear > /sys/kernel/debug/kmemleak
	fi
}

# leakscan: where the kernel has kmemleak, scan twice (it ignores objects
# younger than 5 s) and copy its report to the console, where the host fails
# the boot on it. "kv kmemleak" says "on" (both scans ran), "off" (kmemleak
# turned itself off: a scan is refused) or "absent".
leakscan() {
	_k=/sys/kernel/debug/kmemleak
	if [ ! -e $_k ]; then
		kv kmemleak absent
		return 0
	fi
	if ! echo scan 2> /dev/null > $_k || ! sleep 6 ||
	   ! echo scan 2> /dev/null > $_k; then
		kv kmemleak off
		return 0
	fi
	while IFS= read -r _l; do
		echo "kmemleak: $_l" > /dev/kmsg
	done < $_k
	kv kmemleak on
}

# trace_on: record the pool's tracepoints (tracefs), from an empty buffer.
trace_on() {
	echo > /sys/kernel/tracing/trace
	echo 1 > /sys/kernel/tracing/events/gunyah_pool/enable
}

# trace_off NAME: stop recording; the records, and each event's format, go
# to the host under NAME and NAME.fmt.
trace_off() {
	echo 0 > /sys/kernel/tracing/events/gunyah_pool/enable
	dump "$1" sed -n '/ gunyah_pool_/p' /sys/kernel/tracing/trace
	for _e in /sys/kernel/tracing/events/gunyah_pool/*/format; do
		dump "$1.fmt" grep -E '^name:|field:' "$_e"
	done
}

# fault_setup: failslab and fail_page_alloc fail sleeping allocations too,
# of every order, and no fault point prints a stack when it fires; for
# fail-nth sweeps (NOTES: both skip sleeping allocations by default).
fault_setup() {
	for _f in failslab fail_page_alloc; do
		echo N > /sys/kernel/debug/$_f/ignore-gfp-wait
		echo 0 > /sys/kernel/debug/$_f/verbose
	done
	echo 0 > /sys/kernel/debug/fail_page_alloc/min-order
	for _f in $D/fail_*; do echo 0 > $_f/verbose; done
}
