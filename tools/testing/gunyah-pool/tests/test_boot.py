# SPDX-License-Identifier: GPL-2.0-only
"""The default overlay: the pool comes up, stays out of System RAM, serves
the VM workload through debugfs and ends empty, with consistent books;
poolstat and the occupancy picture show what sysfs shows."""
import struct
import zlib

import re

import pytest

from gpool import harness

BASE, SIZE = 0x50000000, 0x2000000

SCRIPT = r'''
dump iomem cat /proc/iomem
dump sysfs ls -l $P $P/stats
snap before
echo "create 1 1024" > $D/vm
echo "create 2 512" > $D/vm
echo "fault 1 2000 1" > $D/vm
echo "fault 2 500 2" > $D/vm
dump vms cat $D/vms
snap during
kvc during.validate cat $D/validate
# Nothing allocates between here and the snapshot: map and poolstat agree with it.
dump map cat $D/map
dump ps.during poolstat
echo "destroy all" > $D/vm
echo "3 4 800 42" > $D/workload
kvc workload cat $D/workload
snap after
kvc after.validate cat $D/validate
kvc base cat $D/base
# poolstat's watermark column in each state, and its repeat mode.
dump ps.ok poolstat
echo 16777216 > $P/high_watermark_bytes
dump ps.high poolstat
echo 33554432 > $P/high_watermark_bytes
echo 33554432 > $P/low_watermark_bytes
echo 0 > $D/alloc
dump ps.low poolstat 1 2
echo 1 > $D/free_all
echo 0 > $P/low_watermark_bytes

# From an empty pool, a known set of blocks: the free blocks per order and
# the largest one against the layout, no vmalloc alias left by zeroing, and
# each tracepoint's record in tracefs. 28 MiB low: the order-10 block
# crosses it.
echo 29360128 > $P/low_watermark_bytes
trace_on
for o in 0 3 10 0 5 2; do echo $o > $D/alloc; done
dump vmalloc.before cat /proc/vmallocinfo
echo "2 zero" > $D/alloc
# More than 64 pages: a vm_map_ram() of it would get a vmap area of its own
# rather than a piece of a shared vmap block, which vmallocinfo cannot show.
echo "7 zero" > $D/alloc
dump vmalloc cat /proc/vmallocinfo
dump layout cat $D/blocks
dump fpo cat $D/free_per_order
kvc largest cat $D/largest_free_block
echo 11 > $D/alloc 2> /dev/null || :
echo 65536 > $D/reserve
echo 999999999999 > $D/reserve 2> /dev/null || :
echo 65536 > $D/unreserve
echo > $D/free_all
trace_off trace
echo 0 > $P/low_watermark_bytes
'''


@pytest.fixture(scope='module')
def b(lane):
    return harness.boot('default-overlay', SCRIPT, lane=lane, leakscan=True)


def test_ready_line(b):
    lines = b.lines(r'gunyah_pool: gunyah-pool@50000000: '
                    r'0x0*50000000\.\.0x0*51ffffff \(32 MiB\), no-map$')
    assert len(lines) == 1, 'no (or more than one) ready line'
    assert not b.lines(r'gunyah_pool: .*refused')


def test_iomem_outside_system_ram(b):
    ram, pool = [], []
    for line in b.dumps['iomem']:
        rng, _, name = line.strip().partition(' : ')
        lo, hi = (int(x, 16) for x in rng.split('-'))
        if name == 'System RAM':
            ram.append((lo, hi))
        if name == 'gunyah-pool':
            pool.append((lo, hi))
    assert pool == [(BASE, BASE + SIZE - 1)]
    assert ram, 'no System RAM in /proc/iomem'
    for lo, hi in ram:
        assert hi < BASE or lo >= BASE + SIZE, f'System RAM {lo:#x}-{hi:#x} overlaps the pool'


def test_base_only_in_debugfs(b):
    assert int(b.kv['base'], 16) == BASE
    assert str(BASE) not in ''.join(v for k, v in b.kv.items() if k.startswith('before.'))


def test_sizes_at_boot(b):
    kv = b.kv
    assert kv['before.mode'] == 'no-map'
    assert int(kv['before.capacity_bytes']) == SIZE
    assert int(kv['before.size_bytes']) == SIZE
    assert int(kv['before.max_size_bytes']) == SIZE
    assert int(kv['before.used_bytes']) == 0
    assert int(kv['before.free_bytes']) == SIZE
    assert int(kv['before.overcommit_ratio']) == 100


