# SPDX-License-Identifier: GPL-2.0-only
"""pKVM, the pool's first real consumer: the kernel boots at EL2 in protected
mode (kvm-arm.mode=protected) and, with a reusable pool in the device tree,
every page it donates to the hypervisor for a VM comes from the pool; the
same kernel without the pool's node is stock pKVM. VMs run (guest/pkvm-vms.c); the pool's books follow them; a stray
read of a donated page, which with the stock path stops the machine at EL2,
finds nothing with the pool; a VM the pool cannot serve is refused when its
vCPUs are created; a no-map pool is left alone, with a warning, and VMs keep
the stock path."""
import re
import subprocess

import pytest

from gpool import harness

OVERLAY = 'qemu-virt-gunyah-pool-reusable.dtso'
PROBE = '/sys/kernel/debug/pkvm_donations'

# state PREFIX: the pool's books, from the test script or, as
# "sh /tmp/state.sh PREFIX", from pkvm-vms -H while its VMs are alive.
# vms NAME ARGS...: run pkvm-vms, keep its last line as NAME.out.
STATE_SH = r'''
cat > /tmp/state.sh <<'EOF'
. /lib.sh
set -e
snap $1
kvc $1.validate cat $D/validate
kvc $1.stranded cat @PROBE@/stranded_bytes
cat $P/committed_bytes > /tmp/$1.committed
EOF
state() { sh /tmp/state.sh $1; }
vms() { _n=$1; shift; kv $_n.out "$(pkvm-vms "$@" 2>&1 | tail -n 1)"; }
'''

POOL_SCRIPT = STATE_SH + r'''
cat > /tmp/probe.sh <<'EOF'
. /lib.sh
set -e
base=$(cat $D/base)
cap=$(cat $P/capacity_bytes)
echo donated > @PROBE@/probe
kvc $1.donated cat @PROBE@/probe
# The whole region and a page either side of it.
printf 'range %x %x' $((base - PAGE)) $((cap + 2 * PAGE)) > @PROBE@/probe
kvc $1.range cat @PROBE@/probe
sh /tmp/state.sh $1
EOF

state base
vms one -n 1 -c 1 -H 'sh /tmp/state.sh held1x1'
state after1x1
vms two -n 1 -c 2 -H 'sh /tmp/state.sh held1x2'
vms many -n 3 -c 4 -H 'sh /tmp/probe.sh held3x4'
state after3x4

# The storm: 50 rounds of 4 VMs of 1 to 4 vCPUs each.
vms storm -n 4 -c 4 -r 50 -s 20261202
state storm

# No room for any commitment: the first vCPU is refused.
echo 0 > $P/overcommit_ratio
vms refused0 -n 1 -c 1
state refused0
echo 100 > $P/overcommit_ratio
# Room for one 1-vCPU VM exactly: a second vCPU is refused, the VM that
# fits runs.
need=$(( $(cat /tmp/held1x1.committed) - $(cat /tmp/base.committed) ))
room=$(( $(cat $P/commit_limit_bytes) - $(cat $P/committed_bytes) - need ))
kv room $room
echo $room > $D/reserve
vms refused2 -n 1 -c 2
state refused2
vms fits -n 1 -c 1
state fits
echo $room > $D/unreserve
state end
'''

# The stock path: donations from the page allocator, then a stray read of
# one of them. The machine must stop at EL2.
STOCK_SCRIPT = STATE_SH + r'''
vms stock -n 1 -c 2 -H 'echo "donated @HOW@" > @PROBE@/probe'
'''


def script(text, **subst):
    text = text.replace('@PROBE@', PROBE)
    for k, v in subst.items():
        text = text.replace(f'@{k}@', v)
    return text


def kv_int(b, key):
    return int(b.kv[key])


def vms_ok(b, name):
    """pkvm-vms' summary of a run that must have succeeded, as a dict."""
    out = b.kv[f'{name}.out']
    m = re.fullmatch(r'pkvm-vms: ok (.*)', out)
    assert m, f'{name}: {out}'
    return dict(f.split('=') for f in m.group(1).split())


def books(b, prefix):
    return {k: kv_int(b, f'{prefix}.{k}') for k in
            ('used_bytes', 'committed_bytes', 'stats/alloc_success',
             'stats/free', 'stats/invalid_free')}


def probe(b, key):
    return {k: int(v) for k, v in (f.split('=') for f in b.kv[key].split())}


@pytest.fixture(scope='module')
def pool(lane):
    return harness.boot('pkvm-pool', script(POOL_SCRIPT), lane=lane,
                        overlay=OVERLAY, timeout=300)


