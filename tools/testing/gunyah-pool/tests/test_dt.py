# SPDX-License-Identifier: GPL-2.0-only
"""Malformed device-tree nodes: each is refused with one error naming the
node and the rule, the kernel boots to userspace, and no pool appears."""
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
                  'gunyah-pool@50000000: refused: no memory is reserved for the node (zero or missing size)'),
    'too-small': ([(0x50000000, 0x100000, 'no-map;')],
                  'gunyah-pool@50000000: refused: size 0x0000000000100000 is below the minimum of 0x0000000000400000 bytes'),
    'reusable-misaligned': ([(0x50200000, 0x2000000, 'reusable;')],
                            'gunyah-pool@50200000: refused: reusable: base 0x0000000050200000 and size 0x0000000002000000 must be aligned to 0x0000000000400000'),
    # The node that comes first in the device tree wins; fdtoverlay decides
    # the order of the overlay's nodes, so the test reads which one won.
    'second-node': ([(0x50000000, 0x2000000, 'no-map;'), (0x54000000, 0x2000000, 'no-map;')],
                    r'gunyah-pool@(5[04]000000): refused: only one pool is supported and gunyah-pool@(5[04]000000) is already configured'),
}

SCRIPT = r'''
if [ -e /sys/kernel/gunyah ]; then kv sysfs present; else kv sysfs absent; fi
[ -e $P/capacity_bytes ] && kv capacity "$(cat $P/capacity_bytes)"
dump iomem cat /proc/iomem
'''


def overlay(tmp_path, nodes):
    body = ''.join(NODE.format(addr=a, size=s, flags=f) for a, s, f in nodes)
    src = tmp_path / 'pool.dtso'
    src.write_text('/dts-v1/;\n/plugin/;\n&{/} {\n\treserved-memory {\n'
                   '\t\t#address-cells = <2>;\n\t\t#size-cells = <2>;\n'
                   '\t\tranges;\n' + body + '\t};\n};\n')
    return src


@pytest.mark.parametrize('case', CASES)
def test_malformed_node(case, lane, tmp_path):
    nodes, error = CASES[case]
    b = harness.boot(f'dt-{case}', SCRIPT, overlay=overlay(tmp_path, nodes),
                     lane=lane)
    refusals = [r.split('gunyah_pool: ', 1)[1].strip()
                for r in b.lines(r'^gunyah_pool: .*refused')]
    if case == 'second-node':
        # One good pool; only the other node is refused, naming the first.
        assert len(refusals) == 1, refusals
        m = re.fullmatch(error, refusals[0])
        assert m and m.group(1) != m.group(2), refusals[0]
        kept = int(m.group(2), 16)
        assert b.kv['sysfs'] == 'present'
        assert int(b.kv['capacity']) == 0x2000000
        assert any(line.strip() == f'{kept:x}-{kept + 0x1ffffff:x} : gunyah-pool'
                   for line in b.dumps['iomem'])
    else:
        assert refusals == [error]
        assert b.kv['sysfs'] == 'absent'
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
