// SPDX-License-Identifier: GPL-2.0-only
/*
 * Benchmark of the Gunyah donation pool against the alternatives, run once
 * at boot when the kernel command line says gunyah_pool.bench=1, side by
 * side in one boot. Each figure is ns per alloc+free pair, best and median
 * of several rounds, printed as
 *
 *	BENCH <name> order=<n> cpus=<k> ns_per_pair=<best> median=<median>
 *
 * with cpus=<k> > 1 meaning k CPUs at once, aggregate (wall time divided by
 * all pairs). The alternatives: alloc_page (alloc_pages()/__free_pages()),
 * directmap (the same plus set_direct_map_*() on every page and a TLB flush,
 * the way refused upstream), cma (cma_alloc()/cma_release() on the default
 * CMA area, "cma=" on the command line). The pool is the system's no-map
 * pool, empty and 95% full, and a reusable pool built over the default CMA
 * area, warm. Also: the cost of growing a reusable pool by one chunk, TLB
 * flushes per MiB moved in, and start-up time and metadata of pools of
 * 32 MiB, 256 MiB and 1 GiB.
 *
 * Copyright (c) 2026 The gunyah-pool authors
 */

#define pr_fmt(fmt) "BENCH " fmt

#include <linux/cma.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/dma-map-ops.h>
#include <linux/genalloc.h>
#include <linux/gfp.h>
#include <linux/init.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/moduleparam.h>
#include <linux/prandom.h>
#include <linux/set_memory.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/vmalloc.h>

#include <asm/tlbflush.h>

#include "cma_pool.h"
#include "cma_pool_reusable.h"

#define BENCH_ROUNDS	7
#define BENCH_CPUS	8

static bool bench;
module_param(bench, bool, 0400);
MODULE_PARM_DESC(bench, "run the donation pool benchmark at boot");

enum bench_kind {
	BENCH_ALLOC_PAGE, BENCH_DIRECTMAP, BENCH_CMA, BENCH_POOL,
	/* What the pool's fast path is made of, twice each, as in a pair. */
	BENCH_FLOOR_CALL, BENCH_FLOOR_IRQ, BENCH_FLOOR_LOCK, BENCH_FLOOR_ATOMIC,
	BENCH_FLOOR_COUNTER, NR_BENCH_KINDS
};

static const char * const bench_names[] = {
	[BENCH_ALLOC_PAGE] = "alloc_page",
	[BENCH_DIRECTMAP] = "directmap",
	[BENCH_CMA] = "cma",
	[BENCH_POOL] = "pool",
	[BENCH_FLOOR_CALL] = "floor_call",
	[BENCH_FLOOR_IRQ] = "floor_irq",
	[BENCH_FLOOR_LOCK] = "floor_lock",
	[BENCH_FLOOR_ATOMIC] = "floor_atomic",
	[BENCH_FLOOR_COUNTER] = "floor_counter",
};

static DEFINE_PER_CPU(spinlock_t, bench_lock);
static DEFINE_PER_CPU(unsigned long, bench_word);
/* One counter every CPU adds to, as the pool's bytes in use, on a line of its own. */
static struct {
	atomic64_t v;
} bench_counter ____cacheline_aligned_in_smp;

struct bench_job {
	enum bench_kind kind;
	struct gunyah_pool *pool;
	unsigned int order;
	unsigned long pairs;
	struct completion *go;
	atomic_t *ready;
	unsigned int nr_jobs;
	struct completion done;
	ktime_t start, end;
	int err;
};

static noinline int bench_nothing(struct bench_job *j)
{
	return 0;
}

