#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Turn the repository into a git format-patch series against Linux 6.12.

    series.py [--out DIR] [--check] [--build-each]

The series, in the order a maintainer expects: the hibernation fix the
pool's refusal of a restore needs, the binding, the driver
(no-map mode, tracepoints), its sysfs ABI, the reusable mode, the
documentation, the KUnit tests with fault injection, pKVM as the pool's
first user, then a generic request to map
memory with pages (memblock, reserved-memory, arm64) and the pool's use of
it, which lets a reusable pool run with rodata=on, behind a cover letter
(0000-cover-letter.patch) with the figures of the tree's last test run and
benchmark. Each patch carries the new
files it introduces and its share of patches/*.patch (the edits to upstream
files). The series is made in a
small git repository holding the pristine versions of the upstream files it
edits, so it is quick and needs no copy of the whole tree.

--check applies the series with git am to a fresh copy of those pristine
files. --build-each applies it patch by patch to a copy of the pristine tree,
builds each step and keeps each Image in build/series-images/ for the tests
that boot them (test_series.py). The test-only code of
tools/testing/gunyah-pool/kernel/ (debugfs, provocations, benchmark) is in
no patch: the series builds and runs without it.
"""
import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
BUILD = TOP / 'build'
PRISTINE = BUILD / 'linux-pristine'
AUTHOR = 'gunyah-pool developers <gunyah-pool@localhost>'
G = 'drivers/virt/gunyah/'

# Each step introduces its 'files' and, for files an earlier step brought
# in, the pieces matched by its 'adds' regexes: a file as written at step i
# has the pieces of every later step cut out, or replaced by the text an
# entry gives as (regex, earlier text). Every piece must match once.
SERIES = [
    {
        'subject': 'PM: hibernate: keep the image when a restore is refused',
        'body': '''\
swsusp_check() resets the image's swap signature as soon as it finds
it, before software_resume() asks the PM notifiers whether a restore may
go on. A notifier that refuses PM_RESTORE_PREPARE therefore throws the
hibernated session away for good, although nothing had been restored and
the kernel goes on booting: the refusal comes after the loss.

Reset the signature only once the notifiers have agreed, just before
processes are frozen and the image is read; a restore that fails from
there on is still not tried again at the next boot, as before. A refused
restore now keeps the image for a later boot and says so. Close the
resume device on that path too, which was left open. An image made on
other hardware is still forgotten at once, and the test-resume path of
hibernate() resets the signature as it did.

The donation pool that follows refuses a restore while memory it handed
out during boot is donated to a hypervisor; with this, that refusal
costs the user nothing.''',
        'files': [],
        'patches': ['0006-PM-hibernate-keep-the-image-when-a-restore-is-refused.patch'],
    },
    {
        'subject': 'dt-bindings: reserved-memory: add qcom,gunyah-donation-pool',
        'body': '''\
Describe the reserved-memory region from which the Gunyah hypervisor
drivers take the memory they donate to the hypervisor for its metadata
and stage-2 page tables. The region is never in the kernel's linear map
while the pool or the hypervisor owns it: either a no-map carve-out, or a
reusable CMA area that Linux uses for movable pages until the pool takes
it. Exactly one of the two is required.''',
        'files': ['Documentation/devicetree/bindings/reserved-memory/'
                  'qcom,gunyah-donation-pool.yaml'],
        'patches': [],
    },
    {
        'subject': 'virt: gunyah: add the donation pool',
        'body': '''\
A page donated to Gunyah leaves the host's stage 2. If it is still in the
linear map, an access such as load_unaligned_zeropad() reading across the
end of the page before it faults at stage 2, Gunyah reports a synchronous
external abort, and the host panics. Modules may not unmap pages from the
linear map, so add a built-in pool that hands out only memory that is not
in it, from a qcom,gunyah-donation-pool reserved-memory region marked
no-map, held from boot. A reusable region is refused until a later patch
adds that mode.

The core (cma_pool.c) is an allocator over the memory a backing gives it
with gunyah_pool_add_range(); it asks the backing, through a small ops
structure, to grow when short and to rebalance at the watermarks, and
knows nothing of where the memory comes from. What bounds it
(reservations, the tunables, the hibernation decision) is in
cma_pool_limits.c, which only calls the core. Device-tree setup and the
no-map backing are in cma_pool_of.c. genalloc finds naturally aligned
blocks of order 0 to 10; the pool keeps its own books: a bitmap of the
pages it holds and, for each block handed out, a mark in the struct page
of its first page (as the page allocator keeps a free block's order), so
foreign, double and wrong-order frees are refused with one cmpxchg()
before genalloc sees them. Blocks of order 0 to 4 are cached per CPU
under a per-CPU lock taken with trylock, as the page allocator does.
Bytes in use are one atomic, so they, their peak and the low-watermark
crossings are exact and readers never touch the caches. Reservations let
a driver refuse a VM at creation instead of failing at a stage-2 fault;
they are checked against max_size * overcommit_ratio / 100. The API is
exported in the GUNYAH namespace.''',
        'files': ['include/linux/gunyah_pool.h', G + 'Kconfig', G + 'Makefile',
                  G + 'cma_pool.c', G + 'cma_pool.h', G + 'cma_pool_limits.c',
                  G + 'cma_pool_of.c', G + 'cma_pool_trace.h'],
        'patches': ['0001-virt-gunyah-hook-up-the-donation-pool.patch',
                    '0003-MAINTAINERS-add-an-entry-for-the-Gunyah-donation-pool.patch'],
    },
    {
        'subject': 'virt: gunyah: add a sysfs interface to the donation pool',
        'body': '''\
Platform engineers size and watch the pool at run time. Add
/sys/kernel/gunyah/pool: the mode and capacity, size, used, free, peak
and committed bytes, the commit limit and overcommit, min and max size,
the low and high watermarks and overcommit_ratio, and event counters in
stats/. Every store is checked against all invariants and applied in one
step under the pool's lock; a refused write changes nothing, and reads
take no lock a caller waits for. free_bytes is pollable: pollers wake
when free memory falls below the low watermark.

The grow, grow_fail and shrink counters stay 0 for a no-map pool; they
count a reusable pool's chunks once that mode is added.''',
        'files': [G + 'cma_pool_sysfs.c',
                  'Documentation/ABI/testing/sysfs-kernel-gunyah-pool'],
        'adds': {G + 'Makefile': [r' cma_pool_sysfs\.o'],
                 G + 'cma_pool.h': [r'#ifdef CONFIG_SYSFS\nint gunyah_pool_sysfs_init.*?#endif\n\n'],
                 G + 'cma_pool_of.c': [r'\tret = gunyah_pool_sysfs_init\(pool\);\n'
                                       r'\tif \(ret\)\n\t\tpr_warn\([^\n]*\n\n']},
        'patches': [],
    },
    {
        'subject': 'virt: gunyah: add the reusable mode to the donation pool',
        'body': '''\
A no-map region is lost to Linux even while the pool does not need it.
Let the region be reusable instead: a CMA area Linux uses for movable
pages, from which a second backing takes 4 MiB chunks when the pool needs
them. Each chunk is marked PageOffline and leaves the linear map with one
set_memory_valid() call and one TLB flush before the pool can hand any of
it out, and goes back, mapped again, only when the pool returns it wholly
free; a chunk that cannot be mapped again wholly is kept out of both CMA
and the pool.

GFP_KERNEL allocations grow the pool when it is short, within the
reclaim their gfp allows; a worker refills it below the low watermark up
to the high one and drains it above the high watermark plus a chunk.
Hibernation and restore are refused while the pool holds a chunk.

The backing lives in cma_pool_reusable.c, built with CONFIG_CMA; the core
does not change.''',
        'files': [G + 'cma_pool_reusable.c', G + 'cma_pool_reusable.h'],
        'adds': {
            'Documentation/ABI/testing/sysfs-kernel-gunyah-pool': [
                (r'never mapped\) or "reusable" \(a CMA area, taken from\n'
                 r'\t\tLinux in chunks and unmapped while pooled\)\.',
                 'never mapped).'),
                (r'\(RW\) A reusable pool grows to this size as soon as it is set\n'
                 r'\t\tand never gives memory back to CMA below it\. For a no-map pool\n'
                 r'\t\tthe value is kept and checked, and has no further effect: the\n'
                 r'\t\tpool always holds max_size_bytes\.',
                 '(RW) The value is kept and checked, and has no further effect:\n'
                 '\t\ta no-map pool always holds max_size_bytes.'),
                (r'are\n\t\twoken; a reusable pool also refills in the background, chunk\n'
                 r'\t\tby chunk \(4 MiB with 4 KiB pages, 16 MiB with 16 KiB\), until\n'
                 r'\t\thigh_watermark_bytes are free or it reaches max_size_bytes\.\n'
                 r'\t\t0 disables it\.',
                 'are\n\t\twoken. 0 disables it.'),
                (r'\(RW\) A reusable pool gives whole free chunks back to CMA while\n'
                 r'.*?For a no-map pool it only bounds\n\t\tlow_watermark_bytes\.',
                 '(RW) Bounds low_watermark_bytes.'),
            ],
            G + 'Makefile': [r'gunyah_pool-\$\(CONFIG_CMA\)[^\n]*\n'],
            G + 'cma_pool.h': [
                r'\tGUNYAH_POOL_FAULT_CMA,.*?GUNYAH_POOL_FAULT_REMAP,[^\n]*\n',
            ],
            G + 'cma_pool_trace.h': [
                r'DECLARE_EVENT_CLASS\(gunyah_pool_resize_class,.*?'
                r'DEFINE_EVENT\(gunyah_pool_resize_class, gunyah_pool_shrink,.*?\);\n\n'],
            G + 'cma_pool.c': [
                (r'a ``no-map`` region, held whole from\n \* boot, or a ``reusable`` one, '
                 r'a CMA area \(cma_pool_reusable\.c\)\.',
                 'a ``no-map`` region, held whole from\n * boot.'),
            ],
            G + 'cma_pool_of.c': [
                r'#include "cma_pool_reusable\.h"\n',
                r'\tstruct cma \*cma;\t/\* reusable: [^\n]*\n',
                r'\tbool reusable;\n',
                r'\tgunyah_pool_region\.reusable = reusable;\n',
                (r'\tif \(reusable\) \{\n\t\tint ret;\n.*?\n\t\}\n',
                 '\tif (reusable)\n'
                 '\t\treturn pool_refuse(rmem, "reusable regions are not supported");\n'),
                (r'\tif \(IS_ENABLED\(CONFIG_CMA\) && r->reusable\)\n\t\tpool = '
                 r'gunyah_pool_reusable_create\(r->name, r->cma\);\n\telse\n\t\tpool',
                 '\tpool'),
            ]},
        'patches': [],
    },
    {
        'subject': 'docs: virt: describe the Gunyah donation pool',
        'body': '''\
Explain why the pool is built in and never hands out memory in the linear
map, how each mode takes memory, how the allocator, its per-CPU caches,
reservations and watermarks work, and include the kernel-doc of the API.''',
        'files': ['Documentation/virt/gunyah/index.rst',
                  'Documentation/virt/gunyah/donation-pool.rst'],
        'patches': ['0002-docs-virt-add-the-Gunyah-donation-pool.patch'],
    },
    {
        'subject': 'virt: gunyah: add KUnit tests for the donation pool',
        'body': '''\
Add the KUnit suite gunyah_pool. It runs at boot against the configured
pool and leaves it as it found it: most cases build a private pool over a
block of the system's pool and fill, fragment and misuse it; others check
that no page handed out, and no page of a no-map region or of a reusable
pool's chunks, is in the linear map, and that load_unaligned_zeropad()
across the start of the region or of a chunk returns the zero-padded word.
The reusable cases grow, shrink, refill and drain the system's pool, and a
fail-nth sweep fails each fault point of each step in turn: with
CONFIG_GUNYAH_POOL_FAULT_INJECTION every step of the pool that can fail
(zeroing a block; taking a chunk from CMA, unmapping it, mapping it
again) has a fault point, also driven through
/sys/kernel/debug/gunyah_pool/fail_*/. The validator
(cma_pool_validate.c, built only for what tests the pool) checks the
books after every phase.''',
        'files': [G + 'cma_pool_test.c', G + 'cma_pool_validate.c',
                  G + 'cma_pool_fault.c'],
        'adds': {G + 'Kconfig': [r'\nconfig GUNYAH_POOL_FAULT_INJECTION\n.*?(?=\nconfig GUNYAH_POOL_KUNIT_TEST\n)',
                                 r'\nconfig GUNYAH_POOL_KUNIT_TEST\n.*'],
                 G + 'Makefile': [r'gunyah_pool-\$\(CONFIG_GUNYAH_POOL_FAULT_INJECTION\)[^\n]*\n',
                              r'gunyah_pool-\$\(CONFIG_GUNYAH_POOL_VALIDATE\)[^\n]*\n',
                              r'gunyah_pool-\$\(CONFIG_GUNYAH_POOL_KUNIT_TEST\)[^\n]*\n'],
                 G + 'cma_pool.h': [r'/\* The validator and read-outs .*?\n\n'],
                 'Documentation/virt/gunyah/donation-pool.rst': [
                     (r', and the validator the\ntests use in ``cma_pool_validate\.c``; both call the core and nothing in the\ncore calls them\.',
                      ', which calls the core;\nnothing in the core calls it.')],
                 G + 'cma_pool.c': [(r'\(reservations, tunables, hibernation\)\n \* and cma_pool_validate\.c checks its books for the tests; the core calls\n \* neither\.',
                                     '(reservations, tunables, hibernation);\n * the core does not call it.')]},
        'patches': [],
    },    {
        'subject': 'KVM: arm64: pkvm: donate VM memory from the Gunyah donation pool',
        'body': '''\
