# SPDX-License-Identifier: GPL-2.0-only
"""/sys/kernel/gunyah/pool as ABI: every file, its mode, its value, its
agreement with the others; every writable file's good values taking effect
and a table of bad inputs refused with the documented errno, changing
nothing; poll() on free_bytes; writers racing the workload."""
import pytest

from gpool import harness

MiB = 1 << 20
CAP = 32 * MiB
PAGE = 4096

RO = ['mode', 'capacity_bytes', 'size_bytes', 'used_bytes', 'free_bytes',
      'committed_bytes', 'commit_limit_bytes', 'overcommit_bytes']
RW = ['min_size_bytes', 'max_size_bytes', 'peak_used_bytes',
      'low_watermark_bytes', 'high_watermark_bytes', 'overcommit_ratio']
STATS = ['alloc_success', 'alloc_fail', 'free', 'invalid_free', 'reserve_fail',
         'grow', 'grow_fail', 'shrink', 'low_watermark']


def esc(data):
    """Escape bytes for gpool-helper: only [0-9A-Za-z] travel as they are;
    a long run of one byte as "@<count>x<hex>"."""
    if len(data) > 200:
        assert len(set(data)) == 1
        return f'@{len(data)}x{ord(data[0]):02x}'
    return ''.join(c if c.isascii() and c.isalnum() else f'\\x{ord(c):02x}'
                   for c in data)


def sent(data):
    """What gpool-helper says it wrote: length and FNV-1a hash of the bytes."""
    h = 0x811c9dc5
    for c in data:
        h = ((h ^ ord(c)) * 0x01000193) & 0xffffffff
    return f'{len(data)}:{h:08x}'


# Text that is not one plain decimal number: refused by every writable file.
SYNTAX = [
    '', '\n', ' ', '\n\n', ' 4096', '4096 ', '\t4096', '4096\n\n', '\n4096',
    '4096\r\n', '-1', '-4096', '-0', '+4096', '+0', '0x1000', '0X1000',
    '0o10', '010', '00', '0b1', '4096abc', 'abc', '4096k', '4096.0', '1e6',
    '4,096', '4 096', '1_000', 'NaN', 'inf', '\xff', '4096\x00', '\x004096',
    '4096\x00junk', '18446744073709551616', '99999999999999999999999',
    '1' * 5000, ' ' * 5000, '\n' * 5000,
]

# The state the bad inputs meet: 1 MiB in use, 24 MiB committed,
# min 512 KiB, low 1 MiB, high 16 MiB, max 32 MiB, ratio 100.
SEMANTIC = {
    'max_size_bytes': [(CAP + PAGE, 'EINVAL'), (256 << 10, 'EINVAL'),
                       (768 << 10, 'EBUSY'), (20 * MiB, 'EBUSY'),
                       (PAGE + 1, 'EINVAL'), (2**64 - PAGE, 'EINVAL'),
                       (2**64 - 1, 'EINVAL')],
    'min_size_bytes': [(CAP + PAGE, 'EINVAL'), (PAGE + 1, 'EINVAL'),
                       (2**64 - 1, 'EINVAL')],
    'low_watermark_bytes': [(16 * MiB + PAGE, 'EINVAL'), (PAGE + 1, 'EINVAL'),
                            (CAP + PAGE, 'EINVAL'), (2**64 - PAGE, 'EINVAL'),
                            (2**64 - 1, 'EINVAL')],
    'high_watermark_bytes': [(MiB - PAGE, 'EINVAL'), (PAGE + 1, 'EINVAL'),
                             (CAP + PAGE, 'EINVAL'), (2**64 - 4 * MiB, 'EINVAL'),
                             (2**64 - PAGE, 'EINVAL'), (2**64 - 1, 'EINVAL')],
    'overcommit_ratio': [(1001, 'EINVAL'), (74, 'EBUSY'), (2**32 + 100, 'EINVAL'),
                         (2**64 - 1, 'EINVAL')],
    'peak_used_bytes': [(1, 'EINVAL'), (PAGE, 'EINVAL'), (2**64 - 1, 'EINVAL')],
}


