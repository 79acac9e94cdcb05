# SPDX-License-Identifier: GPL-2.0-only
"""python3 -m gpool demo|bench: boot pKVM at EL2 with a reusable pool, run
VMs whose hypervisor memory comes from the pool, show the pool's sysfs state
before, during and after and a stray read of donated memory with and without
the pool; or run the built-in benchmark and report it."""
import argparse
import re
import sys

from . import harness

# The demo boots the pkvm lane: pKVM's hypervisor at EL2 takes the memory of
# every VM from a reusable pool (kvm-arm.donation_pool=1).
DEMO_OVERLAY = 'qemu-virt-gunyah-pool-reusable.dtso'
PROBE = '/sys/kernel/debug/pkvm_donations/probe'

DEMO = r"""
cat > /tmp/during.sh <<'EOF'
. /lib.sh
snap during
dump poolstat poolstat
dump map cat $D/map
echo donated > @PROBE@
kv probe.donated "$(cat @PROBE@)"
printf 'range %x %x' $(( $(cat $D/base) - 4096 )) \
	$(( $(cat $P/capacity_bytes) + 8192 )) > @PROBE@
kv probe.range "$(cat @PROBE@)"
EOF
snap before
dump poolstat0 poolstat
kv vms "$(pkvm-vms -n 3 -c 4 -H 'sh /tmp/during.sh' | tail -n 1)"
kv storm "$(pkvm-vms -n 4 -c 4 -r 10 -s 1 | tail -n 1)"
snap after
kv validate "$(cat $D/validate)"
dump poolstat2 poolstat
""".replace('@PROBE@', PROBE)

# The same VMs without the switch: donations from the page allocator, then
# the same stray read of one of them.
DEMO_STOCK = r"""
pkvm-vms -n 1 -c 2 -H 'echo "donated zeropad" > @PROBE@'
""".replace('@PROBE@', PROBE)

BENCH_RE = re.compile(r'BENCH .*$')

BENCH_DRAIN = r"""
echo 0 > $P/high_watermark_bytes
for i in $(seq 60); do [ "$(cat $P/size_bytes)" = 0 ] && break; sleep 0.5; done
kv drained "$(cat $P/size_bytes)"
"""

ROWS = ['mode', 'capacity_bytes', 'size_bytes', 'max_size_bytes',
        'used_bytes', 'free_bytes', 'peak_used_bytes', 'committed_bytes',
        'commit_limit_bytes', 'overcommit_bytes', 'overcommit_ratio',
        'low_watermark_bytes', 'high_watermark_bytes', 'stats/alloc_success',
        'stats/alloc_fail', 'stats/free', 'stats/invalid_free',
        'stats/reserve_fail', 'stats/grow', 'stats/shrink',
        'stats/low_watermark']


def probe_words(b, key):
    return dict(f.split('=') for f in b.kv.get(key, '').split())


def demo(args):
    print('Building the kernel (lane pkvm)...', flush=True)
    harness.kernel('pkvm')
    print('Booting QEMU at EL2 with pKVM (kvm-arm.mode=protected), a reusable '
          f'pool ({DEMO_OVERLAY}) and kvm-arm.donation_pool=1:', flush=True)
    b = harness.boot('demo', DEMO, lane='pkvm', overlay=DEMO_OVERLAY,
                     append='kvm-arm.donation_pool=1', timeout=300, echo=True,
                     check=False)
    print()
    for line in b.lines(r'gunyah[-_]pool|Protected .*VHE|pkvm donation'):
        if '@@GPOOL' not in line:
            print('  kernel: ' + line.strip())
    print()
    phases = ['before', 'during', 'after']
    print(f'  {"/sys/kernel/gunyah/pool/":<26}' +
          ''.join(f'{p:>14}' for p in phases))
    for row in ROWS:
        print(f'  {row:<26}' +
              ''.join(f'{b.kv.get(f"{p}.{row}", "-"):>14}' for p in phases))
    print('\n  during: 3 VMs of 4 vCPUs at EL2: ' + b.kv.get('vms', '?'))
    print('  after:  a storm of 40 more: ' + b.kv.get('storm', '?'))
    print('\n  poolstat, before, during and after:')
    for line in (b.dumps.get('poolstat0', []) + b.dumps.get('poolstat', [])[1:]
                 + b.dumps.get('poolstat2', [])[1:]):
        print('    ' + line)
    if b.dumps.get('map'):
        png = harness.occupancy_figure(
            b.dumps['map'], b.dir / 'occupancy.png',
            'Gunyah donation pool while pKVM runs 3 VMs of 4 vCPUs')
        print(f'\n  occupancy map during the VMs: {png}')
    print('  validator: ' + b.kv.get('validate', '?'))
    print(f'  console log: {b.dir / "console.log"}')

    print('\nThe same stray read without the pool (stock pKVM), in a boot of '
          'its own:', flush=True)
    s = harness.boot('demo-stock', DEMO_STOCK, lane='pkvm',
                     overlay=DEMO_OVERLAY, timeout=120, echo=True, check=False,
                     expect_splats=[r'.'])
    bug = s.lines(r'nVHE hyp BUG at')
    panic = s.lines(r'Kernel panic - not syncing')
    d, r = probe_words(b, 'probe.donated'), probe_words(b, 'probe.range')
    stock = ' / '.join(x[0].strip() for x in (bug, panic) if x) or 'no panic?'
    pooled = (f'{d.get("pages", "?")} donated pages read: '
              f'{d.get("faulted", "?")} -EFAULT; {r.get("pages", "?")} '
              f'unmapped pages of the region: {r.get("faulted", "?")} '
              f'-EFAULT, {r.get("crossings", "?")} boundary loads, '
              f'{r.get("zero_padded", "?")} zero-padded; the machine lived')
    print(f'\n  {"stray read of a page EL2 owns":<32}result')
    print(f'  {"stock pKVM (page allocator)":<32}{stock}')
    print(f'  {"pKVM with the donation pool":<32}{pooled}')
    print(f'  console log: {s.dir / "console.log"}')
    problems = list(b.problems)
    if not (bug and panic):
        problems.append('the stock probe did not stop the machine at EL2')
    if problems:
        print('FAILED: ' + '; '.join(problems))
        return 1
    return 0


