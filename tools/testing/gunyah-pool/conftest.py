# SPDX-License-Identifier: GPL-2.0-only
"""pytest glue: make the harness importable and report where logs went."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpool import harness  # noqa: E402


def pytest_report_header(config):
    return [f'gunyah-pool: logs in {harness.out_dir()}']
