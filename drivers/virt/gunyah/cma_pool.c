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
 * that is not in the linear map. Guest memory does not come from here; it
 * goes through guest_memfd.
 *
 * This file is the core: an allocator over the memory the pool holds now,
 * which knows nothing of where that memory comes from. A backing gives it
 * memory with gunyah_pool_add_range() and takes wholly free ranges back with
 * gunyah_pool_take_range(); the core asks the backing, through struct
 * gunyah_pool_backing_ops, to grow when an allocation finds it short and to
 * rebalance when free memory crosses a watermark. Device-tree setup
 * (cma_pool_of.c) picks the backing: a ``no-map`` region, held whole from
 * boot, or a ``reusable`` one, a CMA area (cma_pool_reusable.c).
 * cma_pool_limits.c bounds the pool (reservations, tunables, hibernation)
 * and cma_pool_validate.c checks its books for the tests; the core calls
 * neither.
 *
 * Allocator: genalloc over the whole region with one bit per page, asked for
 * naturally aligned blocks, behind per-CPU caches of small free blocks (see
 * "Per-CPU caches" below). Pages the pool does not hold are allocated in
 * genalloc, so it never finds them free. The pool keeps its own books and
 * reads nothing of genalloc's but what its API returns and its search
 * callbacks are given (see "Where a search starts"): one bit per page held
 * (@present) and, for each block handed out, its order in the struct page of
 * its first page, as the page allocator keeps the order of a free block
 * (see "Handed-out blocks" below). A free clears that mark with one
 * cmpxchg(), so a foreign, double or wrong-order free is refused before
 * genalloc sees it.
 *
 * Accounting: @used is what callers hold, an atomic changed by every
 * allocation and free on a cache line of its own, so it, its peak and the
 * low-watermark crossings are exact without any lock; @taken is what
 * genalloc has handed out (@used plus the caches) and is capped by
 * @max_size. Reservations (gunyah_pool_reserve()) are promises, not pages, bounded
 * by the commit limit (see cma_pool_limits.c).
 *
 * Locking: the pool's spinlock, taken with interrupts off because callers may
 * allocate in atomic context, covers genalloc, @present, @taken, @size,
 * @committed and the tunables; a seqcount lets readers see @size,
 * @committed and the tunables together without it. Each CPU's cache has its
 * own lock, which nests outside the pool's. Readers take no lock a caller
 * waits for and change nothing.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/cleanup.h>
#include <linux/genalloc.h>
#include <linux/gfp.h>
#include <linux/gunyah_pool.h>
#include <linux/init.h>
#include <linux/log2.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/vmalloc.h>

#include "cma_pool.h"

#define CREATE_TRACE_POINTS
#include "cma_pool_trace.h"

/*
 * genalloc returns 0 for "nothing free": it sees each physical address plus
 * this bias, a multiple of the largest block, so a block at physical address
 * 0 is not 0 to it and natural alignment is kept.
 */
#define POOL_GP_BIAS	(PAGE_SIZE << GUNYAH_POOL_MAX_ORDER)

/* No block: page offsets are below 2^32. */
#define POOL_NONE	ULONG_MAX

static inline unsigned long pool_pgoff(const struct gunyah_pool *pool,
				       phys_addr_t phys)
{
	return (phys - pool->base) >> PAGE_SHIFT;
}

static inline phys_addr_t pool_phys(const struct gunyah_pool *pool,
				    unsigned long pgoff)
{
	return pool->base + PFN_PHYS(pgoff);
}

/**
 * DOC: Handed-out blocks
 *
 * While a block is handed out, page_private() of its first page is its mark:
 * the pool's address with the block's order plus one in the low bits; every
 * other page the pool holds has 0 there. The pool owns the struct pages of
 * what it holds: a no-map region's are PageReserved and a reusable pool's
 * are PageOffline, as a balloon driver's are, and no caller of the pool gets
 * or touches a struct page. Pages it does not hold belong to someone else
 * (the page allocator keeps a free block's order in the same field), which
 * is why the mark carries the pool's address: no value another owner keeps
 * there can pass for it.
 *
 * An allocation sets the mark with a plain store under the lock that hands
 * the block out; a free clears it with one cmpxchg(), which decides alone
 * between two racing frees of one block and refuses a free of anything else
 * (a page inside a block, a block of another order, a block not handed
 * out, a page the pool does not hold). Each block's mark sits in a struct
 * page of its own, so an allocation and a free write no line that a CPU
 * working on another block writes: unlike a shared bitmap, which put the
 * blocks of every CPU's cache in a few words.
 */
static inline unsigned int pool_pcp_high(unsigned int order)
{
	return max(GUNYAH_POOL_PCP_SLOTS >> order, 2);
}

/* ---- Creating a pool ---- */

/**
 * gunyah_pool_init() - set up an empty pool over a region outside the linear map
 * @pool:	zeroed pool to set up
 * @name:	name for messages; must outlive the pool
 * @base:	physical start of the region, page aligned
 * @size:	size of the region in bytes, page aligned
 * @ops:	the backing, which then gives the pool memory with
 *		gunyah_pool_add_range()
 *
 * Context: process context, may sleep.
 * Return: 0, -EINVAL for a region that is empty, misaligned or of more than
 * 2^32 pages, or -ENOMEM.
 */
