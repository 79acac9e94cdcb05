# SPDX-License-Identifier: GPL-2.0-only
"""pytest glue: make the harness importable, run boot tests once per lane,
and report where the logs go."""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpool import harness  # noqa: E402


PAGEALLOC_MODULES = {'test_kunit', 'test_boot', 'test_reusable'}


def pytest_addoption(parser):
    parser.addoption('--lanes', default=os.environ.get('GPOOL_LANES', 'default'),
                     help='comma-separated lanes to boot: ' +
                          ', '.join(harness.LANES))


def pytest_generate_tests(metafunc):
    # Boot tests take a "lane" argument; their module-scoped boot fixtures
    # then boot once per lane.
    if 'lane' in metafunc.fixturenames:
        lanes = metafunc.config.getoption('lanes').split(',')
        # debug_pagealloc is about the linear map: boot it for the modules
        # that look at the linear map, not for every one.
        if metafunc.module.__name__.split('.')[-1] not in PAGEALLOC_MODULES:
            lanes = [lane for lane in lanes if lane != 'kasan-pagealloc']
        metafunc.parametrize('lane', lanes, scope='module')


def pytest_report_header(config):
    return [f'gunyah-pool: lanes {config.getoption("lanes")}; '
            f'logs in {harness.out_dir()}']


def pytest_terminal_summary(terminalreporter):
    if harness.NOTES:
        terminalreporter.section('gunyah-pool figures')
        for line in harness.NOTES:
            terminalreporter.write_line(line)
