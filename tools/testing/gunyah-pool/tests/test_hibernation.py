# SPDX-License-Identifier: GPL-2.0-only
"""Hibernation for real: the guest writes an image to a swap disk and powers
off, a second boot of the same kernel with resume= restores it, and the
restored system checks a marker it wrote to tmpfs before and the pool's
books. Free memory in the pool never stops hibernation or a restore; memory
handed out (donated) does, before anything is lost: hibernation is refused
before an image is written, and a restore is refused before the image's
signature is reset (patches/0006-*), so a later boot still restores it.
"""
import pytest

from gpool import harness

MiB = 1 << 20
REUSABLE = 'qemu-virt-gunyah-pool-reusable.dtso'
NOMAP = 'qemu-virt-gunyah-pool.dtso'

# With 52-bit virtual addresses (LPA2, which QEMU's "max" CPU has), 6.12's
# restore oopses in trans_pgd_create_copy() reading a page-table entry at
# 0xffffffffc0000000, outside the linear map and far from the pool: every
# boot here uses 48 bits (arm64.nolva). no_console_suspend keeps the
# restore on the console.
ARGS = 'arm64.nolva no_console_suspend'
RESUME = 'resume=/dev/vda ' + ARGS

# The swap signature: what the last 10 bytes of the disk's first page say,
# read past the page cache (the partition scan cached that page at boot).
SIG = ("$(dd if=/dev/vda bs=4096 count=1 iflag=direct 2> /dev/null | "
       "tail -c 10 | tr -d '\\0')")

PREPARE = r'''
mkswap /dev/vda > /dev/null
swapon /dev/vda
head -c 1048576 /dev/urandom > /tmp/marker
kvc marker.before md5sum < /tmp/marker
'''

# Hibernate; the lines after the echo run in the restored system.
HIBERNATE = r'''
snap before
kvc before.validate cat $D/validate
mark hibernating
echo disk > /sys/power/state
mark resumed
kvc marker.after md5sum < /tmp/marker
snap after
kvc after.validate cat $D/validate
# It serves allocations: an order-10 block may need a chunk from CMA.
echo 10 > $D/alloc
echo 0 > $D/alloc
kvc served wc -l < $D/blocks
echo > $D/free_all
'''

# What a booting kernel runs when it did not restore (else it never runs).
NOT_RESTORED = f'''
mark not-restored
kv sig "{SIG}"
'''

# The pool's sysfs files whose values a round trip must keep.
BOOKS = ('size_bytes', 'used_bytes', 'peak_used_bytes', 'committed_bytes',
         'stats/grow', 'stats/shrink', 'stats/alloc_success', 'stats/free')


def disk(name, lane):
    d = harness.out_dir(f'{name}-{lane}' if lane != 'default' else name)
    path = d / 'swap.img'
    with open(path, 'wb') as f:
        f.truncate(256 * MiB)
    return path


def hibernate(name, lane, overlay, before='', restore_args='',
              expect_splats=()):
    """Boot, run BEFORE, hibernate to a fresh disk; boot again with
    resume=. Returns the two boots; the first must end in the image written
    and the power off, with nothing unexpected on its console."""
    swap = disk(name, lane)
    b1 = harness.boot(f'{name}-hibernate', PREPARE + before + HIBERNATE,
                      lane=lane, overlay=overlay, disk=swap, check=False,
                      append=ARGS,
                      timeout=120, expect_splats=expect_splats)
    assert not b1.splats, b1.splats
    assert not b1.timed_out, f'{b1.name}: no power off'
    assert 'hibernating' in b1.marks, b1.failed_at or b1.marks
    assert 'resumed' not in b1.marks
    assert b1.lines(r'PM: hibernation: (Image saving done|Wrote \d+ kbytes)'), \
        f'{b1.name}: no image written'
    assert b1.lines(r'reboot: Power down'), f'{b1.name}: did not power off'
    b2 = harness.boot(f'{name}-restore', NOT_RESTORED, lane=lane,
                      overlay=overlay, disk=swap, check=False, timeout=120,
                      append=f'{RESUME} {restore_args}'.strip(),
                      expect_splats=expect_splats)
    return swap, b1, b2


def assert_restored(b1, b2):
    """B2 is the system B1 hibernated, as it was."""
    b2.check()
    assert 'not-restored' not in b2.marks, b2.name
    assert 'resumed' in b2.marks, b2.marks
    assert b2.lines(r'PM: hibernation: resume from hibernation')
    assert b2.kv['marker.after'] == b1.kv['marker.before']
    for f in BOOKS:
        assert b2.kv[f'after.{f}'] == b1.kv[f'before.{f}'], f
    assert b1.kv['before.validate'] == 'ok', b1.kv['before.validate']
    assert b2.kv['after.validate'] == 'ok', b2.kv['after.validate']
    assert b2.kv['served'] == '2'