int gunyah_pool_init(struct gunyah_pool *pool, const char *name,
		     phys_addr_t base, size_t size,
		     const struct gunyah_pool_backing_ops *ops)
{
	struct genpool_data_fixed whole = { .offset = 0 };
	unsigned int cpu;
	int ret;

	might_sleep();

	/* The caches keep page offsets in 32 bits. */
	if (!size || !PAGE_ALIGNED(base | size) || size >> PAGE_SHIFT > U32_MAX ||
	    base + size + POOL_GP_BIAS < base)
		return -EINVAL;
	/* Marks keep the order in the low bits of the pool's address. */
	if (WARN_ON(!IS_ALIGNED((unsigned long)pool, GUNYAH_POOL_MARK_ORDER + 1)))
		return -EINVAL;

	pool->name = name;
	pool->base = base;
	pool->capacity = size;
	pool->ops = ops;
	spin_lock_init(&pool->lock);
	seqcount_spinlock_init(&pool->seq, &pool->lock);

	pool->gp = gen_pool_create(PAGE_SHIFT, NUMA_NO_NODE);
	if (!pool->gp)
		return -ENOMEM;
	ret = gen_pool_add(pool->gp, base + POOL_GP_BIAS, size, NUMA_NO_NODE);
	if (ret)
		goto err_destroy_genpool;
	/* The pool holds nothing yet: all of it is in use in genalloc. */
	if (gen_pool_alloc_algo(pool->gp, size, gen_pool_fixed_alloc,
				&whole) != base + POOL_GP_BIAS) {
		ret = -ENOMEM;
		goto err_destroy_genpool;
	}

	ret = -ENOMEM;
	pool->present = bitmap_zalloc(gunyah_pool_nr_pages(pool), GFP_KERNEL);
	if (!pool->present)
		goto err_free_all;

	pool->pcp = alloc_percpu(struct gunyah_pool_pcp);
	if (!pool->pcp)
		goto err_free_present;
	for_each_possible_cpu(cpu)
		spin_lock_init(&per_cpu_ptr(pool->pcp, cpu)->lock);

	pool->max_size = size;
	pool->high_wmark = size;
	pool->overcommit_ratio = 100;
	return 0;

err_free_present:
	bitmap_free(pool->present);
err_free_all:
	gen_pool_free(pool->gp, base + POOL_GP_BIAS, size);
err_destroy_genpool:
	gen_pool_destroy(pool->gp);
	pool->gp = NULL;
	return ret;
}

/**
 * gunyah_pool_destroy() - tear down a pool set up by gunyah_pool_init()
 * @pool:	pool with nothing handed out
 *
 * Only pools made for tests and the benchmark are destroyed; the system's
 * pool lives forever. The memory the pool holds is simply forgotten: the
 * backing takes back what it gave first, if it wants it. A pool with blocks
 * out is leaked with a warning.
 *
 * Context: process context, may sleep.
 */
void gunyah_pool_destroy(struct gunyah_pool *pool)
{
	unsigned long start, end;

	might_sleep();

	gunyah_pool_drain(pool);
	if (gunyah_pool_warn(pool, GUNYAH_POOL_MISUSE_DESTROY,
			     atomic64_read(&pool->used) || pool->taken,
			     "%s: cannot destroy with %lld bytes in use\n",
			     pool->name, atomic64_read(&pool->used)))
		return;
	/* genalloc wants every page free: give it the pages not held. */
	for_each_clear_bitrange(start, end, pool->present, gunyah_pool_nr_pages(pool))
		gen_pool_free(pool->gp, pool_phys(pool, start) + POOL_GP_BIAS,
			      PFN_PHYS(end - start));
	gen_pool_destroy(pool->gp);
	free_percpu(pool->pcp);
	bitmap_free(pool->present);
	pool->gp = NULL;
	pool->pcp = NULL;
	pool->present = NULL;
}

/* ---- The books ---- */

/*
 * A block of @order at @pgoff goes to a caller: mark it, count it. Under a
 * cache's lock or the pool's. Returns whether free memory fell below the low
 * watermark with it.
 */
static bool pool_hand_out(struct gunyah_pool *pool, unsigned long pgoff,
			  unsigned int order)
{
	u64 bytes = PAGE_SIZE << order, low = READ_ONCE(pool->low_wmark);
	u64 size = READ_ONCE(pool->size), max_size = READ_ONCE(pool->max_size);
	s64 used;

	WRITE_ONCE(*gunyah_pool_mark(pool, pgoff), gunyah_pool_mark_of(pool, order));
	/*
	 * Relaxed: @used is only compared, and the lock held orders the mark
	 * and the block's slot.
	 */
	used = atomic64_add_return_relaxed(bytes, &pool->used);
	gunyah_pool_raise_peak(pool, used);
	/* One atomic step: each crossing is seen by exactly one caller. */
	return gunyah_pool_free_of(size, max_size, used - bytes) >= low &&
	       gunyah_pool_free_of(size, max_size, used) < low;
}

/*
 * A block of @order comes back from a caller, its mark already cleared.
 * Returns whether free memory rose to the point where the backing may take
 * memory back.
 */
