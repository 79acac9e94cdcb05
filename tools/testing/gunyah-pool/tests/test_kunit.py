# SPDX-License-Identifier: GPL-2.0-only
"""The KUnit suites gunyah_pool and gunyah_pool_faults, run at boot: one
pytest result per case.

The case list comes from the suites' source, so a case that never reports
(the kernel died in it, or it was not built) fails here by name. In the
lanes with kmemleak, the fault sweeps run again after boot with failslab
and fail_page_alloc failing sleeping allocations too, and the boot is then
scanned for leaks.
"""
import re
import types

import pytest

from gpool import harness

SOURCE = harness.TOP / 'drivers' / 'virt' / 'gunyah' / 'cma_pool_test.c'
CASES = re.findall(r'KUNIT_CASE(?:_PARAM|_SLOW)?\((gunyah_pool_test_\w+)',
                   SOURCE.read_text())

# Warnings the suite provokes on purpose, by case: misuse is refused with a
# warning once per pool and kind, and each of these cases misuses a pool of
# its own in one way. Nothing else may warn.
PROVOKED = {
    'gunyah_pool_test_zero_atomic_refused': 'gunyah_pool_block_alloc',
    # One private pool per refused free, each warning once.
    'gunyah_pool_test_free_refused': ['gunyah_pool_block_free'] * 9,
    'gunyah_pool_test_unreserve_too_much': 'gunyah_pool_uncommit',
    # The validator's own reports ("validate" below) on books it corrupted.
    'gunyah_pool_test_validator_detects': 'validate',
}
WARNING = (r'WARNING: CPU: \d+ PID: \d+ at drivers/virt/gunyah/cma_pool(?:_limits)?\.c:\d+ '
           r'(gunyah_pool_block_alloc|gunyah_pool_block_free|gunyah_pool_uncommit)\+')
# Error-level reports fail any other boot; here only the test pool's.
VALIDATE = r'gunyah_pool: kunit: validate: '
EXPECTED = [WARNING, VALIDATE]
CASE_END = re.compile(r'^\s*(?:not )?ok \d+ (gunyah_pool_test_\w+)')


def warnings_by_case(log):
    """{case: [functions that warned while it ran]}, and the warnings no
    case result followed."""
    seen, pending = {}, []
    for line in log.splitlines():
        m = re.search(WARNING, line)
        if m:
            pending.append(m[1])
            continue
        if re.search(VALIDATE, line):
            # One validation reports each thing it found: one entry.
            if pending[-1:] != ['validate']:
                pending.append('validate')
            continue
        m = CASE_END.match(line)
        if m and pending:
            seen[m[1]] = pending
            pending = []
    return seen, pending


SUITES = ('gunyah_pool', 'gunyah_pool_faults', 'gunyah_pool_memcg')
# Lanes with kmemleak (and KUnit's debugfs): the fault sweeps again, after
# boot, with every allocation failable (lib.sh fault_setup); then a scan.
LEAK_LANES = ('kasan', 'kasan-pagealloc')
RERUN = r'''
fault_setup
echo go > /sys/kernel/debug/kunit/gunyah_pool_faults/run
dump rerun cat /sys/kernel/debug/kunit/gunyah_pool_faults/results
# The bare API under a memory cgroup: the suite started from cgroup k,
# whose memory.max leaves 1.5 MiB (a 1 MiB block is charged, a 2 MiB one
# refused).
mount -t cgroup2 none /sys/fs/cgroup
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/k
K=/sys/fs/cgroup/k
sh -c "echo \$\$ > $K/cgroup.procs && read cur < $K/memory.current &&
	echo \$((cur + 1572864)) > $K/memory.max &&
	echo go > /sys/kernel/debug/kunit/gunyah_pool_memcg/run"
dump memcg cat /sys/kernel/debug/kunit/gunyah_pool_memcg/results
'''
SWEEP = re.compile(r'fail-nth sweep: (.+?): (\d+) faults injected, (\d+) failed')


