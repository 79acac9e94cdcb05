# SPDX-License-Identifier: GPL-2.0-only
"""python3 -m gpool demo|bench: boot the default pool and run a donation
workload, showing the pool's sysfs state before, during and after; or run
the built-in benchmark and report it."""
import argparse
import re
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

BENCH_RE = re.compile(r'BENCH .*$')

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


def bench_report(b):
    """bench.txt, the ratios against the goals, and a plot."""
    lines = [m.group(0) for m in map(BENCH_RE.search, b.log.splitlines()) if m]
    (b.dir / 'bench.txt').write_text('\n'.join(lines) + '\n')
    fig = {}
    for line in lines:
        m = re.match(r'BENCH (\S+) order=(\d+) cpus=(\d+) ns_per_pair=(\d+) '
                     r'median=(\d+)', line)
        if m:
            fig[(m[1], int(m[2]), int(m[3]))] = int(m[4])
    cpus = max(c for _, _, c in fig) if fig else 1

    def ratio(a, b_):
        return f'{fig[a] / fig[b_]:.3f}' if a in fig and b_ in fig else 'n/a'
    out = ['ratios (same boot; below 1 means the first is faster):']
    for o in (0, 4, 8, 10):
        out.append(f'  order {o:2}: pool/alloc_page {ratio(("pool", o, 1), ("alloc_page", o, 1))}'
                   f'  pool/directmap {ratio(("pool", o, 1), ("directmap", o, 1))}'
                   f'  pool/cma {ratio(("pool", o, 1), ("cma", o, 1))}'
                   f'  pool_95/pool {ratio(("pool_95", o, 1), ("pool", o, 1))}'
                   f'  pool_reusable/pool {ratio(("pool_reusable", o, 1), ("pool", o, 1))}'
                   f'  {cpus}-cpu speed-up {ratio(("pool", o, 1), ("pool", o, cpus))}')
    floors = [(n, fig[(f'floor_{n}', 0, 1)]) for n in ('call', 'irq', 'lock', 'atomic')
              if (f'floor_{n}', 0, 1) in fig]
    if floors:
        out.append('  fast-path parts, ns for two of each (as in one pair): ' +
                   ' '.join(f'{n} {v}' for n, v in floors))
    for line in lines:
        if re.match(r'BENCH (startup|pool_reusable_grow|pool_reusable_tlb) ', line):
            out.append('  ' + line[len('BENCH '):])
    (b.dir / 'bench.txt').write_text('\n'.join(lines + [''] + out) + '\n')
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        names = ['alloc_page', 'directmap', 'cma', 'pool', 'pool_reusable', 'pool_95']
        orders = [0, 4, 8, 10]
        plt.figure(figsize=(9, 5))
        w = 0.13
        for i, n in enumerate(names):
            ys = [fig.get((n, o, 1), 0) for o in orders]
            plt.bar([x + i * w for x in range(len(orders))], ys, w, label=n)
        plt.yscale('log')
        plt.xticks([x + 2.5 * w for x in range(len(orders))],
                   [f'order {o}' for o in orders])
        plt.ylabel('ns per alloc+free pair (best, 1 CPU, log)')
        plt.title('gunyah-pool against the alternatives, one boot, QEMU TCG')
        plt.legend()
        plt.tight_layout()
        plt.savefig(b.dir / 'bench.png')
        out.append(f'plot: {b.dir / "bench.png"}')
    except ImportError:
        out.append('plot: python3-matplotlib is not installed')
    return lines, out


def bench(args):
    print('Booting the release lane with gunyah_pool.bench=1 cma=64M...', flush=True)
    b = harness.boot('bench', '', append='gunyah_pool.bench=1 cma=64M',
                     timeout=900, echo=True, check=False)
    lines, out = bench_report(b)
    print('\n'.join(lines + [''] + out))
    print(f'\nresults: {b.dir / "bench.txt"}')
    if b.problems or not any('BENCH done' in x for x in lines):
        print('FAILED: ' + '; '.join(b.problems or ['no "BENCH done" line']))
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(prog='gpool')
    sub = p.add_subparsers(dest='cmd', required=True)
    sub.add_parser('demo', help=__doc__)
    sub.add_parser('bench', help='run the built-in benchmark')
    args = p.parse_args()
    try:
        return {'demo': demo, 'bench': bench}[args.cmd](args)
    except harness.HarnessError as e:
        print(f'gpool: {e}', file=sys.stderr)
        return 1


sys.exit(main())