static bool pool_give_back(struct gunyah_pool *pool, unsigned int order)
{
	u64 bytes = PAGE_SIZE << order, drain;
	u64 size = READ_ONCE(pool->size), max_size = READ_ONCE(pool->max_size);
	s64 used = atomic64_sub_return_relaxed(bytes, &pool->used);

	if (!pool->ops->granule || !pool->ops->kick ||
	    check_add_overflow(READ_ONCE(pool->high_wmark), pool->ops->granule,
			       &drain))
		return false;
	return gunyah_pool_free_of(size, max_size, used + bytes) < drain &&
	       gunyah_pool_free_of(size, max_size, used) >= drain;
}

/*
 * Where a search starts. A block goes to the lowest free place that fits it
 * (first fit), so that small blocks fill holes before they break up a larger
 * free block. So that each search does not scan again what earlier ones
 * passed over, @search_from[order] is kept at or below the lowest free block
 * of each order, under the pool's lock:
 *
 * - a search finds nothing free below where it starts, and nothing below
 *   the block it takes, so the next search of that order starts after that
 *   block (or, if it found none, at the end);
 * - taking memory (a block, a range) frees nothing, so moves no start;
 * - freeing pages from @pgoff on (a block, a range given to the pool) can
 *   make free blocks of order o no lower than the order-o block that holds
 *   @pgoff, so every order's start comes down to that block's start.
 *
 * The validator checks that no free block lies below a start.
 */
struct pool_fit {
	struct genpool_data_align align;
	unsigned long from;	/* genalloc address: nothing fits below it */
};

static unsigned long pool_first_fit_from(unsigned long *map, unsigned long size,
					 unsigned long start, unsigned int nr,
					 void *data, struct gen_pool *gp,
					 unsigned long start_addr)
{
	struct pool_fit *fit = data;

	if (fit->from > start_addr)
		start = max(start, (fit->from - start_addr) >> PAGE_SHIFT);
	return gen_pool_first_fit_align(map, size, start, nr, &fit->align, gp,
					start_addr);
}

/* Exactly at @from, if all of it is free; genalloc's "none" (@size) if not. */
static unsigned long pool_fit_at(unsigned long *map, unsigned long size,
				 unsigned long start, unsigned int nr,
				 void *data, struct gen_pool *gp,
				 unsigned long start_addr)
{
	struct pool_fit *fit = data;
	unsigned long at;

	if (fit->from < start_addr)
		return size;
	at = (fit->from - start_addr) >> PAGE_SHIFT;
	if (at >= size || nr > size - at ||
	    find_next_bit(map, at + nr, at) < at + nr)
		return size;
	return at;
}

/* Pages from @pgoff on were freed: a free block may start where theirs does. */
static void pool_search_lower(struct gunyah_pool *pool, unsigned long pgoff)
	__must_hold(&pool->lock)
{
	unsigned long start;
	unsigned int o;

	lockdep_assert_held(&pool->lock);

	for (o = 0; o <= GUNYAH_POOL_MAX_ORDER; o++) {
		start = gunyah_pool_block_start(pool, pgoff, o);
		/* A block starting before the region wraps around: start at 0. */
		if (start > pgoff)
			start = 0;
		pool->search_from[o] = min(pool->search_from[o], start);
	}
}

/* Take a block of @order from genalloc, within max_size_bytes. */
static unsigned long pool_take(struct gunyah_pool *pool, unsigned int order,
			       bool *over_max)
	__must_hold(&pool->lock)
{
	u64 bytes = PAGE_SIZE << order;
	struct pool_fit fit = {
		.align.align = bytes,
		.from = pool_phys(pool, pool->search_from[order]) + POOL_GP_BIAS,
	};
	unsigned long addr, pgoff;

	lockdep_assert_held(&pool->lock);

	if (pool->taken + bytes > pool->max_size) {
		*over_max = true;
		return POOL_NONE;
	}
	if (pool->search_from[order] >= gunyah_pool_nr_pages(pool))
		return POOL_NONE;
	addr = gen_pool_alloc_algo(pool->gp, bytes, pool_first_fit_from, &fit);
	if (!addr) {
		pool->search_from[order] = gunyah_pool_nr_pages(pool);
		return POOL_NONE;
	}
	pool->taken += bytes;
	pgoff = pool_pgoff(pool, addr - POOL_GP_BIAS);
	pool->search_from[order] = pgoff + (1UL << order);
	return pgoff;
}

/*
 * Take the @nr blocks of @order right after the block at @pgoff, all or none,
 * into @out: if they are free, they are the blocks first fit would find next,
 * for one search instead of @nr. Only right after pool_take() handed out
 * @pgoff under the same hold of the lock, whose start it moves on. Returns
 * how many it took.
 */
static unsigned int pool_take_next(struct gunyah_pool *pool, unsigned int order,
				   unsigned long pgoff, unsigned int nr,
				   unsigned long *out)
	__must_hold(&pool->lock)
{
	u64 bytes = (u64)nr << (PAGE_SHIFT + order);
	unsigned long next = pgoff + (1UL << order);
	struct pool_fit fit = {
		.from = pool_phys(pool, next) + POOL_GP_BIAS,
	};
	unsigned int i;

	lockdep_assert_held(&pool->lock);

	if (!nr || pool->taken + bytes > pool->max_size ||
	    !gen_pool_alloc_algo(pool->gp, bytes, pool_fit_at, &fit))
		return 0;
	pool->taken += bytes;
	pool->search_from[order] = next + ((unsigned long)nr << order);
	for (i = 0; i < nr; i++)
		out[i] = next + ((unsigned long)i << order);
	return nr;
}