def test_pkvm_takes_donations_from_the_pool(pool):
    assert pool.lines(r'kvm: pkvm donation pool: VM memory for EL2 comes '
                      r'from the Gunyah donation pool')
    assert kv_int(pool, 'base.stranded') == 0


def test_deciding_at_boot_changes_nothing_in_the_pool(pool):
    # pKVM decides from the region's memblock flags, not by allocating: the
    # pool after a pKVM boot is the pool the device tree gave (F8).
    for f in ('size_bytes', 'used_bytes', 'peak_used_bytes',
              'committed_bytes', 'stats/grow', 'stats/alloc_success',
              'stats/free'):
        assert kv_int(pool, f'base.{f}') == 0, f


def test_donations_follow_the_vms(pool):
    base = books(pool, 'base')
    one, two = books(pool, 'held1x1'), books(pool, 'held1x2')
    vm1 = one['used_bytes'] - base['used_bytes']
    vcpu = two['used_bytes'] - one['used_bytes']
    # A VM takes its PGD, its VM structure and one block per vCPU.
    assert vm1 > 0 and vcpu > 0
    # Reserved when the vCPUs were created, exactly what EL2 then took.
    for held in (one, two):
        assert (held['committed_bytes'] - base['committed_bytes'] ==
                held['used_bytes'] - base['used_bytes'])
    # Three VMs of four vCPUs, predicted from the two measured above.
    many = books(pool, 'held3x4')
    predicted = 3 * (vm1 + 3 * vcpu)
    assert many['used_bytes'] - base['used_bytes'] == predicted
    assert many['committed_bytes'] - base['committed_bytes'] == predicted
    harness.note(f'pkvm: a 1-vCPU VM takes {vm1} bytes from the pool, each '
                 f'further vCPU {vcpu}; 3 VMs x 4 vCPUs held {predicted}')
    for held in ('held1x1', 'held1x2', 'held3x4'):
        assert pool.kv[f'{held}.validate'] == 'ok'
    for after in ('after1x1', 'after3x4'):
        got = books(pool, after)
        assert got['used_bytes'] == base['used_bytes']
        assert got['committed_bytes'] == base['committed_bytes']
        assert got['stats/invalid_free'] == 0
        assert pool.kv[f'{after}.validate'] == 'ok'
    assert vms_ok(pool, 'one')['mmio_exits'] == '1'
    assert vms_ok(pool, 'two')['mmio_exits'] == '2'
    assert vms_ok(pool, 'many')['mmio_exits'] == '12'


def test_storm_leaves_the_books_as_they_were(pool):
    summary = vms_ok(pool, 'storm')
    vcpus = int(summary['vcpus'])
    assert vcpus >= 200 * 2     # several vCPUs a VM, on average
    assert summary['mmio_exits'] == str(vcpus)
    assert summary['system_off'] == '200'
    base, storm = books(pool, 'base'), books(pool, 'storm')
    assert storm['used_bytes'] == base['used_bytes']
    assert storm['committed_bytes'] == base['committed_bytes']
    assert storm['stats/invalid_free'] == 0
    # Every block the storm took went back: as many frees as allocations.
    allocs = storm['stats/alloc_success'] - base['stats/alloc_success']
    assert allocs >= 200 * 3
    assert storm['stats/free'] - base['stats/free'] == allocs
    assert pool.kv['storm.validate'] == 'ok'
    assert kv_int(pool, 'storm.stranded') == 0
    harness.note(f'pkvm: storm of 200 VM lifecycles, {vcpus} vCPUs, '
                 f'{allocs} pool blocks donated and returned')


def test_stray_reads_of_donated_pool_pages_find_nothing(pool):
    # While 3 VMs of 4 vCPUs were alive: every page they donated ...
    d = probe(pool, 'held3x4.donated')
    assert d['pages'] > 0 and d['mapped'] == 0
    assert d['faulted'] == d['pages']
    # ... and every page of the region not in the linear map, with every
    # boundary where a mapped page runs into one.
    r = probe(pool, 'held3x4.range')
    unmapped = r['pages']
    assert r['faulted'] == unmapped and unmapped >= d['pages']
    assert r['crossings'] >= 1 and r['zero_padded'] == r['crossings']
    harness.note(f'pkvm: probes of pool pages EL2 owns: {d["pages"]} donated '
                 f'pages read, {d["faulted"]} -EFAULT; region: {unmapped} '
                 f'unmapped pages -EFAULT, {r["crossings"]} boundary loads '
                 f'zero-padded; the machine lived')


