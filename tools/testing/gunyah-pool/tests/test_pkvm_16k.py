# SPDX-License-Identifier: GPL-2.0-only
"""pKVM with 16 KiB pages (the 16k-pkvm lane): 6.12's pKVM, in hVHE and in
nVHE, stops the boot on QEMU's "max" CPU once EL2 is initialised, before
/init, with no pool node and the pool off: nothing of the pool is involved.
The pool's pKVM consumer is tested with 4 KiB pages (test_pkvm). When a
kernel fixes it, this fails, and test_pkvm should boot in the 16k-pkvm lane
too."""
import pytest

from gpool import harness


@pytest.mark.parametrize('mode', ['hVHE', 'nVHE'])
def test_boot_stops_once_el2_is_initialised(lane, mode):
    append = 'id_aa64mmfr1.vh=0 arm64_sw.hvhe=0' if mode == 'nVHE' else ''
    b = harness.boot(f'pkvm-16k-{mode}', 'true', lane=lane,
                     overlay=harness.empty_overlay(), append=append,
                     timeout=20, check=False)
    log = b.dir / 'console.log'
    assert b.page == 16384
    assert b.lines(rf'kvm \[\d+\]: Protected {mode} mode initialized successfully'), log
    assert b.timed_out, log
    assert not b.lines(r'Run /init as init process'), log
    assert not b.lines(r'Kernel panic|Internal error'), log
    harness.note(f'pKVM, 16 KiB pages, {mode}: the boot stops once EL2 is '
                 f'initialised (6.12, no pool)')