def test_vms_take_memory_and_reservations(b):
    kv = b.kv
    used = int(kv['during.used_bytes'])
    # Two VMs: metadata + an order-4 root each, plus the tables faulted in.
    assert used >= 2 * (1 + 16) * b.page
    assert int(kv['during.free_bytes']) == SIZE - used
    # 1 GiB of IPA: 16 + 1 + 1 + 512 pages worst case; 512 MiB: 16 + 1 + 1 + 256
    # (the workload's model counts pages, whatever their size).
    assert int(kv['during.committed_bytes']) == (530 + 274) * b.page
    assert int(kv['during.peak_used_bytes']) >= used
    assert kv['during.validate'] == 'ok'
    assert len(b.dumps['vms']) == 2


def test_workload_ends_empty(b):
    kv = b.kv
    assert 'err=0' in kv['workload'] and 'rounds=3' in kv['workload']
    assert int(kv['after.used_bytes']) == 0
    assert int(kv['after.committed_bytes']) == 0
    assert int(kv['after.free_bytes']) == SIZE
    assert kv['after.validate'] == 'ok'
    allocs = int(kv['after.stats/alloc_success'])
    assert allocs > 100
    assert int(kv['after.stats/free']) == allocs
    assert int(kv['after.stats/invalid_free']) == 0