def bad_cases():
    for f in RW:
        for data in SYNTAX:
            # A zero-length write cannot reach the driver: sysfs returns 0
            # before it calls a store (fs/sysfs/file.c). It must change
            # nothing all the same.
            yield f, data, 'ok:0' if data == '' else 'EINVAL'
        for val, err in SEMANTIC[f]:
            yield f, str(val), err


BAD = list(bad_cases())

# Both modes: what is there, with which modes.
FILES = r'''
H=/bin/gpool-helper
dump dirs find $P -type d
dump files find $P -type f
for f in $P/* $P/stats/*; do
	if [ -f $f ]; then kvc "mode.${f#$P/}" stat -c %a $f; fi
done
'''

# The bad inputs (@BAD@), in one process; the values before and after.
BAD_INPUTS = r'''
snap bad0
cat > /tmp/bad <<'EOF'
@BAD@
EOF
dump bad $H batch /tmp/bad
snap bad1
kvc validate.bad cat $D/validate
'''

SCRIPT = FILES + r'''
# Orders are for 4 KiB pages, less S: as many bytes with 16 KiB pages, so
# that every value and the table of bad inputs hold with either.
S=0; [ "$PAGE" = 16384 ] && S=2
snap before
# State for the bad inputs (see SEMANTIC).
echo $((8 - S)) > $D/alloc
echo 25165824 > $D/reserve
echo 524288 > $P/min_size_bytes
echo 16777216 > $P/high_watermark_bytes
echo 1048576 > $P/low_watermark_bytes
''' + BAD_INPUTS + r'''
# Read-only files refuse writers; writable ones refuse non-root writers.
for f in @RO@; do kvc "ro.$f" $H write $P/$f 0; done
for f in @STATS@; do kvc "ro.stats/$f" $H write $P/stats/$f 0; done
for f in @RW@; do kvc "user.$f" $H write $P/$f 0 1000; done

# Good values take effect: max_size_bytes caps allocations.
echo 25165824 > $D/unreserve
kvc w.max1 $H write $P/max_size_bytes 4194304
snap maxlow
try w.alloc9 sh -c "echo $((10 - S)) > $D/alloc"
snap maxlow2
kvc w.max2 $H write $P/max_size_bytes 33554432
try w.alloc9b sh -c "echo $((10 - S)) > $D/alloc"
snap maxhigh
# overcommit_ratio lets reservations pass max_size_bytes.
try w.res1 sh -c "echo 41943040 > $D/reserve"
kvc w.ratio $H write $P/overcommit_ratio 150
try w.res2 sh -c "echo 41943040 > $D/reserve"
snap ratio
echo 41943040 > $D/unreserve
kvc w.ratio2 $H write $P/overcommit_ratio 100
# peak_used_bytes resets to what is in use now.
echo free_all > $D/free_all
kvc w.peak $H write $P/peak_used_bytes 0
snap peak
kvc w.min $H write $P/min_size_bytes 0
kvc w.low $H write $P/low_watermark_bytes 2097152
kvc w.high $H write $P/high_watermark_bytes 33554432
snap good
kvc validate.good cat $D/validate

# poll(): woken when free memory falls below the low watermark, not before.
echo 8388608 > $P/low_watermark_bytes
$H poll $P/free_bytes 20000 > /tmp/poll 2>&1 &
pid=$!
sleep 1
echo 11 > $D/alloc 2>/dev/null || :
echo $((10 - S)) > $D/alloc; echo $((10 - S)) > $D/alloc; echo $((10 - S)) > $D/alloc
sleep 1
kvc poll.early tr '\n' ' ' < /tmp/poll
kvc poll.stat0 cat $P/stats/low_watermark
for i in 1 2 3 4; do echo $((10 - S)) > $D/alloc; done
wait $pid
kvc poll.late tr '\n' ' ' < /tmp/poll
kvc poll.stat1 cat $P/stats/low_watermark
echo > $D/free_all
echo 0 > $P/low_watermark_bytes

# Writers flip tunables while the workload allocates; the validator, read
# over and over, must never see broken books. All stop with the workload.
# Each writer counts its writes that took effect and those refused; a
# refusal may only be the documented EBUSY (the state forbids the value now).
w() {	# w FILE VALUE: count into ok or busy, anything else into other
	r=$($H write $1 $2)
	case "$r" in ok:*) ok=$((ok + 1)) ;; EBUSY) busy=$((busy + 1)) ;;
	*) other=$((other + 1)) ;; esac
}
(ok=0; busy=0; other=0; while [ ! -e /tmp/stop ]; do
	w $P/low_watermark_bytes 4194304; w $P/low_watermark_bytes 0
	w $P/min_size_bytes 8388608; w $P/min_size_bytes 0
done; echo "$ok $busy $other" > /tmp/writer1) 2>/dev/null &
(ok=0; busy=0; other=0; while [ ! -e /tmp/stop ]; do
	w $P/max_size_bytes 30408704; w $P/max_size_bytes 33554432
	w $P/overcommit_ratio 120; w $P/overcommit_ratio 100
	w $P/peak_used_bytes 0
done; echo "$ok $busy $other" > /tmp/writer2) 2>/dev/null &
(bad=0; n=0; while [ ! -e /tmp/stop ]; do
	read v < $D/validate; [ "$v" = ok ] || bad=$((bad + 1)); n=$((n + 1))
done; echo "$bad $n" > /tmp/readers) &
rc=0; echo "20 6 400 99" > $D/workload || rc=$?
kv racer.workload "$(cat $D/workload) rc=$rc"
touch /tmp/stop
wait
kvc racer.readers cat /tmp/readers
kvc racer.writer1 cat /tmp/writer1
kvc racer.writer2 cat /tmp/writer2
echo 33554432 > $P/max_size_bytes
snap race
kvc validate.race cat $D/validate
'''


