// SPDX-License-Identifier: GPL-2.0-only
/*
 * Gunyah donation pool
 *
 * Copyright (c) 2026 The gunyah-pool authors
 */

/**
 * DOC: Gunyah donation pool
 *
 * The Gunyah hypervisor drivers donate memory to the hypervisor for its own
 * metadata and for stage-2 page tables. A donated page leaves the host's
 * stage 2; if it were still in the kernel's linear map, an innocent access
 * such as load_unaligned_zeropad() reading across the end of the page before
 * it would raise a stage-2 fault, which Gunyah reports as a synchronous
 * external abort, and the host would panic. Modules may not unmap pages from
 * the linear map themselves, so this built-in pool hands out only memory
 * that is not in the linear map: a reserved-memory region marked ``no-map``,
 * never mapped at all.
 * A region marked ``reusable`` instead is a CMA area that Linux uses for
 * movable pages until the pool takes it; see "Reusable mode".
 * Guest memory does not come from here; it goes through guest_memfd.
 *
 * Allocator: genalloc over the whole region with one bit per page, asked
 * for naturally aligned blocks (gen_pool_first_fit_align()), behind per-CPU
 * caches of small free blocks (see "Per-CPU caches" below). genalloc trusts
 * its callers and BUG()s on a bad free, so for each order a bitmap marks the
 * aligned blocks of that order handed out: a free clears its bit with one
 * test_and_clear_bit(), and a free of anything else is refused before
 * genalloc sees it.
 *
 * Accounting: @used counts bytes genalloc has handed out, to callers or to
 * the per-CPU caches, and is capped by @max_size; with the caches drained it
 * is exactly what callers hold.
 * Reservations (gunyah_pool_reserve()) are promises, not pages: they raise
 * @committed, which may not pass max_size * overcommit_ratio / 100, so that
 * a VM is refused when it is created rather than at a stage-2 fault.
 *
 * Locking: one spinlock per pool, taken with interrupts off because callers
 * may hold spinlocks or run in atomic context, covers genalloc, the books,
 * the counters and the tunables, so every sysfs store is checked and applied
 * in one step. The per-CPU caches take no lock: see "Per-CPU caches" below.
 * Event counters are atomics, or fields of a cache's state word. The
 * pool is set up once at subsys_initcall and never torn down; callers find
 * it through gunyah_pool_get(), which is NULL until then.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitfield.h>
#include <linux/bitmap.h>
#include <linux/cleanup.h>
#include <linux/export.h>
#include <linux/fault-inject.h>
#include <linux/genalloc.h>
#include <linux/gfp.h>
#include <linux/gunyah_pool.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/math64.h>
#include <linux/mm.h>
#include <linux/of.h>
#include <linux/of_fdt.h>
#include <linux/of_reserved_mem.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/vmalloc.h>

#include "cma_pool.h"

#define CREATE_TRACE_POINTS
#include "cma_pool_trace.h"

#define GUNYAH_POOL_COMPATIBLE	"qcom,gunyah-donation-pool"

/* Large enough to serve one block of GUNYAH_POOL_MAX_ORDER. */
#define GUNYAH_POOL_MIN_REGION	(PAGE_SIZE << GUNYAH_POOL_MAX_ORDER)

/* ---- State ---- */

/* The region accepted from the device tree, before the pool exists. */
struct gunyah_pool_region {
	const char *name;
	phys_addr_t base;
	phys_addr_t size;
	enum gunyah_pool_mode mode;
	struct cma *cma;	/* reusable: the CMA area declared over it */
};

static struct gunyah_pool_region gunyah_pool_region __initdata;

static struct gunyah_pool gunyah_pool_instance;

/* Published with release semantics once the pool is ready; never cleared. */
static struct gunyah_pool *gunyah_pool_ready;

/**
 * gunyah_pool_get() - the system's donation pool
 *
 * Return: the pool, or NULL if none is configured or it is not ready yet.
 */
struct gunyah_pool *gunyah_pool_get(void)
{
	/* Pairs with the release in gunyah_pool_setup(). */
	return smp_load_acquire(&gunyah_pool_ready);
}

const char *gunyah_pool_mode_name(const struct gunyah_pool *pool)
{
	static const char * const names[] = {
		[GUNYAH_POOL_NO_MAP]	= "no-map",
		[GUNYAH_POOL_REUSABLE]	= "reusable",
	};

	return names[pool->mode];
}

static inline unsigned long pool_pgoff(const struct gunyah_pool *pool,
				       phys_addr_t phys)
{
	return (phys - pool->base) >> PAGE_SHIFT;
}

static inline unsigned long pool_pages(const struct gunyah_pool *pool)
{
	return pool->capacity >> PAGE_SHIFT;
}

static u64 pool_commit_limit(u64 max_size, unsigned int ratio)
{
	return div_u64(max_size * ratio, 100);
}

/* Index of the block of @order holding page @pgoff in pool->out[@order]. */
static inline unsigned long pool_out_bit(const struct gunyah_pool *pool,
					 unsigned long pgoff, unsigned int order)
{
	unsigned long pfn0 = PHYS_PFN(pool->base);

	return ((pfn0 + pgoff) >> order) - (pfn0 >> order);
}

static inline unsigned long pool_out_bits(const struct gunyah_pool *pool,
					  unsigned int order)
{
	return pool_out_bit(pool, pool_pages(pool) - 1, order) + 1;
}

static inline unsigned int pool_pcp_high(unsigned int order)
{
	return max(GUNYAH_POOL_PCP_SLOTS >> order, 2);
}

static void pool_find_chunk(struct gen_pool *gp, struct gen_pool_chunk *chunk,
			    void *data)
{
	*(struct gen_pool_chunk **)data = chunk;
}

/* ---- Creating a pool ---- */

/**
 * gunyah_pool_init() - set up a pool over a region outside the linear map
 * @pool:	zeroed pool to set up
 * @name:	name for messages; must outlive the pool
 * @base:	physical start of the region, page aligned
 * @size:	size of the region in bytes, page aligned
 *
 * The pool holds the whole region from the start, as a no-map pool does.
 *
 * Context: process context, may sleep.
 * Return: 0, -EINVAL for a region of more than 2^32 pages, or -ENOMEM.
 */