/* Give a block of @order back to genalloc. */
static void pool_put(struct gunyah_pool *pool, unsigned long pgoff,
		     unsigned int order)
	__must_hold(&pool->lock)
{
	lockdep_assert_held(&pool->lock);

	gen_pool_free(pool->gp, pool_phys(pool, pgoff) + POOL_GP_BIAS,
		      PAGE_SIZE << order);
	pool_search_lower(pool, pgoff);
	pool->taken -= PAGE_SIZE << order;
}

/**
 * DOC: Per-CPU caches
 *
 * Each CPU keeps a small stack of free blocks for each order below
 * %GUNYAH_POOL_PCP_ORDERS, as the page allocator keeps its per-CPU lists,
 * and by the same rules:
 *
 * - A cache is protected by its own spinlock and by nothing else. Whoever
 *   holds it may push, pop, refill from and spill to the allocator.
 * - An allocation or free pins itself to its CPU (preemption off, as
 *   pcpu_spin_trylock() does), takes that CPU's cache with spin_trylock()
 *   and falls back to the pool's lock when that fails, so a task or
 *   interrupt never waits for a cache's lock on its own CPU, and a task
 *   uses the cache of the CPU it runs on. Interrupts stay on.
 * - A remote drain (to shrink, to validate, to find memory for an
 *   allocation that may sleep) takes each cache's lock with spin_lock(),
 *   from a context that may sleep, so never over a holder on its own CPU;
 *   an allocation that may not sleep drains with spin_trylock() only.
 * - The pool's lock nests inside a cache's lock and is never held while a
 *   cache's lock is taken, so the two cannot deadlock.
 *
 * A block's mark and @used change in the same critical section as
 * the stack, so a holder of every lock in turn (the validator, with the
 * caches switched off by @pcp_off first) sees books that add up. What the
 * caches hold is free to callers and counted in @taken, not in @used.
 */

/*
 * Whether the caches are on. Read under a cache's lock: the validator sets
 * @pcp_off under the pool's lock before it takes each cache's lock to drain
 * it, so a holder that comes after the drain sees it set.
 */
static inline bool pool_pcp_enabled(struct gunyah_pool *pool)
{
	return likely(!READ_ONCE(pool->pcp_off));
}

/*
 * What a caller of pool_get() or pool_release() asks for (@count) and learns
 * (the rest).
 */
struct pool_op {
	bool count;	/* count the event in the cache if it serves it */
	bool counted;	/* it did */
	bool over_max;	/* max_size_bytes is what stopped an allocation */
	bool crossed;	/* free memory fell below the low watermark */
	bool too_much;	/* free memory rose to where the backing may shrink */
};

/* Give back all but @keep blocks of @order from a locked cache. */
static void pool_pcp_spill(struct gunyah_pool *pool,
			   struct gunyah_pool_pcp *pcp, unsigned int order,
			   unsigned int keep)
	__must_hold(&pcp->lock)
{
	unsigned long flags;

	lockdep_assert_held(&pcp->lock);

	spin_lock_irqsave(&pool->lock, flags);
	while (pcp->count[order] > keep)
		pool_put(pool, pcp->slot[order][--pcp->count[order]], order);
	spin_unlock_irqrestore(&pool->lock, flags);
}

/* Fill a locked, empty stack of @order with half its capacity, if it can. */
static void pool_pcp_refill(struct gunyah_pool *pool,
			    struct gunyah_pool_pcp *pcp, unsigned int order,
			    bool *over_max)
	__must_hold(&pcp->lock)
{
	unsigned int i, got = 0, n = pool_pcp_high(order) / 2;
	unsigned long pgoff, flags, taken[GUNYAH_POOL_PCP_SLOTS / 2];

	lockdep_assert_held(&pcp->lock);

	/*
	 * The blocks a caller without the cache would get, lowest address
	 * first: a batch taken as one aligned run would break up a larger free
	 * block while smaller holes stay free below it. When the blocks right
	 * after the first are free, they are those, and one search takes them.
	 */
	spin_lock_irqsave(&pool->lock, flags);
	pgoff = pool_take(pool, order, over_max);
	if (pgoff != POOL_NONE) {
		taken[got++] = pgoff;
		got += pool_take_next(pool, order, pgoff, n - got, &taken[got]);
		while (got < n) {
			pgoff = pool_take(pool, order, over_max);
			if (pgoff == POOL_NONE)
				break;
			taken[got++] = pgoff;
		}
	}
	spin_unlock_irqrestore(&pool->lock, flags);
	/* Lowest address on top, to go out first. */
	for (i = got; i-- > 0;)
		pcp->slot[order][pcp->count[order]++] = taken[i];
}