In protected mode the host donates to EL2, for every VM, the stage-2 PGD
pages, the hypervisor's VM structure and one vCPU structure per vCPU.
They come from the page allocator and stay in the linear map: a stray
host access to one of them (load_unaligned_zeropad() running off the end
of the page before it, copy_from_kernel_nofault()) faults at stage 2 and
EL2 stops the machine.

Route every donation through pkvm_donation_alloc(), pkvm_donation_free()
and pkvm_donation_reclaim(), and reserve a VM's donations as its vCPUs
are created. Without CONFIG_PKVM_DONATION_POOL these are the stock calls.
With it and a reusable Gunyah donation pool in the device tree,
pkvm_donation.c takes the memory from the pool, which is never in the
linear map (no switch: booted without the pool's node, the kernel
donates as before);
a VM the pool cannot promise is refused at KVM_CREATE_VCPU with -ENOMEM.
Teardown returns blocks by a record, not through the teardown memcache,
whose links EL2 writes inside pages the host cannot read; blocks EL2 did
not hand back stay out of the pool and are counted. Whether the pool can
serve EL2 is read from its region's memblock flags, without allocating:
a no-map pool is refused at boot, as EL2 does not take MEMBLOCK_NOMAP
memory. Pool blocks are charged to the VMM's memory cgroup
(GFP_KERNEL_ACCOUNT), as the page allocator's donations are, and a new
VM statistic, protected_hyp_mem, gives the bytes donated to EL2 for each
VM through KVM_GET_STATS_FD.''',
        'files': ['arch/arm64/kvm/pkvm_donation.c',
                  'arch/arm64/kvm/pkvm_donation.h'],
        'adds': {'Documentation/virt/gunyah/donation-pool.rst': [
            r"A hypervisor driver's use: pKVM\n=+\n.*?(?=Operating the pool\n)"]},
        'patches': ['0004-KVM-arm64-pkvm-donate-VM-memory-from-the-Gunyah-donation-pool.patch'],
    },
    {
        'subject': 'mm: memblock: let memory ask to be mapped with pages',
        'body': '''\