def test_a_vm_the_pool_cannot_serve_is_refused_at_creation(pool):
    out = pool.kv['refused0.out']
    assert re.fullmatch(r'pkvm-vms: FAIL step=create_vcpu vm=0 vcpu=0 '
                        r'errno=ENOMEM \(12\)', out), out
    assert kv_int(pool, 'room') > 0
    out = pool.kv['refused2.out']
    assert re.fullmatch(r'pkvm-vms: FAIL step=create_vcpu vm=0 vcpu=1 '
                        r'errno=ENOMEM \(12\)', out), out
    assert vms_ok(pool, 'fits')['vcpus'] == '1'
    base = books(pool, 'base')
    for state in ('refused0', 'refused2', 'fits'):
        assert books(pool, state)['used_bytes'] == base['used_bytes']
    # The refused VMs left no commitment behind: only the probe's room.
    assert (kv_int(pool, 'refused0.committed_bytes') ==
            base['committed_bytes'])
    assert (kv_int(pool, 'refused2.committed_bytes') ==
            base['committed_bytes'] + kv_int(pool, 'room'))
    end = books(pool, 'end')
    assert end['used_bytes'] == base['used_bytes']
    assert end['committed_bytes'] == base['committed_bytes']
    assert pool.kv['end.validate'] == 'ok'


def test_a_no_map_pool_keeps_the_stock_path(lane):
    b = harness.boot('pkvm-nomap', script(STATE_SH + r'''
state base
vms stock -n 2 -c 2 -H 'sh /tmp/state.sh held'
state after
'''), lane=lane, timeout=120,
        expect_splats=[r'pkvm donation pool: the Gunyah donation pool is '
                       r'no-map'])
    assert b.lines(r'kvm: pkvm donation pool: the Gunyah donation pool is '
                   r'no-map memory, which EL2 refuses; donating from the '
                   r'page allocator')
    assert vms_ok(b, 'stock')['mmio_exits'] == '4'
    for state in ('held', 'after'):
        assert (kv_int(b, f'{state}.used_bytes') ==
                kv_int(b, 'base.used_bytes'))
        assert (kv_int(b, f'{state}.committed_bytes') ==
                kv_int(b, 'base.committed_bytes'))


# What EL2 prints when the host touches a page it owns (NOTES.md).
HYP_BUG = re.compile(r'nVHE hyp BUG at: arch/arm64/kvm/hyp/nvhe/'
                     r'mem_protect\.c:\d+!')
HYP_PANIC = re.compile(r'Kernel panic - not syncing: HYP panic')


@pytest.mark.parametrize('how', ['nofault', 'zeropad'])
def test_stock_donations_crash_the_machine(lane, how):
    # Stock pKVM: the same kernel booted without the pool's node.
    b = harness.boot(f'pkvm-stock-{how}',
                     script(STOCK_SCRIPT, HOW=how), lane=lane,
                     overlay=None, timeout=120, check=False,
                     expect_splats=[r'Kernel panic', r'HYP panic',
                                    r'Internal error', r'Oops',
                                    r'BUG', r'Unable to handle'])
    assert b.lines(HYP_BUG.pattern), b.dir / 'console.log'
    panic = b.lines(HYP_PANIC.pattern)
    assert panic, b.dir / 'console.log'
    # The machine died in the probe: the guest never finished.
    assert b.rc is None
    harness.note(f'pkvm: stock {how} probe: {b.lines(HYP_BUG.pattern)[0].strip()}'
                 f' / {panic[0].strip()}')


# The pool runs dry after the reservations succeeded (overcommit 1000%,
# max_size_bytes one chunk): a 4-vCPU VM's first KVM_RUN then fails at each
# donation in turn (the PGD of 16 pages, the VM, vCPU 0, 1 and 2), as free
# memory is cut to what leaves each step short. EL2 gives back what it
# took on each failure path (__pkvm_init_vm, __pkvm_init_vcpu); the pool
# must get it all back, and a next VM must run.
DRY_SCRIPT = STATE_SH + r"""
echo 10 > $D/alloc
echo > $D/free_all
echo 1000 > $P/overcommit_ratio
echo 4194304 > $P/max_size_bytes
state dry.base
# fill BYTES: allocate pages, lowest first, until BYTES are free. On one
# CPU: a fill that moves between CPUs leaves each CPU's cache holding part of
# a refill, and the drain that follows leaves those pages as holes below the
# free run, which breaks the order-1 blocks the VM needs.
fill() {
	taskset -c 0 sh -c "while read f < $P/free_bytes && [ \$f -gt $1 ]; do
		echo 0 > $D/alloc; done"
}
for keep in 90112 81920 73728 65536 0; do
	fill $keep
	state dry.$keep.before
	vms dry.$keep -n 1 -c 4
	state dry.$keep.after
done
echo > $D/free_all
echo 67108864 > $P/max_size_bytes
echo 100 > $P/overcommit_ratio
vms dry.next -n 1 -c 4
state dry.end
"""


