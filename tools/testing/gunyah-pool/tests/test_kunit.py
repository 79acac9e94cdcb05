# SPDX-License-Identifier: GPL-2.0-only
"""The KUnit suite gunyah_pool, run at boot: one pytest result per case.

The case list comes from the suite's source, so a case that never reports
(the kernel died in it, or it was not built) fails here by name.
"""
import re

import pytest

from gpool import harness

SOURCE = harness.TOP / 'drivers' / 'virt' / 'gunyah' / 'cma_pool_test.c'
CASES = re.findall(r'KUNIT_CASE(?:_PARAM)?\((gunyah_pool_test_\w+)',
                   SOURCE.read_text())

# Warnings the suite provokes on purpose: misuse is refused with WARN_ONCE.
EXPECTED = [
    r'WARNING: CPU: \d+ PID: \d+ at drivers/virt/gunyah/cma_pool\.c:\d+ '
    r'(gunyah_pool_block_alloc|gunyah_pool_block_free|gunyah_pool_uncommit)\+',
]


@pytest.fixture(scope='module')
def suite():
    b = harness.boot('kunit', kunit='gunyah_pool', expect_splats=EXPECTED)
    root = harness.kunit_results(b)
    suites = [t for t in root.subtests if t.name == 'gunyah_pool']
    assert suites, 'suite gunyah_pool did not run'
    return suites[0]


def test_suite_passes(suite):
    assert len(CASES) >= 15
    assert suite.status.name == 'SUCCESS', suite.log
    reported = {t.name for t in suite.subtests}
    assert reported == set(CASES), f'unexpected or missing: {reported ^ set(CASES)}'


@pytest.mark.parametrize('case', CASES)
def test_case(suite, case):
    found = [t for t in suite.subtests if t.name == case]
    assert found, f'{case} never reported a result (CRASHED)'
    t = found[0]
    if t.status.name == 'SKIPPED':
        pytest.skip(f'{case} skipped in the kernel: {t.log}')
    params = [f'{s.name}: {s.status.name}' for s in t.subtests]
    assert t.status.name == 'SUCCESS', '\n'.join(t.log + params)
