# SPDX-License-Identifier: GPL-2.0-only
"""The patch series works at each step, not only builds: the kernel after
the driver patch runs a no-map pool and refuses a reusable region, the one
after the sysfs patch shows the pool in sysfs, and the one after the
reusable-mode patch grows a reusable pool from CMA. The kernels are those
series.py --build-each made (base.config), built here if missing or older
than the sources they come from."""
import subprocess

import pytest

from gpool import harness

IMAGES = harness.BUILD / 'series-images'
SOURCES = ['drivers', 'include', 'Documentation', 'arch', 'patches',
           'scripts/gunyah-pool/series.py',
           'tools/testing/gunyah-pool/configs/base.config']
REUSABLE = 'qemu-virt-gunyah-pool-reusable.dtso'
MiB = 1 << 20


def newest_source():
    paths = []
    for s in SOURCES:
        p = harness.TOP / s
        paths += [p] if p.is_file() else [f for f in p.rglob('*') if f.is_file()]
    return max(f.stat().st_mtime for f in paths)


@pytest.fixture(scope='module')
def images():
    """Patch number -> its Image, built by series.py --build-each if stale."""
    found = sorted(IMAGES.glob('*.Image'))
    if len(found) < 8 or min(f.stat().st_mtime for f in found) < newest_source():
        log = harness.out_dir() / 'series-build-each.log'
        with open(log, 'w') as f:
            res = subprocess.run(['python3', harness.TOP / 'scripts/gunyah-pool/series.py',
                                  '--build-each'], stdout=f, stderr=subprocess.STDOUT)
        assert res.returncode == 0, f'series.py --build-each failed; see {log}'
        found = sorted(IMAGES.glob('*.Image'))
    return {int(f.name[:4]): f for f in found}


def subject(images, n):
    return images[n].stem[5:]


def step(images, prefix):
    """The number of the one patch whose subject starts with PREFIX."""
    found = [n for n in images if subject(images, n).startswith(prefix)]
    assert len(found) == 1, (prefix, sorted(images))
    return found[0]


STATE = r'''
if [ -d $P ]; then kv sysfs present; snap s; else kv sysfs absent; fi
'''


def test_driver_patch_runs_a_no_map_pool(images):
    n = step(images, 'virt-gunyah-add-the-donation-pool')
    b = harness.boot(f'series-{n:04}-no-map', STATE, image=images[n])
    assert b.lines(r'^gunyah_pool: gunyah-pool@50000000: 0x0*50000000\.\.0x0*51ffffff '
                   r'\(32 MiB\), no-map$')
    assert b.kv['sysfs'] == 'absent'


def test_driver_patch_refuses_a_reusable_region(images):
    n = step(images, 'virt-gunyah-add-the-donation-pool')
    b = harness.boot(f'series-{n:04}-reusable', STATE, image=images[n],
                     overlay=REUSABLE)
    assert b.lines(r'^gunyah_pool: gunyah-pool@50000000: refused: '
                   r'reusable regions are not supported$')
    assert b.kv['sysfs'] == 'absent'


def test_sysfs_patch_shows_the_pool(images):
    n = step(images, 'virt-gunyah-add-a-sysfs-interface')
    b = harness.boot(f'series-{n:04}-no-map', STATE, image=images[n])
    assert b.kv['s.mode'] == 'no-map'
    assert int(b.kv['s.size_bytes']) == 32 * MiB
    assert b.kv['s.stats/grow'] == '0'


def test_reusable_patch_grows_from_cma(images):
    n = step(images, 'virt-gunyah-add-the-reusable-mode')
    b = harness.boot(f'series-{n:04}-reusable', STATE + r'''
try min_rc sh -c "echo 8388608 > $P/min_size_bytes"
snap g
''', image=images[n], overlay=REUSABLE)
    assert b.kv['s.mode'] == 'reusable'
    assert int(b.kv['s.size_bytes']) == 0
    assert b.kv['min_rc'] == '0'
    assert int(b.kv['g.size_bytes']) == 8 * MiB
    assert b.kv['g.stats/grow'] == '2'


def test_reusable_patch_alone_refuses_rodata_on(images):
    """A vendor tree that took the driver but not the arm64 patch: with
    rodata=on the reusable pool is refused, saying what it needs; with the
    arm64 patch but before the pool asks for pages, refused, saying the
    request was not honoured; with the last patch it runs."""
    n = step(images, 'virt-gunyah-add-the-reusable-mode')
    b = harness.boot(f'series-{n:04}-rodata-on', STATE, image=images[n],
                     overlay=REUSABLE, append='rodata=on')
    assert b.lines(r'^gunyah_pool: gunyah-pool@50000000: refused: reusable mode needs a '
                   r'page-granular linear map \(rodata=full\)$')
    assert b.kv['sysfs'] == 'absent'
    n = step(images, 'arm64-mm-map-memory-that-asks-for-it')
    b = harness.boot(f'series-{n:04}-rodata-on', STATE, image=images[n],
                     overlay=REUSABLE, append='rodata=on')
    assert b.lines(r'^gunyah_pool: gunyah-pool@50000000: refused: reusable mode needs the '
                   r'region mapped with pages: rodata=full, or the early request, which '
                   r'the architecture did not honour$')
    assert b.kv['sysfs'] == 'absent'
    last = max(images)
    assert subject(images, last).startswith('virt-gunyah-ask-for-a-reusable-pool')
    b = harness.boot(f'series-{last:04}-rodata-on', STATE, image=images[last],
                     overlay=REUSABLE, append='rodata=on')
    assert b.kv['s.mode'] == 'reusable'