def test_a_pool_that_runs_dry_after_reserving_unwinds(lane):
    b = harness.boot('pkvm-dry', script(DRY_SCRIPT), lane=lane,
                     overlay=OVERLAY, timeout=300)
    base = books(b, 'dry.base')
    assert base['used_bytes'] == 0 and base['committed_bytes'] == 0
    # Free bytes left, and the donations that fit in them before one fails.
    for keep, fit in ((90112, 4), (81920, 3), (73728, 2), (65536, 1), (0, 0)):
        before, after = books(b, f'dry.{keep}.before'), books(b, f'dry.{keep}.after')
        assert (after['stats/alloc_success'] - before['stats/alloc_success'] ==
                fit), keep
        assert after['stats/free'] - before['stats/free'] == fit, keep
        out = b.kv[f'dry.{keep}.out']
        # Refused at the first run, where EL2 takes the VM's memory.
        assert re.fullmatch(r'pkvm-vms: FAIL step=run vm=0 vcpu=0 errno='
                            r'ENOMEM \(12\)', out), (keep, out)
        assert kv_int(b, f'dry.{keep}.before.free_bytes') == keep
        # Everything EL2 took came back, and the reservation went.
        assert after['used_bytes'] == before['used_bytes'], keep
        assert after['committed_bytes'] == before['committed_bytes'], keep
        assert after['stats/invalid_free'] == 0, keep
        assert kv_int(b, f'dry.{keep}.after.stranded') == 0, keep
        assert b.kv[f'dry.{keep}.after.validate'] == 'ok', keep
        # The failed donation is counted as a failed allocation.
        assert (kv_int(b, f'dry.{keep}.after.stats/alloc_fail') >
                kv_int(b, f'dry.{keep}.before.stats/alloc_fail')), keep
    vms_ok(b, 'dry.next')
    end = books(b, 'dry.end')
    assert end['used_bytes'] == 0 and end['committed_bytes'] == 0
    assert b.kv['dry.end.validate'] == 'ok'


# The consumer's error paths, swept: the Nth fault point of a 2-vCPU VM's
# lifecycle fails (VM creation, vCPU creation, the first run that donates,
# teardown), for N = 1, 2, ... until a lifecycle passes fewer points than N.
# Slab and page allocations that may sleep count as well as the pool's own
# points. After every step the pool's books are back at the baseline, and a
# following VM runs.
SWEEP_SCRIPT = STATE_SH + r"""
fault_setup
echo 16777216 > $P/min_size_bytes
state sweep.base
read -r base_used < $P/used_bytes
read -r base_committed < $P/committed_bytes
n=1; bad=0; failed=0; steps=0
while [ $n -le 3000 ]; do
	out=$(pkvm-vms -n 1 -c 2 -F $n 2>&1 | tail -n 2 | tr '\n' ' ')
	steps=$n
	case "$out" in *FAIL*) failed=$((failed + 1)) ;; esac
	read -r u < $P/used_bytes
	read -r c < $P/committed_bytes
	read -r st < @PROBE@/stranded_bytes
	read -r v < $D/validate
	if [ "$u" != "$base_used" ] || [ "$c" != "$base_committed" ] ||
	   [ "$st" != 0 ] || [ "$v" != ok ]; then
		bad=$((bad + 1))
		mark "sweep n=$n out=[$out] used=$u committed=$c stranded=$st valid=$v"
	fi
	case "$out" in *"injected=1"*) ;; *) break ;; esac
	n=$((n + 1))
done
kv sweep.steps $steps
kv sweep.failed $failed
kv sweep.bad $bad
kv sweep.last "$out"
vms sweep.next -n 1 -c 2
state sweep.end
"""