def bench_report(b, lane):
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
                   f'  pool_reusable/pool {ratio(("pool_reusable", o, 1), ("pool", o, 1))}')
    for o in (0, 4, 8, 10):
        out.append(f'  order {o:2}: {cpus} CPUs at once, aggregate throughput '
                   f'{ratio(("pool", o, 1), ("pool", o, cpus))}x one CPU;'
                   f' 95% full / empty {ratio(("pool_95", o, 1), ("pool", o, 1))}')
    floors = [(n, fig[(f'floor_{n}', 0, 1)]) for n in ('call', 'irq', 'lock', 'atomic')
              if (f'floor_{n}', 0, 1) in fig]
    if floors:
        out.append('  fast-path parts, ns for two of each (as in one pair): ' +
                   ' '.join(f'{n} {v}' for n, v in floors))
    for line in lines:
        if re.match(r'BENCH (startup|pool_reusable_grow|pool_reusable_tlb|pool_reusable_burst) ',
                    line):
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
        plt.title(f'gunyah-pool against the alternatives, one boot, QEMU TCG, lane {lane}')
        plt.legend()
        plt.tight_layout()
        plt.savefig(b.dir / 'bench.png')
        out.append(f'plot: {b.dir / "bench.png"}')
    except ImportError:
        out.append('plot: python3-matplotlib is not installed')
    return lines, out


def bench(args):
    """Each lane in its own boot; every ratio compares figures of one boot."""
    failed = []
    reports = []
    for lane in args.lanes.split(','):
        print(f'Booting lane {lane} with gunyah_pool.bench=1 cma=64M...', flush=True)
        b = harness.boot('bench', '', append='gunyah_pool.bench=1 cma=64M',
                         timeout=900, echo=True, check=False, lane=lane)
        lines, out = bench_report(b, lane)
        reports.append((lane, b, lines, out))
        if b.problems or not any('BENCH done' in x for x in lines):
            failed.append(f'{lane}: ' + '; '.join(b.problems or ['no "BENCH done" line']))
        # The system's pool reusable, with the whole linear map in pages
        # (rodata=full) and with only its region in pages (rodata=on).
        for rodata in ('full', 'on'):
            name = f'bench-reusable-rodata-{rodata}'
            print(f'Booting lane {lane}, reusable pool, rodata={rodata}...', flush=True)
            # Every chunk back first: ptdump shows only what is mapped.
            b = harness.boot(name, BENCH_DRAIN + harness.PTDUMP_SCRIPT,
                             append=f'gunyah_pool.bench=1 cma=64M rodata={rodata}',
                             overlay=DEMO_OVERLAY, timeout=900, echo=True,
                             check=False, lane=lane)
            lines, out = bench_report(b, f'{lane}, reusable pool, rodata={rodata}')
            try:
                pte, pmd = harness.page_table_pages(harness.linear_map(b)[0])
                out.append(f'  linear map below the PUD level: {pte} PTE tables, '
                           f'{pmd} PMD tables ({(pte + pmd) * 4} KiB)')
            except harness.HarnessError as e:
                out.append(f'  linear map: {e}')
            reports.append((f'{lane}, reusable pool, rodata={rodata}', b, lines, out))
            if b.problems or not any('BENCH done' in x for x in lines):
                failed.append(f'{name}: ' + '; '.join(b.problems or ['no "BENCH done" line']))
    for lane, b, lines, out in reports:
        print(f'\n== lane {lane} ==')
        print('\n'.join(lines + [''] + out))
        print(f'results: {b.dir / "bench.txt"}')
    if failed:
        print('FAILED: ' + ' | '.join(failed))
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(prog='gpool')
    sub = p.add_subparsers(dest='cmd', required=True)
    sub.add_parser('demo', help=__doc__)
    pb = sub.add_parser('bench', help='run the built-in benchmark')
    pb.add_argument('--lanes', default='default,preempt',
                    help='lanes to boot, one boot each (default: default,preempt)')
    args = p.parse_args()
    try:
        return {'demo': demo, 'bench': bench}[args.cmd](args)
    except harness.HarnessError as e:
        print(f'gpool: {e}', file=sys.stderr)
        return 1


sys.exit(main())
