# SPDX-License-Identifier: GPL-2.0-only
"""Reusable (CMA) mode: the pool takes 4 MiB chunks from a CMA area only when
it needs them and gives them back; Linux uses the idle region for movable
pages; watermarks refill and drain it; hibernation is refused while it holds
memory. All of it with rodata=full (the whole linear map page by page) and
with rodata=on (only the pool's region page by page, patches/0008-*)."""
import re

import pytest

from gpool import harness

MiB = 1 << 20
CHUNK = 4 * MiB
CAP = 64 * MiB
OVERLAY = 'qemu-virt-gunyah-pool-reusable.dtso'
AREA = 'gunyah-pool@50000000'



def overlay(lane):
    """64 MiB, 16 chunks of 4 MiB; with 16 KiB pages 256 MiB, 16 chunks of
    16 MiB (and aligned to a 32 MiB pageblock)."""
    if harness.lane_page_size(lane) == 16384:
        return 'qemu-virt-gunyah-pool-reusable-16k.dtso'
    return OVERLAY


SCRIPT = r'''
H=/bin/gpool-helper
# Sizes are for 4 KiB pages, times K: a region of as many chunks with
# larger pages.
K=$((PAGE / 4096))
C=/sys/kernel/mm/cma/@AREA@
state() {
	snap $1
	kv $1.cmafree $(awk '/^CmaFree:/ { print $2 * 1024 }' /proc/meminfo)
	kv $1.cma_alloc $(cat $C/alloc_pages_success)
	kv $1.cma_release $(cat $C/release_pages_success)
	kvc $1.validate cat $D/validate
}
# wait_until EXPR [SECONDS]: poll a shell test, for up to 30 s by default.
wait_until() {
	for i in $(seq $(( ${2:-30} * 2 ))); do eval "$1" && return 0; sleep 0.5; done
	return 1
}
free_b() { cat $P/free_bytes; }

state boot
# A reservation is accounting only: it takes no chunk from CMA.
echo 8388608 > $D/reserve
state reserved
echo 8388608 > $D/unreserve
trace_on
# GFP_NOWAIT never grows the pool; GFP_KERNEL grows it by one chunk.
try nowait sh -c "echo '0 nowait' > $D/alloc"
state nowait
echo 0 > $D/alloc
state grown
dump map cat $D/map

# Hibernation is refused while the pool holds a chunk.
echo freezer > /sys/power/pm_test
kvc hib.pooled $H write /sys/power/state disk

# Freed and drained (high watermark 0), the chunk goes back to CMA.
echo > $D/free_all
echo 0 > $P/high_watermark_bytes
state drained
kvc hib.empty $H write /sys/power/state disk
echo none > /sys/power/pm_test

# Watermarks: below 8 MiB free, refill to 16 MiB free.
echo $((16777216 * K)) > $P/high_watermark_bytes
echo $((8388608 * K)) > $P/low_watermark_bytes
state refilled
for i in 1 2 3; do echo 10 > $D/alloc; done
kv refill.wait "$(wait_until '[ $(free_b) -ge $((16777216 * K)) ]' && echo 0 || echo $?)"
state refill2
echo > $D/free_all
kv drain.wait "$(wait_until '[ $(free_b) -lt $((20971520 * K)) ]' && echo 0 || echo $?)"
state drain2

# Idle, the region serves movable pages; the pool still takes a chunk back.
echo 0 > $P/low_watermark_bytes
echo 0 > $P/high_watermark_bytes
state idle
eat=$(( $(awk '/^MemFree:/ { print int($2 / 1024) }' /proc/meminfo) - 48 ))
$H eat $eat 600 > /tmp/eat &
pid=$!
# Faulting in ~900 MiB takes minutes with debug_pagealloc and page_poison.
kv eat.wait "$(wait_until 'grep -q eaten /tmp/eat' 400 && echo 0 || echo $?)"
state eaten
try eat.alloc sh -c "echo 10 > $D/alloc"
state eatgrow
kill $pid 2> /dev/null || :; wait $pid || :
echo > $D/free_all
state end

# Bounds. Never grown above max_size_bytes: with 8 MiB, a third 4 MiB
# block is refused. Never shrunk below min_size_bytes: with 8 MiB and the
# high watermark 0, 8 MiB stay. Emptied, then a growth CMA refuses is
# counted and traced.
echo 0 > $P/high_watermark_bytes
echo $((67108864 * K)) > $P/high_watermark_bytes
echo $((8388608 * K)) > $P/max_size_bytes
for i in 1 2 3; do try "max.alloc$i" sh -c "echo 10 > $D/alloc"; done
state max
echo > $D/free_all
echo $((67108864 * K)) > $P/max_size_bytes
echo $((8388608 * K)) > $P/min_size_bytes
echo 0 > $P/high_watermark_bytes
state min
echo 0 > $P/min_size_bytes
echo 0 > $P/high_watermark_bytes
echo $((67108864 * K)) > $P/high_watermark_bytes
state empty
F=$D/fail_cma
echo 0 > $F/verbose; echo 1 > $F/interval; echo 1 > $F/times
echo 100 > $F/probability
try growfail.alloc sh -c "echo 0 > $D/alloc"
echo 0 > $F/probability
state growfail
# A growth whose unmap fails, and whose mapping back fails too: the chunk is
# wholly out of the linear map still, so the pool keeps it, and nothing is
# quarantined.
for f in $D/fail_unmap $D/fail_remap; do
	echo 0 > $f/verbose; echo 1 > $f/interval; echo 1 > $f/times
	echo 100 > $f/probability
done
try double.alloc sh -c "echo 0 > $D/alloc"
echo 0 > $D/fail_unmap/probability; echo 0 > $D/fail_remap/probability
state double
kvc double.counters cat $D/counters
echo > $D/free_all
trace_off trace
'''