def test_every_fault_in_a_vm_lifecycle_is_unwound(lane):
    b = harness.boot('pkvm-sweep', script(SWEEP_SCRIPT), lane=lane,
                     overlay=OVERLAY, timeout=600)
    steps, failed = kv_int(b, 'sweep.steps'), kv_int(b, 'sweep.failed')
    harness.note(f'pkvm fail-nth sweep [{lane}]: {steps - 1} faults injected '
                 f'into a 2-vCPU VM lifecycle, {failed} failed it, books ok')
    # The last run injected nothing and succeeded; every one before it had
    # a fault injected.
    assert re.search(r'pkvm-vms: ok .* pkvm-vms: fail-nth n=\d+ injected=0',
                     b.kv['sweep.last']), b.kv['sweep.last']
    assert steps > 20, steps
    assert failed > 0
    assert kv_int(b, 'sweep.bad') == 0, [m for m in b.marks
                                         if m.startswith('sweep n=')][:5]
    vms_ok(b, 'sweep.next')
    assert books(b, 'sweep.end') == books(b, 'sweep.base') | {
        k: books(b, 'sweep.end')[k] for k in ('stats/alloc_success',
                                              'stats/free')}
    assert b.kv['sweep.end.validate'] == 'ok'


# Memory cgroups: a tenant pays for the hypervisor memory its VMs take
# from the pool, as it pays for stock pKVM's page-allocator donations. The
# VMM runs in cgroup "t"; /proc/kpagecgroup says which pages of the pool's
# region are charged to it (a block's first page carries the charge).
MEMCG_SCRIPT = STATE_SH + r"""
mkdir -p /sys/fs/cgroup
mount -t cgroup2 none /sys/fs/cgroup
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/t
G=/sys/fs/cgroup/t
pfn0=$(( $(cat $D/base) / PAGE ))
npages=$(( $(cat $P/capacity_bytes) / PAGE ))
# cg PREFIX [CGROUP]: t's (or CGROUP's) memory and the region's pages
# charged to it.
cat > /tmp/cg.sh <<EOF2
. /lib.sh
set -e
G=\${2:-$G}
ino=\$(stat -c %i \$G)
read -r v < \$G/memory.current; kv \$1.current \$v
kvc \$1.kernel awk '/^kernel /{ print \$2 }' \$G/memory.stat
read -r v < \$P/used_bytes; kv \$1.used \$v
# Pages of the region the pool holds (PageOffline, KPF_OFFLINE = 23) that
# are charged to t: Linux's own movable pages in the region may be too.
dd if=/proc/kpagecgroup bs=8 skip=$pfn0 count=$npages 2> /dev/null | od -An -tu8 -v -w8 > /tmp/cgs
dd if=/proc/kpageflags bs=8 skip=$pfn0 count=$npages 2> /dev/null | od -An -tu8 -v -w8 > /tmp/flags
kvc \$1.charged awk -v ino=\$ino 'NR == FNR { c[FNR] = \$1; next } c[FNR] == ino && int(\$1 / 8388608) % 2 == 1 { n++ } END { print n + 0 }' /tmp/cgs /tmp/flags
EOF2
cg() { sh /tmp/cg.sh $1; }
# in_t CMD...: run CMD in cgroup t.
in_t() { sh -c 'echo $$ > /sys/fs/cgroup/t/cgroup.procs && exec "$@"' in_t "$@"; }
cg cg.base
in_t sh -c "echo '10 account' > $D/alloc"
cg cg.block
echo > $D/free_all
cg cg.freed
# At memory.max the charge is refused and the block goes back.
read -r cur < $G/memory.current
echo $((cur + 1048576)) > $G/memory.max
kvc cg.refused in_t /bin/gpool-helper write $D/alloc '10 account'
cg cg.refusal
echo max > $G/memory.max
in_t pkvm-vms -n 2 -c 2 -H 'sh /tmp/cg.sh cg.vms' > /tmp/vms.out
kv cg.vms.out "$(tail -n 1 /tmp/vms.out)"
dump cg.vms cat /tmp/vms.out
cg cg.end
# One more VM at memory.max. Tenant u runs one VM from u/run and starts
# one more, each try from a fresh u/nI whose memory.max leaves ROOM bytes;
# ROOM grows in 16 KiB steps from 0 until the VM fits (memory.peak of a try
# with no limit, u/n, says what it took). As for stock pKVM's
# GFP_KERNEL_ACCOUNT donations, a charge over memory.max fails -ENOMEM
# above order 3 (the PGD) and, below, asks the memcg OOM killer, which
# kills the new VMM (the one task of u/nI); either way nothing is left
# behind.
state atmax.base
mkdir /sys/fs/cgroup/u /sys/fs/cgroup/u/run /sys/fs/cgroup/u/n
echo +memory > /sys/fs/cgroup/u/cgroup.subtree_control
echo 0 > /proc/sys/vm/oom_dump_tasks
cat > /tmp/atmax.sh <<'EOF'
. /lib.sh
set -e
U=/sys/fs/cgroup/u
# in_u CG CMD...: run CMD in cgroup u/CG.
in_u() { _cg=$1; shift; sh -c 'echo $$ > '$U/$_cg'/cgroup.procs && exec "$@"' in_u "$@"; }
sh /tmp/state.sh atmax.held
sh /tmp/cg.sh atmax.held $U/run
kv atmax.need.out "$(in_u n pkvm-vms -n 1 -c 1 2>&1 | tail -n 1)"
read -r need < $U/n/memory.peak
kv atmax.need $need
i=0
room=0
while [ $i -lt 64 ]; do
	mkdir $U/n$i
	echo $room > $U/n$i/memory.max
	rc=0
	in_u n$i pkvm-vms -n 1 -c 1 > /tmp/try.out 2>&1 || rc=$?
	out=$(tail -n 1 /tmp/try.out)
	kv atmax.$i.room $room
	kv atmax.$i.out "$out"
	kv atmax.$i.rc $rc
	kvc atmax.$i.oom_kill awk '/^oom_kill /{ print $2 }' $U/n$i/memory.events
	sh /tmp/state.sh atmax.$i
	sh /tmp/cg.sh atmax.$i $U/run
	rmdir $U/n$i
	i=$((i + 1))
	room=$((room + 16384))
	case "$out" in "pkvm-vms: ok "*) break ;; esac
done
kv atmax.tries $i
EOF
sh -c 'echo $$ > /sys/fs/cgroup/u/run/cgroup.procs && exec pkvm-vms -n 1 -c 1 -H "sh /tmp/atmax.sh"' > /tmp/atmax.out
kv atmax.out "$(tail -n 1 /tmp/atmax.out)"
dump atmax.stat cat /tmp/atmax.out
state atmax.end
# KVM's per-VM statistic, against the pool's books, for 1 and 4 vCPUs.
for c in 1 4; do
	pkvm-vms -n 1 -c $c -H "sh /tmp/cg.sh stat$c" > /tmp/s$c.out
	dump stat$c cat /tmp/s$c.out
done
"""