static int bench_pair(struct bench_job *j)
{
	unsigned long i, nr = 1UL << j->order;
	struct page *page;
	phys_addr_t phys;

	switch (j->kind) {
	case BENCH_ALLOC_PAGE:
		page = alloc_pages(GFP_KERNEL, j->order);
		if (!page)
			return -ENOMEM;
		__free_pages(page, j->order);
		return 0;
	case BENCH_DIRECTMAP: {
		unsigned long addr;

		page = alloc_pages(GFP_KERNEL, j->order);
		if (!page)
			return -ENOMEM;
		addr = (unsigned long)page_address(page);
		for (i = 0; i < nr; i++)
			set_direct_map_invalid_noflush(page + i);
		flush_tlb_kernel_range(addr, addr + (nr << PAGE_SHIFT));
		for (i = 0; i < nr; i++)
			set_direct_map_default_noflush(page + i);
		__free_pages(page, j->order);
		return 0;
	}
	case BENCH_CMA:
		page = cma_alloc(dma_contiguous_default_area, nr, j->order, true);
		if (!page)
			return -ENOMEM;
		cma_release(dma_contiguous_default_area, page, nr);
		return 0;
	case BENCH_POOL:
		if (gunyah_pool_block_alloc(j->pool, j->order, GFP_KERNEL, &phys))
			return -ENOMEM;
		return gunyah_pool_block_free(j->pool, phys, j->order);
	case BENCH_FLOOR_CALL:
		return bench_nothing(j) ?: bench_nothing(j);
	case BENCH_FLOOR_IRQ:
		for (i = 0; i < 2; i++) {
			unsigned long flags;

			local_irq_save(flags);
			local_irq_restore(flags);
		}
		return 0;
	case BENCH_FLOOR_LOCK:
		for (i = 0; i < 2; i++) {
			spin_lock(raw_cpu_ptr(&bench_lock));
			spin_unlock(raw_cpu_ptr(&bench_lock));
		}
		return 0;
	case BENCH_FLOOR_ATOMIC:
		set_bit(0, raw_cpu_ptr(&bench_word));
		return !test_and_clear_bit(0, raw_cpu_ptr(&bench_word));
	case BENCH_FLOOR_COUNTER:
		/* What a pair does to the pool's exact count, and nothing else. */
		atomic64_add_return_relaxed(PAGE_SIZE, &bench_counter.v);
		atomic64_sub_return_relaxed(PAGE_SIZE, &bench_counter.v);
		return 0;
	default:
		break;
	}
	return -EINVAL;
}

