# SPDX-License-Identifier: GPL-2.0-only
"""pytest glue: make the harness importable, run boot tests in each lane,
and report where the logs go."""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpool import harness  # noqa: E402


# Lanes that boot only some modules: debug_pagealloc is about the linear map,
# KCSAN about concurrency (the stress, the racing sysfs writers, KUnit).
LANE_MODULES = {
    'kasan-pagealloc': {'test_kunit', 'test_boot', 'test_reusable'},
    'kcsan': {'test_kunit', 'test_boot', 'test_sysfs', 'test_reliability'},
    'pkvm': {'test_pkvm', 'test_modules'},
    # 16 KiB pages: what scales with PAGE_SIZE (orders, the reusable chunk,
    # CMA's alignment, the DT rules, pKVM), and the sysfs ABI, whose values
    # are all multiples of 16 KiB.
    '16k': {'test_kunit', 'test_boot', 'test_reusable', 'test_sysfs'},
    '16k-pkvm': {'test_pkvm_16k'},
    # 64 KiB pages: the KUnit suite against a no-map pool.
    '64k': {'test_kunit'},
}
# Modules that boot only in some lanes: pKVM needs the pkvm lane's kernel,
# and it is the lane built with CONFIG_MODULES.
MODULE_LANES = {
    'test_pkvm': {'pkvm'},
    'test_pkvm_16k': {'16k-pkvm'},
    'test_modules': {'pkvm'},
    # pKVM refuses hibernation itself (NOTES.md).
    'test_hibernation': {'default', 'kasan'},
}


def pytest_configure(config):
    def progress(line):
        # Past the output capture; looked up late, as pytest registers its
        # terminal reporter after conftest.py is configured.
        reporter = config.pluginmanager.getplugin('terminalreporter')
        capman = config.pluginmanager.getplugin('capturemanager')
        if reporter and capman:
            with capman.global_and_fixture_disabled():
                reporter.write_line(f'gunyah-pool: {line}')
    harness.progress = progress


def pytest_addoption(parser):
    parser.addoption('--lanes', default=os.environ.get('GPOOL_LANES', 'default'),
                     help='comma-separated lanes to boot: ' +
                          ', '.join(harness.LANES))


def pytest_generate_tests(metafunc):
    # Boot tests take a "lane" argument; their module-scoped boot fixtures
    # then boot in each lane.
    if 'lane' in metafunc.fixturenames:
        lanes = metafunc.config.getoption('lanes').split(',')
        module = metafunc.module.__name__.split('.')[-1]
        picked = [lane for lane in lanes
                  if module in LANE_MODULES.get(lane, {module})
                  and lane in MODULE_LANES.get(module, {lane})]
        if not picked:
            picked = [pytest.param(None, marks=pytest.mark.skip(
                reason=f'{module} does not boot in lane(s) {",".join(lanes)}'))]
        metafunc.parametrize('lane', picked, scope='module')


def pytest_report_header(config):
    return [f'gunyah-pool: lanes {config.getoption("lanes")}; '
            f'logs in {harness.out_dir()}']


# Wall time per test module (setup, call and teardown: a module's boots
# happen in its fixtures' setup), printed at the end of every run.
WALL = {}


def pytest_runtest_logreport(report):
    module = report.nodeid.split('::')[0].rsplit('/', 1)[-1]
    WALL[module] = WALL.get(module, 0.0) + report.duration
    if report.skipped:
        reason = (report.longrepr[2] if isinstance(report.longrepr, tuple)
                  else str(report.longrepr))
        SKIPS[report.nodeid] = reason.removeprefix('Skipped: ')


# Every skip of a full run (the CI's lanes, no selection) must be one of
# skips.txt's "test id: reason" lines, and every line must still be a skip:
# a test that starts skipping, or stops, fails the run until the file says
# so. Each run writes its own list to out/<run>/skipped.txt.
SKIPS = {}
PINNED = Path(__file__).resolve().parent / 'skips.txt'
FULL_LANES = {'default', 'kasan', 'kasan-pagealloc', 'kcsan', 'pkvm', '16k',
              '16k-pkvm', '64k'}
SKIP_PROBLEMS = []


def full_run(config):
    lanes = set(config.getoption('lanes').split(','))
    args = [a for a in config.args if a not in ('tests', 'tests/')]
    return (lanes == FULL_LANES and not config.option.keyword and
            not config.option.markexpr and not args)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    actual = [f'{k}: {v}' for k, v in sorted(SKIPS.items())]
    (harness.out_dir() / 'skipped.txt').write_text(''.join(a + '\n' for a in actual))
    if not full_run(session.config):
        return
    pinned = [line for line in PINNED.read_text().splitlines()
              if line and not line.startswith('#')]
    SKIP_PROBLEMS.extend(f'new skip, not in {PINNED.name}: {a}'
                         for a in actual if a not in pinned)
    SKIP_PROBLEMS.extend(f'pinned in {PINNED.name}, but not skipped: {p}'
                         for p in pinned if p not in actual)
    if SKIP_PROBLEMS and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    if SKIP_PROBLEMS:
        terminalreporter.section('gunyah-pool pinned skips', red=True)
        for line in SKIP_PROBLEMS:
            terminalreporter.write_line(line)
    if harness.NOTES:
        terminalreporter.section('gunyah-pool figures')
        for line in harness.NOTES:
            terminalreporter.write_line(line)
    if WALL:
        terminalreporter.section('gunyah-pool wall time per module')
        for module, secs in sorted(WALL.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f'{secs / 60:6.1f} min  {module}')
        terminalreporter.write_line(f'{sum(WALL.values()) / 60:6.1f} min  '
                                    f'in all')
    # Kept with the run's logs: series.py quotes the newest in its cover
    # letter.
    counts = ', '.join(f'{len(terminalreporter.stats.get(k, []))} {k}'
                       for k in ('passed', 'failed', 'error', 'skipped'))
    (harness.out_dir() / 'figures.txt').write_text(
        f'lanes {config.getoption("lanes")}: {counts}\n' +
        ''.join(line + '\n' for line in harness.NOTES))