@pytest.fixture(scope='module', params=['full', 'on'])
def b(lane, request):
    if request.param == 'on' and lane == 'kasan-pagealloc':
        pytest.skip('debug_pagealloc maps the whole linear map page by page')
    return harness.boot('reusable' + ('' if request.param == 'full' else '-rodata-on'),
                        SCRIPT.replace('@AREA@', AREA), overlay=overlay(lane), lane=lane,
                        timeout=120, append=f'rodata={request.param}',
                        leakscan=True)


def n(b, key):
    return int(b.kv[key])


# With 16 KiB pages the region is 4 times larger and holds as many chunks.
def k(b):
    return b.page // 4096


def chunk(b):
    return CHUNK * k(b)


def cap(b):
    return CAP * k(b)


def test_ready_reusable_and_empty(b):
    assert b.lines(rf'gunyah_pool: {AREA}: 0x0*50000000\.\.0x0*{REGION + cap(b) - 1:x} '
                   rf'\({cap(b) >> 20} MiB\), reusable$')
    assert b.kv['boot.mode'] == 'reusable'
    assert n(b, 'boot.capacity_bytes') == cap(b)
    assert n(b, 'boot.size_bytes') == 0
    assert n(b, 'boot.cmafree') == cap(b)


def test_reservation_takes_no_memory(b):
    assert n(b, 'reserved.committed_bytes') == n(b, 'boot.committed_bytes') + 8 * MiB
    for key in ('size_bytes', 'used_bytes', 'cmafree', 'cma_alloc'):
        assert n(b, f'reserved.{key}') == n(b, f'boot.{key}'), key


def test_nowait_never_grows(b):
    assert b.kv['nowait'] == '1'
    assert n(b, 'nowait.size_bytes') == 0
    assert n(b, 'nowait.stats/grow') == 0
    assert n(b, 'nowait.stats/alloc_fail') == 1


def test_grow_takes_one_chunk_from_cma(b):
    assert n(b, 'grown.size_bytes') == chunk(b)
    assert n(b, 'grown.used_bytes') == b.page
    assert n(b, 'grown.stats/grow') == 1
    assert n(b, 'boot.cmafree') - n(b, 'grown.cmafree') == chunk(b)
    assert n(b, 'grown.cma_alloc') - n(b, 'boot.cma_alloc') == chunk(b) // b.page
    assert b.kv['grown.validate'] == 'ok'
    # The map shows one chunk in the pool and the rest left to CMA.
    cells = ''.join(line.split()[1] for line in b.dumps['map'])
    assert cells.count('#') == 1 and cells.count('-') == (cap(b) - chunk(b)) // b.page


def test_drain_returns_the_chunk_to_cma(b):
    assert n(b, 'drained.size_bytes') == 0
    assert n(b, 'drained.stats/shrink') == 1
    # CMA's books move by exactly the chunk. (CmaFree does not show it yet:
    # cma_release() frees page by page onto the per-CPU lists, which do not
    # count as free until they are drained or reused.)
    assert n(b, 'drained.cma_release') - n(b, 'grown.cma_release') == chunk(b) // b.page
    assert b.kv['drained.validate'] == 'ok'