A driver that takes pages out of the kernel's direct mapping at run time
(set_memory_valid(), set_direct_map_invalid_noflush()) can do so only
where the direct mapping uses base pages: a live block mapping cannot be
split. arm64 maps everything with pages when can_set_direct_map() holds
(rodata=full, the default), and otherwise with blocks and contiguous
hints, which platforms choose for fewer TLB misses. Such a driver then
either cannot run or makes the whole direct mapping page granular for
the sake of one region.

Add MEMBLOCK_MAP_PAGES, a request that memory be mapped with base pages
in the direct mapping whatever the rest uses, and
memblock_mark_map_pages() to make it before the direct mapping is built.
Architectures honour it as they can; arm64 follows. The flag shows in
memblock's debugfs as MAP_PG.''',
        'files': [],
        'patches': ['0005-mm-memblock-let-memory-ask-to-be-mapped-with-pages.patch'],
    },
    {
        'subject': 'of: reserved_mem: add an early hook, before the direct mapping is built',
        'body': '''\
A reserved-memory region whose driver needs something of the
architecture before the direct mapping is built (a region to be mapped
with base pages, say) has nowhere to ask for it. The region's init
callback runs early only for regions the kernel places; since the
reserved_mem array became dynamic, a region with a "reg" is initialised
from unflatten_device_tree(), after paging_init(). The only early step
today is dma_contiguous_early_fixup(), hard-wired to shared-dma-pool.

Add RESERVEDMEM_OF_DECLARE_EARLY(): a hook called with the region's
node, base and size as soon as the region is reserved or placed, in
fdt_scan_reserved_mem(), for "reg" and placed regions alike, next to
dma_contiguous_early_fixup(). It makes requests; the region's setup,
its checks and its messages stay in the RESERVEDMEM_OF_DECLARE()
callback.''',
        'files': [],
        'patches': ['0007-of-reserved_mem-add-an-early-hook-before-the-direct-mapping.patch'],
    },
    {
        'subject': 'arm64: mm: map memory that asks for it with pages',
        'body': '''\
With rodata=on or rodata=off arm64 maps the linear map with blocks and
contiguous hints, which cannot be split at run time, so memory that a
driver will take out of the linear map page by page needs rodata=full
for the whole linear map.

Honour MEMBLOCK_MAP_PAGES in map_mem() the way the KFENCE pool is
mapped: mark each requested range NOMAP so that the main loop skips it,
map it with pages and without contiguous hints after, and clear NOMAP
again, before bootmem_init() and pKVM's snapshot of memblock. Do it
before the KFENCE pool is allocated, which cannot then come out of it.
Adjacent requested regions are mapped as one range, so a request that
spans two memory regions is honoured whole. A memory region that is
no-map, not page aligned or overlaps the kernel image, or one that
cannot be marked, is left to the main loop with a message naming it;
the check of memblock_mark_nomap()'s result keeps a range the main loop
mapped with blocks from being mapped a second time (BUG_ON(pmd_bad())).

arm64_linear_map_pages() tells the requester whether a whole range was
mapped so; a request honoured in part (the pieces of it on either side
of a no-map hole) answers false.''',
        'files': [],
        'patches': ['0008-arm64-mm-map-memory-that-asks-for-it-with-pages.patch'],
    },
    {
        'subject': "virt: gunyah: ask for a reusable pool's region to be mapped with pages",
        'body': '''\
A reusable pool takes its chunks out of the linear map page by page, so
with rodata=on or rodata=off, where arm64 maps the linear map with
blocks, it has refused to start. Ask for the region to be mapped with
pages from an early reserved-memory hook, as soon as the region is
reserved or placed and before the linear map is built, for a region with
a reg and for one the kernel places alike. The pool already asks
arm64_linear_map_pages() whether the request was honoured, and refuses
to start, saying so, when it was not.''',
        'files': [],
        'adds': {
            'Documentation/virt/gunyah/donation-pool.rst': [
                (r'This mode needs the region mapped with pages in the linear map,.*?'
                 r'believe pages are unmapped when they are not\.',
                 'This mode needs a\npage-granular linear map (``can_set_direct_map()``, which on arm64 means\n'
                 '``rodata=full``, the default, or ``debug_pagealloc``); without one the pool\n'
                 'refuses to start and says so, rather than believe pages are unmapped when\n'
                 'they are not.')],
            G + 'cma_pool_of.c': [
                r'#include <linux/memblock\.h>\n',
                r'\n/\*\n \* Runs as soon as the region is reserved, before the linear map is built:.*?'
                r'gunyah_pool_rmem_early\);\n'],
        },
        'patches': [],
    },
]