static int bench_thread(void *data)
{
	struct bench_job *j = data;
	unsigned long i;

	wait_for_completion(j->go);
	/* Start together: every job is on its CPU before any times itself. */
	atomic_inc(j->ready);
	while (atomic_read(j->ready) < j->nr_jobs)
		cpu_relax();
	j->start = ktime_get();
	for (i = 0; i < j->pairs && !j->err; i++)
		j->err = bench_pair(j);
	j->end = ktime_get();
	complete(&j->done);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* ns per pair on @cpus CPUs at once, best and median of the rounds. */
static int bench_run(enum bench_kind kind, struct gunyah_pool *pool,
		     unsigned int order, unsigned int cpus, unsigned long pairs,
		     const char *name)
{
	struct task_struct *tasks[BENCH_CPUS];
	struct bench_job jobs[BENCH_CPUS];
	u64 ns[BENCH_ROUNDS];
	unsigned int r, c, cpu;
	int err = 0;

	for (r = 0; r < BENCH_ROUNDS && !err; r++) {
		DECLARE_COMPLETION_ONSTACK(go);
		atomic_t ready = ATOMIC_INIT(0);
		ktime_t start, end;

		/* Create every thread before any runs: none waits for one that is not. */
		c = 0;
		for_each_online_cpu(cpu) {
			if (c == cpus)
				break;
			jobs[c] = (struct bench_job){ .kind = kind, .pool = pool,
				.order = order, .pairs = pairs, .go = &go,
				.ready = &ready, .nr_jobs = cpus };
			init_completion(&jobs[c].done);
			tasks[c] = kthread_create(bench_thread, &jobs[c],
						  "gunyah_bench/%u", cpu);
			if (IS_ERR(tasks[c])) {
				err = PTR_ERR(tasks[c]);
				break;
			}
			kthread_bind(tasks[c], cpu);
			c++;
		}
		if (!err && c < cpus)
			err = -ENODEV;
		if (err) {
			/* Never woken, so bench_thread() never runs. */
			while (c--)
				kthread_stop(tasks[c]);
			break;
		}
		for (cpu = 0; cpu < c; cpu++)
			wake_up_process(tasks[cpu]);
		complete_all(&go);
		for (cpu = 0; cpu < c; cpu++)
			wait_for_completion(&jobs[cpu].done);
		/* Aggregate: from the first start to the last end. */
		start = jobs[0].start;
		end = jobs[0].end;
		for (cpu = 0; cpu < c; cpu++) {
			err = err ?: jobs[cpu].err;
			start = min(start, jobs[cpu].start);
			end = max(end, jobs[cpu].end);
		}
		ns[r] = div64_u64(ktime_to_ns(ktime_sub(end, start)), pairs * c);
	}
	if (err) {
		pr_info("%s order=%u cpus=%u failed=%d\n", name, order, cpus, err);
		return err;
	}
	sort(ns, BENCH_ROUNDS, sizeof(ns[0]), cmp_u64, NULL);
	pr_info("%s order=%u cpus=%u ns_per_pair=%llu median=%llu\n", name, order,
		cpus, ns[0], ns[BENCH_ROUNDS / 2]);
	return 0;
}

static const unsigned int bench_orders[] = { 0, 4, 8, 10 };

/* Enough pairs for a round of milliseconds, so timer reads do not count. */
static unsigned long bench_pairs(unsigned int order)
{
	return max(20000UL >> order, 16UL);
}

static void bench_kinds(struct gunyah_pool *sys, struct gunyah_pool *reusable)
{
	const unsigned int *orders = bench_orders;
	unsigned int ncpus = min(num_online_cpus(), BENCH_CPUS);
	unsigned int o, cpus;
	enum bench_kind k;

	for (o = 0; o < ARRAY_SIZE(bench_orders); o++) {
		for (cpus = 1; cpus <= ncpus; cpus = cpus == ncpus ? ncpus + 1 : ncpus) {
			unsigned long pairs = bench_pairs(orders[o]);

			/* CMA last: migration leaves work behind on every CPU. */
			if (sys)
				bench_run(BENCH_POOL, sys, orders[o], cpus, pairs, "pool");
			/* The same without the per-CPU caches: what they buy. */
			if (sys && orders[o] < GUNYAH_POOL_PCP_ORDERS) {
				gunyah_pool_pcp_off(sys);
				bench_run(BENCH_POOL, sys, orders[o], cpus, pairs,
					  "pool_nocache");
				gunyah_pool_pcp_on(sys);
			}
			if (reusable)
				bench_run(BENCH_POOL, reusable, orders[o], cpus, pairs,
					  "pool_reusable");
			for (k = BENCH_ALLOC_PAGE; k < BENCH_POOL; k++) {
				if (k == BENCH_CMA && !dma_contiguous_default_area)
					continue;
				/* directmap and cma are 10 to 1000 times slower. */
				bench_run(k, NULL, orders[o], cpus,
					  k == BENCH_ALLOC_PAGE ? pairs : max(pairs / 16, 4UL),
					  bench_names[k]);
			}
		}
	}
}

/* Fill a pool to 95% with a seeded random pattern of holes. */
static phys_addr_t *bench_fragment(struct gunyah_pool *pool, unsigned long *nr)
{
	unsigned long i, n = pool->capacity >> PAGE_SHIFT;
	struct rnd_state rnd;
	phys_addr_t *pages;

	pages = kvcalloc(n, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return NULL;
	for (i = 0; i < n; i++)
		if (gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &pages[i]))
			break;
	*nr = i;
	/* Holes of 16 aligned pages, 5% of the pool, anywhere. */
	prandom_seed_state(&rnd, 95);
	for (i = 0; i < *nr / 20 / 16; i++) {
		unsigned long at = (prandom_u32_state(&rnd) % (*nr / 16)) * 16, p;

		for (p = at; p < at + 16; p++) {
			if (pages[p]) {
				gunyah_pool_block_free(pool, pages[p], 0);
				pages[p] = 0;
			}
		}
	}
	return pages;
}

static void bench_full(struct gunyah_pool *sys)
{
	unsigned long i, nr = 0;
	struct gunyah_pool_usage u;
	phys_addr_t *pages;
	unsigned int o;

	pages = bench_fragment(sys, &nr);
	if (!pages)
		return;
	gunyah_pool_usage(sys, &u);
	pr_info("pool_95 fill=%llu%%\n", div64_u64(u.used * 100, u.size));
	for (o = 0; o < ARRAY_SIZE(bench_orders); o++)
		bench_run(BENCH_POOL, sys, bench_orders[o], 1,
			  bench_pairs(bench_orders[o]), "pool_95");
	for (i = 0; i < nr; i++)
		if (pages[i])
			gunyah_pool_block_free(sys, pages[i], 0);
	kvfree(pages);
}

/* Start-up time and metadata of a pool over a region, never touched. */
static void bench_startup(struct gunyah_pool *sys)
{
	static const unsigned long mib[] = { 32, 256, 1024 };
	struct gunyah_pool *p;
	unsigned int i;
	u64 ns, meta;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return;
	for (i = 0; i < ARRAY_SIZE(mib); i++) {
		size_t bytes = mib[i] * SZ_1M;
		ktime_t start = ktime_get();

		/* No-map pools never touch their memory; the base is arbitrary. */
		if (gunyah_pool_nomap_init(p, "bench", sys->base, bytes))
			break;
		ns = ktime_to_ns(ktime_sub(ktime_get(), start));
		meta = gunyah_pool_metadata_bytes(p);
		pr_info("startup region_mib=%lu ns=%llu metadata_bytes=%llu ppm=%llu\n",
			mib[i], ns, meta, div64_u64(meta * 1000000, bytes));
		gunyah_pool_destroy(p);
		memset(p, 0, sizeof(*p));
	}
	kfree(p);
}

static struct gunyah_pool *bench_reusable_pool(void)
{
	struct cma *cma = dma_contiguous_default_area;
	struct gunyah_pool_reusable *r;
	struct gunyah_pool_usage u;
	struct gunyah_pool *p;
	u64 flushes, moved;
	ktime_t start;
	int chunks = 0;

	if (!cma)
		return NULL;
	p = gunyah_pool_reusable_new("bench-reusable", cma);
	if (IS_ERR(p))
		return NULL;
	r = to_reusable(p);
	/* The cost of growing by one chunk, then warm the pool up to half. */
	flushes = atomic64_read(&r->tlb_flushes);
	start = ktime_get();
	scoped_guard(mutex, &r->resize_lock)
		if (!gunyah_pool_reusable_grow(r))
			chunks++;
	pr_info("pool_reusable_grow chunk_bytes=%lu ns=%lld\n",
		GUNYAH_POOL_CHUNK_BYTES, ktime_to_ns(ktime_sub(ktime_get(), start)));
	scoped_guard(mutex, &r->resize_lock) {
		gunyah_pool_usage(p, &u);
		while (u.held < p->capacity / 2 && !gunyah_pool_reusable_grow(r)) {
			chunks++;
			gunyah_pool_usage(p, &u);
		}
	}
	moved = (u64)chunks * GUNYAH_POOL_CHUNK_BYTES / SZ_1M;
	flushes = atomic64_read(&r->tlb_flushes) - flushes;
	pr_info("pool_reusable_tlb chunks=%d mib=%llu tlb_flushes=%llu per_mib_x1000=%llu\n",
		chunks, moved, flushes, moved ? div64_u64(flushes * 1000, moved) : 0);
	return p;
}

/*
 * A burst against a reusable pool whose low watermark is above the burst:
 * BENCH_BURST_SMALL order-0 and BENCH_BURST_LARGE order-4 allocations as
 * fast as they come, each timed; then how many waited for cma_alloc(). The
 * pool refills in the background while the burst runs. With @quiet, the
 * same burst with the low watermark at 0 once the pool is filled, so that
 * nothing grows meanwhile: what the burst costs without the refill's
 * migration and TLB flushes next to it.
 */
#define BENCH_BURST_SMALL	4000
#define BENCH_BURST_LARGE	200

static void bench_burst(struct gunyah_pool *p, bool quiet)
{
	const unsigned int n = BENCH_BURST_SMALL + BENCH_BURST_LARGE;
	struct gunyah_pool_reusable *r = to_reusable(p);
	u64 burst = BENCH_BURST_SMALL * PAGE_SIZE + BENCH_BURST_LARGE * (PAGE_SIZE << 4);
	u64 grows, *ns;
	phys_addr_t *blocks;
	unsigned int i, got = 0;
	ktime_t t;

	ns = kvcalloc(n, sizeof(*ns), GFP_KERNEL);
	blocks = kvcalloc(n, sizeof(*blocks), GFP_KERNEL);
	if (!ns || !blocks)
		goto out;
	/* Free memory kept above the burst, a chunk to spare; then settle. */
	burst = ALIGN(burst, GUNYAH_POOL_CHUNK_BYTES) + GUNYAH_POOL_CHUNK_BYTES;
	if (gunyah_pool_set_tunable(p, GUNYAH_POOL_HIGH_WATERMARK,
				    burst + GUNYAH_POOL_CHUNK_BYTES) ||
	    gunyah_pool_set_tunable(p, GUNYAH_POOL_LOW_WATERMARK, burst))
		goto out;
	gunyah_pool_settle(p);
	flush_work(&r->resize_work);
	if (quiet && gunyah_pool_set_tunable(p, GUNYAH_POOL_LOW_WATERMARK, 0))
		goto out;
	grows = atomic64_read(&r->alloc_grows);
	for (i = 0; i < n; i++) {
		unsigned int order = i % 21 == 20 ? 4 : 0;

		t = ktime_get();
		if (gunyah_pool_block_alloc(p, order, GFP_KERNEL, &blocks[i]))
			break;
		ns[i] = ktime_to_ns(ktime_sub(ktime_get(), t));
		got++;
	}
	grows = atomic64_read(&r->alloc_grows) - grows;
	for (i = 0; i < got; i++)
		gunyah_pool_block_free(p, blocks[i], i % 21 == 20 ? 4 : 0);
	sort(ns, got, sizeof(ns[0]), cmp_u64, NULL);
	if (got)
		pr_info("%s allocs=%u of=%u p50_ns=%llu p99_ns=%llu max_ns=%llu waited_for_cma=%llu\n",
			quiet ? "pool_reusable_burst_quiet" : "pool_reusable_burst",
			got, n, ns[got / 2], ns[got * 99 / 100], ns[got - 1], grows);
	gunyah_pool_set_tunable(p, GUNYAH_POOL_LOW_WATERMARK, 0);
	gunyah_pool_set_tunable(p, GUNYAH_POOL_HIGH_WATERMARK, p->capacity);
out:
	kvfree(blocks);
	kvfree(ns);
}

static int __init gunyah_pool_bench(void)
{
	struct gunyah_pool *sys = gunyah_pool_get(), *reusable;
	enum bench_kind k;
	unsigned int cpu;

	if (!bench)
		return 0;
	pr_info("start cpus=%u rounds=%u page_granular_linear_map=%d\n",
		num_online_cpus(), BENCH_ROUNDS, can_set_direct_map());
	for_each_possible_cpu(cpu)
		spin_lock_init(per_cpu_ptr(&bench_lock, cpu));
	for (k = BENCH_FLOOR_CALL; k < NR_BENCH_KINDS; k++)
		bench_run(k, NULL, 0, 1, bench_pairs(0), bench_names[k]);
	/* The exact count on every CPU at once: the floor of the pool's scaling. */
	if (num_online_cpus() > 1)
		bench_run(BENCH_FLOOR_COUNTER, NULL, 0, min(num_online_cpus(), BENCH_CPUS),
			  bench_pairs(0), bench_names[BENCH_FLOOR_COUNTER]);
	reusable = bench_reusable_pool();
	bench_kinds(sys, reusable);
	if (reusable) {
		bench_burst(reusable, false);
		bench_burst(reusable, true);
		/* Every chunk back to CMA, mapped and online, as found. */
		gunyah_pool_reusable_free(reusable);
	}
	if (sys) {
		bench_full(sys);
		bench_startup(sys);
	}
	pr_info("done\n");
	return 0;
}
late_initcall(gunyah_pool_bench);