def test_hibernation_refused_while_pooled(b):
    assert b.kv['hib.pooled'] == 'EBUSY'
    assert b.lines(rf'gunyah_pool: {AREA}: hibernation refused')
    assert b.kv['hib.empty'].startswith('ok:'), b.kv['hib.empty']


def test_watermarks_refill_and_drain(b):
    # Setting the low watermark above free memory refills to the high one.
    assert n(b, 'refilled.free_bytes') >= 16 * MiB * k(b)
    assert n(b, 'refilled.size_bytes') == 16 * MiB * k(b)
    # 12 MiB handed out took free below 8 MiB: refilled in the background.
    assert b.kv['refill.wait'] == '0'
    assert n(b, 'refill2.used_bytes') == 12 * MiB * k(b)
    assert n(b, 'refill2.free_bytes') >= 16 * MiB * k(b)
    assert n(b, 'refill2.stats/low_watermark') >= 1
    # All freed: drained to below high + one chunk, not further.
    assert b.kv['drain.wait'] == '0'
    assert 16 * MiB * k(b) <= n(b, 'drain2.free_bytes') < 20 * MiB * k(b)
    assert n(b, 'drain2.stats/shrink') > n(b, 'refill2.stats/shrink')
    assert b.kv['drain2.validate'] == 'ok'
    # Every chunk's moves are seen by CMA, page for page.
    held = n(b, 'drain2.size_bytes')
    assert (n(b, 'drain2.cma_alloc') - n(b, 'drain2.cma_release')) * b.page == held


def test_idle_region_serves_movable_pages(b):
    assert n(b, 'idle.size_bytes') == 0
    assert b.kv['eat.wait'] == '0'
    # A large anonymous allocation spilled into the idle region (usually
    # all of it; once in some 30 boots 12 of 36 MiB)...
    assert n(b, 'eaten.cmafree') < n(b, 'idle.cmafree') - 8 * MiB * k(b)
    # ...and the pool still took a chunk, migrating those pages away.
    assert b.kv['eat.alloc'] == '0'
    assert n(b, 'eatgrow.size_bytes') == chunk(b)
    assert b.kv['eatgrow.validate'] == 'ok'
    assert b.kv['end.validate'] == 'ok'


def test_never_above_max_nor_below_min(b):
    assert [b.kv[f'max.alloc{i}'] for i in (1, 2, 3)] == ['0', '0', '1']
    assert n(b, 'max.size_bytes') == 8 * MiB * k(b) == n(b, 'max.max_size_bytes')
    assert n(b, 'max.stats/alloc_fail') == n(b, 'end.stats/alloc_fail') + 1
    # Not a failed growth: at max_size_bytes the pool does not try.
    assert n(b, 'max.stats/grow_fail') == n(b, 'end.stats/grow_fail')
    assert n(b, 'min.size_bytes') == 8 * MiB * k(b) == n(b, 'min.min_size_bytes')
    assert n(b, 'min.high_watermark_bytes') == 0
    assert n(b, 'empty.size_bytes') == 0
    assert b.kv['min.validate'] == 'ok' and b.kv['empty.validate'] == 'ok'


def test_failed_growth_counted(b):
    assert b.kv['growfail.alloc'] == '1'
    assert n(b, 'growfail.size_bytes') == 0
    assert n(b, 'growfail.stats/grow_fail') == n(b, 'empty.stats/grow_fail') + 1
    assert n(b, 'growfail.stats/alloc_fail') == n(b, 'empty.stats/alloc_fail') + 1
    assert n(b, 'growfail.cma_alloc') == n(b, 'empty.cma_alloc')


def test_unmapped_chunk_kept_when_it_cannot_be_mapped_back(b):
    assert b.kv['double.alloc'] == '0'
    assert n(b, 'double.size_bytes') == chunk(b)
    assert n(b, 'double.stats/grow') == n(b, 'growfail.stats/grow') + 1
    assert 'quarantined=0' in b.kv['double.counters']
    assert b.kv['double.validate'] == 'ok'


