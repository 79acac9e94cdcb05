# SPDX-License-Identifier: GPL-2.0-only
"""Positive controls for the debugging tools the lanes rely on, as the
kernel's own KASAN and KFENCE tests have them: each tool is made to report
once (CONFIG_GUNYAH_POOL_PROVOKE's debugfs file "provoke"), in a boot of
the lane that has it, and the harness must fail that boot and name the tool.
A lane whose tool cannot be shown to fire proves nothing by passing."""
import subprocess

import pytest

from gpool import harness

# The tool, a lane that has it, and the word that provokes it: every lane
# built with DEBUG_ATOMIC_SLEEP shows that it fires.
CONTROLS = {
    'KASAN': ('kasan', 'kasan'),
    'UBSAN': ('kasan', 'ubsan'),
    'lockdep': ('kasan', 'lockdep'),
    'kmemleak': ('kasan', 'leak'),
    'KCSAN': ('kcsan', 'kcsan'),
    'Oops': ('default', 'oops'),
    'atomic-sleep-kasan': ('kasan', 'sleep'),
    'atomic-sleep-kcsan': ('kcsan', 'sleep'),
    'atomic-sleep-pkvm': ('pkvm', 'sleep'),
    'atomic-sleep-16k': ('16k', 'sleep'),
    # Hangs, provoked by the kernel's own lkdtm: a CPU spinning with
    # preemption off, a task blocked for good; each in the background, with
    # the detector's threshold lowered to 1 s (a lockup is reported after
    # 2 * watchdog_thresh) and 2 s.
    'soft-lockup-kasan': ('kasan', 'lkdtm SOFTLOCKUP watchdog_thresh=1'),
    'soft-lockup-kcsan': ('kcsan', 'lkdtm SOFTLOCKUP watchdog_thresh=1'),
    'hung-task-kasan': ('kasan', 'lkdtm HUNG_TASK hung_task_timeout_secs=2'),
    'hung-task-kcsan': ('kcsan', 'lkdtm HUNG_TASK hung_task_timeout_secs=2'),
}


# The provocation runs in a child shell: an Oops kills the task that wrote,
# and the script goes on to show that the machine lives.
SCRIPT = r'''
sh -c "echo @WORD@ > $D/provoke" || :
kv survived yes
'''
# On CPU 1: poweroff moves to CPU 0 to stop the machine, which must be free.
LKDTM_SCRIPT = r'''
echo @LIMIT@
taskset 2 sh -c 'echo @TYPE@ > /sys/kernel/debug/provoke-crash/DIRECT' &
# Power off once the detector has spoken (within 10 s), well before RCU
# reports the stuck CPU as a stall (21 s).
for i in $(seq 20); do
	dmesg | grep -q -e 'soft lockup' -e 'blocked for more than' && break
	sleep 0.5
done
kv survived yes
'''


@pytest.mark.parametrize('tool', CONTROLS)
def test_tool_fires_and_fails_the_boot(request, tool):
    lane, word = CONTROLS[tool]
    tool = tool.split('-' + lane)[0]
    lanes = request.config.getoption('lanes').split(',')
    if lane not in lanes:
        pytest.skip(f'{tool} is in lane {lane}, not among {",".join(lanes)}')
    if word.startswith('lkdtm '):
        _, crash, limit = word.split()
        knob, value = limit.split('=')
        script = (LKDTM_SCRIPT.replace('@TYPE@', crash)
                  .replace('@LIMIT@', f'{value} > /proc/sys/kernel/{knob}'))
        word = crash.lower()
    else:
        script = SCRIPT.replace('@WORD@', word)
    b = harness.boot(f'detector-{word}', script,
                     lane=lane, check=False, leakscan=tool == 'kmemleak')
    assert b.kv.get('survived') == 'yes', b.problems
    # Its report, and no other tool's, and the verdict names it.
    assert b.splats, f'{tool} did not report'
    assert b.detectors == {tool}, b.splats
    with pytest.raises(harness.HarnessError, match=rf'\({tool}\)'):
        b.check()


def test_kcsan_instruments_every_object_of_the_pool(request):
    """The kcsan lane instruments only the pool's objects (and genalloc):
    each must call into KCSAN, or a race in it goes unseen."""
    if 'kcsan' not in request.config.getoption('lanes').split(','):
        pytest.skip('the kcsan lane is not among the lanes')
    objdir = harness.kernel('kcsan') / 'drivers' / 'virt' / 'gunyah'
    sources = sorted(p.stem for p in (harness.TOP / 'drivers/virt/gunyah').glob('*.c'))
    blind = []
    for name in sources + ['../../../lib/genalloc']:
        obj = objdir / f'{name}.o'
        out = subprocess.run(['aarch64-linux-gnu-nm', '-u', obj], text=True,
                             stdout=subprocess.PIPE, check=True).stdout
        if '__tsan_' not in out:
            blind.append(name)
    assert not blind, f'not instrumented: {blind}'
