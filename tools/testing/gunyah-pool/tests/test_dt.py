# SPDX-License-Identifier: GPL-2.0-only
"""Device-tree shapes. Malformed nodes: each is refused with one error naming
the node and the rule, the kernel boots to userspace, and no pool appears.
A region placed by the kernel (size, alignment, alloc-ranges) works in both
modes, and a disabled node is ignored without a word."""
import re

import pytest

from gpool import harness

NODE = '''
		gunyah-pool@{addr:x} {{
			compatible = "qcom,gunyah-donation-pool";
			reg = <0x0 {addr:#x} 0x0 {size:#x}>;
			{flags}
		}};
'''

CASES = {
    # name: (nodes [(addr, size, flags)], expected error)
    'both-flags': ([(0x50000000, 0x2000000, 'no-map; reusable;')],
                   'gunyah-pool@50000000: refused: both no-map and reusable are set; choose one'),
    'neither-flag': ([(0x50000000, 0x2000000, '')],
                     'gunyah-pool@50000000: refused: neither no-map nor reusable is set; choose one'),
    'misaligned-base': ([(0x50000800, 0x2000000, 'no-map;')],
                        'gunyah-pool@50000800: refused: base 0x0000000050000800 is not aligned to the page size (4096 bytes)'),
    'misaligned-size': ([(0x50000000, 0x2000800, 'no-map;')],
                        'gunyah-pool@50000000: refused: size 0x0000000002000800 is not a multiple of the page size (4096 bytes)'),
    'zero-size': ([(0x50000000, 0, 'no-map;')],
                  'gunyah-pool@50000000: refused: no memory is reserved for the node (zero or missing size, or no room to place it)'),
    'too-small': ([(0x50000000, 0x100000, 'no-map;')],
                  'gunyah-pool@50000000: refused: size 0x0000000000100000 is below the minimum of 0x0000000000400000 bytes'),
    'reusable-misaligned': ([(0x50200000, 0x2000000, 'reusable;')],
                            'gunyah-pool@50200000: refused: reusable: base 0x0000000050200000 and size 0x0000000002000000 must be aligned to 0x0000000000400000'),
    'reusable-misaligned-size': ([(0x50000000, 0x2200000, 'reusable;')],
                                 'gunyah-pool@50000000: refused: reusable: base 0x0000000050000000 and size 0x0000000002200000 must be aligned to 0x0000000000400000'),
    # Physical address 0 is no reason to refuse, but on QEMU virt it is flash:
    # no struct pages, which zeroing a block needs.
    'no-struct-pages': ([(0x0, 0x400000, 'no-map;')],
                        'gunyah-pool@0: refused: page 0x0000000000000000 has no struct page (the region is not in the memory map)'),
    # Of two nodes with reg, the first in the device tree wins; fdtoverlay decides
    # the order of the overlay's nodes, so the test reads which one won.
    'second-node': ([(0x50000000, 0x2000000, 'no-map;'), (0x54000000, 0x2000000, 'no-map;')],
                    r'gunyah-pool@(5[04]000000): refused: only one pool is supported and gunyah-pool@(5[04]000000) is already configured'),
}

SCRIPT = r'''
if [ -e /sys/kernel/gunyah ]; then kv sysfs present; else kv sysfs absent; fi
[ -e $P/capacity_bytes ] && kvc capacity cat $P/capacity_bytes
dump iomem cat /proc/iomem
rc=0; poolstat > /dev/null 2> /tmp/poolstat.err || rc=$?
kv poolstat_rc $rc
kvc poolstat_err cat /tmp/poolstat.err
kvc memtotal awk '/^MemTotal:/ { print $2 }' /proc/meminfo
kvc cmatotal awk '/^CmaTotal:/ { print $2 }' /proc/meminfo
# The refusals with their log level, as the kernel keeps them.
dump levels sh -c "dmesg -r | sed -n '/gunyah_pool: .*refused/p'"
'''


