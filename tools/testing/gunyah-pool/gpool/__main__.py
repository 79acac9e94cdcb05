# SPDX-License-Identifier: GPL-2.0-only
"""python3 -m gpool demo|bench: boot pKVM at EL2 with a reusable pool, run
VMs whose hypervisor memory comes from the pool, show the pool's sysfs state
before, during and after and a stray read of donated memory with and without
the pool; or run the built-in benchmark and report it."""
import argparse
import re
import sys

from . import harness

# The demo boots the demo lane (the pkvm lane's kernel without what only the
# tests use): pKVM's hypervisor at EL2 takes the memory of every VM from a
# reusable pool; booted without the pool's node, the same kernel is stock
# pKVM.
DEMO_OVERLAY = 'qemu-virt-gunyah-pool-reusable.dtso'
PROBE = '/sys/kernel/debug/pkvm_donations/probe'

DEMO = r"""
cat > /tmp/during.sh <<'EOF'
. /lib.sh
set -e
snap during
dump poolstat poolstat
dump map cat $D/map
echo donated > @PROBE@
kvc probe.donated cat @PROBE@
printf 'range %x %x' $(( $(cat $D/base) - 4096 )) \
	$(( $(cat $P/capacity_bytes) + 8192 )) > @PROBE@
kvc probe.range cat @PROBE@
EOF
snap before
dump poolstat0 poolstat
kv vms "$(pkvm-vms -n 3 -c 4 -H 'sh /tmp/during.sh' | tail -n 1)"
kv storm "$(pkvm-vms -n 4 -c 4 -r 10 -s 1 | tail -n 1)"
snap after
kvc validate cat $D/validate
dump poolstat2 poolstat
""".replace('@PROBE@', PROBE)

# The same VMs on the same kernel without the pool's node (stock pKVM):
# donations from the page allocator, then the same stray read of one.
DEMO_STOCK = r"""
pkvm-vms -n 1 -c 2 -H 'echo "donated zeropad" > @PROBE@'
""".replace('@PROBE@', PROBE)

BENCH_RE = re.compile(r'BENCH .*$')

BENCH_DRAIN = r"""
echo 0 > $P/high_watermark_bytes
for i in $(seq 60); do [ "$(cat $P/size_bytes)" = 0 ] && break; sleep 0.5; done
kvc drained cat $P/size_bytes
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
    print('Building the kernel (lane demo)...', flush=True)
    harness.kernel('demo')
    print('Booting QEMU at EL2 with pKVM (kvm-arm.mode=protected), a reusable '
          f'pool ({DEMO_OVERLAY}), from which pKVM takes every VM\'s memory:',
          flush=True)
    b = harness.boot('demo', DEMO, lane='demo', overlay=DEMO_OVERLAY,
                     timeout=300, echo=True, check=False)
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
    s = harness.boot('demo-stock', DEMO_STOCK, lane='demo',
                     overlay=None, timeout=120, echo=True, check=False,
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
    for o in (0, 4):
        out.append(f'  order {o:2}: without the per-CPU caches / with them '
                   f'{ratio(("pool_nocache", o, 1), ("pool", o, 1))} (1 CPU), '
                   f'{ratio(("pool_nocache", o, cpus), ("pool", o, cpus))} ({cpus} CPUs)')
    floors = [(n, fig[(f'floor_{n}', 0, 1)])
              for n in ('call', 'irq', 'lock', 'atomic', 'counter')
              if (f'floor_{n}', 0, 1) in fig]
    if floors:
        out.append('  fast-path parts, ns for two of each (as in one pair): ' +
                   ' '.join(f'{n} {v}' for n, v in floors))
    if ('floor_counter', 0, cpus) in fig and cpus > 1:
        out.append(f'  the exact count alone on {cpus} CPUs at once: '
                   f'{ratio(("floor_counter", 0, 1), ("floor_counter", 0, cpus))}x one CPU')
    for line in lines:
        if re.match(r'BENCH (startup|pool_reusable_grow|pool_reusable_tlb|'
                    r'pool_reusable_burst|pool_reusable_burst_quiet) ',
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


MICRO_BOOTS = 3


def micro_figures(lines):
    """One boot's figures: {(name, order, cpus): best ns}, and the rest."""
    fig, kv = {}, {}
    for line in lines:
        m = re.match(r'BENCH (\S+) order=(\d+) cpus=(\d+) ns_per_pair=(\d+) ', line)
        if m:
            fig[(m[1], int(m[2]), int(m[3]))] = int(m[4])
            continue
        m = re.match(r'BENCH (startup|pool_reusable_burst|pool_reusable_burst_quiet) (.*)',
                     line)
        if m:
            f = dict(x.split('=', 1) for x in m[2].split())
            key = (f'startup{f["region_mib"]}' if m[1] == 'startup' else
                   m[1][len('pool_reusable_'):])
            kv[key] = {k: int(v) for k, v in f.items()}
    return fig, kv


