# SPDX-License-Identifier: GPL-2.0-only
"""python3 -m gpool demo: boot the default pool and run a donation workload,
showing the pool's sysfs state before, during and after."""
import argparse
import sys

from . import harness

DEMO = r'''
snap before
echo "create 1 1024" > $D/vm        # reserve worst-case tables, meta + root
echo "create 2 2048" > $D/vm
echo "create 3 512" > $D/vm
echo "fault 1 3000 1" > $D/vm       # the guests touch memory: tables
echo "fault 2 6000 2" > $D/vm
echo "fault 3 1000 3" > $D/vm
snap during
dump poolstat poolstat
dump map cat $D/map
dump vms cat $D/vms
dump largest cat $D/largest_free_block
echo "destroy all" > $D/vm
echo "5 8 1500 7" > $D/workload      # 5 rounds of 8 VMs, 1500 faults each
kv workload "$(cat $D/workload)"
snap after
kv validate "$(cat $D/validate)"
dump poolstat2 poolstat
'''

ROWS = ['mode', 'capacity_bytes', 'size_bytes', 'max_size_bytes',
        'used_bytes', 'free_bytes', 'peak_used_bytes', 'committed_bytes',
        'commit_limit_bytes', 'overcommit_bytes', 'overcommit_ratio',
        'low_watermark_bytes', 'high_watermark_bytes', 'stats/alloc_success',
        'stats/alloc_fail', 'stats/free', 'stats/invalid_free',
        'stats/reserve_fail', 'stats/low_watermark']


def demo(args):
    print('Building the kernel (lane default)...', flush=True)
    harness.kernel('default')
    print('Booting QEMU with the default pool overlay '
          f'({harness.DEFAULT_OVERLAY}):', flush=True)
    b = harness.boot('demo', DEMO, echo=True, check=False)
    print()
    for line in b.lines(r'gunyah[-_]pool'):
        if '@@GPOOL' not in line:
            print('  kernel: ' + line.strip())
    print()
    phases = ['before', 'during', 'after']
    print(f'  {"/sys/kernel/gunyah/pool/":<26}' +
          ''.join(f'{p:>14}' for p in phases))
    for row in ROWS:
        print(f'  {row:<26}' +
              ''.join(f'{b.kv.get(f"{p}.{row}", "-"):>14}' for p in phases))
    print()
    print('  during: ' + '\n          '.join(b.dumps.get('vms', [])))
    print('\n  poolstat, during and after:')
    for line in b.dumps.get('poolstat', []) + b.dumps.get('poolstat2', [])[1:]:
        print('    ' + line)
    if b.dumps.get('map'):
        png = harness.occupancy_png(b.dumps['map'], b.dir / 'occupancy.png')
        print(f'\n  occupancy map during the workload (green free, red used): {png}')
    print('  workload: ' + b.kv.get('workload', '?'))
    print('  validator: ' + b.kv.get('validate', '?'))
    print(f'\n  console log: {b.dir / "console.log"}')
    if b.problems:
        print('FAILED: ' + '; '.join(b.problems))
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(prog='gpool')
    sub = p.add_subparsers(dest='cmd', required=True)
    sub.add_parser('demo', help=__doc__)
    args = p.parse_args()
    try:
        return {'demo': demo}[args.cmd](args)
    except harness.HarnessError as e:
        print(f'gpool: {e}', file=sys.stderr)
        return 1


sys.exit(main())