int gunyah_pool_init(struct gunyah_pool *pool, const char *name,
		     phys_addr_t base, size_t size)
{
	unsigned long *out, longs = 0;
	unsigned int o;
	int i, ret;

	might_sleep();

	/* The caches keep page offsets in 32 bits. */
	if (size >> PAGE_SHIFT > U32_MAX)
		return -EINVAL;

	pool->name = name;
	pool->base = base;
	pool->capacity = size;
	pool->mode = GUNYAH_POOL_NO_MAP;
	spin_lock_init(&pool->lock);

	pool->gp = gen_pool_create(PAGE_SHIFT, NUMA_NO_NODE);
	if (!pool->gp)
		return -ENOMEM;

	/* genalloc stores addresses as unsigned long; arm64 phys fits. */
	ret = gen_pool_add(pool->gp, base, size, NUMA_NO_NODE);
	if (ret)
		goto err_destroy_genpool;
	gen_pool_for_each_chunk(pool->gp, pool_find_chunk, &pool->chunk);

	for (o = 0; o <= GUNYAH_POOL_MAX_ORDER; o++)
		longs += BITS_TO_LONGS(pool_out_bits(pool, o));
	out = kvcalloc(longs, sizeof(unsigned long), GFP_KERNEL);
	if (!out) {
		ret = -ENOMEM;
		goto err_destroy_genpool;
	}
	for (o = 0; o <= GUNYAH_POOL_MAX_ORDER; o++) {
		pool->out[o] = out;
		out += BITS_TO_LONGS(pool_out_bits(pool, o));
	}

	pool->pcp = alloc_percpu(struct gunyah_pool_pcp);
	if (!pool->pcp) {
		ret = -ENOMEM;
		goto err_free_out;
	}
	for (o = 0; o < GUNYAH_POOL_PCP_ORDERS; o++)
		pool->pcp_slack += (u64)pool_pcp_high(o) << (PAGE_SHIFT + o);
	pool->pcp_slack *= num_possible_cpus();

	pool->size = size;
	pool->max_size = size;
	pool->high_wmark = size;
	pool->overcommit_ratio = 100;
	for (i = 0; i < NR_GUNYAH_POOL_STATS; i++)
		atomic64_set(&pool->stats[i], 0);
	scoped_guard(spinlock_irqsave, &pool->lock)
		gunyah_pool_pcp_update(pool);
	return 0;

err_free_out:
	kvfree(pool->out[0]);
err_destroy_genpool:
	gen_pool_destroy(pool->gp);
	pool->gp = NULL;
	return ret;
}

/**
 * gunyah_pool_destroy() - tear down a pool set up by gunyah_pool_init()
 * @pool:	pool with nothing handed out
 *
 * Only no-map pools made for tests are destroyed; the system's pool lives
 * forever. A pool with pages allocated in genalloc (blocks out, or a
 * reusable pool's chunks) is leaked with a warning rather than letting
 * genalloc BUG().
 *
 * Context: process context, may sleep.
 */
void gunyah_pool_destroy(struct gunyah_pool *pool)
{
	might_sleep();

	scoped_guard(spinlock_irqsave, &pool->lock)
		gunyah_pool_quiesce(pool);
	if (WARN_ONCE(gen_pool_avail(pool->gp) != gen_pool_size(pool->gp),
		      "%s: cannot destroy with %zu bytes in use\n", pool->name,
		      gen_pool_size(pool->gp) - gen_pool_avail(pool->gp)))
		return;
	gen_pool_destroy(pool->gp);
	free_percpu(pool->pcp);
	kvfree(pool->out[0]);
	pool->gp = NULL;
	pool->pcp = NULL;
	memset(pool->out, 0, sizeof(pool->out));
}

/* ---- Allocation ---- */

/*
 * Temporarily map a block to clear it: vmap() makes a fresh mapping in the
 * vmalloc area and vunmap() removes it before we return, so no alias is left
 * behind. Both may sleep.
 */