def micro_goals(lane, boots):
    """The issue's bars, each the median of the boots with its range:
    BENCH goal lines, and the lane's summary in bench-goals-<lane>/."""
    rows = []
    per_boot = [micro_figures(lines) for lines in boots]
    cpus = max((c for fig, _ in per_boot for _, _, c in fig), default=1)

    def over(name, f, bar=None):
        vals = []
        for fig, kv in per_boot:
            try:
                vals.append(f(fig, kv))
            except (KeyError, ZeroDivisionError):
                pass
        if not vals:
            rows.append(f'BENCH goal lane={lane} figure={name} boots=0')
            return
        vals.sort()
        med = vals[len(vals) // 2]
        met = '-'
        if bar:
            met = 'yes' if (med <= bar[1] if bar[0] == '<=' else med >= bar[1]) else 'no'
        rows.append(f'BENCH goal lane={lane} figure={name} median={med:.3f} '
                    f'min={vals[0]:.3f} max={vals[-1]:.3f} boots={len(vals)} '
                    f'bar={bar[0] + str(bar[1]) if bar else "-"} met={met}')

    for o in (0, 4, 8, 10):
        over(f'pool/alloc_page:order={o}',
             lambda fig, kv, o=o: fig[('pool', o, 1)] / fig[('alloc_page', o, 1)],
             ('<=', 0.5))
    for o in (0, 4, 8, 10):
        over(f'pool_{cpus}cpus/1cpu:order={o}',
             lambda fig, kv, o=o: fig[('pool', o, 1)] / fig[('pool', o, cpus)],
             ('>=', 1.8 if o < 8 else 1.2))
        over(f'alloc_page_{cpus}cpus/1cpu:order={o}',
             lambda fig, kv, o=o: fig[('alloc_page', o, 1)] / fig[('alloc_page', o, cpus)])
    for o in (0, 4):
        over(f'pool_nocache/pool:order={o}:cpus=1',
             lambda fig, kv, o=o: fig[('pool_nocache', o, 1)] / fig[('pool', o, 1)])
        over(f'pool_nocache/pool:order={o}:cpus={cpus}',
             lambda fig, kv, o=o: fig[('pool_nocache', o, cpus)] / fig[('pool', o, cpus)])
    over(f'floor_counter_{cpus}cpus/1cpu',
         lambda fig, kv: fig[('floor_counter', 0, 1)] / fig[('floor_counter', 0, cpus)])
    over('burst_p99/p50', lambda fig, kv: kv['burst']['p99_ns'] / kv['burst']['p50_ns'],
         ('<=', 5))
    over('burst_waited_for_cma', lambda fig, kv: kv['burst']['waited_for_cma'], ('<=', 0))
    over('burst_quiet_p99/p50',
         lambda fig, kv: kv['burst_quiet']['p99_ns'] / kv['burst_quiet']['p50_ns'])
    for mib in (256, 1024):
        over(f'metadata_ppm:region_mib={mib}', lambda fig, kv, mib=mib: kv[f'startup{mib}']['ppm'],
             ('<=', 100))
    over('startup_ms_per_gib', lambda fig, kv: kv['startup1024']['ns'] / 1e6, ('<=', 1))
    d = harness.out_dir(f'bench-goals-{lane}')
    (d / 'bench.txt').write_text('\n'.join(rows) + '\n')
    return rows, d / 'bench.txt'


# The VM lifecycle, timed by pkvm-vms -T: NAME ARGS... keeps its rounds'
# times as NAME and how many times the pool grew (each growth in the
# allocation path is a wait for cma_alloc(); none without a pool) as
# NAME.grows.
VM_BENCH = r"""
grows() { cat $P/stats/grow 2>/dev/null || echo 0; }
timed() {
	_n=$1; shift
	_g=$(grows)
	pkvm-vms -T "$@" > /tmp/$_n.out
	kv $_n.grows $(( $(grows) - _g ))
	dump $_n grep -e 'round ns=' -e 'timed ' /tmp/$_n.out
}
pair() {
	_n=$1; shift
	_g=$(grows)
	pkvm-vms -T "$@" > /tmp/$_n.a & _p=$!
	pkvm-vms -T "$@" > /tmp/$_n.b
	wait $_p
	kv $_n.grows $(( $(grows) - _g ))
	dump $_n grep -h -e 'round ns=' -e 'timed ' /tmp/$_n.a /tmp/$_n.b
}
@SETUP@
timed c1 -n 1 -c 1 -r @R@
timed c4 -n 1 -c 4 -r @R@
pair p1 -n 1 -c 1 -r @R@
apart a1 -n 1 -c 1 -r @A@
apart a4 -n 1 -c 4 -r @A@
@COLD@
"""

# The donation path taken apart: the same lifecycles under the function
# graph tracer, limited to the functions below, which time themselves.
# pkvm_create_hyp_vm() is the VM's start at EL2: the donations
# (pkvm_donation_alloc(), from the pool or the page allocator) and the
# hypercalls that hand them over and set the VM and its vCPUs up (the rest).
# pkvm_destroy_hyp_vm() is its stop: the teardown hypercall and
# pkvm_donation_reclaim(), which gives the memory back.
APART_FUNCS = ('pkvm_create_hyp_vm', 'pkvm_destroy_hyp_vm',
               'pkvm_donation_alloc', 'pkvm_donation_reclaim')
APART = r"""
T=/sys/kernel/tracing
apart() {
	_a=$1; shift
	echo nop > $T/current_tracer
	echo > $T/trace
	echo '@FUNCS@' > $T/set_ftrace_filter
	echo 1 > $T/options/funcgraph-tail
	echo function_graph > $T/current_tracer
	pkvm-vms -T "$@" > /tmp/$_a.out
	# Read before the tracer changes: a change empties the buffer.
	echo 0 > $T/tracing_on
	dump $_a.graph grep -e 'us ' $T/trace
	echo nop > $T/current_tracer
	echo 1 > $T/tracing_on
	dump $_a grep -e 'round ns=' -e 'timed ' /tmp/$_a.out
}
""".replace('@FUNCS@', ' '.join(APART_FUNCS))
APART_ROUNDS = 50
# A warm pool: a chunk always free (low watermark one chunk, high two),
# refilled before the runs start. A cold one: empty, grown by the VMs.
CHUNK = 4 << 20
WARM = f"""
echo {2 * CHUNK} > $P/high_watermark_bytes
echo {CHUNK} > $P/low_watermark_bytes
for i in $(seq 60); do [ $(cat $P/free_bytes) -ge {CHUNK} ] && break; sleep 0.5; done
"""
COLD = f"""
echo 0 > $P/low_watermark_bytes
echo 0 > $P/high_watermark_bytes
for i in $(seq 60); do [ "$(cat $P/size_bytes)" = 0 ] && break; sleep 0.5; done
echo $(cat $P/capacity_bytes) > $P/high_watermark_bytes
timed cold -n 1 -c 1 -r @R@
"""
VM_ROUNDS = 200
VM_BOOTS = 3


def vm_times(b, name):
    lines = b.dumps.get(name, [])
    ns = [int(m[1]) for m in (re.search(r'round ns=(\d+)', x) for x in lines) if m]
    elapsed = [int(m[1]) for m in (re.search(r'elapsed_ns=(\d+)', x) for x in lines) if m]
    return ns, elapsed


def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, -(-len(xs) * p // 100) - 1)]


GRAPH_RE = re.compile(r'([\d.]+) us\s+\|\s+(?:\}\s*/\*\s*(\w+)\s*\*/|(\w+)\(\);)')


def graph_times(lines):
    """{function: [ns, ...]} from function_graph lines, in trace order. A
    call that called a traced function ends in a tail comment; one that did
    not is a leaf, keyed NAME(): pkvm_create_hyp_vm() on a VM already
    created (every vCPU's first run calls it) does nothing and is a leaf."""
    out = {}
    for line in lines:
        m = GRAPH_RE.search(line)
        if m:
            out.setdefault(m[2] or m[3] + '()', []).append(int(float(m[1]) * 1000))
    return out


def donation_path(runs):
    """BENCH donation_path lines: the medians, over every boot of a mode, of
    what one VM's start and stop spend where; per VM, the donations are
    summed."""
    lines = []
    for mode in ('pool', 'stock'):
        for vcpus, name in ((1, 'a1'), (4, 'a4')):
            per = {k: [] for k in ('create', 'alloc', 'destroy', 'reclaim', 'life')}
            for i in range(VM_BOOTS):
                b = runs.get((mode, i))
                if not b:
                    continue
                t = graph_times(b.dumps.get(f'{name}.graph', []))
                creates = t.get('pkvm_create_hyp_vm', [])
                allocs = t.get('pkvm_donation_alloc()', [])
                n = len(creates)
                # Each VM donates its PGD, its VM structure and one block
                # per vCPU, in that order.
                if not n or len(allocs) != n * (2 + vcpus):
                    continue
                per['create'] += creates
                per['alloc'] += [sum(allocs[k * (2 + vcpus):(k + 1) * (2 + vcpus)])
                                 for k in range(n)]
                per['destroy'] += t.get('pkvm_destroy_hyp_vm', [])
                per['reclaim'] += t.get('pkvm_donation_reclaim()', [])
                per['life'] += vm_times(b, name)[0]
            if not all(per.values()):
                continue
            med = {k: pct(v, 50) for k, v in per.items()}
            lines.append(f'BENCH donation_path mode={mode} vcpus={vcpus} '
                         f'vms={len(per["create"])} lifecycle_p50_ns={med["life"]} '
                         f'start_ns={med["create"]} donate_alloc_ns={med["alloc"]} '
                         f'start_hyp_ns={med["create"] - med["alloc"]} '
                         f'stop_ns={med["destroy"]} reclaim_ns={med["reclaim"]} '
                         f'stop_hyp_ns={med["destroy"] - med["reclaim"]} '
                         f'alloc_share_of_lifecycle={med["alloc"] / med["life"]:.4f}')
    return lines


def bench_vms(lane):
    """Pool against stock pKVM, boots alternating; BENCH lines per figure,
    the median of the boots, and a CDF."""
    runs = {}
    problems = []
    for i in range(VM_BOOTS):
        for mode in ('pool', 'stock'):
            print(f'Booting lane {lane}, {mode} donations, boot {i + 1} of {VM_BOOTS}...',
                  flush=True)
            script = APART + (VM_BENCH.replace('@SETUP@', WARM if mode == 'pool' else '')
                              .replace('@COLD@', COLD if mode == 'pool' else '')
                              .replace('@R@', str(VM_ROUNDS))
                              .replace('@A@', str(APART_ROUNDS)))
            # Stock pKVM: the same kernel, without the pool's node.
            b = harness.boot(f'bench-vms-{mode}-{i}', script, lane=lane,
                             overlay=DEMO_OVERLAY if mode == 'pool' else None,
                             timeout=600, check=False)
            if b.problems:
                problems.append(f'{b.name}: ' + '; '.join(b.problems))
            runs[(mode, i)] = b
    d = harness.out_dir('bench-pkvm')
    lines, samples = [], {}
    for mode, vcpus, vmms, name in (('pool', 1, 1, 'c1'), ('stock', 1, 1, 'c1'),
                                    ('pool', 4, 1, 'c4'), ('stock', 4, 1, 'c4'),
                                    ('pool', 1, 2, 'p1'), ('stock', 1, 2, 'p1'),
                                    ('pool-cold', 1, 1, 'cold')):
        per_boot = []
        for i in range(VM_BOOTS):
            b = runs[(mode.split('-')[0], i)]
            ns, elapsed = vm_times(b, name)
            if not ns:
                continue
            per_boot.append({'p50': pct(ns, 50), 'p99': pct(ns, 99), 'max': max(ns),
                             'per_s': len(ns) * 1e9 / max(elapsed),
                             'waits': int(b.kv.get(f'{name}.grows', -1))})
            samples.setdefault((mode, vcpus, vmms), []).extend(ns)
        if not per_boot:
            problems.append(f'no times for {mode} {name}')
            continue
        med = {k: sorted(r[k] for r in per_boot)[len(per_boot) // 2] for k in per_boot[0]}
        spread = {k: (min(r[k] for r in per_boot), max(r[k] for r in per_boot))
                  for k in ('p50', 'p99')}
        lines.append(f'BENCH vm_lifecycle mode={mode} vcpus={vcpus} vmms={vmms} '
                     f'p50_ns={med["p50"]} p99_ns={med["p99"]} max_ns={med["max"]} '
                     f'per_s={med["per_s"]:.1f} cma_waits={med["waits"]} '
                     f'boots={len(per_boot)} p50_range={spread["p50"][0]}..{spread["p50"][1]} '
                     f'p99_range={spread["p99"][0]}..{spread["p99"][1]}')
    lines += donation_path(runs)
    fig = {}
    for line in lines:
        if not line.startswith('BENCH vm_lifecycle '):
            continue
        f = dict(kv.split('=') for kv in line.split()[2:])
        fig[(f['mode'], f['vcpus'], f['vmms'])] = f
    out = []
    for vcpus, vmms in (('1', '1'), ('4', '1'), ('1', '2')):
        p, st = fig.get(('pool', vcpus, vmms)), fig.get(('stock', vcpus, vmms))
        if p and st:
            out.append(f'pool/stock, {vcpus} vCPU(s), {vmms} VMM(s): '
                       f'p50 {int(p["p50_ns"]) / int(st["p50_ns"]):.2f}x, '
                       f'p99 {int(p["p99_ns"]) / int(st["p99_ns"]):.2f}x, '
                       f'throughput {float(p["per_s"]) / float(st["per_s"]):.2f}x')
    path = {}
    for line in lines:
        if line.startswith('BENCH donation_path '):
            f = dict(kv.split('=') for kv in line.split()[2:])
            path[(f['mode'], f['vcpus'])] = f
    for vcpus in ('1', '4'):
        p, st = path.get(('pool', vcpus)), path.get(('stock', vcpus))
        if p and st:
            out.append(f'donation path, {vcpus} vCPU(s), pool/stock: '
                       + ', '.join(f'{k} {int(p[k]) / int(st[k]):.2f}x' for k in
                                   ('start_ns', 'donate_alloc_ns', 'start_hyp_ns',
                                    'stop_ns', 'reclaim_ns')))
    (d / 'bench.txt').write_text('\n'.join(lines + [''] + out) + '\n')
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        plt.figure(figsize=(9, 5))
        for (mode, vcpus, vmms), ns in sorted(samples.items()):
            xs = sorted(x / 1e6 for x in ns)
            plt.step(xs, [(k + 1) / len(xs) for k in range(len(xs))], where='post',
                     label=f'{mode}, {vcpus} vCPU(s), {vmms} VMM(s)',
                     linestyle='-' if mode == 'pool' else '--' if mode == 'stock' else ':')
        plt.xscale('log')
        plt.xlabel('VM lifecycle: create, run each vCPU once, destroy (ms, log)')
        plt.ylabel('fraction of lifecycles')
        plt.title(f'pKVM VM lifecycle, pool against stock, {VM_BOOTS} boots each, '
                  f'QEMU TCG, lane {lane}')
        plt.legend(fontsize='small')
        plt.grid(True, alpha=0.3)
        plt.tight_layout()
        plt.savefig(d / 'bench.png')
        out.append(f'plot: {d / "bench.png"}')
    except ImportError:
        out.append('plot: python3-matplotlib is not installed')
    print('\n== VM lifecycle, pKVM ==')
    print('\n'.join(lines + [''] + out))
    print(f'results: {d / "bench.txt"}')
    if problems:
        print('FAILED: ' + ' | '.join(problems))
        return 1
    return 0


def bench(args):
    """Each lane in its own boot; every ratio compares figures of one boot."""
    failed = []
    reports = []
    lanes = args.lanes.split(',')
    vm_rc = bench_vms('bench-pkvm') if 'bench-pkvm' in lanes else 0
    goals = []
    for lane in (x for x in lanes if x != 'bench-pkvm'):
        boots = []
        for i in range(MICRO_BOOTS):
            print(f'Booting lane {lane} with gunyah_pool.bench=1 cma=64M, '
                  f'boot {i + 1} of {MICRO_BOOTS}...', flush=True)
            b = harness.boot('bench' if i == 0 else f'bench-{i + 1}', '',
                             append='gunyah_pool.bench=1 cma=64M',
                             timeout=900, echo=True, check=False, lane=lane)
            lines, out = bench_report(b, f'{lane}, boot {i + 1}')
            reports.append((f'{lane}, boot {i + 1}', b, lines, out))
            boots.append(lines)
            if b.problems or not any('BENCH done' in x for x in lines):
                failed.append(f'{lane}: ' + '; '.join(b.problems or ['no "BENCH done" line']))
        goals.append(micro_goals(lane, boots))
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
    for rows, path in goals:
        print(f'\n== the goals, medians of {MICRO_BOOTS} boots ==')
        print('\n'.join(rows))
        print(f'results: {path}')
    if failed:
        print('FAILED: ' + ' | '.join(failed))
        return 1
    return vm_rc


def main():
    p = argparse.ArgumentParser(prog='gpool')
    sub = p.add_subparsers(dest='cmd', required=True)
    sub.add_parser('demo', help=__doc__)
    pb = sub.add_parser('bench', help='run the built-in benchmark')
    pb.add_argument('--lanes', default='default,preempt,bench-pkvm',
                    help='lanes to boot (default: default,preempt,bench-pkvm; '
                         'bench-pkvm runs the VM lifecycle benchmark)')
    args = p.parse_args()
    try:
        return {'demo': demo, 'bench': bench}[args.cmd](args)
    except harness.HarnessError as e:
        print(f'gpool: {e}', file=sys.stderr)
        return 1


sys.exit(main())
