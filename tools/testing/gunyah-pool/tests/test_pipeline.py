# SPDX-License-Identifier: GPL-2.0-only
"""The harness itself: every way a run can go wrong fails loudly and says
which, rather than hanging or passing."""
import subprocess

import pytest

from gpool import harness


def test_panic_fails_the_boot():
    # No /init to run and no root device: the kernel panics.
    b = harness.boot('pipeline-panic', append='rdinit=/nonexistent',
                     timeout=60, check=False)
    assert any(p.startswith('kernel panic') for p in b.problems), b.problems
    with pytest.raises(harness.HarnessError, match='kernel panic'):
        b.check()


def test_hang_fails_the_boot():
    b = harness.boot('pipeline-hang', 'sleep 600', timeout=10, check=False)
    assert b.timed_out
    assert any('QEMU hung' in p for p in b.problems), b.problems


def test_unexpected_splat_fails_the_boot():
    # A refused free warns once; undeclared, the warning fails the boot.
    script = 'try rc sh -c "echo \'0x1000 0\' > $D/free"'
    b = harness.boot('pipeline-splat', script, check=False)
    assert b.kv['rc'] == '1'
    assert any('unexpected kernel splat' in p for p in b.problems), b.problems
    # Declared as expected, the same boot passes.
    harness.boot('pipeline-splat-expected', script,
                 expect_splats=[r'WARNING: .* gunyah_pool_block_free\+'])


def test_failing_guest_script_fails_the_boot():
    b = harness.boot('pipeline-rc', 'exit 3', check=False)
    assert b.rc == 3
    assert any('exited with 3' in p for p in b.problems), b.problems


def test_failing_step_stops_the_script_and_is_named():
    # The first failing command stops the script; one in a condition or
    # before "||" does not.
    b = harness.boot('pipeline-step', 'if false; then :; fi\nfalse || :\n'
                     'kv one 1\ngrep -q nothing /proc/version\nkv two 2',
                     check=False)
    assert b.kv.get('one') == '1' and 'two' not in b.kv, b.kv
    assert b.rc == 1
    assert b.failed_at == 'at test.sh line 7: grep -q nothing /proc/version'
    assert any(p.endswith(b.failed_at) for p in b.problems), b.problems


# Each helper of guest/lib.sh stops the script when the command it runs
# fails (try: when it cannot be run at all), at the helper's line.
HELPER_FAILURES = {
    'kvc': ('kvc v cat /nonexistent', 1),
    'kvc-redirect': ('kvc v md5sum < /nonexistent', 1),
    'dump': ('dump d ls /nonexistent', 1),
    'try': ('try t /bin/nonexistent', 127),
}


@pytest.mark.parametrize('helper', HELPER_FAILURES)
def test_a_helper_propagates_failure(helper):
    step, rc = HELPER_FAILURES[helper]
    b = harness.boot(f'pipeline-{helper}',
                     f'kvc k echo 1\ndump d0 echo 2\ntry t0 true\n{step}\n'
                     'kv after 1', check=False)
    # What succeeded reported; the failing step stopped the script there.
    assert (b.kv.get('k'), b.dumps.get('d0'), b.kv.get('t0')) == ('1', ['2'], '0')
    assert 'after' not in b.kv and 'v' not in b.kv, b.kv
    assert b.rc == rc, b.problems
    assert b.failed_at == f'at test.sh line 7: {step}', b.failed_at


def test_bad_overlay_is_an_error(tmp_path):
    bad = tmp_path / 'bad.dtso'
    bad.write_text('/dts-v1/;\n/plugin/;\n&{/} { reserved-memory { oops };\n')
    with pytest.raises(harness.HarnessError, match='bad overlay bad.dtso'):
        harness.make_dtb(bad, tmp_path / 'x.dtb')


def test_missing_config_option_is_an_error(tmp_path):
    # KASAN_VMALLOC needs KASAN, which this fragment does not enable.
    frag = tmp_path / 'pipeline-missing.config'
    frag.write_text('CONFIG_KASAN_VMALLOC=y\n')
    res = subprocess.run([harness.TOP / 'scripts/gunyah-pool/build-kernel.sh',
                          '--config-only', frag],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    assert res.returncode != 0
    assert ("CONFIG_KASAN_VMALLOC requested 'y' but the final .config has 'n'"
            in res.stdout), res.stdout