def sweeps(lines):
    """{step: (faults injected, runs that failed)} from a sweep's log."""
    return {m[1]: (int(m[2]), int(m[3])) for m in map(SWEEP.search, lines) if m}


def test_fault_sweeps_reach_sleeping_allocations(suite, lane):
    """Run again with failslab and fail_page_alloc failing GFP_KERNEL too,
    the sweeps inject more faults (the slab and page allocations under the
    pool's own points), each run's books still add up, and the boot leaks
    nothing (kmemleak scans after it)."""
    if lane not in LEAK_LANES:
        pytest.skip(f'the sweeps run again only where kmemleak is: {", ".join(LEAK_LANES)}')
    b = suite.boot
    rerun = b.dumps['rerun']
    assert any(re.match(r'\s*ok \d+ gunyah_pool_test_fail_nth', x) for x in rerun), rerun
    assert not any(re.match(r'\s*not ok ', x) for x in rerun), rerun
    before = sweeps(b.log.split('@@GPOOL boot', 1)[0].splitlines())
    after = sweeps(rerun)
    assert set(after) == set(before) and before, (before, after)
    for step, (injected, failed) in after.items():
        harness.note(f'kunit fault sweep [{b.name}]: {step}: {before[step][0]} '
                     f'faults at boot, {injected} with sleeping allocations '
                     f'failable ({failed} failed the step)')
        if step.startswith('alloc'):
            assert injected > before[step][0], (step, before[step], injected)
    assert b.kv['kmemleak'] == 'on'


def test_bare_api_under_a_memory_cgroup(suite, lane):
    """Run from a cgroup (at boot they skip: KUnit runs in the root cgroup,
    whose kernel memory is not charged): a __GFP_ACCOUNT block is charged
    to the cgroup until it is freed, and at memory.max it is refused with
    the pool as it was."""
    if lane not in LEAK_LANES:
        pytest.skip(f'memory cgroups and KUnit\'s debugfs are in {", ".join(LEAK_LANES)}')
    res = suite.boot.dumps['memcg']
    for case in ('gunyah_pool_test_memcg_charge', 'gunyah_pool_test_memcg_refused'):
        assert any(re.match(rf'\s*ok \d+ {case}\s*$', x) for x in res), res
    assert not any(re.search(r'not ok|# SKIP', x) for x in res), res
    for line in res:
        if '_test_memcg_' in line and 'memcg: ' in line:
            harness.note(f'kunit [{suite.boot.name}]: ' + line.split('memcg: ', 1)[1])


# The suite runs against a no-map and a reusable system pool, the reusable
# one with rodata=full and with rodata=on (only its region mapped with pages,
# patches/0005-*, 0007-*, 0008-*); cases for the other mode skip, and say so.
OVERLAYS = {'no-map': (harness.DEFAULT_OVERLAY, ''),
            'reusable': ('qemu-virt-gunyah-pool-reusable.dtso', ''),
            'reusable-rodata-on': ('qemu-virt-gunyah-pool-reusable.dtso', 'rodata=on')}