def test_alignment_follows_the_page_size(lane):
    """A reusable region aligned to 16 MiB, not 32: with 4 KiB pages a
    pool (a CMA pageblock and a chunk are 4 MiB); with 16 KiB pages one
    message and no pool (a pageblock is 32 MiB), the region back to Linux."""
    dtso = harness.out_dir() / 'reusable-16m.dtso'
    dtso.write_text((harness.DTS_DIR / OVERLAY).read_text()
                    .replace('0x0 0x50000000 0x0 0x4000000', '0x0 0x51000000 0x0 0x3000000')
                    .replace('gunyah-pool@50000000', 'gunyah-pool@51000000'))
    b = harness.boot('reusable-16m', r'''
kv sysfs "$([ -d $P ] && echo present || echo absent)"
kv cmatotal $(awk '/^CmaTotal:/ { print $2 * 1024 }' /proc/meminfo)
''', overlay=dtso, lane=lane, timeout=60)
    refusal = b.lines(r'gunyah_pool: gunyah-pool@51000000: refused: reusable: base '
                      r'0x0*51000000 and size 0x0*3000000 must be aligned to 0x0*2000000$')
    if b.page == 4096:
        assert not refusal
        assert b.kv['sysfs'] == 'present'
        assert b.lines(r'gunyah_pool: gunyah-pool@51000000: .* \(48 MiB\), reusable$')
    else:
        assert len(refusal) == 1, b.dir / 'console.log'
        assert b.kv['sysfs'] == 'absent'
        assert b.kv['cmatotal'] == '0'


def test_grow_and_shrink_traced(b):
    ev = harness.trace_events(b, 'trace')
    grow = [f for e, f in ev if e == 'gunyah_pool_grow']
    shrink = [f for e, f in ev if e == 'gunyah_pool_shrink']
    end = 'double'
    ok = [g for g in grow if g['err'] == '0']
    assert len(ok) == n(b, f'{end}.stats/grow') > 0
    assert len(shrink) == n(b, f'{end}.stats/shrink') > 0
    assert [g['err'] for g in grow if g['err'] != '0'] == ['-12'] * n(b, f'{end}.stats/grow_fail')
    for f in ok + shrink:
        assert f['err'] == '0'
        at = int(f['chunk'], 16)
        assert REGION <= at < REGION + cap(b) and at % chunk(b) == 0, f
        assert int(f['size']) % chunk(b) == 0
    # Sizes step by a chunk: up on a growth, down on a shrink.
    assert all(int(g['size']) >= chunk(b) for g in ok)


# A chunk's moves as the kernel sees them, through kprobe events (the kasan
# lane has them): __change_memory_common() is the arm64 function behind
# set_memory_valid() and friends, and flushes the kernel TLB once per call;
# gunyah_pool_add_range() and gunyah_pool_take_range() are where a chunk
# enters and leaves the pool's allocator.
MOVES = r'''
T=/sys/kernel/tracing
echo 'p:gpool/gpool_flush __change_memory_common start=%x0 size=%x1' > $T/kprobe_events
echo 'p:gpool/gpool_add gunyah_pool_add_range phys=%x1 size=%x2' >> $T/kprobe_events
echo 'p:gpool/gpool_take gunyah_pool_take_range size=%x1' >> $T/kprobe_events
echo > $T/trace
echo 1 > $T/events/gpool/enable
echo 1 > $T/events/gunyah_pool/gunyah_pool_grow/enable
echo 1 > $T/events/gunyah_pool/gunyah_pool_shrink/enable
# One chunk in (an allocation from the empty pool), and out again (freed,
# drained by a high watermark of 0).
echo 0 > $D/alloc
kvc grown cat $P/size_bytes
echo > $D/free_all
echo 0 > $P/high_watermark_bytes
kvc drained cat $P/size_bytes
echo 0 > $T/events/gpool/enable
echo 0 > $T/events/gunyah_pool/enable
dump moves sed -n -E '/ (gpool_[a-z]+|gunyah_pool_grow|gunyah_pool_shrink): /p' $T/trace
'''


def test_a_chunk_moves_with_one_flush_each_way_in_order(lane):
    """Out of the linear map with one TLB flush before the pool may hand out
    any of it; out of the pool before it is mapped again, with one flush
    (SPEC 2). The counts are the kernel's, not the pool's."""
    if lane != 'kasan':
        pytest.skip('kprobe events are in the kasan lane (without '
                    'debug_pagealloc, which flushes for every page)')
    b = harness.boot('reusable-moves', MOVES, overlay=overlay(lane), lane=lane,
                     timeout=120)
    assert (int(b.kv['grown']), int(b.kv['drained'])) == (chunk(b), 0)
    moves = []
    for line in b.dumps['moves']:
        m = re.search(r' (gpool_[a-z]+|gunyah_pool_grow|gunyah_pool_shrink): '
                      r'(.*)', line)
        fields = dict(re.findall(r'(\w+)=(\S+)', m[2]))
        size = int(fields.get('size', '0'), 0)
        moves.append((m[1].replace('gunyah_pool_', '').replace('gpool_', ''),
                      size if m[1] != 'gunyah_pool_grow' else chunk(b)))
    # Nothing else changed the linear map meanwhile: every flush is a chunk's.
    assert moves == [('flush', chunk(b)), ('add', chunk(b)), ('grow', chunk(b)),
                     ('take', chunk(b)), ('flush', chunk(b)), ('shrink', 0)], moves
    # Both flushes are of the chunk's linear alias.
    starts = {line.split('start=')[1].split()[0] for line in b.dumps['moves']
              if 'gpool_flush' in line}
    assert len(starts) == 1, starts


