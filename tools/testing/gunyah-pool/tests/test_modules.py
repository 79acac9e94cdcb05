# SPDX-License-Identifier: GPL-2.0-only
"""The seed's requirement, shown rather than assumed: a Gunyah driver built
as a module uses the pool through <linux/gunyah_pool.h> and the GUNYAH
namespace; a module that does not import the namespace does not build, and
forced through modpost it is refused at load; a module that tries to unmap
the linear map itself does not link. The
modules (tools/testing/gunyah-pool/modules/) are built out of tree against
the pkvm lane's kernel, the lane with CONFIG_MODULES."""
import re
import shutil
import subprocess

import pytest

from gpool import harness

SCRIPT = r'''
# run NAME CMD...: CMD's exit status as NAME.rc, its messages as NAME.err.
run() { _n=$1; shift; _rc=0; "$@" 2> /tmp/err || _rc=$?; kv $_n.rc $_rc; kvc $_n.err head -n 1 /tmp/err; }
snap before
run load insmod /lib/modules/gpool_consumer.ko
snap loaded
run unload rmmod gpool_consumer
snap after
run nons insmod /lib/modules/gpool_no_ns.ko
kv nons.listed "$(grep -c gpool_no_ns /proc/modules)"
snap end
kvc validate cat $D/validate
'''


@pytest.fixture(scope='module')
def built(lane):
    consumer = harness.build_module('consumer', lane)
    # modpost refuses it; forced through (KBUILD_NSDEPS=1 makes modpost
    # allow a missing import, as "make nsdeps" does), the kernel must
    # refuse it at load.
    no_ns = harness.build_module('no-namespace', lane)
    forced = harness.build_module('no-namespace', lane,
                                  ['KBUILD_NSDEPS=1'], '-forced')
    return consumer, no_ns, forced


@pytest.fixture(scope='module')
def b(lane, built):
    (rc1, _, ko1), _, (rc2, _, ko2) = built
    assert rc1 == 0 and ko1, 'modules/consumer did not build'
    assert rc2 == 0 and ko2, 'modules/no-namespace did not build when forced'
    return harness.boot('modules', SCRIPT, lane=lane, files=ko1 + ko2,
                        timeout=120)


def used(b, state):
    return int(b.kv[f'{state}.used_bytes'])


def test_a_module_uses_the_pool_through_the_namespace(b):
    assert b.kv['load.rc'] == '0', b.kv['load.err']
    assert b.lines(r'gpool_consumer: reserve=0 alloc4=0 alloc0=0 '
                   r'bad_order=-22$')
    # It holds its order-4 block while loaded, and gives it back unloaded;
    # its reservation was returned at once.
    assert used(b, 'loaded') == used(b, 'before') + 16 * 4096
    assert (b.kv['loaded.committed_bytes'] == b.kv['before.committed_bytes'])
    assert b.kv['unload.rc'] == '0', b.kv['unload.err']
    assert used(b, 'after') == used(b, 'before')
    allocs = (int(b.kv['after.stats/alloc_success']) -
              int(b.kv['before.stats/alloc_success']))
    assert allocs == 2
    assert b.kv['validate'] == 'ok'


def test_a_module_without_the_namespace_is_refused(b, built):
    rc, out, ko = built[1]
    assert rc != 0 and not ko
    assert re.search(r'ERROR: modpost: module gpool_no_ns uses symbol '
                     r'gunyah_pool_reserve from namespace GUNYAH, but does '
                     r'not import it', out), out
    # Forced through modpost, it is refused at load.
    assert b.kv['nons.rc'] != '0'
    assert b.kv['nons.err'].endswith('Invalid argument'), b.kv['nons.err']
    assert b.lines(r'gpool_no_ns: module uses symbol \(gunyah_pool_reserve\) '
                   r'from namespace GUNYAH, but does not import it')
    assert b.kv['nons.listed'] == '0'
    assert used(b, 'end') == used(b, 'before')


def test_a_module_cannot_unmap_the_linear_map(lane):
    rc, out, ko = harness.build_module('direct-map', lane)
    assert rc != 0 and not ko
    assert re.search(r'ERROR: modpost: "set_direct_map_invalid_noflush" '
                     r'\[.*gpool_direct_map\.ko\] undefined!', out), out