@pytest.fixture(scope='module', params=OVERLAYS)
def suite(lane, request):
    overlay, append = OVERLAYS[request.param]
    if lane == '64k':
        # The order-10 block is 64 MiB: a region must hold one.
        overlay = 'qemu-virt-gunyah-pool-64k.dtso'
    if append and lane == 'kasan-pagealloc':
        pytest.skip('debug_pagealloc maps the whole linear map page by page')
    if lane == '64k' and request.param != 'no-map':
        # A reusable region is CMA's: pageblock aligned, 512 MiB with
        # 64 KiB pages, half of the guest's memory.
        pytest.skip('64 KiB pages: the suite runs against the no-map pool')
    rerun = lane in LEAK_LANES
    b = harness.boot(f'kunit-{request.param}', RERUN if rerun else '',
                     kunit='gunyah_pool*', overlay=overlay, append=append,
                     expect_splats=EXPECTED, lane=lane, leakscan=rerun,
                     timeout=240 if rerun else 60)
    root = harness.kunit_results(b)
    found = {t.name: t for t in root.subtests if t.name in SUITES}
    assert set(found) == set(SUITES), f'suites that did not run: {set(SUITES) - set(found)}'
    suite = types.SimpleNamespace(
        boot=b, subtests=[c for t in found.values() for c in t.subtests],
        status={n: t.status.name for n, t in found.items()},
        log=[line for t in found.values() for line in t.log])
    # pytest may set a module fixture up again for the same boot: note once.
    if not getattr(b, 'noted', False):
        b.noted = True
        boot = b.log.split('@@GPOOL boot', 1)[0].splitlines()
        for line in [x for x in boot if re.search(r'fail-nth sweep: |pcp stress: ', x)]:
            harness.note(f'kunit [{request.param}-{lane}]: ' +
                         re.split(r'fail-nth sweep: |(?=pcp stress: )', line, 1)[1].strip())
    return suite


def test_suite_passes(suite):
    assert len(CASES) >= 15
    # At boot the memory-cgroup cases skip (KUnit runs in the root cgroup).
    want = {n: {'SUCCESS'} for n in SUITES}
    want['gunyah_pool_memcg'] = {'SKIPPED'}
    assert all(suite.status[n] in want[n] for n in SUITES), suite.log
    reported = {t.name for t in suite.subtests}
    assert reported == set(CASES), f'unexpected or missing: {reported ^ set(CASES)}'


def test_each_expected_warning_once_per_case(suite):
    seen, stray = warnings_by_case(suite.boot.log)
    assert not stray, f'warnings after the last case: {stray}'
    ran = {t.name for t in suite.subtests if t.status.name == 'SUCCESS'}
    want = {case: func if isinstance(func, list) else [func]
            for case, func in PROVOKED.items() if case in ran}
    assert len(want) >= 4, f'the provoking cases did not run: {ran}'
    assert seen == want


def test_each_refused_free_says_why(suite):
    """gunyah_pool_test_free_refused sends each refusal of the free path
    alone; the warning of each names the reason its description ends with."""
    log = suite.boot.log.split('@@GPOOL boot', 1)[0]
    case = re.search(r'# Subtest: gunyah_pool_test_free_refused\r?\n(.*?)'
                     r'\bok \d+ gunyah_pool_test_free_refused', log, re.S)
    assert case, 'gunyah_pool_test_free_refused did not run'
    why, seen = None, []
    for line in case[1].splitlines():
        m = re.search(r'kunit: refused to free \S+ order \d+: (.*?)\s*$', line)
        if m:
            why = m[1]
        m = re.match(r'\s*ok \d+ (.*): (.*?)\s*$', line)
        if m:
            seen.append((m[1], m[2], why))
            why = None
    assert len(seen) == 9, seen
    assert [s for s in seen if s[1] != s[2]] == []


@pytest.mark.parametrize('case', CASES)
def test_case(suite, case):
    found = [t for t in suite.subtests if t.name == case]
    assert found, f'{case} never reported a result (CRASHED)'
    t = found[0]
    if t.status.name == 'SKIPPED':
        # A parameterised case skips by its parameters, which give the reason.
        log = suite.boot.log
        sub = re.search(rf'# Subtest: {case}\r?\n', log)
        start = sub.start() if sub else 0
        end = re.search(rf'ok \d+ {case}\b[^\n]*', log[start:])
        block = ''
        if end:
            block = log[start:start + end.end()] if start else end.group(0)
        why = [w.strip() for w in re.findall(r'# SKIP (\S[^\n]*)', block)]
        why = list(dict.fromkeys(why))
        pytest.skip(f'{case}: {"; ".join(why) if why else "?"}')
    params = [f'{s.name}: {s.status.name}' for s in t.subtests]
    assert t.status.name == 'SUCCESS', '\n'.join(t.log + params)