def test_donations_are_charged_to_the_vmms_memory_cgroup(lane):
    b = harness.boot('pkvm-memcg', script(MEMCG_SCRIPT), lane=lane,
                     overlay=OVERLAY, timeout=300)
    kv = {k: int(v) for k, v in b.kv.items()
          if k.startswith('cg.') and k.split('.')[-1] in
          ('current', 'kernel', 'used', 'charged')}
    # The bare API: an order-10 block with __GFP_ACCOUNT is 4 MiB of the
    # cgroup's kernel memory, on one page of the region, until it is freed.
    block = 4 << 20
    assert kv['cg.block.used'] - kv['cg.base.used'] == block
    assert block <= kv['cg.block.kernel'] - kv['cg.base.kernel'] < block + (64 << 10)
    assert kv['cg.block.charged'] == 1
    assert kv['cg.freed.charged'] == 0
    assert abs(kv['cg.freed.kernel'] - kv['cg.base.kernel']) < 64 << 10
    # Refused at memory.max: -ENOMEM, and nothing stays taken.
    assert b.kv['cg.refused'] == 'ENOMEM', b.kv['cg.refused']
    assert kv['cg.refusal.used'] == kv['cg.freed.used']
    assert kv['cg.refusal.charged'] == 0
    # Two VMs of two vCPUs: every block they take from the pool (a PGD, the
    # VM and two vCPUs each) is charged to the VMM's cgroup, and no longer
    # once they are gone.
    assert re.match(r'pkvm-vms: ok ', b.kv['cg.vms.out']), b.kv['cg.vms.out']
    assert kv['cg.vms.used'] - kv['cg.base.used'] == 2 * (81920 + 8192)
    assert kv['cg.vms.charged'] == 2 * 4
    assert kv['cg.vms.kernel'] - kv['cg.base.kernel'] >= 2 * (81920 + 8192)
    assert kv['cg.end.charged'] == 0
    assert kv['cg.end.used'] == kv['cg.base.used']