def free_per_order(base, size, blocks, page, orders=11):
    """What gunyah_pool_free_blocks() must say, computed apart: each run of
    free pages cut into naturally aligned blocks of each order."""
    pfn0, npages = base // page, size // page
    busy = [False] * npages
    for phys, order in blocks:
        for i in range((phys - base) // page, (phys - base) // page + (1 << order)):
            busy[i] = True
    nr, i = [0] * orders, 0
    while i < npages:
        if busy[i]:
            i += 1
            continue
        j = i
        while j < npages and not busy[j]:
            j += 1
        for o in range(orders):
            first = -(-(pfn0 + i) // (1 << o)) * (1 << o)
            last = (pfn0 + j) // (1 << o) * (1 << o)
            nr[o] += max(0, last - first) >> o
        i = j
    return nr


def test_free_blocks_match_the_layout(b):
    blocks = [(int(p, 16), int(o)) for p, o in
              (line.split() for line in b.dumps['layout'])]
    assert sorted(o for _, o in blocks) == [0, 0, 2, 2, 3, 5, 7, 10]
    want = free_per_order(BASE, SIZE, blocks, b.page)
    got = [int(line.split()[1]) for line in b.dumps['fpo']]
    assert got == want
    assert int(b.kv['largest']) == b.page << max(o for o in range(11) if want[o])


def test_zeroing_leaves_no_vmalloc_alias(b):
    # A zeroed block is held, and no mapping made to zero it is left: the
    # vmalloc areas that map pages (vmap(), vm_map_ram(), which has no
    # caller to name) are the same before and after the zeroed allocation.
    # Areas freed lazily show as "unpurged", not as these.
    def areas(name):
        assert b.dumps[name], f'{name}: /proc/vmallocinfo was empty'
        return sorted(re.sub(r'^0x[0-9a-f]+-0x[0-9a-f]+\s+', '', line)
                      for line in b.dumps[name]
                      if re.search(r' (vmap|vm_map_ram)( |$)', line))
    assert areas('vmalloc') == areas('vmalloc.before')


# Every tracepoint and its fields, as tracefs describes them.
FIELDS = {
    'gunyah_pool_alloc': ['order', 'gfp', 'phys', 'err'],
    'gunyah_pool_free': ['phys', 'order', 'err'],
    'gunyah_pool_reserve': ['bytes', 'committed', 'err'],
    'gunyah_pool_unreserve': ['bytes', 'committed', 'err'],
    'gunyah_pool_grow': ['phys', 'size', 'err'],
    'gunyah_pool_shrink': ['phys', 'size', 'err'],
    'gunyah_pool_low_watermark': ['free', 'low'],
}


def test_tracepoints_record_what_happened(b):
    assert harness.trace_formats(b, 'trace') == FIELDS
    ev = harness.trace_events(b, 'trace')
    blocks = sorted((int(p, 16), int(o)) for p, o in
                    (line.split() for line in b.dumps['layout']))
    allocs = [f for e, f in ev if e == 'gunyah_pool_alloc']
    assert sorted((int(f['phys'], 16), int(f['order'])) for f in allocs
                  if f['err'] == '0') == blocks
    assert [f['order'] for f in allocs if f['err'] != '0'] == ['11']
    assert [f['err'] for f in allocs if f['order'] == '11'] == ['-22']
    assert sum('__GFP_ZERO' in f['gfp'] for f in allocs) == 2
    frees = [f for e, f in ev if e == 'gunyah_pool_free']
    assert sorted((int(f['phys'], 16), int(f['order'])) for f in frees) == blocks
    assert all(f['err'] == '0' for f in frees)
    res = [(f['bytes'], f['committed'], f['err']) for e, f in ev
           if e == 'gunyah_pool_reserve']
    assert res == [('65536', '65536', '0'), ('999999999999', '65536', '-12')]
    assert [(f['bytes'], f['committed'], f['err']) for e, f in ev
            if e == 'gunyah_pool_unreserve'] == [('65536', '0', '0')]
    low = [f for e, f in ev if e == 'gunyah_pool_low_watermark']
    assert len(low) == 1 and low[0]['low'] == str(28 << 20)
    assert int(low[0]['free']) < 28 << 20


def test_no_leaks(b, lane):
    # The harness scans at the end of the script and fails the boot on a
    # report; here, only that the scan ran with kmemleak still on.
    if b.kv['kmemleak'] == 'absent':
        pytest.skip(f'kmemleak is not in lane {lane}')
    assert b.kv['kmemleak'] == 'on'


POOLSTAT_COLUMNS = ['mode', 'size', 'used', 'free', 'peak', 'commit', 'limit',
                    'oc', 'wm', 'allocs', 'fails', 'frees']


def poolstat(lines):
    """poolstat's output as one dict per line, checking the header."""
    assert lines[0].split() == POOLSTAT_COLUMNS, lines
    rows = [dict(zip(POOLSTAT_COLUMNS, line.split())) for line in lines[1:]]
    assert rows and all(len(r) == len(POOLSTAT_COLUMNS) for r in rows), lines
    return rows


def test_poolstat_shows_sysfs(b):
    kv = b.kv
    (row,) = poolstat(b.dumps['ps.during'])
    kib = {'size': 'size_bytes', 'used': 'used_bytes', 'free': 'free_bytes',
           'peak': 'peak_used_bytes', 'commit': 'committed_bytes',
           'limit': 'commit_limit_bytes', 'oc': 'overcommit_bytes'}
    for col, f in kib.items():
        assert int(row[col]) == int(kv[f'during.{f}']) // 1024, (col, row)
    assert row['mode'] == 'no-map'
    assert int(row['used']) > 0 and row['wm'] == 'ok'
    for col, f in [('allocs', 'alloc_success'), ('fails', 'alloc_fail'),
                   ('frees', 'free')]:
        assert row[col] == kv[f'during.stats/{f}'], (col, row)


def test_poolstat_watermark_states(b):
    # Free memory equal to the high watermark is ok, above it high, below
    # the low watermark low; "poolstat 1 2" prints two lines a second apart.
    (ok,) = poolstat(b.dumps['ps.ok'])
    (high,) = poolstat(b.dumps['ps.high'])
    low = poolstat(b.dumps['ps.low'])
    assert (ok['wm'], high['wm']) == ('ok', 'high')
    assert len(low) == 2 and all(r['wm'] == 'low' for r in low), low
    assert all(int(r['free']) == (SIZE - b.page) // 1024 for r in low), low


def png_pixels(path):
    """Width, height and the palette index of every pixel of an 8-bit
    palette PNG with no filtering, as the harness writes it."""
    data = path.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    pos, chunks = 8, {}
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc, = struct.unpack('>I', data[pos + 8 + n:pos + 12 + n])
        assert zlib.crc32(kind + body) == crc, kind
        chunks[kind] = chunks.get(kind, b'') + body
        pos += 12 + n
    width, height, depth, colour = struct.unpack('>IIBB', chunks[b'IHDR'][:10])
    assert (depth, colour) == (8, 3)
    raw = zlib.decompress(chunks[b'IDAT'])
    rows = [raw[i * (width + 1):(i + 1) * (width + 1)] for i in range(height)]
    assert len(raw) == height * (width + 1) and all(r[0] == 0 for r in rows)
    return width, height, b''.join(r[1:] for r in rows)


def test_occupancy_picture(b, tmp_path):
    lines = b.dumps['map']
    pages = SIZE // b.page
    assert len(lines) == pages // 64
    text = ''.join(line.split()[1] for line in lines)
    used = int(b.kv['during.used_bytes']) // b.page
    assert (text.count('#'), text.count('.')) == (used, pages - used)
    width, height, pixels = png_pixels(
        harness.occupancy_png(lines, tmp_path / 'map.png', scale=2))
    assert (width, height) == (64 * 2, pages // 64 * 2)
    # Each page is a 2x2 square: red (1) used, green (0) free, no grey (2).
    assert [pixels.count(i) // 4 for i in range(3)] == [pages - used, used, 0]
