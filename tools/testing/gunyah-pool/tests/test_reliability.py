# SPDX-License-Identifier: GPL-2.0-only
"""Under load, faults and racing operators the pool keeps working and loses
nothing: an in-kernel stress with 1, 2 and 4 threads whose books must match
the pool's counters; a fail-nth sweep that fails every step of every
workload operation and sysfs store in turn, each time checking that the pool
is as it was; and a soak with the pool's fault points firing 10% of the
time while the stress runs."""
import pytest

from gpool import harness

# Operations per stress run: as many as fit comfortably in each lane.
STRESS_OPS = {'default': 1_000_000, 'kasan': 20_000, 'kasan-pagealloc': 10_000,
              'kcsan': 200_000}

TUNABLES = ['min_size_bytes', 'max_size_bytes', 'low_watermark_bytes',
            'high_watermark_bytes', 'overcommit_ratio']

OVERLAYS = {'no-map': harness.DEFAULT_OVERLAY,
            'reusable': 'qemu-virt-gunyah-pool-reusable.dtso'}

SCRIPT = r'''
H=/bin/gpool-helper
C=/sys/kernel/mm/cma/gunyah-pool@50000000
fault_setup

# The pool's state a failed step must leave as it found it: its books,
# its blocks, every tunable. The peak only where it is the step's subject:
# a block taken for a failed allocation was out of the pool for a moment,
# and the peak may say so. Read with shell builtins only, into STATE: a
# sweep reads it twice per step, and a fork is slow under KASAN.
lines() {	# lines FILE: its line count, into v
	v=0
	while read -r _l; do v=$((v + 1)); done < $1
}
state() {
	STATE=
	for f in used_bytes committed_bytes @RW@ size_bytes; do
		read -r v < $P/$f; STATE="$STATE ${f%_bytes}=$v"
	done
	if [ -n "${PEAK:-}" ]; then read -r v < $P/peak_used_bytes; STATE="$STATE peak=$v"; fi
	lines $D/blocks; STATE="$STATE blocks=$v"
	lines $D/vms; STATE="$STATE vms=$v"
	read -r v < $D/validate; STATE="$STATE valid=$v"
	if [ -d $C ]; then
		read -r a < $C/alloc_pages_success; read -r v < $C/release_pages_success
		STATE="$STATE cma=$((a - v))"
	fi
}

# sweep NAME FILE DATA UNDO: fail the Nth fault point of the step for
# N = 1, 2, ... until a run injects nothing. After a failed run the state
# must equal the state before; after a successful one UNDO restores it.
sweep() {
	n=1; bad=0; injected=0
	while [ $n -le 300 ]; do
		state; before=$STATE
		r=$($H failnth $n $2 "$3")
		case "$r" in ok:*) eval "$4" ;; esac
		state; after=$STATE
		if [ "$before" != "$after" ]; then
			bad=$((bad + 1))
			mark "sweep $1 n=$n result=$r before=[$before] after=[$after]"
		fi
		[ "${r##* }" = 1 ] || break
		injected=$((injected + 1))
		n=$((n + 1))
	done
	kv "sweep.$1" "injected=$injected mismatches=$bad last=${r% *}"
}

# A reusable pool grows on demand and keeps what it grew: start it with
# room, so these steps do not grow it (growing has its own steps below).
[ "$(cat $P/mode)" = reusable ] && echo 16777216 > $P/min_size_bytes
sweep alloc $D/alloc '0 zero' 'echo > $D/free_all'
sweep alloc4 $D/alloc '4 zero' 'echo > $D/free_all'
sweep vm $D/vm 'create 7 256' 'echo "destroy 7" > $D/vm'
sweep reserve $D/reserve 65536 'echo 65536 > $D/unreserve'
sweep workload $D/workload '1 2 50 3' ':'
# Stores that change the pool, each undone by storing the old value; in
# a reusable pool, raising min_size_bytes grows it by a chunk. The peak is
# raised to 1 MiB first, and raised again to undo its reset.
tunable() {	# tunable FILE NEW [MORE UNDO]
	sweep "sysfs.$1" $P/$1 "$2" "echo $(cat $P/$1) > $P/$1; ${3:-:}"
}
# A pool keeps what it grew until free memory passes the high watermark.
settle() {
	h=$(cat $P/high_watermark_bytes)
	echo 0 > $P/high_watermark_bytes
	echo $h > $P/high_watermark_bytes
}
tunable min_size_bytes 20971520 settle
tunable max_size_bytes 25165824
tunable low_watermark_bytes 1048576
tunable high_watermark_bytes 16777216
tunable overcommit_ratio 150
peak() { echo 0 > $P/peak_used_bytes; echo 8 > $D/alloc; echo > $D/free_all; }
peak
PEAK=1 sweep sysfs.peak_used_bytes $P/peak_used_bytes 0 peak
if [ "$(cat $P/mode)" = reusable ]; then
	# Grow by a chunk (CMA, unmap) and shrink by one (remap), from a pool of
	# exactly two chunks and three.
	echo 8388608 > $P/min_size_bytes
	echo 0 > $P/high_watermark_bytes
	echo 67108864 > $P/high_watermark_bytes
	sweep grow $P/min_size_bytes 12582912 'echo 8388608 > $P/min_size_bytes; echo 0 > $P/high_watermark_bytes; echo 67108864 > $P/high_watermark_bytes'
	echo 12582912 > $P/min_size_bytes
	echo 8388608 > $P/min_size_bytes
	sweep shrink $P/high_watermark_bytes 0 'echo 67108864 > $P/high_watermark_bytes; echo 12582912 > $P/min_size_bytes; echo 8388608 > $P/min_size_bytes'
	echo 67108864 > $P/high_watermark_bytes
	echo 0 > $P/min_size_bytes
fi
state; kv sweep.end "$STATE"
kvc mode cat $P/mode
# What the sweeps leaked, before the stress runs (the harness scans again
# after the soak).
leakscan

# Stress with 1, 2 and 4 threads, then with the fault points firing 10%.
for t in 1 2 4; do
	echo "$t @OPS@ $((1000 + t))" > $D/stress
	kvc "stress.$t" cat $D/stress
done
# Each point may fire TIMES times; what is left of that says how often
# it did.
TIMES=1000000000
for f in $D/fail_*; do
	echo 10 > $f/probability; echo $TIMES > $f/times; echo 1 > $f/interval
done
# A reusable pool starts the soak empty, so that it grows under faults.
if [ "$(cat $P/mode)" = reusable ]; then
	echo 0 > $P/low_watermark_bytes
	settle
fi
echo "4 @SOAK@ 77" > $D/stress
kvc soak cat $D/stress
for f in $D/fail_*; do
	echo 0 > $f/probability
	kv "soak.injected.${f##*/}" $((TIMES - $(cat $f/times)))
done
state; kv soak.end "$STATE"
kvc counters cat $D/counters
'''