def test_a_vm_over_memory_max_is_refused_and_the_running_one_goes_on(lane):
    b = harness.boot('pkvm-memcg', script(MEMCG_SCRIPT), lane=lane,
                     overlay=OVERLAY, timeout=300)
    assert b.kv['atmax.need.out'].startswith('pkvm-vms: ok ')
    tries = kv_int(b, 'atmax.tries')
    outs = [b.kv[f'atmax.{i}.out'] for i in range(tries)]
    # Each try short of what one more VM needs fails with -ENOMEM, at
    # whichever step met the limit, or its VMM is OOM-killed (exit 137,
    # u/nI's memory.events counts one oom_kill); either way it leaves the
    # pool as it was with one VM running: used, committed, as many blocks
    # freed as handed out, the books valid; u/run is still charged for the
    # running VM's three blocks (PGD, VM, vCPU) and for no more.
    held = books(b, 'atmax.held')
    assert kv_int(b, 'atmax.held.charged') == 3
    for i, out in enumerate(outs[:-1]):
        rc, kills = kv_int(b, f'atmax.{i}.rc'), kv_int(b, f'atmax.{i}.oom_kill')
        if rc == 137:
            assert kills == 1, (i, out)
        else:
            assert rc == 1 and kills == 0, (i, rc, out)
            assert re.fullmatch(r'pkvm-vms: FAIL step=\S+ vm=0 vcpu=-?\d+ '
                                r'errno=ENOMEM \(12\)', out), (i, out)
        after = books(b, f'atmax.{i}')
        assert {k: after[k] for k in ('used_bytes', 'committed_bytes')} == \
            {k: held[k] for k in ('used_bytes', 'committed_bytes')}, (i, out)
        assert after['stats/alloc_success'] - held['stats/alloc_success'] == \
            after['stats/free'] - held['stats/free'], (i, out)
        assert b.kv[f'atmax.{i}.validate'] == 'ok'
        assert kv_int(b, f'atmax.{i}.charged') == 3, (i, out)
    # The pool's own refusal is among them: the limit met at the first run,
    # where EL2 takes the VM's memory from the pool.
    assert any('step=run ' in out for out in outs[:-1]), outs
    # With room enough, one more VM runs; the VM held all along went on.
    assert outs[-1].startswith('pkvm-vms: ok '), outs
    assert b.kv['atmax.out'].startswith('pkvm-vms: ok '), b.kv['atmax.out']
    assert hyp_mem(b.dumps['atmax.stat']) == [81920]
    assert books(b, 'atmax.end')['used_bytes'] == books(b, 'atmax.base')['used_bytes']
    steps = sorted({o.split()[2] if kv_int(b, f'atmax.{i}.rc') == 1 else
                    'oom_kill' for i, o in enumerate(outs[:-1])})
    harness.note(f'memory.max: a 1-vCPU VM and its VMM peak at '
                 f'{b.kv["atmax.need"]} bytes; {tries - 1} tries short of '
                 f'{b.kv[f"atmax.{tries - 1}.room"]} bytes refused at: '
                 f'{", ".join(steps)}')


def hyp_mem(lines, closed=False):
    """Each VM's protected_hyp_mem while it runs or, with CLOSED, read
    through a stats fd kept open after every other fd of the VM closed."""
    key = r'closed protected_hyp_mem' if closed else r'\d protected_hyp_mem'
    return [int(m[1]) for m in (re.search(key + r'=(-?\d+)', x)
                                for x in lines) if m]


def test_kvm_reports_what_each_vm_donated(lane):
    b = harness.boot('pkvm-memcg', script(MEMCG_SCRIPT), lane=lane,
                     overlay=OVERLAY, timeout=300)
    # The model: 80 KiB for a 1-vCPU VM (a 16-page PGD, the VM, one vCPU),
    # 8 KiB more per vCPU; and it is what the pool's books say.
    for c in (1, 4):
        assert hyp_mem(b.dumps[f'stat{c}']) == [81920 + 8192 * (c - 1)], c
        assert (kv_int(b, f'stat{c}.used') - kv_int(b, 'cg.base.used') ==
                81920 + 8192 * (c - 1))
    assert hyp_mem(b.dumps['cg.vms']) == [90112, 90112]
    # Read during the teardown (the VM's fds closed, its stats fd not yet),
    # the figure is still the VM's; closing the stats fd gives it all back.
    for c in (1, 4):
        assert hyp_mem(b.dumps[f'stat{c}'], closed=True) == hyp_mem(b.dumps[f'stat{c}'])
    assert hyp_mem(b.dumps['cg.vms'], closed=True) == [90112, 90112]
    assert kv_int(b, 'cg.end.used') == kv_int(b, 'cg.base.used')