COVER_SUBJECT = 'virt: gunyah: a donation pool that is never in the linear map'

COVER = '''\
A page the host donates to a hypervisor leaves the host's stage 2. If it
is still in the kernel's linear map, an access nobody meant to make --
load_unaligned_zeropad() reading across the end of the page before it,
a copy_from_kernel_nofault() -- faults at stage 2, and the hypervisor
stops the machine. Gunyah v17 asked to export set_direct_map_*() so its
modular drivers could unmap what they donate; that was refused ("Err,
not they should not. And not using such super low-level interfaces from
modular code", in reply to
<20240222-gunyah-v17-19-1e9da6763d38@quicinc.com>). This series is the
other answer: a built-in pool that only ever hands out memory that is
not in the linear map, so no module touches the linear map at all.

The memory is a reserved-memory region, qcom,gunyah-donation-pool
(patch 2). With no-map it is a carve-out the pool holds from boot; with
reusable it is a CMA area Linux uses for movable pages until the pool
takes it, 4 MiB at a time, marking each chunk PageOffline and unmapping
it with one set_memory_valid() call and one TLB flush before handing any
of it out (patch 5). That needs the region mapped with pages: with
rodata=full the whole linear map is. For rodata=on, patches 9 to 11 add
a generic request: memory marked MEMBLOCK_MAP_PAGES before the linear
map is built, from a new early reserved-memory hook, is mapped with
pages by arm64 as it maps the KFENCE pool; patch 12 makes the pool ask.
The pool's core (patch 3) is an allocator over what a backing gives it and knows
nothing of CMA: it serves naturally aligned blocks of order 0 to 10,
keeps its own books so foreign and double frees are refused before
genalloc sees them, caches small blocks per CPU under a per-CPU lock
taken with trylock, as the page allocator does, and lets a driver
reserve a VM's worst case at creation, so a VM the pool cannot promise
is refused then rather than at a stage-2 fault. /sys/kernel/gunyah/pool (patch 4) sizes and watches it. Patch 6 is the
documentation, patch 7 the KUnit suite with a fault-injection point in
every step that can fail.

Gunyah's drivers are not upstream, so the first real user is pKVM, whose
EL2 takes donations exactly as Gunyah does (patch 8). With
CONFIG_PKVM_DONATION_POOL and a reusable pool in the device tree, every page pKVM
donates for a VM (stage-2 PGD, hypervisor VM and vCPU structures) comes
from a reusable pool; the reservation is made at KVM_CREATE_VCPU, and
teardown returns blocks by a record, because EL2 writes the teardown
memcache's links inside pages the host cannot read. A no-map pool cannot
serve pKVM: EL2 does not take MEMBLOCK_NOMAP memory, and the kernel says
so at boot.

Patch 1 is a hibernation fix the pool's refusal of a restore needs: the
image's signature was reset before PM notifiers could refuse a restore.

Testing: arm64, QEMU virt under TCG, booted by pytest in eight lanes
(release-like; KASAN with lockdep, kmemleak and UBSAN, with and without
debug_pagealloc; KCSAN; pKVM at EL2 in protected mode; 16 KiB pages
without and with EL2; 64 KiB pages), with rodata=full, on and off, plus
checkpatch --strict, sparse, W=1, kernel-doc -Wall, dt_binding_check and
a build after every patch. The tests build more around the series, kept
out of it: a debugfs interface that allocates, frees and reserves from
userspace, draws the occupancy map and runs a VM workload and a
multi-thread stress; positive controls for KASAN, UBSAN, lockdep, KCSAN
and kmemleak; and a boot-time benchmark. Under pKVM, the same stray read of a donated
page that kills stock pKVM with "nVHE hyp BUG at:
arch/arm64/kvm/hyp/nvhe/mem_protect.c:546!" returns -EFAULT (or a
zero-padded word across the region's edge) when the page came from the
pool.
'''