def batch(cases):
    return '\n'.join(f'/sys/kernel/gunyah/pool/{f} {esc(d)}' for f, d, _ in cases)


def boot_no_map(lane):
    script = (SCRIPT.replace('@BAD@', batch(BAD))
              .replace('@RO@', ' '.join(RO)).replace('@RW@', ' '.join(RW))
              .replace('@STATS@', ' '.join(STATS)))
    return harness.boot('sysfs', script, lane=lane)


@pytest.fixture(scope='module')
def b(lane):
    return boot_no_map(lane)


# A reusable pool: the same files, and the same text refused.
REUSABLE_SCRIPT = FILES + BAD_INPUTS
SYNTAX_BAD = [c for c in BAD if c[1] in SYNTAX]


@pytest.fixture(scope='module', params=['no-map', 'reusable'])
def bm(lane, request):
    if request.param == 'no-map':
        return boot_no_map(lane)
    overlay = ('qemu-virt-gunyah-pool-reusable-16k.dtso'
               if harness.lane_page_size(lane) == 16384 else
               'qemu-virt-gunyah-pool-reusable.dtso')
    return harness.boot('sysfs-reusable',
                        REUSABLE_SCRIPT.replace('@BAD@', batch(SYNTAX_BAD)),
                        overlay=overlay, lane=lane)


ABI = harness.TOP / 'Documentation' / 'ABI' / 'testing' / 'sysfs-kernel-gunyah-pool'


def test_abi_file_describes_what_is_there(bm):
    """Every What: of the ABI file is a file or directory the booted pool
    has, and the pool has nothing the ABI file does not describe."""
    what = {line.split()[1] for line in ABI.read_text().splitlines()
            if line.startswith('What:')}
    there = ({d.strip() + '/' for d in bm.dumps['dirs']} |
             {f.strip() for f in bm.dumps['files']})
    assert what == there, (f'undocumented: {sorted(there - what)}; '
                           f'documented, absent: {sorted(what - there)}')


def test_every_file_and_mode(bm):
    for f in RO:
        assert bm.kv[f'mode.{f}'] == '444', f
    for f in RW:
        assert bm.kv[f'mode.{f}'] == '644', f
    for f in STATS:
        assert bm.kv[f'mode.stats/{f}'] == '444', f
    files = {k.split('.', 1)[1] for k in bm.kv if k.startswith('mode.')}
    assert files == set(RO + RW + [f'stats/{s}' for s in STATS])


@pytest.mark.parametrize('phase', ['before', 'bad0', 'maxlow', 'maxhigh', 'ratio',
                                   'peak', 'good', 'race'])