def overlay(tmp_path, nodes, body=None):
    if body is None:
        body = ''.join(NODE.format(addr=a, size=s, flags=f) for a, s, f in nodes)
    src = tmp_path / 'pool.dtso'
    src.write_text('/dts-v1/;\n/plugin/;\n&{/} {\n\treserved-memory {\n'
                   '\t\t#address-cells = <2>;\n\t\t#size-cells = <2>;\n'
                   '\t\tranges;\n' + body + '\t};\n};\n')
    return src


def refused(b):
    """The pool's refusal messages in a boot, without the prefix."""
    return [r.split('gunyah_pool: ', 1)[1].strip()
            for r in b.lines(r'^gunyah_pool: .*refused')]


DISABLED = [(0x50000000, 0x2000000, 'no-map;\n\t\t\tstatus = "disabled";')]
RAM = (0x40000000, 0x40000000 + (harness.MEMORY_MB << 20))


def baseline(lane, tmp_path):
    """The same board with the node disabled: no pool, nothing reserved."""
    return harness.boot('dt-disabled', SCRIPT, overlay=overlay(tmp_path, DISABLED),
                        lane=lane)


@pytest.mark.parametrize('case', CASES)
def test_malformed_node(case, lane, tmp_path):
    nodes, error = CASES[case]
    b = harness.boot(f'dt-{case}', SCRIPT, overlay=overlay(tmp_path, nodes),
                     lane=lane)
    refusals = refused(b)
    # Each refusal is an error (pr_err, level 3), not a notice.
    levels = b.dumps.get('levels', [])
    assert len(levels) == len(refusals) and all(x.startswith('<3>') for x in levels), levels
    if case == 'second-node':
        # One good pool; only the other node is refused, naming the first.
        assert len(refusals) == 1, refusals
        m = re.fullmatch(error, refusals[0])
        assert m and m.group(1) != m.group(2), refusals[0]
        kept = int(m.group(2), 16)
        assert b.kv['sysfs'] == 'present'
        assert (b.kv['poolstat_rc'], b.kv['poolstat_err']) == ('0', '')
        assert int(b.kv['capacity']) == 0x2000000
        assert any(line.strip() == f'{kept:x}-{kept + 0x1ffffff:x} : gunyah-pool'
                   for line in b.dumps['iomem'])
    else:
        assert refusals == [error]
        assert b.kv['sysfs'] == 'absent'
        assert (b.kv['poolstat_rc'], b.kv['poolstat_err']) == \
            ('1', 'poolstat: no donation pool')
        assert not any('gunyah-pool' in line for line in b.dumps['iomem'])
        # A refused no-map region is not in the linear map: it must stay
        # out of System RAM rather than reach the page allocator unmapped.
        if any('no-map' in flags and size for _, size, flags in nodes):
            base = nodes[0][0]
            for line in b.dumps['iomem']:
                rng, _, name = line.strip().partition(' : ')
                lo, hi = (int(x, 16) for x in rng.split('-'))
                if name == 'System RAM':
                    assert not lo <= base <= hi, line
        # Any other refused region in RAM is given back to the page
        # allocator whole: the kernel has as much memory as with the node
        # disabled (give or take the device tree's own pages), and no CMA.
        addr, size, flags = nodes[0]
        if size and RAM[0] <= addr and addr + size <= RAM[1] and 'no-map' not in flags:
            lost = int(baseline(lane, tmp_path).kv['memtotal']) - int(b.kv['memtotal'])
            assert abs(lost) <= 64, f'{lost} KiB less than with no node'
            assert b.kv['cmatotal'] == '0'


# A region the kernel places: 16 MiB (no-map) or 8 MiB (reusable) somewhere
# in [RANGE_LO, RANGE_HI), on the alignment asked for. Beside a node with
# reg it needs a name of its own: libfdt takes "gunyah-pool" to mean any
# "gunyah-pool@..." and fdtoverlay would merge the two.
DYNAMIC = '''
		{name} {{
			compatible = "qcom,gunyah-donation-pool";
			size = <0x0 {size:#x}>;
			alignment = <0x0 {align:#x}>;
			alloc-ranges = <0x0 {lo:#x} 0x0 {span:#x}>;
			{flags}
		}};
'''
RANGE_LO, RANGE_HI = 0x48000000, 0x58000000
DYNAMIC_CASES = {
    'no-map': (16 << 20, 2 << 20),
    'reusable': (8 << 20, 4 << 20),
}