# A reusable pool that grew by two chunks and gave one back: it holds a
# free chunk, out of the linear map, when the image is made.
GROWN_AND_SHRUNK = r'''
echo 10 > $D/alloc
echo 10 > $D/alloc
echo > $D/free_all
echo 4194304 > $P/high_watermark_bytes
for i in $(seq 60); do [ $(cat $P/size_bytes) = 4194304 ] && break; sleep 0.5; done
kvc held cat $P/size_bytes
'''


@pytest.fixture(scope='module')
def free_chunks(lane):
    return hibernate('hib-reusable', lane, REUSABLE, GROWN_AND_SHRUNK)


def test_free_chunks_hibernate_and_restore(free_chunks):
    _, b1, b2 = free_chunks
    assert b1.kv['held'] == str(4 * MiB)
    assert b1.kv['before.stats/grow'] == '2'
    assert b1.kv['before.stats/shrink'] == '1'
    assert_restored(b1, b2)
    # Nothing refused, nothing given back on the way.
    assert not b2.lines(r'refused')


@pytest.fixture(scope='module')
def boot_cycle(lane):
    """The booting kernel grows its pool and frees what it took before the
    restore starts, as a boot-time user (pKVM's check once did) would."""
    return hibernate('hib-boot-cycle', lane, REUSABLE, GROWN_AND_SHRUNK,
                     'gunyah_pool.boot_alloc=cycle')


def test_restore_gives_back_what_boot_grew(boot_cycle):
    _, b1, b2 = boot_cycle
    assert b2.lines(r'boot_alloc=cycle: block at')
    # The booting kernel's chunk went back to CMA before the image was read.
    assert b2.lines(r'gunyah-pool@50000000: restore: 4194304 bytes given '
                    r'back to CMA')
    assert_restored(b1, b2)


@pytest.fixture(scope='module')
def boot_hold(lane):
    """The booting kernel holds a block when the restore starts: refused,
    the image kept; a third boot without that user restores it."""
    swap, b1, b2 = hibernate('hib-boot-hold', lane, REUSABLE,
                             GROWN_AND_SHRUNK, 'gunyah_pool.boot_alloc=hold')
    b3 = harness.boot('hib-boot-hold-again', NOT_RESTORED, lane=lane,
                      overlay=REUSABLE, disk=swap, check=False, timeout=120,
                      append=RESUME)
    return b1, b2, b3


def test_restore_refused_keeps_the_image(boot_hold):
    b1, b2, b3 = boot_hold
    b2.check()
    assert b2.lines(r'boot_alloc=hold: block at')
    # The booting kernel went on to its own /init; the image is still there
    # and is restored, as it was, at the next boot.
    assert 'not-restored' in b2.marks
    assert b2.kv['sig'] == 'S1SUSPEND', b2.kv['sig']
    assert_restored(b1, b3)
    # One message from the pool names the cause, one from the PM core says
    # the image is kept.
    refusal = b2.lines(r'gunyah-pool@50000000: restore refused, image kept: '
                       r'4096 bytes of the pool were handed out')
    assert len(refusal) == 1, b2.lines('refused')
    assert b2.lines(r'PM: hibernation: restore refused \(-16\); the image '
                    r'is kept')


# Memory handed out: refused before anything is written, one message, the
# system runs on. Then the same system hibernates once the block is freed.
HELD = r'''
echo 0 > $D/alloc
kv held.sig.before "@SIG@"
kvc held.hib /bin/gpool-helper write /sys/power/state disk
kv held.sig.after "@SIG@"
kvc held.marker md5sum < /tmp/marker
kvc held.used cat $P/used_bytes
kvc held.validate cat $D/validate
echo > $D/free_all
'''.replace('@SIG@', SIG)


@pytest.fixture(scope='module')
def held(lane):
    return hibernate('hib-held', lane, REUSABLE, HELD)


def test_hibernation_refused_while_memory_is_handed_out(held):
    _, b1, b2 = held
    assert b1.kv['held.hib'] == 'EBUSY', b1.kv['held.hib']
    refusal = b1.lines(r'gunyah-pool@50000000: hibernation refused: 4096 '
                       r'bytes of the pool are handed out')
    assert len(refusal) == 1, refusal
    # Refused before an image was written: the swap signature is untouched.
    assert b1.kv['held.sig.before'] == 'SWAPSPACE2'
    assert b1.kv['held.sig.after'] == 'SWAPSPACE2'
    assert b1.kv['held.marker'] == b1.kv['marker.before']
    assert b1.kv['held.used'] == '4096'
    assert b1.kv['held.validate'] == 'ok'
    # Freed, the same system hibernates and is restored.
    assert_restored(b1, b2)


@pytest.fixture(scope='module')
def nomap(lane):
    return hibernate('hib-nomap', lane, NOMAP, 'echo 4 > $D/alloc\n'
                     'echo > $D/free_all\n')


def test_nomap_pool_hibernates_and_restores(nomap):
    _, b1, b2 = nomap
    assert b1.kv['before.used_bytes'] == '0'
    assert int(b1.kv['before.stats/alloc_success']) >= 1
    assert_restored(b1, b2)