def test_without_a_pool_every_call_is_enodev(lane, built):
    """A driver loaded where the device tree has no pool gets -ENODEV from
    every call, and nothing else happens."""
    rc, _, ko = built[0]
    assert rc == 0 and ko
    b = harness.boot('modules-no-pool', r'''
[ ! -e /sys/kernel/gunyah ] && kv sysfs absent
insmod /lib/modules/gpool_consumer.ko
rmmod gpool_consumer
''', lane=lane, files=ko, overlay=harness.empty_overlay(), timeout=120)
    assert b.kv['sysfs'] == 'absent'
    assert b.lines(r'gpool_consumer: reserve=-19 alloc4=-19 alloc0=-19 '
                   r'bad_order=-19$')
    assert b.lines(r'gpool_consumer: unloaded$')


# The pool's API, as the kernel exports it: exactly these four symbols,
# GPL-only, in the GUNYAH namespace. Nothing that could put memory back
# into, or take it out of, the linear map is exported by the pool or for it.
API = {'gunyah_pool_alloc', 'gunyah_pool_free', 'gunyah_pool_reserve',
       'gunyah_pool_unreserve'}
NEVER = {'gunyah_pool_add_range', 'gunyah_pool_take_range',
         'gunyah_pool_get_region', 'set_direct_map_invalid_noflush',
         'set_direct_map_default_noflush', 'set_memory_valid'}


def test_exactly_the_api_is_exported_gpl_only_in_the_namespace(lane):
    symvers = harness.kernel(harness.LANES[lane][0]) / 'Module.symvers'
    rows = [line.split('\t') for line in symvers.read_text().splitlines()]
    ours = {r[1]: r for r in rows if 'gunyah' in r[1]}
    assert set(ours) == API, sorted(ours)
    for name, (_, _, where, kind, ns) in ours.items():
        assert (where, kind, ns) == ('vmlinux', 'EXPORT_SYMBOL_GPL', 'GUNYAH'), name
    exported = {r[1] for r in rows}
    assert not exported & NEVER, sorted(exported & NEVER)


def test_the_pool_cannot_be_a_module(lane, tmp_path):
    """CONFIG_GUNYAH_POOL is bool (the pool must be set up from the device
    tree before the linear map is built): asked for =m in a kernel with
    modules, Kconfig does not keep it, where a tristate would."""
    obj = harness.kernel(harness.LANES[lane][0])
    config = (obj / '.config').read_text()
    assert 'CONFIG_MODULES=y\n' in config and 'CONFIG_GUNYAH_POOL=y\n' in config
    (tmp_path / '.config').write_text(
        config.replace('CONFIG_GUNYAH_POOL=y\n', 'CONFIG_GUNYAH_POOL=m\n'))
    subprocess.run(['make', '-s', '-C', harness.TREE, f'O={tmp_path}', 'ARCH=arm64',
                    'CROSS_COMPILE=aarch64-linux-gnu-', 'olddefconfig'],
                   check=True, stdout=subprocess.DEVNULL)
    final = (tmp_path / '.config').read_text()
    assert 'CONFIG_GUNYAH_POOL=m' not in final
    assert '# CONFIG_GUNYAH_POOL is not set\n' in final


def test_a_module_that_is_not_gpl_cannot_use_the_pool(lane):
    """The consumer module, relicensed: modpost refuses each of the four
    GPL-only symbols it uses."""
    src = harness.MODULES / 'consumer' / 'gpool_consumer.c'
    text = src.read_text()
    assert 'MODULE_LICENSE("GPL");' in text
    tmp = harness.BUILD / 'modules-src' / 'proprietary'
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(harness.MODULES / 'consumer', tmp)
    (tmp / 'gpool_consumer.c').write_text(
        text.replace('MODULE_LICENSE("GPL");', 'MODULE_LICENSE("Proprietary");'))
    rc, out, _ = harness.build_module('consumer', lane, tag='-proprietary',
                                      source=tmp)
    assert rc != 0, out
    for sym in sorted(API):
        assert re.search(rf"GPL-incompatible module gpool_consumer\.ko uses "
                         rf"GPL-only symbol '{sym}'", out), (sym, out[-2000:])