def test_blocks_of_a_failed_teardown_stay_out_of_the_pool(lane):
    # The probe's "strand" makes the host treat a live VM's teardown as one
    # EL2 refused: its blocks must stay out of the pool. EL2 tears the VM
    # down as usual, so nothing is lost at EL2 (a later VM gets its slot).
    b = harness.boot('pkvm-strand', script(STATE_SH + r'''
state base
vms held -n 1 -c 2 -H 'sh /tmp/state.sh held; echo strand > @PROBE@/probe'
state stranded
echo 4 > $D/alloc
state next
echo > $D/free_all
state freed
vms again -n 2 -c 2 -H 'echo strand > @PROBE@/probe'
vms after -n 2 -c 2
state end
'''), lane=lane, overlay=OVERLAY, timeout=120,
        expect_splats=[r'pkvm donation pool: EL2 kept 4 blocks'])
    held = (kv_int(b, 'held.used_bytes') - kv_int(b, 'base.used_bytes'))
    assert held > 0
    # The error names what stays out; the counter has it; the books keep it
    # as used, and as committed, so no later VM is promised it.
    assert b.lines(rf'kvm: pkvm donation pool: EL2 kept 4 blocks \({held} '
                   r'bytes\) of a VM it did not tear down; they stay out of '
                   r'the pool')
    assert kv_int(b, 'stranded.stranded') == held
    assert (kv_int(b, 'stranded.used_bytes') ==
            kv_int(b, 'base.used_bytes') + held)
    assert (kv_int(b, 'stranded.committed_bytes') ==
            kv_int(b, 'base.committed_bytes') + held)
    assert b.kv['stranded.validate'] == 'ok'
    # The pool still serves and takes back everything else.
    assert (kv_int(b, 'next.used_bytes') ==
            kv_int(b, 'stranded.used_bytes') + 16 * 4096)
    assert kv_int(b, 'freed.used_bytes') == kv_int(b, 'stranded.used_bytes')
    assert b.kv['freed.validate'] == 'ok'
    # Stranding again loses pool memory only: EL2 freed the VMs' slots and
    # pages, so VMs keep running, and nothing warned at teardown.
    vms_ok(b, 'again')
    vms_ok(b, 'after')
    assert kv_int(b, 'end.stranded') == 3 * held
    assert (kv_int(b, 'end.used_bytes') ==
            kv_int(b, 'base.used_bytes') + kv_int(b, 'end.stranded'))
    assert b.kv['end.validate'] == 'ok'
    assert not b.lines(r'WARNING: .* __pkvm_destroy_hyp_vm')


def test_demo_command(lane):
    """The README's demo, run as a user runs it: it succeeds, its table is
    what the guest read from sysfs at each point, and the books in it add
    up; its verdict line says what the stray reads did."""
    # Its own boots time out first (300 and 120 s, times 3 in this lane).
    res = subprocess.run([harness.TOP / 'scripts/gunyah-pool/demo'],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=1800)
    out = res.stdout
    (harness.out_dir() / 'demo.txt').write_text(out)
    assert res.returncode == 0, out[-3000:]
    # The guest's own record of sysfs, from the demo's console log.
    b = harness.Boot('demo', harness.out_dir('demo-demo'), [])
    b.log = (b.dir / 'console.log').read_text(errors='replace')
    harness._parse(b, [r'.'])
    phases = ['before', 'during', 'after']
    table = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) == 4 and re.fullmatch(r'(stats/)?[a-z_]+', cells[0]):
            table[cells[0]] = dict(zip(phases, cells[1:]))
    assert len(table) >= 21, out
    for row, vals in table.items():
        for p in phases:
            assert vals[p] == b.kv[f'{p}.{row}'], (row, p)
    n = {p: {r: int(v[p]) for r, v in table.items() if v[p].isdigit()} for p in phases}
    for p in phases:
        assert n[p]['free_bytes'] == n[p]['size_bytes'] - n[p]['used_bytes'], p
    assert n['during']['used_bytes'] > n['before']['used_bytes']
    assert n['after']['used_bytes'] == n['before']['used_bytes']
    assert n['after']['committed_bytes'] == n['before']['committed_bytes']
    assert re.search(r'stock pKVM \(page allocator\)\s+.*nVHE hyp BUG at', out), out
    m = re.search(r'(\d+) donated pages read: (\d+) -EFAULT', out)
    assert m and int(m[1]) > 0 and m[1] == m[2], out
    assert re.search(r'validator: ok', out)