DYNAMIC_SCRIPT = SCRIPT + r'''
kvc base cat $D/base
kvc mode cat $P/mode
try min_rc sh -c "echo 4194304 > $P/min_size_bytes"
try alloc_rc sh -c "echo '10 kernel' > $D/alloc"
snap s
kvc validate cat $D/validate
echo 1 > $D/free_all
echo 0 > $P/min_size_bytes
'''


@pytest.mark.parametrize('mode', DYNAMIC_CASES)
def test_dynamic_region(mode, lane, tmp_path):
    size, align = DYNAMIC_CASES[mode]
    body = DYNAMIC.format(name='gunyah-pool', size=size, align=align,
                          lo=RANGE_LO, span=RANGE_HI - RANGE_LO,
                          flags=f'{mode};')
    b = harness.boot(f'dt-dynamic-{mode}', DYNAMIC_SCRIPT, lane=lane,
                     overlay=overlay(tmp_path, None, body))
    ready = b.lines(r'^gunyah_pool: gunyah-pool: 0x([0-9a-f]+)\.\.0x([0-9a-f]+) '
                    rf'\({size >> 20} MiB\), {mode}$')
    assert len(ready) == 1, b.lines('gunyah_pool')
    base = int(b.kv['base'], 16)
    assert RANGE_LO <= base and base + size <= RANGE_HI, hex(base)
    assert base % align == 0, hex(base)
    assert int(b.kv['capacity']) == size and b.kv['mode'] == mode
    assert any(line.strip() == f'{base:x}-{base + size - 1:x} : gunyah-pool'
               for line in b.dumps['iomem'])
    # The pool serves its largest block from wherever the kernel put it.
    assert (b.kv['min_rc'], b.kv['alloc_rc']) == ('0', '0')
    assert int(b.kv['s.used_bytes']) == 4 << 20
    assert b.kv['validate'] == 'ok'
    in_ram = [line for line in b.dumps['iomem']
              if line.strip().endswith(': System RAM') and
              int(line.split('-')[0], 16) <= base <= int(line.split()[0].split('-')[1], 16)]
    # A no-map region is outside System RAM; a reusable one is RAM lent to CMA.
    assert bool(in_ram) == (mode == 'reusable'), b.dumps['iomem']


def test_unplaceable_region_is_refused(lane, tmp_path):
    # alloc-ranges below RAM (QEMU's RAM starts at 0x40000000): the core
    # cannot place the region, and the pool says why it does not come up.
    body = DYNAMIC.format(name='gunyah-pool', size=16 << 20, align=2 << 20,
                          lo=0x10000000, span=0x10000000, flags='no-map;')
    b = harness.boot('dt-unplaceable', SCRIPT, lane=lane,
                     overlay=overlay(tmp_path, None, body))
    refusals = refused(b)
    assert refusals == ['gunyah-pool: refused: no memory is reserved for the '
                        'node (zero or missing size, or no room to place it)']
    assert b.kv['sysfs'] == 'absent'


def test_disabled_node_is_ignored(lane, tmp_path):
    b = baseline(lane, tmp_path)
    assert not b.lines(r'gunyah_pool'), b.lines(r'gunyah_pool')
    assert b.kv['sysfs'] == 'absent'
    # Not reserved either: the memory is System RAM like any other.
    assert any(line.strip().endswith(': System RAM') and
               int(line.split('-')[0], 16) <= 0x50000000 <=
               int(line.split()[0].split('-')[1], 16)
               for line in b.dumps['iomem']), b.dumps['iomem']