def test_values_agree(b, phase):
    v = {k.split('.', 1)[1]: b.kv[k] for k in b.kv if k.startswith(phase + '.')}
    n = {k: int(x) for k, x in v.items() if k != 'mode'}
    assert v['mode'] == 'no-map'
    assert n['capacity_bytes'] == CAP
    assert n['size_bytes'] == n['max_size_bytes'] <= CAP
    assert n['free_bytes'] == n['size_bytes'] - n['used_bytes']
    assert n['commit_limit_bytes'] == n['max_size_bytes'] * n['overcommit_ratio'] // 100
    assert n['overcommit_bytes'] == max(0, n['committed_bytes'] - n['max_size_bytes'])
    assert n['peak_used_bytes'] >= n['used_bytes']
    assert n['min_size_bytes'] <= n['max_size_bytes']
    assert n['low_watermark_bytes'] <= n['high_watermark_bytes']
    assert n['committed_bytes'] <= n['commit_limit_bytes']


def check_bad(b, cases):
    """Each case's row: sent as the table has it, refused with its errno,
    the value unchanged; and nothing changed in the end."""
    rows = b.dumps['bad']
    assert len(rows) == len(cases), 'the helper did not run every case'
    before = {f: b.kv[f'bad0.{f}'] for f in RW}
    wrong = []
    for i, ((f, data, want), row) in enumerate(zip(cases, rows)):
        idx, got, value, wrote = row.split(' ')
        assert int(idx) == i, row
        if wrote != sent(data):
            wrong.append(f'{f} <- {data[:30]!r}: the helper wrote {wrote}, '
                         f'not {sent(data)}')
        if got != want or value != before[f]:
            wrong.append(f'{f} <- {data[:30]!r}: {got} (want {want}), '
                         f'value {value} (was {before[f]})')
    assert not wrong, '\n'.join(wrong)
    for f in RW:
        assert b.kv[f'bad1.{f}'] == before[f]
    assert b.kv['validate.bad'] == 'ok'


def test_bad_inputs_refused_and_change_nothing(b):
    # Distinct inputs per file, each sent as the table has it.
    assert len(set(BAD)) == len(BAD) >= 44 * len(RW)
    check_bad(b, BAD)


def test_bad_text_refused_in_both_modes(bm):
    if bm.name.startswith('sysfs-reusable'):
        assert bm.kv['bad0.mode'] == 'reusable'
        check_bad(bm, SYNTAX_BAD)
    else:
        assert bm.kv['bad0.mode'] == 'no-map'
        check_bad(bm, BAD)


def test_read_only_files_refuse_writes(b):
    for f in RO + [f'stats/{s}' for s in STATS]:
        assert b.kv[f'ro.{f}'] == 'EACCES', f


def test_non_root_writer_refused(b):
    for f in RW:
        assert b.kv[f'user.{f}'] == 'EACCES', f


def test_max_size_caps_allocations(b):
    kv = b.kv
    assert kv['w.max1'].startswith('ok:')
    assert int(kv['maxlow.max_size_bytes']) == 4 * MiB
    assert int(kv['maxlow.size_bytes']) == 4 * MiB
    # 1 MiB is in use, so an order-10 (4 MiB) block no longer fits.
    assert kv['w.alloc9'] == '1'
    assert int(kv['maxlow2.stats/alloc_fail']) == int(kv['maxlow.stats/alloc_fail']) + 1
    assert kv['w.max2'].startswith('ok:')
    assert kv['w.alloc9b'] == '0'
    assert int(kv['maxhigh.used_bytes']) == 5 * MiB


def test_overcommit_ratio_admits_reservations(b):
    kv = b.kv
    assert kv['w.res1'] == '1'          # 40 MiB > 100% of 32 MiB
    assert kv['w.ratio'].startswith('ok:')
    assert kv['w.res2'] == '0'          # within 150%
    assert int(kv['ratio.committed_bytes']) == 40 * MiB
    assert int(kv['ratio.overcommit_bytes']) == 8 * MiB
    assert int(kv['ratio.commit_limit_bytes']) == 48 * MiB
    assert int(kv['ratio.stats/reserve_fail']) >= 1
    assert kv['w.ratio2'].startswith('ok:')