/* Empty one cache into the allocator; returns whether it held anything. */
static bool pool_pcp_drain_one(struct gunyah_pool *pool,
			       struct gunyah_pool_pcp *pcp)
	__must_hold(&pcp->lock)
{
	bool any = false;
	unsigned int o;

	lockdep_assert_held(&pcp->lock);

	for (o = 0; o < GUNYAH_POOL_PCP_ORDERS; o++) {
		any |= pcp->count[o];
		if (pcp->count[o])
			pool_pcp_spill(pool, pcp, o, 0);
	}
	return any;
}

/* Empty one cache, waiting for its lock if @wait, else only if it is free. */
static bool pool_pcp_drain_cpu(struct gunyah_pool *pool,
			       struct gunyah_pool_pcp *pcp, bool wait)
{
	bool any;

	if (wait)
		spin_lock(&pcp->lock);
	else if (!spin_trylock(&pcp->lock))
		return false;
	any = pool_pcp_drain_one(pool, pcp);
	spin_unlock(&pcp->lock);
	return any;
}

/*
 * Empty every CPU's cache. Waits for each cache's lock if @wait, which needs
 * a context that may sleep; otherwise skips a cache that is busy.
 */
static bool pool_drain(struct gunyah_pool *pool, bool wait)
{
	bool any = false;
	unsigned int cpu;

	for_each_possible_cpu(cpu)
		any |= pool_pcp_drain_cpu(pool, per_cpu_ptr(pool->pcp, cpu), wait);
	return any;
}

/*
 * Switch the caches off and empty them: until gunyah_pool_pcp_on(), every
 * allocation and free takes the pool's lock, and taken is exactly used.
 * Nests. Process context.
 */
void gunyah_pool_pcp_off(struct gunyah_pool *pool)
{
	scoped_guard(spinlock_irqsave, &pool->lock)
		WRITE_ONCE(pool->pcp_off, pool->pcp_off + 1);
	pool_drain(pool, true);
}

void gunyah_pool_pcp_on(struct gunyah_pool *pool)
{
	scoped_guard(spinlock_irqsave, &pool->lock)
		WRITE_ONCE(pool->pcp_off, pool->pcp_off - 1);
}

/**
 * gunyah_pool_drain() - give every CPU's cached blocks back to the allocator
 * @pool:	the pool
 *
 * For a backing about to take a range back, and for tests. The caches stay
 * on and may fill again at once.
 *
 * Context: process context, may sleep.
 */
void gunyah_pool_drain(struct gunyah_pool *pool)
{
	might_sleep();
	pool_drain(pool, true);
}

/* ---- Giving the pool memory and taking it back ---- */

static bool pool_range_ok(const struct gunyah_pool *pool, phys_addr_t phys,
			  size_t bytes)
{
	return bytes && PAGE_ALIGNED(phys | bytes) && phys >= pool->base &&
	       phys - pool->base <= pool->capacity &&
	       bytes <= pool->capacity - (phys - pool->base);
}

/**
 * gunyah_pool_add_range() - give a pool memory to hand out
 * @pool:	the pool
 * @phys:	start of the range, inside the pool's region, page aligned
 * @bytes:	size of the range, page aligned
 *
 * The backing must have taken the range out of the linear map before, and
 * own its struct pages with page_private() 0 (see "Handed-out blocks").
 *
 * Context: any context.
 * Return: 0; -EINVAL for a range outside the region or misaligned; -EEXIST if
 * the pool holds any of it already.
 */
int gunyah_pool_add_range(struct gunyah_pool *pool, phys_addr_t phys,
			  size_t bytes)
{
	unsigned long first = pool_pgoff(pool, phys), n = bytes >> PAGE_SHIFT;

	int ret = -EEXIST;

	if (!pool_range_ok(pool, phys, bytes))
		return -EINVAL;

	scoped_guard(spinlock_irqsave, &pool->lock) {
		if (find_next_bit(pool->present, first + n, first) < first + n)
			break;
		bitmap_set(pool->present, first, n);
		gen_pool_free(pool->gp, phys + POOL_GP_BIAS, bytes);
		pool_search_lower(pool, first);
		write_seqcount_begin(&pool->seq);
		WRITE_ONCE(pool->size, pool->size + bytes);
		write_seqcount_end(&pool->seq);
		ret = 0;
	}
	return ret;
}

/**
 * gunyah_pool_take_range() - take a wholly free range back from a pool
 * @pool:	the pool
 * @bytes:	size of the range: a power of two, at least a page, at most
 *		the largest block; the range is aligned to it
 * @phys:	set to the start of the range
 *
 * The lowest such range goes. Blocks in the per-CPU caches keep their range
 * busy; call gunyah_pool_drain() first. The pool does not shrink below
 * min_size_bytes unless it is above max_size_bytes.
 *
 * Context: any context.
 * Return: 0; -EINVAL for a bad @bytes; -EBUSY if no such range is free or
 * the pool may not shrink.
 */