def test_placed_region_is_set_up_before_reg(lane, tmp_path):
    # The reserved-memory core places and sets up regions without reg
    # during its first scan, before it sets up any with reg: wherever it is
    # listed, a placed one becomes the pool.
    body = (NODE.format(addr=0x50000000, size=0x2000000, flags='no-map;') +
            DYNAMIC.format(name='gunyah-pool-placed', size=16 << 20,
                           align=2 << 20, lo=RANGE_LO,
                           span=RANGE_HI - RANGE_LO, flags='no-map;'))
    b = harness.boot('dt-placed-and-reg', SCRIPT, lane=lane,
                     overlay=overlay(tmp_path, None, body))
    refusals = refused(b)
    assert refusals == ['gunyah-pool@50000000: refused: only one pool is '
                        'supported and gunyah-pool-placed is already configured']
    assert b.lines(r'^gunyah_pool: gunyah-pool-placed: 0x[0-9a-f]+\.\.0x[0-9a-f]+ '
                   r'\(16 MiB\), no-map$')
    assert int(b.kv['capacity']) == 16 << 20


def test_placed_reusable_with_rodata_on(lane, tmp_path):
    """With rodata=on the linear map keeps its blocks, and a region the
    kernel places is mapped with pages all the same: the pool asks for it
    from its early hook, as the core places the region, before the linear
    map is built (patches/0005-*, 0007-*, 0008-*). The pool comes up
    reusable, grows by a chunk out of the linear map, and the ptdump shows
    the region in pages and the memory around it in blocks."""
    if lane == 'kasan-pagealloc':
        pytest.skip('debug_pagealloc maps the whole linear map page by page')
    size, align = DYNAMIC_CASES['reusable']
    body = DYNAMIC.format(name='gunyah-pool', size=size, align=align,
                          lo=RANGE_LO, span=RANGE_HI - RANGE_LO, flags='reusable;')
    b = harness.boot('dt-dynamic-reusable-rodata-on', DYNAMIC_SCRIPT + harness.PTDUMP_SCRIPT,
                     lane=lane, overlay=overlay(tmp_path, None, body), append='rodata=on')
    assert refused(b) == []
    assert b.kv['mode'] == 'reusable' and int(b.kv['capacity']) == size
    assert (b.kv['min_rc'], b.kv['alloc_rc'], b.kv['validate']) == ('0', '0', 'ok')
    assert int(b.kv['s.size_bytes']) == 4 << 20
    base = int(b.kv['base'], 16)
    rows, va = harness.linear_map(b, base)
    inside = [r for r in rows if r[0] < va + size and r[1] > va]
    assert inside and all(lvl == 'PTE' and 'CON' not in a for _, _, lvl, a in inside), inside
    assert sum(min(e, va + size) - max(s, va) for s, e, _, _ in inside) == size
    # The rest keeps its blocks, as rodata=on maps it.
    assert sum(e - s for s, e, lvl, _ in rows if lvl == 'PMD') >= 512 << 20


# QEMU's memory as two NUMA nodes of 512 MiB, which it gives the kernel as
# two memory nodes, at 0x40000000 and 0x60000000.
TWO_NODES = [a for i in (0, 1) for a in (
    '-object', f'memory-backend-ram,id=m{i},size={harness.MEMORY_MB // 2}M',
    '-numa', f'node,memdev=m{i},cpus={i}')]


