# SPDX-License-Identifier: GPL-2.0-only
"""The default overlay: the pool comes up, stays out of System RAM, serves
the VM workload through debugfs and ends empty, with consistent books."""
import pytest

from gpool import harness

BASE, SIZE = 0x50000000, 0x2000000

SCRIPT = r'''
K=/sys/kernel/debug/kmemleak
[ -e $K ] && echo clear > $K
dump iomem cat /proc/iomem
dump sysfs ls -l $P $P/stats
snap before
echo "create 1 1024" > $D/vm
echo "create 2 512" > $D/vm
echo "fault 1 2000 1" > $D/vm
echo "fault 2 500 2" > $D/vm
dump vms cat $D/vms
snap during
kv during.validate "$(cat $D/validate)"
echo "destroy all" > $D/vm
echo "3 4 800 42" > $D/workload
kv workload "$(cat $D/workload)"
snap after
kv after.validate "$(cat $D/validate)"
kv base "$(cat $D/base)"
# kmemleak ignores objects younger than 5 s: scan, wait, scan again.
if [ -e $K ]; then
	echo scan > $K; sleep 6; echo scan > $K
	dump kmemleak cat $K
	kv kmemleak scanned
else
	kv kmemleak absent
fi
'''


@pytest.fixture(scope='module')
def b(lane):
    return harness.boot('default-overlay', SCRIPT, lane=lane)


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
    assert used >= 2 * (1 + 16) * 4096
    assert int(kv['during.free_bytes']) == SIZE - used
    # 1 GiB of IPA: 16 + 1 + 1 + 512 pages worst case; 512 MiB: 16 + 1 + 1 + 256.
    assert int(kv['during.committed_bytes']) == (530 + 274) * 4096
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


def test_no_leaks(b, lane):
    if b.kv['kmemleak'] == 'absent':
        pytest.skip(f'kmemleak is not in lane {lane}')
    report = b.dumps.get('kmemleak', [])
    ours = [line for line in report if 'gunyah' in line]
    assert not ours, '\n'.join(report)
    assert not any('unreferenced object' in line for line in report), '\n'.join(report)