int gunyah_pool_take_range(struct gunyah_pool *pool, size_t bytes,
			   phys_addr_t *phys)
{
	struct genpool_data_align align = { .align = bytes };
	unsigned long addr = 0;

	if (!is_power_of_2(bytes) || bytes < PAGE_SIZE ||
	    bytes > PAGE_SIZE << GUNYAH_POOL_MAX_ORDER)
		return -EINVAL;

	scoped_guard(spinlock_irqsave, &pool->lock) {
		if (pool->size < bytes ||
		    (pool->size - bytes < pool->min_size &&
		     pool->size <= pool->max_size))
			break;
		addr = gen_pool_alloc_algo(pool->gp, bytes,
					   gen_pool_first_fit_align, &align);
		if (!addr)
			break;
		*phys = addr - POOL_GP_BIAS;
		bitmap_clear(pool->present, pool_pgoff(pool, *phys),
			     bytes >> PAGE_SHIFT);
		write_seqcount_begin(&pool->seq);
		WRITE_ONCE(pool->size, pool->size - bytes);
		write_seqcount_end(&pool->seq);
	}
	return addr ? 0 : -EBUSY;
}

/* ---- Allocation ---- */

/*
 * Temporarily map a block to clear it: vmap() makes a fresh mapping in the
 * vmalloc area and vunmap() clears its page-table entries before we return.
 * Its TLB entries go lazily, when the vmalloc area is purged (at once under
 * debug_pagealloc); until then the virtual range is not handed out again,
 * so no pointer to the block is left anywhere. What vmap() allocates
 * internally stays within the reclaim the caller's @gfp allows.
 */
static int pool_zero_block(phys_addr_t phys, unsigned int order, gfp_t gfp)
{
	unsigned long i, nr = 1UL << order;
	unsigned int scope = gunyah_pool_reclaim_save(gfp);
	struct page **pages;
	void *va = NULL;
	int ret = -ENOMEM;

	if (gunyah_pool_should_fail(GUNYAH_POOL_FAULT_ZERO))
		goto out;
	pages = kvmalloc_array(nr, sizeof(*pages), gfp & ~__GFP_ZERO);
	if (!pages)
		goto out;
	for (i = 0; i < nr; i++)
		pages[i] = phys_to_page(phys + i * PAGE_SIZE);
	va = vmap(pages, nr, VM_MAP, PAGE_KERNEL);
	kvfree(pages);
	if (va) {
		memset(va, 0, nr << PAGE_SHIFT);
		vunmap(va);
		ret = 0;
	}
out:
	memalloc_flags_restore(scope);
	return ret;
}

void gunyah_pool_notify_low(struct gunyah_pool *pool)
{
	struct gunyah_pool_usage u;

	gunyah_pool_usage(pool, &u);
	gunyah_pool_count(pool, GUNYAH_POOL_STAT_LOW_WATERMARK);
	trace_gunyah_pool_low_watermark(u.free, u.low_wmark);
	if (pool->free_kn)
		sysfs_notify_dirent(pool->free_kn);
	if (pool->ops->kick)
		pool->ops->kick(pool);
}

/* A block of @order for a caller from a locked cache, refilled if empty. */
static unsigned long pool_uncache_block(struct gunyah_pool *pool,
					struct gunyah_pool_pcp *pcp,
					unsigned int order, struct pool_op *op)
	__must_hold(&pcp->lock)
{
	unsigned long pgoff;

	if (!pcp->count[order])
		pool_pcp_refill(pool, pcp, order, &op->over_max);
	if (!pcp->count[order])
		return POOL_NONE;
	pgoff = pcp->slot[order][--pcp->count[order]];
	op->crossed = pool_hand_out(pool, pgoff, order);
	if (op->count)
		WRITE_ONCE(pcp->nr_alloc, pcp->nr_alloc + 1);
	op->counted = op->count;
	return pgoff;
}

/*
 * Take a block of @order for a caller: from this CPU's cache when it can,
 * refilling it from the allocator, else from the allocator under the pool's
 * lock.
 */
static unsigned long pool_get(struct gunyah_pool *pool, unsigned int order,
			      struct pool_op *op)
{
	struct gunyah_pool_pcp *pcp;
	unsigned long pgoff = POOL_NONE, flags;

	if (order < GUNYAH_POOL_PCP_ORDERS) {
		/* Pinned while it picks and locks the cache: see "Per-CPU caches". */
		guard(preempt)();
		pcp = this_cpu_ptr(pool->pcp);
		if (spin_trylock(&pcp->lock)) {
			if (pool_pcp_enabled(pool)) {
				pgoff = pool_uncache_block(pool, pcp, order, op);
				spin_unlock(&pcp->lock);
				return pgoff;
			}
			spin_unlock(&pcp->lock);
		}
	}

	spin_lock_irqsave(&pool->lock, flags);
	pgoff = pool_take(pool, order, &op->over_max);
	if (pgoff != POOL_NONE)
		op->crossed = pool_hand_out(pool, pgoff, order);
	spin_unlock_irqrestore(&pool->lock, flags);
	return pgoff;
}

/*
 * How blocks of other orders handed out overlap the block of @order at
 * @pgoff: -1 if a smaller one lies inside it, 1 if a larger one holds it,
 * else 0. Only for a refused free: it reads up to 2^@order marks.
 */
static int pool_block_overlap(struct gunyah_pool *pool, unsigned long pgoff,
			      unsigned int order)
{
	unsigned long i, head;
	unsigned int o, mark;

	for (o = order + 1; o <= GUNYAH_POOL_MAX_ORDER; o++) {
		head = gunyah_pool_block_start(pool, pgoff, o);
		/* A block starting before the region wraps head around. */
		if (head < gunyah_pool_nr_pages(pool) &&
		    gunyah_pool_marked(pool, head) == o + 1)
			return 1;
	}
	for (i = 0; i < 1UL << order; i++) {
		mark = gunyah_pool_marked(pool, pgoff + i);
		if (mark && mark < order + 1)
			return -1;
	}
	return 0;
}

