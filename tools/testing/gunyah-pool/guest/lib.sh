# SPDX-License-Identifier: GPL-2.0-only
#
# Helpers for guest test scripts; sourced by /init and at the top of every
# /test.sh. The host parses the "@@GPOOL" lines from the console.

P=/sys/kernel/gunyah/pool
D=/sys/kernel/debug/gunyah_pool

# mark WORDS...: one result line.
mark() { echo "@@GPOOL $*" > /dev/kmsg; }

# kv NAME VALUE: a named value for the host.
kv() { mark "kv $1=$2"; }

# dump NAME CMD...: every line CMD prints, in order, under NAME.
dump() {
	_n=$1; shift
	"$@" 2>&1 | while IFS= read -r _l; do
		echo "@@GPOOL dump $_n|$_l" > /dev/kmsg
	done
}

# snap PREFIX: every sysfs file of the pool as PREFIX.FILE=VALUE.
snap() {
	for _f in $P/* $P/stats/*; do
		[ -f "$_f" ] && kv "$1.${_f#$P/}" "$(cat "$_f")"
	done
}

# try NAME CMD...: run CMD, report its exit status as NAME.
try() { _n=$1; shift; "$@" > /dev/null 2>&1; kv "$_n" $?; }