def test_peak_resets_and_tunables_stick(b):
    kv = b.kv
    assert int(kv['maxhigh.peak_used_bytes']) >= 5 * MiB
    assert kv['w.peak'].startswith('ok:')
    assert int(kv['peak.peak_used_bytes']) == int(kv['peak.used_bytes']) == 0
    assert int(kv['good.min_size_bytes']) == 0
    assert int(kv['good.low_watermark_bytes']) == 2 * MiB
    assert int(kv['good.high_watermark_bytes']) == CAP
    assert kv['validate.good'] == 'ok'


def test_poll_woken_by_low_watermark_only(b):
    # 12 MiB used leaves 20 MiB free, above 8 MiB: no wake-up yet.
    assert b.kv['poll.early'].strip() == 'armed'
    assert b.kv['poll.stat0'] == b.kv['good.stats/low_watermark']
    # 28 MiB used leaves 4 MiB: the crossing wakes the poller once.
    assert b.kv['poll.late'].split() == ['armed', 'woken']
    assert int(b.kv['poll.stat1']) == int(b.kv['poll.stat0']) + 1


def test_writers_race_the_workload(b):
    assert 'err=0' in b.kv['racer.workload'], b.kv['racer.workload']
    assert b.kv['racer.workload'].endswith(' rc=0'), b.kv['racer.workload']
    bad, reads = (int(x) for x in b.kv['racer.readers'].split())
    assert reads > 0 and bad == 0, f'{bad} of {reads} validator reads failed'
    for w, per_round in (('writer1', 4), ('writer2', 5)):
        ok, busy, other = (int(x) for x in b.kv[f'racer.{w}'].split())
        # Each writer went round at least once while the workload ran, and
        # was refused only for the state of the moment, never otherwise.
        assert ok > 0 and ok + busy >= per_round and other == 0, (w, ok, busy, other)
    assert int(b.kv['race.used_bytes']) == 0
    assert int(b.kv['race.committed_bytes']) == 0
    assert b.kv['validate.race'] == 'ok'


READERS = r"""
H=/bin/gpool-helper
# Park blocks in the per-CPU caches: allocate order 0 to 4 on every CPU,
# free them all; what the caches hold stays there while nothing allocates.
for cpu in 0 1; do
	for o in 0 1 2 3 4 0 1 2; do taskset -c $cpu sh -c "echo $o > $D/alloc"; done
	taskset -c $cpu sh -c "echo > $D/free_all"
done
kvc pcp.before tr '\n' ' ' < $D/pcp
for f in $P/*_bytes $P/overcommit_ratio $P/stats/*; do kvc "v0.${f#$P/}" cat $f; done
kvc readers $H readloop 65534 200 $P/*_bytes $P/overcommit_ratio $P/mode $P/stats/*
kvc pcp.after tr '\n' ' ' < $D/pcp
for f in $P/*_bytes $P/overcommit_ratio $P/stats/*; do kvc "v1.${f#$P/}" cat $f; done
# A max_size_bytes store empties the caches and keeps them off while it
# checks; refused (a block is held), it must switch them on again: a block
# freed after it is cached.
taskset -c 0 sh -c "echo 4 > $D/alloc"
kvc max.refused $H write $P/max_size_bytes 0
taskset -c 0 sh -c "echo > $D/free_all"
kvc pcp.refused tr '\n' ' ' < $D/pcp
"""


def test_non_root_readers_change_nothing(lane):
    """An unprivileged reader, however busy, sees the books and changes
    nothing: not the numbers, and not the blocks parked in the caches."""
    b = harness.boot('sysfs-readers', READERS, lane=lane)
    files = len(RO) + len(RW) + len(STATS)
    assert b.kv['readers'] == f'reads={200 * files} fails=0'
    before, after = b.kv['pcp.before'], b.kv['pcp.after']
    cached = sum(int(n) for n in before.split() if n.isdigit())
    assert cached > 0, f'nothing was cached to watch: {before}'
    assert after == before
    for k in [k for k in b.kv if k.startswith('v0.')]:
        assert b.kv['v1.' + k[3:]] == b.kv[k], k[3:]


def test_caches_on_again_after_a_refused_max_store(lane):
    b = harness.boot('sysfs-readers', READERS, lane=lane)
    assert b.kv['max.refused'] == 'EBUSY'
    cpu0 = b.kv['pcp.refused'].split('cpu1')[0].split()[1:]
    assert sum(int(n) for n in cpu0) > 0, b.kv['pcp.refused']