def last_run_figures():
    """The figures of the newest test run and benchmark in this tree."""
    out = TOP / 'tools/testing/gunyah-pool/out'
    lines = []
    runs = sorted(out.glob('*/figures.txt'), key=lambda f: f.stat().st_mtime)
    if runs:
        lines.append(f'The last test run here ({runs[-1].parent.name}):')
        lines += ['  ' + x for x in runs[-1].read_text().splitlines()]
    else:
        lines.append('No test run is recorded in this tree yet.')
    benches = sorted(out.glob('*/bench*/bench.txt'),
                     key=lambda f: f.stat().st_mtime)
    if benches:
        text = benches[-1].read_text().splitlines()
        ratios = [x for x in text if x.startswith('  order ')]
        if ratios:
            lines.append('')
            lines.append('Benchmark, ns per alloc+free pair, ratios in one '
                         'boot (below 1: the pool is faster):')
            lines += ['  ' + x.strip() for x in ratios]
    return '\n'.join(lines)


def cover_letter(out, repo, n):
    """0000-cover-letter.patch: git's own, with our subject and text."""
    git(repo, 'format-patch', '-q', '--cover-letter', '--no-signature',
        '-o', str(out), 'HEAD~%d' % n)
    cover = out / '0000-cover-letter.patch'
    text = cover.read_text()
    text = text.replace('*** SUBJECT HERE ***', COVER_SUBJECT)
    text = text.replace('*** BLURB HERE ***',
                        COVER + '\n' + last_run_figures())
    cover.write_text(text)
    return cover