def fields(text):
    return dict(kv.split('=', 1) for kv in text.split() if '=' in kv)


@pytest.fixture(scope='module', params=OVERLAYS)
def b(lane, request):
    ops = STRESS_OPS[lane]
    script = (SCRIPT.replace('@OPS@', str(ops)).replace('@SOAK@', str(ops // 4))
              .replace('@RW@', ' '.join(TUNABLES)))
    return harness.boot(f'reliability-{request.param}', script,
                        overlay=OVERLAYS[request.param], lane=lane, timeout=240,
                        leakscan=True)


def sweeps(b):
    return {k[len('sweep.'):]: fields(v) for k, v in b.kv.items()
            if k.startswith('sweep.') and k != 'sweep.end'}


def test_fault_sweep_leaves_the_pool_as_it_was(b):
    s = sweeps(b)
    assert {'alloc', 'alloc4', 'vm', 'reserve', 'workload'} <= set(s)
    assert {f'sysfs.{f}' for f in TUNABLES + ['peak_used_bytes']} <= set(s)
    # The mode the overlay asks for booted; a reusable pool's sweeps
    # include growing and shrinking.
    mode = 'reusable' if 'reusable' in b.name else 'no-map'
    assert b.kv['mode'] == mode
    if mode == 'reusable':
        assert {'grow', 'shrink'} <= set(s)
    bad = {k: v for k, v in s.items() if v['mismatches'] != '0'}
    assert not bad, '\n'.join(m for m in b.marks if m.startswith('sweep '))
    total = sum(int(v['injected']) for v in s.values())
    harness.note(f'fault sweep [{b.name}]: {total} faults injected over {len(s)} steps: ' +
          ', '.join(f'{k}={v["injected"]}' for k, v in sorted(s.items())))
    # Every step but a reservation (pure accounting, nothing to fail) met
    # fault points, and every step finally succeeded.
    for k, v in s.items():
        assert int(v['injected']) >= (k != 'reserve'), k
        assert v['last'].startswith('ok:'), (k, v)
    end = fields(b.kv['sweep.end'])
    assert end['used'] == '0' and end['committed'] == '0' and end['valid'] == 'ok'


@pytest.mark.parametrize('threads', [1, 2, 4])
def test_stress(b, lane, threads):
    r = fields(b.kv[f'stress.{threads}'])
    harness.note(f'stress [{b.name}]: {threads} threads, {r["ops"]} operations, seed {r["seed"]}: '
          f'{r["allocs"]} allocs, {r["frees"]} frees, {r["fails"]} refused, '
          f'{r["reserves"]} reservations in {int(r["ns"]) / 1e9:.2f} s')
    # Every operation ran (none cut short by an error), and an allocation
    # or reservation was refused only for want of memory.
    assert r['err'] == '0' and int(r['done']) == STRESS_OPS[lane] // threads * threads
    assert r['books'] == 'ok' and r['validate'] == 'ok'
    assert int(r['allocs']) > int(r['ops']) // 4
    # The peak is of what callers held: never above every thread at its most.
    assert 0 < int(r['peak']) <= int(r['peak_bound'])


def test_soak_with_faults_loses_nothing(b, lane):
    r = fields(b.kv['soak'])
    injected = {k.rsplit('.', 1)[1]: int(v) for k, v in b.kv.items()
                if k.startswith('soak.injected.')}
    harness.note(f'soak [{b.name}]: {r["ops"]} operations with fault points at 10%: '
                 f'{r["fails"]} allocations refused, faults injected: ' +
                 ', '.join(f'{k}={v}' for k, v in sorted(injected.items())))
    assert r['err'] == '0' and r['books'] == 'ok' and r['validate'] == 'ok'
    assert int(r['done']) == int(r['ops']) // 4 * 4
    # The pool's own fault points fired (zeroing, thousands of times; the
    # reusable pool's few growths meet theirs by chance, and the sweeps
    # above show that each fires), and allocations were refused for them.
    assert injected['fail_zero'] > 0, injected
    assert int(r['fails']) > 0
    end = fields(b.kv['soak.end'])
    assert end['used'] == '0' and end['committed'] == '0' and end['valid'] == 'ok'
    assert 'quarantined=0' in b.kv['counters']