/*
 * Uncharge a block that was charged to a memory cgroup, if it was, before
 * anyone can hand it out again and charge it anew: under the lock that
 * releases it, right after its mark was cleared.
 */
static void pool_uncharge(struct gunyah_pool *pool, unsigned long pgoff,
			  unsigned int order)
{
	memcg_kmem_uncharge_page(phys_to_page(pool_phys(pool, pgoff)), order);
}

static const char *pool_why_refused(struct gunyah_pool *pool,
				    unsigned long pgoff, unsigned int order)
{
	switch (pool_block_overlap(pool, pgoff, order)) {
	case -1:
		return "order larger than allocated";
	case 1:
		return "order smaller than allocated";
	default:
		return "not allocated (double free?)";
	}
}

/* A freed block of @order, its mark cleared, goes into a locked cache. */
static void pool_cache_block(struct gunyah_pool *pool,
			     struct gunyah_pool_pcp *pcp, unsigned long pgoff,
			     unsigned int order, struct pool_op *op)
	__must_hold(&pcp->lock)
{
	pool_uncharge(pool, pgoff, order);
	op->too_much = pool_give_back(pool, order);
	if (pcp->count[order] == pool_pcp_high(order))
		pool_pcp_spill(pool, pcp, order, pool_pcp_high(order) / 2);
	pcp->slot[order][pcp->count[order]++] = pgoff;
	if (op->count)
		WRITE_ONCE(pcp->nr_free, pcp->nr_free + 1);
	op->counted = op->count;
}

/*
 * Take a block back from a caller: into this CPU's cache when it can, else
 * to the allocator. The block must be handed out with this order: its mark
 * is cleared atomically, under the lock of the cache or the pool, before
 * anything else happens. Returns why it was refused, or NULL.
 */
static const char *pool_release(struct gunyah_pool *pool, phys_addr_t phys,
				unsigned int order, struct pool_op *op)
{
	unsigned long pgoff = pool_pgoff(pool, phys), flags, *mark, want;
	struct gunyah_pool_pcp *pcp;
	bool ok;

	if (order > GUNYAH_POOL_MAX_ORDER)
		return "bad order";
	if (phys < pool->base || phys - pool->base >= pool->capacity ||
	    (1UL << order) > gunyah_pool_nr_pages(pool) - pgoff)
		return "not from this pool";
	if (!IS_ALIGNED(phys, PAGE_SIZE << order))
		return "misaligned for its order";
	mark = gunyah_pool_mark(pool, pgoff);
	want = gunyah_pool_mark_of(pool, order);

	if (order < GUNYAH_POOL_PCP_ORDERS) {
		guard(preempt)();
		pcp = this_cpu_ptr(pool->pcp);
		if (spin_trylock(&pcp->lock)) {
			if (pool_pcp_enabled(pool)) {
				ok = cmpxchg_relaxed(mark, want, 0) == want;
				if (ok)
					pool_cache_block(pool, pcp, pgoff, order, op);
				spin_unlock(&pcp->lock);
				return ok ? NULL : pool_why_refused(pool, pgoff, order);
			}
			spin_unlock(&pcp->lock);
		}
	}

	spin_lock_irqsave(&pool->lock, flags);
	ok = cmpxchg_relaxed(mark, want, 0) == want;
	if (ok) {
		pool_uncharge(pool, pgoff, order);
		op->too_much = pool_give_back(pool, order);
		pool_put(pool, pgoff, order);
	}
	spin_unlock_irqrestore(&pool->lock, flags);
	return ok ? NULL : pool_why_refused(pool, pgoff, order);
}

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
	bool zero = gfp & __GFP_ZERO, may_sleep = gfpflags_allow_blocking(gfp);
	bool account = gfp & __GFP_ACCOUNT;
	/* A block to be zeroed or charged is counted once it is. */
	struct pool_op op = { .count = !zero && !account };
	unsigned long pgoff;
	phys_addr_t block = 0;
	int ret = 0;

	might_sleep_if(may_sleep);

	/* Refusals are traced too, as every allocation is. */
	if (order > GUNYAH_POOL_MAX_ORDER ||
	    gunyah_pool_warn(pool, GUNYAH_POOL_MISUSE_ZERO_ATOMIC,
			     zero && !may_sleep,
			     "%s: __GFP_ZERO needs a gfp mask that may sleep\n",
			     pool->name)) {
		ret = -EINVAL;
		goto out;
	}

	pgoff = pool_get(pool, order, &op);
	/* What is short may sit in the caches. */
	if (pgoff == POOL_NONE && pool_drain(pool, may_sleep)) {
		op.over_max = false;
		pgoff = pool_get(pool, order, &op);
	}
	/* A backing that can grow is asked to, within max_size_bytes. */
	while (pgoff == POOL_NONE && !op.over_max && pool->ops->grow &&
	       !pool->ops->grow(pool, gfp))
		pgoff = pool_get(pool, order, &op);

	if (pgoff == POOL_NONE) {
		ret = -ENOMEM;
		gunyah_pool_count(pool, GUNYAH_POOL_STAT_ALLOC_FAIL);
		goto out;
	}
	block = pool_phys(pool, pgoff);
	if (op.crossed)
		gunyah_pool_notify_low(pool);
	if (zero)
		ret = pool_zero_block(block, order, gfp);
	/*
	 * Charged as the page allocator charges a page it hands out with
	 * __GFP_ACCOUNT: to the current task's memory cgroup, through the
	 * block's first page, until pool_release() uncharges it.
	 */
	if (!ret && account &&
	    memcg_kmem_charge_page(phys_to_page(block), gfp, order))
		ret = -ENOMEM;
	if (ret) {
		/* Undone, not freed: it was never handed out. */
		op = (struct pool_op) { };
		pool_release(pool, block, order, &op);
		if (op.too_much)
			pool->ops->kick(pool);
		gunyah_pool_count(pool, GUNYAH_POOL_STAT_ALLOC_FAIL);
		block = 0;
		goto out;
	}
	if (!op.counted)
		gunyah_pool_count(pool, GUNYAH_POOL_STAT_ALLOC_SUCCESS);
	*phys = block;