def test_reusable_region_across_two_memory_nodes(lane, tmp_path):
    """A reusable region across the boundary of two memory nodes, with
    rodata=on: the pool asks for all of it to be mapped with pages, arm64
    does so on both sides of the boundary, and the pool grows over all of
    it (every chunk out of the linear map, on either side)."""
    if lane == 'kasan-pagealloc':
        pytest.skip('debug_pagealloc maps the whole linear map page by page')
    base, size = 0x5f000000, 0x2000000
    script = SCRIPT + r'''
dump memory sh -c "ls /proc/device-tree | grep ^memory@"
kvc mode cat $P/mode
try min_rc sh -c "echo 33554432 > $P/min_size_bytes"
try alloc_rc sh -c "echo '10 kernel' > $D/alloc"
snap s
kvc validate cat $D/validate
echo 1 > $D/free_all
echo 0 > $P/min_size_bytes
''' + harness.PTDUMP_SCRIPT
    b = harness.boot('dt-reusable-two-memory-nodes', script, lane=lane,
                     overlay=overlay(tmp_path, [(base, size, 'reusable;')]),
                     append='rodata=on', qemu=TWO_NODES)
    assert [m.strip() for m in b.dumps['memory']] == ['memory@40000000', 'memory@60000000']
    assert refused(b) == []
    assert b.kv['mode'] == 'reusable' and int(b.kv['capacity']) == size
    assert (b.kv['min_rc'], b.kv['alloc_rc'], b.kv['validate']) == ('0', '0', 'ok')
    assert int(b.kv['s.size_bytes']) == size
    rows, va = harness.linear_map(b, base)
    inside = [r for r in rows if r[0] < va + size and r[1] > va]
    assert inside and all(lvl == 'PTE' and 'CON' not in a for _, _, lvl, a in inside), inside
    assert sum(min(e, va + size) - max(s, va) for s, e, _, _ in inside) == size
    assert sum(e - s for s, e, lvl, _ in rows if lvl == 'PMD') >= 512 << 20


@pytest.mark.parametrize('rodata', ['on', 'full'])
@pytest.mark.parametrize('first', ['no-map', 'pool'])
def test_reusable_region_over_no_map_memory_is_refused(first, rodata, lane, tmp_path):
    """A reusable region that overlaps a no-map node, in either order: the
    pool refuses it, naming the node, before CMA could hand the page
    allocator memory that is not in the linear map (with rodata=full, where
    every page is mappable, that check is all that stands in the way) or
    memory another user holds (with the pool first, the core refuses to
    make reserved memory no-map and leaves the other node's region mapped).
    With the no-map node first, arm64 also says it cannot map that part
    with pages. The kernel boots, and the region is not a CMA area."""
    pool = NODE.format(addr=0x50000000, size=0x2000000, flags='reusable;')
    other = '''
		other@50000000 {
			reg = <0x0 0x50000000 0x0 0x400000>;
			no-map;
		};
'''
    # fdtoverlay reverses the overlay's nodes.
    body = pool + other if first == 'no-map' else other + pool
    b = harness.boot(f'dt-reusable-over-no-map-{first}-{rodata}', SCRIPT, lane=lane,
                     overlay=overlay(tmp_path, None, body), append=f'rodata={rodata}')
    arm64 = b.lines(r'^linear map: 0x0000000050000000\.\.0x00000000503fffff cannot be '
                    r'mapped with pages: it is not mapped \(no-map\)$')
    assert bool(arm64) == (first == 'no-map'), b.lines('linear map|reserved mem')
    assert refused(b) == ['gunyah-pool@50000000: refused: the region overlaps '
                          'reserved-memory node other@50000000']
    assert b.kv['sysfs'] == 'absent' and b.kv['cmatotal'] == '0'
    if first == 'no-map':
        for line in b.dumps['iomem']:
            rng, _, name = line.strip().partition(' : ')
            lo, hi = (int(x, 16) for x in rng.split('-'))
            if name == 'System RAM':
                assert not lo <= 0x50000000 <= hi and not lo <= 0x503fffff <= hi, line


def test_reusable_region_outside_memory_is_refused(lane, tmp_path):
    """mem=256M leaves the reusable region (at 0x50000000) outside the
    memory the kernel manages: the pool refuses it before CMA is asked to
    take it (CMA would WARN and then oops at its activation)."""
    b = harness.boot('dt-reusable-outside-memory', SCRIPT, lane=lane,
                     overlay='qemu-virt-gunyah-pool-reusable.dtso', append='mem=256M')
    assert refused(b) == ['gunyah-pool@50000000: refused: reusable: the region is not '
                          'all in the kernel\'s memory (outside RAM, or cut off by mem=)']
    assert b.kv['sysfs'] == 'absent' and b.kv['cmatotal'] == '0'