def git(repo, *args, **kw):
    return subprocess.run(['git', '-C', str(repo), *args], check=True,
                          stdout=subprocess.PIPE, text=True, **kw).stdout


def touched(patch):
    return re.findall(r'^\+\+\+ b/(\S+)', patch.read_text(), re.M)


def init_repo(repo, upstream):
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    git(repo, 'init', '-q')
    git(repo, 'config', 'user.name', AUTHOR.split(' <')[0])
    git(repo, 'config', 'user.email', AUTHOR.split('<')[1].rstrip('>'))
    for f in upstream:
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PRISTINE / f, repo / f)
    git(repo, 'add', '-A')
    git(repo, 'commit', '-qm', 'Linux 6.12 (the files this series edits)')


def make(out):
    if not PRISTINE.is_dir():
        sys.exit(f'series: no pristine tree at {PRISTINE}: '
                 'run scripts/gunyah-pool/prepare-tree.sh')
    upstream = sorted({f for p in sorted((TOP / 'patches').glob('*.patch'))
                       for f in touched(p)})
    repo = BUILD / 'series-repo'
    init_repo(repo, upstream)
    for i, step in enumerate(SERIES):
        for f in step['files'] + list(step.get('adds', {})):
            text = (TOP / f).read_text()
            for later in SERIES[i + 1:]:
                for piece in later.get('adds', {}).get(f, []):
                    pattern, earlier = (piece, '') if isinstance(piece, str) else piece
                    text, n = re.subn(pattern, lambda m: m.expand(earlier), text,
                                     flags=re.S)
                    if n != 1:
                        sys.exit(f'series: {pattern!r} matches {f} {n} times')
            (repo / f).parent.mkdir(parents=True, exist_ok=True)
            (repo / f).write_text(text.rstrip('\n') + '\n')
        for p in step['patches']:
            subprocess.run(['patch', '-p1', '-s', '-d', str(repo), '-i',
                            str(TOP / 'patches' / p)], check=True)
        git(repo, 'add', '-A')
        msg = f"{step['subject']}\n\n{step['body']}\n\nSigned-off-by: {AUTHOR}\n"
        git(repo, 'commit', '-q', '-F', '-', input=msg)
    if out.exists():
        shutil.rmtree(out)
    cover_letter(out, repo, len(SERIES))
    return sorted(p for p in out.glob('*.patch')
                  if not p.name.startswith('0000-')), upstream