# The linear map as ptdump shows it, at boot, before the pool holds anything.
REGION = 0x50000000


def census(rows, lo, hi):
    """Bytes in 2 MiB blocks, in contiguous ranges and in pages, outside
    [lo, hi)."""
    out = {'PMD': 0, 'CON': 0, 'PTE': 0}
    for start, end, level, attrs in rows:
        for a, z in ((start, min(end, lo)), (max(start, hi), end)):
            if z > a:
                out[level] = out.get(level, 0) + z - a
                if 'CON' in attrs:
                    out['CON'] += z - a
    return out


@pytest.fixture(scope='module')
def ptdumps(lane):
    if lane != 'default':
        pytest.skip('the linear map is counted in the default lane')
    none = harness.empty_overlay()
    # After the linear map is dumped, the pool (where there is one) says its
    # mode and grows by a chunk: it took the region out page by page.
    grow = r'''
if [ -d $P ]; then
	kvc mode cat $P/mode
	echo 0 > $D/alloc
	kvc grown cat $P/size_bytes
fi
'''
    return {k: harness.boot(f'ptdump-{k}', harness.PTDUMP_SCRIPT + grow, lane=lane,
                            overlay=ov, append=ap)
            for k, ov, ap in (('on-pool', OVERLAY, 'rodata=on'),
                              ('on-none', none, 'rodata=on'),
                              ('off-pool', OVERLAY, 'rodata=off'),
                              ('off-none', none, 'rodata=off'),
                              ('full-pool', OVERLAY, 'rodata=full'),
                              ('full-none', none, 'rodata=full'))}


@pytest.mark.parametrize('rodata', ['on', 'off'])
def test_rodata_maps_only_the_region_with_pages(ptdumps, rodata):
    """rodata=on and rodata=off map the linear map with blocks; patch 0005
    maps a reusable region with pages all the same, and nothing else."""
    b = ptdumps[f'{rodata}-pool']
    assert (b.kv['mode'], int(b.kv['grown'])) == ('reusable', CHUNK)
    rows, va = harness.linear_map(b, REGION)
    inside = [(s, e, lvl, a) for s, e, lvl, a in rows if s < va + CAP and e > va]
    # The region: pages only, no contiguous hint, all of it mapped.
    assert inside and all(lvl == 'PTE' and 'CON' not in a for _, _, lvl, a in inside), inside
    assert sum(min(e, va + CAP) - max(s, va) for s, e, _, _ in inside) == CAP
    pool = census(rows, va, va + CAP)
    none_rows, none_va = harness.linear_map(ptdumps[f'{rodata}-none'], REGION)
    assert none_va == va
    none = census(none_rows, va, va + CAP)
    harness.note(f'linear map, rodata={rodata}, outside the region: {pool["PMD"] >> 21} 2 MiB '
                 f'blocks, {pool["CON"] >> 20} MiB contiguous, {pool["PTE"] >> 12} pages '
                 f'with the pool; {none["PMD"] >> 21}, {none["CON"] >> 20} MiB, '
                 f'{none["PTE"] >> 12} without')
    # Everything else as a kernel without the pool maps it, and mostly blocks.
    assert pool == none
    assert pool['PMD'] >= 512 << 20


def test_rodata_full_unchanged(ptdumps):
    rows, va = harness.linear_map(ptdumps['full-pool'], REGION)
    none_rows, _ = harness.linear_map(ptdumps['full-none'], REGION)
    inside = [(s, e, lvl, a) for s, e, lvl, a in rows if s < va + CAP and e > va]
    assert inside and all(lvl == 'PTE' for _, _, lvl, _ in inside), inside
    # Page by page everywhere, as without the pool (the kernel image's alias
    # may keep blocks either way).
    assert census(rows, va, va + CAP) == census(none_rows, va, va + CAP)
    assert not [r for r in rows if 'CON' in r[3]]