out:
	trace_gunyah_pool_alloc(order, gfp, block, ret);
	return ret;
}

/**
 * gunyah_pool_block_free() - give a block back to a pool
 * @pool:	the pool
 * @phys:	physical address from gunyah_pool_block_alloc()
 * @order:	the order it was allocated with
 *
 * A free of anything that is not a block handed out with this order is
 * refused and counted, with a warning the first time in this pool; the pool
 * is left as it was.
 *
 * Context: any context.
 * Return: 0, or -EINVAL if the free was refused.
 */
int gunyah_pool_block_free(struct gunyah_pool *pool, phys_addr_t phys,
			   unsigned int order)
{
	struct pool_op op = { .count = true };
	const char *why = pool_release(pool, phys, order, &op);

	if (why) {
		gunyah_pool_count(pool, GUNYAH_POOL_STAT_INVALID_FREE);
		gunyah_pool_warn(pool, GUNYAH_POOL_MISUSE_FREE, true,
				 "%s: refused to free %pa order %u: %s\n",
				 pool->name, &phys, order, why);
		trace_gunyah_pool_free(phys, order, -EINVAL);
		return -EINVAL;
	}
	if (!op.counted)
		gunyah_pool_count(pool, GUNYAH_POOL_STAT_FREE);
	if (op.too_much)
		pool->ops->kick(pool);	/* set only with a kick: see pool_give_back() */
	trace_gunyah_pool_free(phys, order, 0);
	return 0;
}

/**
 * gunyah_pool_usage() - take a consistent snapshot of a pool's numbers
 * @pool:	the pool
 * @u:		filled in
 *
 * Takes no lock and changes nothing: the sizes, reservations and tunables
 * come from one seqcount section, and the bytes in use are read in it, so
 * @u->free is what was free at one instant. Blocks in the per-CPU caches
 * count as free.
 *
 * Context: any context.
 */
void gunyah_pool_usage(struct gunyah_pool *pool, struct gunyah_pool_usage *u)
{
	unsigned int seq;

	memset(u, 0, sizeof(*u));
	do {
		seq = read_seqcount_begin(&pool->seq);
		u->held = pool->size;
		u->committed = pool->committed;
		u->min_size = pool->min_size;
		u->max_size = pool->max_size;
		u->low_wmark = pool->low_wmark;
		u->high_wmark = pool->high_wmark;
		u->overcommit_ratio = pool->overcommit_ratio;
		u->used = atomic64_read(&pool->used);
		u->peak_used = atomic64_read(&pool->peak_used);
	} while (read_seqcount_retry(&pool->seq, seq));

	/* An allocation raises the peak just after the bytes in use. */
	u->peak_used = max(u->peak_used, u->used);

	/* A no-map pool holds its max_size; a reusable one may briefly exceed it. */
	u->size = min(u->held, u->max_size);
	u->free = gunyah_pool_free_of(u->size, u->max_size, u->used);
	u->commit_limit = gunyah_pool_commit_limit(u->max_size,
						   u->overcommit_ratio);
	u->overcommit = u->committed > u->max_size ?
			u->committed - u->max_size : 0;
}

/**
 * gunyah_pool_stat() - read an event counter
 * @pool:	the pool
 * @item:	the counter
 *
 * The sum of every CPU's share, read without a lock.
 *
 * Context: any context.
 * Return: the count since boot.
 */
u64 gunyah_pool_stat(struct gunyah_pool *pool, enum gunyah_pool_stat item)
{
	struct gunyah_pool_pcp *pcp;
	unsigned int cpu;
	u64 n = 0;

	for_each_possible_cpu(cpu) {
		pcp = per_cpu_ptr(pool->pcp, cpu);
		n += READ_ONCE(pcp->stats[item]);
		if (item == GUNYAH_POOL_STAT_ALLOC_SUCCESS)
			n += READ_ONCE(pcp->nr_alloc);
		else if (item == GUNYAH_POOL_STAT_FREE)
			n += READ_ONCE(pcp->nr_free);
	}
	return n;
}