def check(patches, upstream):
    repo = BUILD / 'series-am'
    init_repo(repo, upstream)
    for p in patches:
        res = subprocess.run(['git', '-C', str(repo), 'am', '-q', str(p)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        if res.returncode:
            sys.exit(f'series: {p.name} does not apply:\n{res.stdout}')


def missing_options(cfg, config, tree):
    """Options of the fragment CFG that the final CONFIG does not have, as
    build-kernel.sh checks its lanes; ours only once the series has
    brought their Kconfig entries."""
    have = {}
    for line in config.read_text().splitlines():
        m = re.match(r'(CONFIG_\w+)=(.*)$', line)
        if m:
            have[m[1]] = m[2]
    ours = ''.join(k.read_text() for k in (tree / 'drivers/virt/gunyah/Kconfig',
                                           tree / 'arch/arm64/kvm/Kconfig')
                   if k.exists())
    missing = []
    for line in cfg.read_text().splitlines():
        m = (re.match(r'(CONFIG_\w+)=(.*)$', line) or
             re.match(r'# (CONFIG_\w+) is not set$', line))
        if not m:
            continue
        opt, want = m[1], m[2] if m.re.groups == 2 else 'n'
        if (opt.startswith(('CONFIG_GUNYAH_POOL', 'CONFIG_PKVM_DONATION')) and
                f'\nconfig {opt[7:]}\n' not in ours):
            continue
        if have.get(opt, 'n') != want:
            missing.append(f'{opt} requested {want!r}, .config has '
                           f'{have.get(opt, "n")!r}')
    return missing


def run_with_progress(cmd, label):
    """Run CMD, printing a line at least every 30 seconds while it runs, as
    build-kernel.sh does; return its exit status and output."""
    start = time.monotonic()
    with tempfile.TemporaryFile('w+') as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                text=True)
        while True:
            try:
                proc.wait(timeout=25)
                break
            except subprocess.TimeoutExpired:
                secs = int(time.monotonic() - start)
                print(f'series: {label}: {secs // 60}:{secs % 60:02} elapsed',
                      flush=True)
        out.seek(0)
        return proc.returncode, out.read()


def build_each(patches):
    tree = BUILD / 'series-tree'
    if tree.exists():
        shutil.rmtree(tree)
    subprocess.run(['cp', '-al', str(PRISTINE), str(tree)], check=True)
    (tree / '.extracted').unlink(missing_ok=True)
    # The default lane's options and the pkvm lane's, so that every step
    # builds pKVM too (KVM, the consumer): one configuration for all steps.
    cfgdir = TOP / 'tools/testing/gunyah-pool/configs'
    cfg = BUILD / 'series-build-each.config'
    cfg.write_text((cfgdir / 'base.config').read_text() +
                   (cfgdir / 'pkvm.config').read_text())
    # Inside the tree, so kbuild's paths are relative and ccache hits.
    obj = tree / 'obj'
    images = BUILD / 'series-images'
    shutil.rmtree(images, ignore_errors=True)
    kmake = ['make', '-C', str(tree), f'O={obj}', 'ARCH=arm64',
             'CROSS_COMPILE=aarch64-linux-gnu-', 'CC=ccache aarch64-linux-gnu-gcc',
             f'-j{len(__import__("os").sched_getaffinity(0))}', '-s']
    for i, p in enumerate(patches, 1):
        # --backup-if-mismatch off; new files break hard links by themselves,
        # edited ones are rewritten by patch(1) through a temporary file.
        subprocess.run(['patch', '-p1', '-s', '-d', str(tree), '-i', str(p)],
                       check=True)
        subprocess.run(kmake + ['allnoconfig'], check=True,
                       env={**__import__('os').environ, 'KCONFIG_ALLCONFIG': str(cfg)},
                       stdout=subprocess.DEVNULL)
        missing = missing_options(cfg, obj / '.config', tree)
        if missing:
            sys.exit(f'series: after {p.name}, options that did not stick:\n' +
                     '\n'.join(missing))
        rc, output = run_with_progress(kmake + ['Image'],
                                       f'building after {p.name}')
        warnings = [line for line in output.splitlines()
                    if 'warning:' in line and 'gunyah' in line]
        print(f'series: build after {p.name}: '
              f'{"FAILED" if rc else "ok"}, '
              f'{len(warnings)} warnings in our files', flush=True)
        if rc or warnings:
            sys.exit(output[-3000:])
        # Kept for tools/testing/gunyah-pool/tests/test_series.py to boot.
        images.mkdir(parents=True, exist_ok=True)
        shutil.copy(obj / 'arch/arm64/boot/Image', images / f'{p.stem}.Image')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', type=Path, default=BUILD / 'series')
    ap.add_argument('--check', action='store_true')
    ap.add_argument('--build-each', action='store_true')
    args = ap.parse_args()
    patches, upstream = make(args.out)
    print(f'series: {len(patches)} patches and a cover letter in {args.out}')
    for p in patches:
        print(f'  {p.name}')
    if args.check:
        check(patches, upstream)
        print(f'series: applies with git am ({len(patches)} patches)')
    if args.build_each:
        build_each(patches)


if __name__ == '__main__':
    main()