static int pool_zero_block(phys_addr_t phys, unsigned int order)
{
	unsigned long i, nr = 1UL << order;
	struct page **pages;
	void *va;

	if (gunyah_pool_should_fail(GUNYAH_POOL_FAULT_ZERO))
		return -ENOMEM;
	pages = kvmalloc_array(nr, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	for (i = 0; i < nr; i++)
		pages[i] = phys_to_page(phys + i * PAGE_SIZE);
	va = vmap(pages, nr, VM_MAP, PAGE_KERNEL);
	kvfree(pages);
	if (!va)
		return -ENOMEM;
	memset(va, 0, nr << PAGE_SHIFT);
	vunmap(va);
	return 0;
}

/* Called with the lock held after free memory shrank from @free_before. */
static bool pool_crossed_low(struct gunyah_pool *pool, u64 free_before)
	__must_hold(&pool->lock)
{
	u64 free = pool->size - pool->used;

	lockdep_assert_held(&pool->lock);

	return free_before >= pool->low_wmark && free < pool->low_wmark;
}

static void pool_notify_low(struct gunyah_pool *pool, u64 free)
{
	gunyah_pool_count(pool, GUNYAH_POOL_STAT_LOW_WATERMARK);
	trace_gunyah_pool_low_watermark(free, READ_ONCE(pool->low_wmark));
	if (pool->free_kn)
		sysfs_notify_dirent(pool->free_kn);
	if (gunyah_pool_reusable(pool))
		gunyah_pool_kick(pool);
}

/*
 * Per-CPU caches. A CPU hands out and takes back blocks of small orders from
 * its own cache without any lock and without masking interrupts: each
 * order's cache is a stack whose state (count, generation, push and pop
 * counts) is one atomic word, and every change is a cmpxchg of that word.
 * Only the CPU itself pushes, with preemption off, so an interrupt that
 * nests in a push or pop changes the word and makes the interrupted cmpxchg
 * fail and retry. Other CPUs only empty a cache, under the pool's lock, and
 * bump its generation doing so. A CPU refills and spills its own cache in
 * half batches under the pool's lock, when no one else can touch it.
 *
 * @used and @nr_blocks count what genalloc has handed out, to callers or to
 * the caches, so they are exact under the pool's lock; draining every cache
 * makes them exactly what callers hold. The pushes and pops are folded into
 * the event counters whenever a cache is emptied or refilled.
 *
 * Low-watermark events and draining a reusable pool need the exact free
 * memory, which the caches blur by at most @pcp_slack. So the caches are used
 * only while neither can happen: free memory outside them at or above the
 * low watermark and, for a reusable pool, far enough below the draining
 * point. Near either, the pool quiesces (turns the caches off and drains
 * them) and every operation takes the pool's lock until it is clear again by
 * @pcp_slack, so the caches do not flap at a boundary. The books are exact
 * whenever the caches are off, which is also how gunyah_pool_usage() and
 * gunyah_pool_validate() read them.
 */

/* A stack's pushes or pops field is folded before it can wrap. */
#define PCP_OPS_LIMIT	(FIELD_MAX(GUNYAH_POOL_PCP_POPS) / 2)

static inline unsigned int pcp_count(u64 state)
{
	return FIELD_GET(GUNYAH_POOL_PCP_COUNT, state);
}

/* @state with @count blocks and the next generation, counters kept. */
static inline u64 pcp_next(u64 state, unsigned int count)
{
	return (state & ~(GUNYAH_POOL_PCP_COUNT | GUNYAH_POOL_PCP_GEN)) |
	       FIELD_PREP(GUNYAH_POOL_PCP_COUNT, count) |
	       FIELD_PREP(GUNYAH_POOL_PCP_GEN,
			  FIELD_GET(GUNYAH_POOL_PCP_GEN, state) + 1);
}

/* One field of every CPU's stack states, @mask, summed. */
static u64 pool_pcp_sum(struct gunyah_pool *pool, u64 mask)
{
	unsigned int cpu, o;
	u64 n = 0;

	for_each_possible_cpu(cpu)
		for (o = 0; o < GUNYAH_POOL_PCP_ORDERS; o++)
			n += (atomic64_read(&per_cpu_ptr(pool->pcp, cpu)->state[o]) &
			      mask) >> __ffs64(mask);
	return n;
}

/* Whether the caches may be used with @taken bytes out of genalloc. */
static bool pool_pcp_allowed(const struct gunyah_pool *pool, u64 taken,
			     u64 slack)
	__must_hold(&pool->lock)
{
	u64 free = pool->size - taken;

	if (pool->pcp_off || free < pool->low_wmark + slack)
		return false;
	/* A reusable pool drains from a chunk above the high watermark. */
	if (gunyah_pool_reusable(pool) &&
	    free + slack + pool->pcp_slack >=
	    pool->high_wmark + GUNYAH_POOL_CHUNK_BYTES)
		return false;
	return true;
}

/*
 * Take blocks off the top of a stack, leaving @keep, and give them back to
 * genalloc; fold its pushes and pops into the counters. Under the pool's
 * lock; the cache's CPU may push or pop concurrently unless it is this one.
 */
static void pool_pcp_drain(struct gunyah_pool *pool, struct gunyah_pool_pcp *pcp,
			   unsigned int order, unsigned int keep)
	__must_hold(&pool->lock)
{
	atomic64_t *state = &pcp->state[order];
	u32 pgoff[GUNYAH_POOL_PCP_SLOTS];
	unsigned int i, n;
	u64 old, new;

	lockdep_assert_held(&pool->lock);

	do {
		old = atomic64_read_acquire(state);
		n = pcp_count(old);
		for (i = min(keep, n); i < n; i++)
			pgoff[i] = READ_ONCE(pcp->slot[order][i]);
		new = pcp_next(old, min(keep, n)) &
		      ~(GUNYAH_POOL_PCP_POPS | GUNYAH_POOL_PCP_PUSHES);
	} while (!atomic64_try_cmpxchg(state, &old, new));

	atomic64_add(FIELD_GET(GUNYAH_POOL_PCP_POPS, old),
		     &pool->stats[GUNYAH_POOL_STAT_ALLOC_SUCCESS]);
	atomic64_add(FIELD_GET(GUNYAH_POOL_PCP_PUSHES, old),
		     &pool->stats[GUNYAH_POOL_STAT_FREE]);
	for (i = min(keep, n); i < n; i++) {
		gen_pool_free(pool->gp, pool->base + PFN_PHYS(pgoff[i]),
			      PAGE_SIZE << order);
		pool->used -= PAGE_SIZE << order;
		pool->nr_blocks--;
	}
}

static void pool_drain_all(struct gunyah_pool *pool)
	__must_hold(&pool->lock)
{
	unsigned int cpu, o;

	for_each_possible_cpu(cpu)
		for (o = 0; o < GUNYAH_POOL_PCP_ORDERS; o++)
			pool_pcp_drain(pool, per_cpu_ptr(pool->pcp, cpu), o, 0);
}

/*
 * Turn the caches off and empty them: the books are exact until they are
 * on again. A CPU reads @pcp_ok after the acquire of its stack's state, and
 * each drain changes that state after the store here, so once a cache is
 * drained its CPU sees the caches off and pushes nothing more.
 */
void gunyah_pool_quiesce(struct gunyah_pool *pool)
	__must_hold(&pool->lock)
{
	WRITE_ONCE(pool->pcp_ok, false);
	pool_drain_all(pool);
}

/* After the books changed: turn the caches off or on, with hysteresis. */
void gunyah_pool_pcp_update(struct gunyah_pool *pool)
	__must_hold(&pool->lock)
{
	if (pool->pcp_ok && !pool_pcp_allowed(pool, pool->used, 0))
		gunyah_pool_quiesce(pool);
	else if (!pool->pcp_ok &&
		 pool_pcp_allowed(pool, pool->used, pool->pcp_slack))
		WRITE_ONCE(pool->pcp_ok, true);
}

/* Hand out the block on top of this CPU's stack of @order, if any. */
static bool pool_pcp_alloc(struct gunyah_pool *pool, unsigned int order,
			   phys_addr_t *phys)
{
	struct gunyah_pool_pcp *pcp = get_cpu_ptr(pool->pcp);
	atomic64_t *state = &pcp->state[order];
	u32 pgoff;
	u64 old;

	do {
		old = atomic64_read_acquire(state);
		if (!pcp_count(old) ||
		    FIELD_GET(GUNYAH_POOL_PCP_POPS, old) >= PCP_OPS_LIMIT) {
			put_cpu_ptr(pool->pcp);
			return false;
		}
		pgoff = READ_ONCE(pcp->slot[order][pcp_count(old) - 1]);
	} while (!atomic64_try_cmpxchg(state, &old,
				       old - 1 + FIELD_PREP(GUNYAH_POOL_PCP_POPS, 1)));
	/* Still pinned, so in an RCU read-side section: see pool_free(). */
	set_bit(pool_out_bit(pool, pgoff, order), pool->out[order]);
	put_cpu_ptr(pool->pcp);

	*phys = pool->base + PFN_PHYS(pgoff);
	return true;
}

/* Push a checked block on this CPU's stack, if the caches are on and it has room. */
static bool pool_pcp_free(struct gunyah_pool *pool, unsigned long pgoff,
			  unsigned int order)
{
	struct gunyah_pool_pcp *pcp = get_cpu_ptr(pool->pcp);
	atomic64_t *state = &pcp->state[order];
	u64 old;

	do {
		old = atomic64_read_acquire(state);
		if (!READ_ONCE(pool->pcp_ok) ||
		    pcp_count(old) == pool_pcp_high(order) ||
		    FIELD_GET(GUNYAH_POOL_PCP_PUSHES, old) >= PCP_OPS_LIMIT) {
			put_cpu_ptr(pool->pcp);
			return false;
		}
		WRITE_ONCE(pcp->slot[order][pcp_count(old)], pgoff);
	} while (!atomic64_try_cmpxchg(state, &old,
				       old + 1 + FIELD_PREP(GUNYAH_POOL_PCP_PUSHES, 1)));
	put_cpu_ptr(pool->pcp);
	return true;
}

/* Push a block on this CPU's stack, under the pool's lock with room for it. */
static void pool_pcp_push_locked(struct gunyah_pool *pool,
				 struct gunyah_pool_pcp *pcp, unsigned int order,
				 unsigned long pgoff)
	__must_hold(&pool->lock)
{
	atomic64_t *state = &pcp->state[order];
	u64 old = atomic64_read(state);

	WRITE_ONCE(pcp->slot[order][pcp_count(old)], pgoff);
	atomic64_set_release(state, pcp_next(old, pcp_count(old) + 1));
}

/* Take a block from genalloc, within max_size_bytes. */
static unsigned long pool_take(struct gunyah_pool *pool, unsigned int order)
	__must_hold(&pool->lock)
{
	struct genpool_data_align align = { .align = PAGE_SIZE << order };
	unsigned long addr;

	if (pool->used + (PAGE_SIZE << order) > pool->max_size)
		return 0;
	addr = gen_pool_alloc_algo(pool->gp, PAGE_SIZE << order,
				   gen_pool_first_fit_align, &align);
	if (addr) {
		pool->used += PAGE_SIZE << order;
		pool->nr_blocks++;
		pool->peak_used = max(pool->peak_used, pool->used);
	}
	return addr;
}

/*
 * Refill this CPU's cache with half its capacity of @order, taking no more
 * than keeps the caches allowed, and hand out the first block taken. Under
 * the pool's lock with interrupts off, no one else touches this cache.
 */
static unsigned long pool_pcp_refill(struct gunyah_pool *pool,
				     unsigned int order)
	__must_hold(&pool->lock)
{
	struct gunyah_pool_pcp *pcp = this_cpu_ptr(pool->pcp);
	unsigned long addr[GUNYAH_POOL_PCP_SLOTS / 2];
	unsigned int i, n = 0, want;

	/* Fold the counters, so the fast path never finds them full. */
	pool_pcp_drain(pool, pcp, order, GUNYAH_POOL_PCP_SLOTS);
	want = min(pool_pcp_high(order) / 2,
		   pool_pcp_high(order) -
		   pcp_count(atomic64_read(&pcp->state[order])) + 1);
	while (n < want &&
	       pool_pcp_allowed(pool, pool->used + (PAGE_SIZE << order), 0)) {
		addr[n] = pool_take(pool, order);
		if (!addr[n])
			break;
		n++;
	}
	if (!n)
		return 0;

	/* Lowest address out first, the next lowest on top of the stack. */
	for (i = n; i-- > 1;)
		pool_pcp_push_locked(pool, pcp, order, pool_pgoff(pool, addr[i]));
	set_bit(pool_out_bit(pool, pool_pgoff(pool, addr[0]), order),
		pool->out[order]);
	return addr[0];
}

/*
 * The allocation path under the lock: refill this CPU's cache, or take the
 * block from genalloc with exact books when the caches are off or about to
 * be. Sets *@over_max when max_size_bytes is what stopped it.
 */
static unsigned long pool_alloc_locked(struct gunyah_pool *pool,
				       unsigned int order, bool *over_max,
				       bool *crossed)
	__must_hold(&pool->lock)
{
	u64 bytes = PAGE_SIZE << order, free_before;
	unsigned long addr = 0;

	if (order < GUNYAH_POOL_PCP_ORDERS && pool->pcp_ok) {
		addr = pool_pcp_refill(pool, order);
		if (addr)
			return addr;
	}

	/* Entering the range where a watermark may be crossed: be exact. */
	if (pool->pcp_ok && !pool_pcp_allowed(pool, pool->used + bytes, 0))
		gunyah_pool_quiesce(pool);
	free_before = pool->size - pool->used;
	addr = pool_take(pool, order);
	if (!addr && pool->pcp_ok) {
		/* What is short may sit in the caches. */
		pool_drain_all(pool);
		free_before = pool->size - pool->used;
		addr = pool_take(pool, order);
	}
	if (addr) {
		set_bit(pool_out_bit(pool, pool_pgoff(pool, addr), order),
			pool->out[order]);
		/* With the caches on, free memory stays above the watermark. */
		*crossed = !pool->pcp_ok && pool_crossed_low(pool, free_before);
	} else {
		*over_max = pool->used + bytes > pool->max_size;
	}
	gunyah_pool_pcp_update(pool);
	return addr;
}

static const char *pool_free(struct gunyah_pool *pool, phys_addr_t phys,
			     unsigned int order, bool count);

/**
 * gunyah_pool_block_alloc() - take a naturally aligned block from a pool
 * @pool:	the pool
 * @order:	log2 of the number of pages
 * @gfp:	allocation flags; see gunyah_pool_alloc()
 * @phys:	set to the block's physical address on success
 *
 * Context: any context if @gfp does not allow blocking, else may sleep.
 * Return: 0, -EINVAL for a bad @order or flags, or -ENOMEM.
 */
int gunyah_pool_block_alloc(struct gunyah_pool *pool, unsigned int order,
			    gfp_t gfp, phys_addr_t *phys)
{
	bool zero = gfp & __GFP_ZERO, crossed = false, over_max = false;
	unsigned long addr = 0;
	phys_addr_t block;
	u64 free = 0;
	int ret = 0;

	might_sleep_if(gfpflags_allow_blocking(gfp));

	if (order > GUNYAH_POOL_MAX_ORDER)
		return -EINVAL;
	if (WARN_ONCE(zero && !gfpflags_allow_blocking(gfp),
		      "%s: __GFP_ZERO needs a gfp mask that may sleep\n",
		      pool->name))
		return -EINVAL;

	/* The fast path: this CPU's cache; it counts its own successes. */
	if (order < GUNYAH_POOL_PCP_ORDERS && !zero &&
	    pool_pcp_alloc(pool, order, &block)) {
		addr = block;
		goto out;
	}

	do {
		scoped_guard(spinlock_irqsave, &pool->lock) {
			addr = pool_alloc_locked(pool, order, &over_max, &crossed);
			free = pool->size - pool->used;
		}
		/* A reusable pool short of memory within max_size may grow. */
	} while (!addr && !over_max && gunyah_pool_reusable(pool) &&
		 gunyah_pool_grow_for(pool, gfp));

	if (!addr) {
		ret = -ENOMEM;
		gunyah_pool_count(pool, GUNYAH_POOL_STAT_ALLOC_FAIL);
		goto out;
	}
	if (crossed)
		pool_notify_low(pool, free);
	if (zero) {
		ret = pool_zero_block(addr, order);
		if (ret) {
			/* Undone, not freed: it was never handed out. */
			pool_free(pool, addr, order, false);
			gunyah_pool_count(pool, GUNYAH_POOL_STAT_ALLOC_FAIL);
			addr = 0;
			goto out;
		}
	}
	gunyah_pool_count(pool, GUNYAH_POOL_STAT_ALLOC_SUCCESS);
out:
	if (addr)
		*phys = addr;
	trace_gunyah_pool_alloc(order, gfp, addr, ret);
	return ret;
}

/*
 * How blocks of other orders handed out overlap the block of @order at
 * @pgoff: -1 if a smaller one lies inside it, 1 if a larger one holds it,
 * else 0.
 */
static int pool_block_overlap(struct gunyah_pool *pool, unsigned long pgoff,
			      unsigned int order)
{
	unsigned long last = pgoff + (1UL << order) - 1;
	unsigned int o;

	for (o = 0; o <= GUNYAH_POOL_MAX_ORDER; o++) {
		unsigned long bit = pool_out_bit(pool, pgoff, o);
		unsigned long end = pool_out_bit(pool, last, o) + 1;

		if (o < order && find_next_bit(pool->out[o], end, bit) < end)
			return -1;
		if (o > order && test_bit(bit, pool->out[o]))
			return 1;
	}
	return 0;
}

/* Whether the block of @order at @pgoff, or any block overlapping it, is out. */
bool gunyah_pool_block_out(struct gunyah_pool *pool, unsigned long pgoff,
			   unsigned int order)
{
	return test_bit(pool_out_bit(pool, pgoff, order), pool->out[order]) ||
	       pool_block_overlap(pool, pgoff, order);
}

/*
 * Give a block back: into this CPU's cache when it can, else to genalloc.
 * The block must be handed out with this order: its bit in @out is cleared
 * atomically before anything else happens. Returns why it was refused, or
 * NULL.
 */
static const char *pool_free(struct gunyah_pool *pool, phys_addr_t phys,
			     unsigned int order, bool count)
{
	unsigned long pgoff = pool_pgoff(pool, phys);
	bool cleared = false;
	const char *why = NULL;

	if (order > GUNYAH_POOL_MAX_ORDER)
		return "bad order";
	if (phys < pool->base || phys - pool->base >= pool->capacity ||
	    (1UL << order) > pool_pages(pool) - pgoff)
		return "not from this pool";
	if (!IS_ALIGNED(phys, PAGE_SIZE << order))
		return "misaligned for its order";

	/*
	 * The fast path: clear the block's bit, then push it on this CPU's
	 * cache. Until the block is in a cache or back in genalloc this is an
	 * RCU read-side section, which gunyah_pool_validate() waits out.
	 */
	guard(rcu)();
	if (order < GUNYAH_POOL_PCP_ORDERS && count && READ_ONCE(pool->pcp_ok) &&
	    test_and_clear_bit(pool_out_bit(pool, pgoff, order), pool->out[order])) {
		if (pool_pcp_free(pool, pgoff, order))
			return NULL;
		cleared = true;
	}

	scoped_guard(spinlock_irqsave, &pool->lock) {
		if (!cleared &&
		    !test_and_clear_bit(pool_out_bit(pool, pgoff, order),
					pool->out[order])) {
			/* Quiesce to tell exactly what is wrong. */
			gunyah_pool_quiesce(pool);
			switch (pool_block_overlap(pool, pgoff, order)) {
			case -1:
				why = "order larger than allocated";
				break;
			case 1:
				why = "order smaller than allocated";
				break;
			default:
				why = "not allocated (double free?)";
			}
			gunyah_pool_pcp_update(pool);
			break;
		}
		if (order < GUNYAH_POOL_PCP_ORDERS && count && pool->pcp_ok) {
			struct gunyah_pool_pcp *pcp = this_cpu_ptr(pool->pcp);
			unsigned int n = pcp_count(atomic64_read(&pcp->state[order]));

			/* The cache is full, or its counters are: spill, fold. */
			pool_pcp_drain(pool, pcp, order,
				       n == pool_pcp_high(order) ? n / 2 : n);
			pool_pcp_push_locked(pool, pcp, order, pgoff);
			gunyah_pool_count(pool, GUNYAH_POOL_STAT_FREE);
		} else {
			gen_pool_free(pool->gp, phys, PAGE_SIZE << order);
			pool->used -= PAGE_SIZE << order;
			pool->nr_blocks--;
			if (count)
				gunyah_pool_count(pool, GUNYAH_POOL_STAT_FREE);
		}
		gunyah_pool_pcp_update(pool);
		if (gunyah_pool_reusable(pool))
			gunyah_pool_check_drain(pool);
	}
	return why;
}

/**
 * gunyah_pool_block_free() - give a block back to a pool
 * @pool:	the pool
 * @phys:	physical address from gunyah_pool_block_alloc()
 * @order:	the order it was allocated with
 *
 * A free of anything that is not a block handed out with this order is
 * refused with a warning and counted; the pool is left as it was.
 *
 * Context: any context.
 * Return: 0, or -EINVAL if the free was refused.
 */
int gunyah_pool_block_free(struct gunyah_pool *pool, phys_addr_t phys,
			   unsigned int order)
{
	const char *why = pool_free(pool, phys, order, true);

	if (why) {
		gunyah_pool_count(pool, GUNYAH_POOL_STAT_INVALID_FREE);
		WARN_ONCE(1, "%s: refused to free %pa order %u: %s\n",
			  pool->name, &phys, order, why);
		trace_gunyah_pool_free(phys, order, -EINVAL);
		return -EINVAL;
	}
	trace_gunyah_pool_free(phys, order, 0);
	return 0;
}

/* ---- Reservations and tunables ---- */

/**
 * gunyah_pool_commit() - promise memory ahead of use
 * @pool:	the pool
 * @bytes:	bytes to add to the pool's commitments
 *
 * Context: any context.
 * Return: 0, or -ENOMEM if the commitment would pass the commit limit.
 */
int gunyah_pool_commit(struct gunyah_pool *pool, size_t bytes)
{
	u64 committed = 0;
	int ret = -ENOMEM;

	scoped_guard(spinlock_irqsave, &pool->lock) {
		u64 limit = pool_commit_limit(pool->max_size,
					      pool->overcommit_ratio);

		if (check_add_overflow(pool->committed, (u64)bytes, &committed) ||
		    committed > limit) {
			committed = pool->committed;
			break;
		}
		pool->committed = committed;
		ret = 0;
	}

	if (ret)
		gunyah_pool_count(pool, GUNYAH_POOL_STAT_RESERVE_FAIL);
	trace_gunyah_pool_reserve(bytes, committed, ret);
	return ret;
}

/**
 * gunyah_pool_uncommit() - withdraw a promise made by gunyah_pool_commit()
 * @pool:	the pool
 * @bytes:	bytes to withdraw
 *
 * Withdrawing more than is committed is refused with a warning.
 *
 * Context: any context.
 * Return: 0, or -EINVAL if refused.
 */
int gunyah_pool_uncommit(struct gunyah_pool *pool, size_t bytes)
{
	u64 committed;
	int ret = -EINVAL;

	scoped_guard(spinlock_irqsave, &pool->lock) {
		committed = pool->committed;
		if (bytes > committed)
			break;
		committed -= bytes;
		pool->committed = committed;
		ret = 0;
	}

	WARN_ONCE(ret, "%s: refused to unreserve %zu bytes, only %llu reserved\n",
		  pool->name, bytes, committed);
	trace_gunyah_pool_unreserve(bytes, committed, ret);
	return ret;
}

/**
 * gunyah_pool_set_tunable() - check and apply one tunable in one step
 * @pool:	the pool
 * @which:	the tunable
 * @val:	its new value, in bytes or (overcommit_ratio) percent
 *
 * The new value is checked against every invariant together with the other
 * tunables and the pool's state, under the pool's lock, and applied only if
 * all hold; otherwise nothing changes.
 *
 * A reusable pool then grows or shrinks to match, in the background.
 *
 * Context: any context.
 * Return: 0; -EINVAL for a value that breaks an invariant (not page aligned,
 * min > max, max > capacity, low > high, ratio out of range, peak other than
 * 0); -EBUSY for a legal value the pool's state forbids now (max below what
 * is in use, or a commit limit below what is committed).
 */
int gunyah_pool_set_tunable(struct gunyah_pool *pool,
			    enum gunyah_pool_tunable which, u64 val)
{
	u64 min_size, max_size, low, high, free_before, free = 0;
	unsigned int ratio;
	bool crossed = false;

	if (which == GUNYAH_POOL_OVERCOMMIT_RATIO) {
		if (val > GUNYAH_POOL_MAX_OVERCOMMIT_RATIO)
			return -EINVAL;
	} else if (which == GUNYAH_POOL_PEAK_USED) {
		if (val)
			return -EINVAL;
	} else if (!PAGE_ALIGNED(val)) {
		return -EINVAL;
	}

	scoped_guard(spinlock_irqsave, &pool->lock) {
		/* Exact books to check against; the caches come back after. */
		gunyah_pool_quiesce(pool);
		min_size = pool->min_size;
		max_size = pool->max_size;
		low = pool->low_wmark;
		high = pool->high_wmark;
		ratio = pool->overcommit_ratio;

		switch (which) {
		case GUNYAH_POOL_MIN_SIZE:
			min_size = val;
			break;
		case GUNYAH_POOL_MAX_SIZE:
			max_size = val;
			break;
		case GUNYAH_POOL_LOW_WATERMARK:
			low = val;
			break;
		case GUNYAH_POOL_HIGH_WATERMARK:
			high = val;
			break;
		case GUNYAH_POOL_OVERCOMMIT_RATIO:
			ratio = val;
			break;
		case GUNYAH_POOL_PEAK_USED:
			pool->peak_used = pool->used;
			gunyah_pool_pcp_update(pool);
			return 0;
		}

		if (min_size > max_size || max_size > pool->capacity ||
		    low > high) {
			gunyah_pool_pcp_update(pool);
			return -EINVAL;
		}
		if (max_size < pool->used ||
		    pool_commit_limit(max_size, ratio) < pool->committed) {
			gunyah_pool_pcp_update(pool);
			return -EBUSY;
		}

		free_before = pool->size - pool->used;
		pool->min_size = min_size;
		pool->max_size = max_size;
		pool->low_wmark = low;
		pool->high_wmark = high;
		pool->overcommit_ratio = ratio;
		/* A no-map pool holds all it may hand out from boot. */
		if (pool->mode == GUNYAH_POOL_NO_MAP)
			pool->size = max_size;
		crossed = pool_crossed_low(pool, free_before);
		free = pool->size - pool->used;
		gunyah_pool_pcp_update(pool);
	}

	if (crossed)
		pool_notify_low(pool, free);
	if (gunyah_pool_reusable(pool))
		gunyah_pool_kick(pool);
	return 0;
}

/**
 * gunyah_pool_usage() - take a consistent snapshot of a pool's numbers
 * @pool:	the pool
 * @u:		filled in
 *
 * The per-CPU caches are drained first, so the numbers are exact.
 *
 * Context: any context.
 */
void gunyah_pool_usage(struct gunyah_pool *pool, struct gunyah_pool_usage *u)
{
	scoped_guard(spinlock_irqsave, &pool->lock) {
		gunyah_pool_quiesce(pool);
		u->size = pool->size;
		u->used = pool->used;
		u->free = pool->size - pool->used;
		u->peak_used = pool->peak_used;
		u->committed = pool->committed;
		u->commit_limit = pool_commit_limit(pool->max_size,
						    pool->overcommit_ratio);
		u->overcommit = pool->committed > pool->max_size ?
				pool->committed - pool->max_size : 0;
		u->min_size = pool->min_size;
		u->max_size = pool->max_size;
		u->low_wmark = pool->low_wmark;
		u->high_wmark = pool->high_wmark;
		u->overcommit_ratio = pool->overcommit_ratio;
		u->nr_blocks = pool->nr_blocks;
		gunyah_pool_pcp_update(pool);
	}
}

/**
 * gunyah_pool_stat() - read an event counter
 * @pool:	the pool
 * @item:	the counter
 *
 * Context: any context.
 * Return: the count since boot.
 */
u64 gunyah_pool_stat(struct gunyah_pool *pool, enum gunyah_pool_stat item)
{
	u64 n;

	if (item != GUNYAH_POOL_STAT_ALLOC_SUCCESS &&
	    item != GUNYAH_POOL_STAT_FREE)
		return atomic64_read(&pool->stats[item]);
	/* Folding moves counts from a cache to the atomic: read under the lock. */
	scoped_guard(spinlock_irqsave, &pool->lock)
		n = atomic64_read(&pool->stats[item]) +
		    pool_pcp_sum(pool, item == GUNYAH_POOL_STAT_FREE ?
				       GUNYAH_POOL_PCP_PUSHES :
				       GUNYAH_POOL_PCP_POPS);
	return n;
}

/**
 * gunyah_pool_metadata_bytes() - memory a pool uses for its books
 * @pool:	the pool
 *
 * Context: any context.
 * Return: bytes of the structure, genalloc's pool and bitmap, the @out
 * bitmaps, the held bitmap and every possible CPU's cache.
 */
size_t gunyah_pool_metadata_bytes(const struct gunyah_pool *pool)
{
	size_t bytes = sizeof(*pool) + sizeof(struct gen_pool) +
		       sizeof(struct gen_pool_chunk) +
		       BITS_TO_LONGS(pool_pages(pool)) * sizeof(long);
	unsigned int o;

	for (o = 0; o <= GUNYAH_POOL_MAX_ORDER; o++)
		bytes += BITS_TO_LONGS(pool_out_bits(pool, o)) * sizeof(long);
	if (gunyah_pool_reusable(pool))
		bytes += BITS_TO_LONGS(pool->capacity / GUNYAH_POOL_CHUNK_BYTES) *
			 sizeof(long);
	return bytes + num_possible_cpus() * sizeof(struct gunyah_pool_pcp);
}

/* ---- Validation and read-outs ---- */

/* Log a failed check of gunyah_pool_validate(); evaluates to 1 if it failed. */
#define pool_check(pool, cond, fmt, ...)				\
({									\
	bool __bad = !(cond);						\
									\
	if (__bad)							\
		pr_err("%s: validate: " fmt "\n", (pool)->name,		\
		       ##__VA_ARGS__);					\
	__bad;								\
})

/* Count the blocks of @order handed out, checking each; returns failures. */
static int pool_validate_order(struct gunyah_pool *pool, unsigned int order,
			       unsigned long *blocks, unsigned long *pages)
	__must_hold(&pool->lock)
{
	unsigned long pfn0 = PHYS_PFN(pool->base), nr = 1UL << order, bit;
	int bad = 0;

	for_each_set_bit(bit, pool->out[order], pool_out_bits(pool, order)) {
		unsigned long pgoff = (((pfn0 >> order) + bit) << order) - pfn0;

		(*blocks)++;
		*pages += nr;
		/* A block before the region wraps pgoff around. */
		if (pool_check(pool, pgoff < pool_pages(pool) &&
			       nr <= pool_pages(pool) - pgoff,
			       "order-%u block %lu outside the region", order, bit)) {
			bad++;
			continue;
		}
		bad += pool_check(pool, find_next_zero_bit(pool->chunk->bits,
							   pgoff + nr, pgoff) >=
				  pgoff + nr,
				  "order-%u block at page %lu has free pages",
				  order, pgoff);
		bad += pool_check(pool, !pool_block_overlap(pool, pgoff, order),
				  "order-%u block at page %lu overlaps another",
				  order, pgoff);
	}
	return bad;
}

static int pool_validate(struct gunyah_pool *pool)
	__must_hold(&pool->lock)
{
	unsigned long npages = pool_pages(pool), used_pages, blocks = 0;
	unsigned long block_pages = 0, absent_pages = 0;
	unsigned int o;
	int bad = 0;

	lockdep_assert_held(&pool->lock);

	bad += pool_check(pool, !pool->pcp_ok &&
			  !pool_pcp_sum(pool, GUNYAH_POOL_PCP_COUNT),
			  "caches on or holding %llu blocks while quiesced",
			  pool_pcp_sum(pool, GUNYAH_POOL_PCP_COUNT));
	for (o = 0; o <= GUNYAH_POOL_MAX_ORDER; o++)
		bad += pool_validate_order(pool, o, &blocks, &block_pages);

	/* A reusable pool's chunks it does not hold are in use in genalloc. */
	if (gunyah_pool_reusable(pool))
		bad += gunyah_pool_validate_chunks(pool, &absent_pages);

	used_pages = bitmap_weight(pool->chunk->bits, npages) - absent_pages;
	bad += pool_check(pool, used_pages == block_pages,
			  "%lu pages in use but %lu in blocks",
			  used_pages, block_pages);
	bad += pool_check(pool, blocks == pool->nr_blocks, "%lu blocks, counter %lu",
			  blocks, pool->nr_blocks);
	bad += pool_check(pool, (u64)used_pages << PAGE_SHIFT == pool->used,
			  "%lu pages in use, used %llu bytes",
			  used_pages, pool->used);
	bad += pool_check(pool, gen_pool_avail(pool->gp) ==
			  pool->capacity - PFN_PHYS(absent_pages) - pool->used,
			  "genalloc has %zu bytes free, expected %llu",
			  gen_pool_avail(pool->gp),
			  pool->capacity - PFN_PHYS(absent_pages) - pool->used);
	/* A reusable pool may hold more than a just lowered max, briefly. */
	bad += pool_check(pool, pool->used <= pool->size &&
			  pool->used <= pool->max_size &&
			  pool->size <= pool->capacity &&
			  pool->max_size <= pool->capacity,
			  "used %llu size %llu max %llu capacity %zu",
			  pool->used, pool->size, pool->max_size,
			  pool->capacity);
	bad += pool_check(pool, pool->mode != GUNYAH_POOL_NO_MAP ||
			  pool->size == pool->max_size,
			  "no-map pool holds %llu of max %llu bytes",
			  pool->size, pool->max_size);
	bad += pool_check(pool, pool->min_size <= pool->max_size &&
			  pool->low_wmark <= pool->high_wmark,
			  "tunables min %llu max %llu low %llu high %llu",
			  pool->min_size, pool->max_size, pool->low_wmark,
			  pool->high_wmark);
	bad += pool_check(pool, pool->peak_used >= pool->used,
			  "peak %llu below used %llu", pool->peak_used,
			  pool->used);
	bad += pool_check(pool, pool->committed <=
			  pool_commit_limit(pool->max_size,
					    pool->overcommit_ratio),
			  "committed %llu above the commit limit",
			  pool->committed);

	return bad ? -EUCLEAN : 0;
}

/**
 * gunyah_pool_validate() - cross-check a pool's books against its counters
 * @pool:	the pool
 *
 * Turns the per-CPU caches off, waits until no CPU is between a block's bit
 * and a cache (those steps are RCU read-side sections), and drains them; then
 * walks every block handed out, from the @out bitmaps, and checks that each
 * lies in the region on pages genalloc has handed out, that no two overlap,
 * that together they account for every used page, and that the byte
 * counters and tunables agree with them and with each other. Each mismatch
 * is logged.
 *
 * Context: process context, may sleep; holds the pool's lock for a walk of
 * the bitmaps.
 * Return: 0 if the books are consistent, else -EUCLEAN.
 */
int gunyah_pool_validate(struct gunyah_pool *pool)
{
	int ret;

	might_sleep();
	scoped_guard(spinlock_irqsave, &pool->lock) {
		pool->pcp_off++;
		gunyah_pool_quiesce(pool);
	}
	synchronize_rcu();
	scoped_guard(spinlock_irqsave, &pool->lock) {
		gunyah_pool_quiesce(pool);
		ret = pool_validate(pool);
		pool->pcp_off--;
		gunyah_pool_pcp_update(pool);
	}
	return ret;
}

/**
 * gunyah_pool_free_blocks() - count free naturally aligned blocks per order
 * @pool:	the pool
 * @nr:		array of @nr_orders counters, filled in
 * @nr_orders:	orders to count, from 0
 *
 * nr[o] is how many order-o blocks could be handed out one after another if
 * nothing else were allocated: each free run of pages is cut into aligned
 * blocks of that order.
 *
 * Context: any context.
 */
void gunyah_pool_free_blocks(struct gunyah_pool *pool, unsigned long *nr,
			     unsigned int nr_orders)
{
	unsigned long npages = pool_pages(pool);
	unsigned long pfn0 = PHYS_PFN(pool->base);
	unsigned long start, end = 0, flags;
	unsigned int o;

	memset(nr, 0, nr_orders * sizeof(*nr));

	spin_lock_irqsave(&pool->lock, flags);
	gunyah_pool_quiesce(pool);
	while ((start = find_next_zero_bit(pool->chunk->bits, npages, end)) < npages) {
		end = find_next_bit(pool->chunk->bits, npages, start);
		for (o = 0; o < nr_orders; o++) {
			unsigned long first = ALIGN(pfn0 + start, 1UL << o);
			unsigned long last = ALIGN_DOWN(pfn0 + end, 1UL << o);

			if (last > first)
				nr[o] += (last - first) >> o;
		}
	}
	gunyah_pool_pcp_update(pool);
	spin_unlock_irqrestore(&pool->lock, flags);
}

enum gunyah_pool_page_state gunyah_pool_page_state(struct gunyah_pool *pool,
						   unsigned long pgoff)
{
	if (gunyah_pool_reusable(pool) &&
	    !test_bit(pgoff / GUNYAH_POOL_CHUNK_PAGES, pool->reusable.held))
		return GUNYAH_POOL_PAGE_ABSENT;
	return test_bit(pgoff, pool->chunk->bits) ? GUNYAH_POOL_PAGE_USED :
						    GUNYAH_POOL_PAGE_FREE;
}

#ifdef CONFIG_GUNYAH_POOL_FAULT_INJECTION
static struct fault_attr pool_faults[NR_GUNYAH_POOL_FAULTS] = {
	[0 ... NR_GUNYAH_POOL_FAULTS - 1] = FAULT_ATTR_INITIALIZER,
};

static const char * const pool_fault_names[NR_GUNYAH_POOL_FAULTS] = {
	[GUNYAH_POOL_FAULT_ZERO]	= "fail_zero",
	[GUNYAH_POOL_FAULT_CMA]		= "fail_cma",
	[GUNYAH_POOL_FAULT_UNMAP]	= "fail_unmap",
	[GUNYAH_POOL_FAULT_REMAP]	= "fail_remap",
};

bool gunyah_pool_should_fail(enum gunyah_pool_fault point)
{
	return should_fail(&pool_faults[point], 1);
}

/* One fault-injection directory per step, e.g. gunyah_pool/fail_cma/. */
void gunyah_pool_fault_debugfs_init(struct dentry *dir)
{
	int i;

	for (i = 0; i < NR_GUNYAH_POOL_FAULTS; i++)
		fault_create_debugfs_attr(pool_fault_names[i], dir,
					  &pool_faults[i]);
}
#endif

/* ---- Exported API ---- */

/**
 * gunyah_pool_alloc() - allocate memory to donate to the hypervisor
 * @order:	log2 of the number of pages, 0 to %GUNYAH_POOL_MAX_ORDER
 * @gfp:	%GFP_KERNEL, or %GFP_NOWAIT or %GFP_ATOMIC when the caller may
 *		not sleep; %__GFP_ZERO clears the block through a short-lived
 *		mapping and needs a mask that may sleep
 * @phys:	set to the physical address of the block on success
 *
 * Allocates 2^@order physically contiguous pages, aligned to their size,
 * that are not in the kernel's linear map, so the caller may donate them to
 * the hypervisor without an access through the linear map ever reaching them.
 *
 * Context: Any context if @gfp does not allow blocking; otherwise process
 * context, may sleep.
 * Return: 0 on success; -ENOMEM if the pool has no such block within
 * max_size_bytes; -EINVAL for a bad @order, or %__GFP_ZERO with a mask that
 * may not sleep; -ENODEV if there is no pool or it is not ready yet.
 */
int gunyah_pool_alloc(unsigned int order, gfp_t gfp, phys_addr_t *phys)
{
	struct gunyah_pool *pool = gunyah_pool_get();

	if (!pool)
		return -ENODEV;
	return gunyah_pool_block_alloc(pool, order, gfp, phys);
}
EXPORT_SYMBOL_NS_GPL(gunyah_pool_alloc, GUNYAH);

/**
 * gunyah_pool_free() - give back memory from gunyah_pool_alloc()
 * @phys:	the physical address gunyah_pool_alloc() returned
 * @order:	the order it was allocated with
 *
 * The caller must have reclaimed the memory from the hypervisor first. A free
 * of memory the pool did not hand out, with another order, or a second free
 * is refused with a warning and counted in stats/invalid_free.
 *
 * Context: Any context.
 */
void gunyah_pool_free(phys_addr_t phys, unsigned int order)
{
	struct gunyah_pool *pool = gunyah_pool_get();

	if (WARN_ONCE(!pool, "free of %pa order %u without a pool\n",
		      &phys, order))
		return;
	gunyah_pool_block_free(pool, phys, order);
}
EXPORT_SYMBOL_NS_GPL(gunyah_pool_free, GUNYAH);

/**
 * gunyah_pool_reserve() - commit pool memory ahead of use
 * @bytes:	bytes to commit, e.g. a VM's worst-case stage-2 page tables
 *
 * Lets a Gunyah driver refuse a VM when it is created rather than fail later
 * at a stage-2 fault. The commitment is accounting only and takes no pages;
 * all commitments together may not pass
 * max_size_bytes * overcommit_ratio / 100.
 *
 * Context: Any context.
 * Return: 0; -ENOMEM if the commitment would pass the commit limit; -ENODEV if
 * there is no pool or it is not ready yet.
 */
int gunyah_pool_reserve(size_t bytes)
{
	struct gunyah_pool *pool = gunyah_pool_get();

	if (!pool)
		return -ENODEV;
	return gunyah_pool_commit(pool, bytes);
}
EXPORT_SYMBOL_NS_GPL(gunyah_pool_reserve, GUNYAH);

/**
 * gunyah_pool_unreserve() - withdraw a commitment
 * @bytes:	bytes committed earlier by gunyah_pool_reserve()
 *
 * Withdrawing more than is committed is refused with a warning.
 *
 * Context: Any context.
 */
void gunyah_pool_unreserve(size_t bytes)
{
	struct gunyah_pool *pool = gunyah_pool_get();

	if (WARN_ONCE(!pool, "unreserve of %zu bytes without a pool\n", bytes))
		return;
	gunyah_pool_uncommit(pool, bytes);
}
EXPORT_SYMBOL_NS_GPL(gunyah_pool_unreserve, GUNYAH);

/* ---- Setup from the device tree ---- */

/*
 * Refuse a node. An error makes the reserved-memory core give the region back
 * to Linux, which is right for memory in the linear map. A no-map region is
 * not in it, and by now the linear map is built: given back, its pages would
 * reach the page allocator unmapped. -ENOENT keeps such a region reserved and
 * unused instead.
 */
static __printf(2, 3) int __init pool_refuse(struct reserved_mem *rmem,
					     const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pr_err("%s: refused: %pV\n", rmem->name, &vaf);
	va_end(args);
	return of_get_flat_dt_prop(rmem->fdt_node, "no-map", NULL) ? -ENOENT :
								    -EINVAL;
}

/*
 * Runs while the device tree is scanned, before the page allocator exists:
 * check the node and remember the region.
 */
static int __init gunyah_pool_rmem_setup(struct reserved_mem *rmem)
{
	unsigned long node = rmem->fdt_node;
	bool nomap = of_get_flat_dt_prop(node, "no-map", NULL);
	bool reusable = of_get_flat_dt_prop(node, "reusable", NULL);
	phys_addr_t min_size = GUNYAH_POOL_MIN_REGION;

	if (gunyah_pool_region.name)
		return pool_refuse(rmem, "only one pool is supported and %s is already configured",
				   gunyah_pool_region.name);
	if (nomap && reusable)
		return pool_refuse(rmem, "both no-map and reusable are set; choose one");
	if (!nomap && !reusable)
		return pool_refuse(rmem, "neither no-map nor reusable is set; choose one");
	if (!rmem->base)
		return pool_refuse(rmem, "a region at physical address 0 is not supported");
	if (!PAGE_ALIGNED(rmem->base))
		return pool_refuse(rmem, "base %pa is not aligned to the page size (%lu bytes)",
				   &rmem->base, PAGE_SIZE);
	if (!PAGE_ALIGNED(rmem->size))
		return pool_refuse(rmem, "size %pa is not a multiple of the page size (%lu bytes)",
				   &rmem->size, PAGE_SIZE);
	if (rmem->size < min_size)
		return pool_refuse(rmem, "size %pa is below the minimum of %pa bytes",
				   &rmem->size, &min_size);

	if (reusable) {
		int ret;

		if (!IS_ENABLED(CONFIG_CMA))
			return pool_refuse(rmem, "reusable mode needs CONFIG_CMA");
		ret = gunyah_pool_reusable_declare(rmem, &gunyah_pool_region.cma);
		if (ret)
			return ret;
	}

	gunyah_pool_region.name = rmem->name;
	gunyah_pool_region.base = rmem->base;
	gunyah_pool_region.size = rmem->size;
	gunyah_pool_region.mode = reusable ? GUNYAH_POOL_REUSABLE :
					     GUNYAH_POOL_NO_MAP;
	return 0;
}

RESERVEDMEM_OF_DECLARE(gunyah_pool, GUNYAH_POOL_COMPATIBLE,
		       gunyah_pool_rmem_setup);

/*
 * The reserved-memory core never calls gunyah_pool_rmem_setup() for a node it
 * reserved nothing for (no reg and no size, a size of zero, or a size it found
 * no room for in alloc-ranges): say so here, so every node that does not
 * become the pool is explained.
 */
static void __init gunyah_pool_report_unreserved(void)
{
	struct device_node *np;

	for_each_compatible_node(np, NULL, GUNYAH_POOL_COMPATIBLE) {
		if (of_device_is_available(np) && !of_reserved_mem_lookup(np))
			pr_err("%pOFP: refused: no memory is reserved for the node (zero or missing size, or no room to place it)\n",
			       np);
	}
}

static struct resource gunyah_pool_resource = {
	.name	= "gunyah-pool",
	.flags	= IORESOURCE_MEM | IORESOURCE_BUSY,
};

static int __init gunyah_pool_setup(void)
{
	struct gunyah_pool_region *r = &gunyah_pool_region;
	struct gunyah_pool *pool = &gunyah_pool_instance;
	int ret;

	gunyah_pool_report_unreserved();
	if (!r->name)
		return 0;

	ret = gunyah_pool_init(pool, r->name, r->base, r->size);
	if (ret) {
		pr_err("%s: cannot set up the pool: %d\n", r->name, ret);
		return ret;
	}
	if (IS_ENABLED(CONFIG_CMA) && r->mode == GUNYAH_POOL_REUSABLE) {
		ret = gunyah_pool_reusable_setup(pool, r->cma);
		if (ret) {
			gunyah_pool_destroy(pool);
			return ret;
		}
	}

	/* Name the region in /proc/iomem, inside the core's "reserved". */
	gunyah_pool_resource.start = r->base;
	gunyah_pool_resource.end = r->base + r->size - 1;
	if (insert_resource(&iomem_resource, &gunyah_pool_resource))
		pr_warn("%s: cannot name the region in /proc/iomem\n", r->name);

	ret = gunyah_pool_sysfs_init(pool);
	if (ret)
		pr_warn("%s: no sysfs interface: %d\n", r->name, ret);
	gunyah_pool_debugfs_init(pool);

	/* Callers see the pool only once it is complete; see gunyah_pool_get(). */
	smp_store_release(&gunyah_pool_ready, pool);

	pr_info("%s: %pa..%pa (%llu MiB), %s\n", r->name, &r->base,
		&gunyah_pool_resource.end, (u64)r->size / SZ_1M,
		gunyah_pool_mode_name(pool));
	return 0;
}
subsys_initcall(gunyah_pool_setup);
