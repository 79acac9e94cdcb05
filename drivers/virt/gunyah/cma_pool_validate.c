// SPDX-License-Identifier: GPL-2.0-only
/*
 * Gunyah donation pool: the validator and the read-outs of its books
 *
 * Copyright (c) 2026 The gunyah-pool authors
 *
 * For KUnit and the test suite only; the pool never calls them. They read
 * the core's books (cma_pool.c) under its locks and change nothing but the
 * per-CPU caches, which the validator empties to count every block.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/cleanup.h>
#include <linux/genalloc.h>
#include <linux/percpu.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "cma_pool.h"

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

/*
 * Mark in @busy the pages of every block handed out, checking that each lies
 * on pages the pool holds and overlaps no other. With @pages, count them;
 * with @bad, count failed checks (logged). Reads the mark of every page the
 * pool holds.
 */
static void pool_walk_out(struct gunyah_pool *pool, unsigned long *busy,
			  unsigned long *pages, int *bad)
	__must_hold(&pool->lock)
{
	unsigned long npages = gunyah_pool_nr_pages(pool), pgoff, nr, end;
	unsigned int o, mark;

	for_each_set_bit(pgoff, pool->present, npages) {
		if (!READ_ONCE(*gunyah_pool_mark(pool, pgoff)))
			continue;
		mark = gunyah_pool_marked(pool, pgoff);
		o = mark - 1;
		if (!mark || o > GUNYAH_POOL_MAX_ORDER ||
		    gunyah_pool_block_start(pool, pgoff, o) != pgoff ||
		    1UL << o > npages - pgoff) {
			if (bad)
				*bad += pool_check(pool, false,
						   "bad mark %#lx at page %lu",
						   READ_ONCE(*gunyah_pool_mark(pool, pgoff)),
						   pgoff);
			continue;
		}
		nr = 1UL << o;
		end = pgoff + nr;
		if (bad) {
			*bad += pool_check(pool, find_next_zero_bit(pool->present,
								    end, pgoff) >= end,
					   "order-%u block at page %lu on pages not held",
					   o, pgoff);
			*bad += pool_check(pool, find_next_bit(busy, end, pgoff) >= end,
					   "order-%u block at page %lu overlaps another",
					   o, pgoff);
		}
		bitmap_set(busy, pgoff, nr);
		if (pages)
			*pages += nr;
	}
}

/*
 * Count the orders whose search starts above a free block of that order
 * (see "Where a search starts" in cma_pool.c): a block there would never be
 * found. With the caches empty, the free pages are those held and not in
 * @busy.
 */
static int pool_check_search(struct gunyah_pool *pool, const unsigned long *busy)
	__must_hold(&pool->lock)
{
	unsigned long npages = gunyah_pool_nr_pages(pool), pgoff, start, end, limit;
	unsigned int o;
	int bad = 0;

	for (o = 0; o <= GUNYAH_POOL_MAX_ORDER; o++) {
		limit = min(pool->search_from[o], npages);
		for (pgoff = 0; pgoff < limit; pgoff = start + (1UL << o)) {
			pgoff = find_next_andnot_bit(pool->present, busy, limit, pgoff);
			if (pgoff >= limit)
				break;
			/* Not a block's first page: go on at the next block's. */
			start = gunyah_pool_block_start(pool, pgoff, o);
			if (start != pgoff)
				continue;
			end = pgoff + (1UL << o);
			if (end <= npages &&
			    find_next_zero_bit(pool->present, end, pgoff) >= end &&
			    find_next_bit(busy, end, pgoff) >= end) {
				bad += pool_check(pool, false,
						  "free order-%u block at page %lu below its search start %lu",
						  o, pgoff, pool->search_from[o]);
				break;
			}
		}
	}
	return bad;
}

static int pool_validate(struct gunyah_pool *pool, unsigned long *busy)
	__must_hold(&pool->lock)
{
	u64 used = atomic64_read(&pool->used), cached = 0;
	unsigned long npages = gunyah_pool_nr_pages(pool), pages = 0;
	unsigned int cpu, o;
	int bad = 0;

	lockdep_assert_held(&pool->lock);

	for_each_possible_cpu(cpu)
		for (o = 0; o < GUNYAH_POOL_PCP_ORDERS; o++)
			cached += READ_ONCE(per_cpu_ptr(pool->pcp, cpu)->count[o]);
	bad += pool_check(pool, !cached, "%llu blocks cached while quiesced", cached);

	pool_walk_out(pool, busy, &pages, &bad);
	bad += pool_check_search(pool, busy);
	bad += pool_check(pool, PFN_PHYS(pages) == used,
			  "%lu pages in blocks, used %llu bytes", pages, used);
	bad += pool_check(pool, pool->taken == used,
			  "taken %llu bytes, used %llu", pool->taken, used);
	bad += pool_check(pool, PFN_PHYS(bitmap_weight(pool->present, npages)) ==
			  pool->size, "%u pages held, size %llu",
			  bitmap_weight(pool->present, npages), pool->size);
	bad += pool_check(pool, gen_pool_avail(pool->gp) == pool->size - pool->taken,
			  "genalloc has %zu bytes free, expected %llu",
			  gen_pool_avail(pool->gp), pool->size - pool->taken);
	bad += pool_check(pool, used <= pool->size && used <= pool->max_size &&
			  pool->size <= pool->capacity &&
			  pool->max_size <= pool->capacity,
			  "used %llu size %llu max %llu capacity %zu",
			  used, pool->size, pool->max_size, pool->capacity);
	bad += pool_check(pool, pool->min_size <= pool->max_size &&
			  pool->low_wmark <= pool->high_wmark &&
			  pool->high_wmark <= pool->capacity,
			  "tunables min %llu max %llu low %llu high %llu",
			  pool->min_size, pool->max_size, pool->low_wmark,
			  pool->high_wmark);
	bad += pool_check(pool, atomic64_read(&pool->peak_used) >= used,
			  "peak %lld below used %llu",
			  atomic64_read(&pool->peak_used), used);
	bad += pool_check(pool, pool->committed <=
			  gunyah_pool_commit_limit(pool->max_size,
						   pool->overcommit_ratio),
			  "committed %llu above the commit limit",
			  pool->committed);
	return bad;
}

/**
 * gunyah_pool_validate() - cross-check a pool's books
 * @pool:	the pool
 *
 * Switches the per-CPU caches off and empties them, taking each cache's lock
 * in turn, so no allocation or free is between a cache and the books; then,
 * under the pool's lock, walks every block handed out and checks that each
 * lies on pages the pool holds, that no two overlap, that together they are
 * @used and @taken, that genalloc's free bytes are the rest of @size, and
 * that the tunables agree with each other; then asks the backing to check
 * its own books. Each mismatch is logged. The caches are back on after.
 *
 * Context: process context, may sleep.
 * Return: 0 if the books are consistent, -EUCLEAN if not, -ENOMEM if there
 * was no memory to check them.
 */
int gunyah_pool_validate(struct gunyah_pool *pool)
{
	unsigned long *busy;
	int bad;

	might_sleep();
	busy = bitmap_zalloc(gunyah_pool_nr_pages(pool), GFP_KERNEL);
	if (!busy)
		return -ENOMEM;

	gunyah_pool_pcp_off(pool);
	scoped_guard(spinlock_irqsave, &pool->lock)
		bad = pool_validate(pool, busy);
	gunyah_pool_pcp_on(pool);
	bitmap_free(busy);
	if (pool->ops->validate)
		bad += pool->ops->validate(pool);
	return bad ? -EUCLEAN : 0;
}

/**
 * gunyah_pool_busy_pages() - which pages of the region are held, and by whom
 * @pool:	the pool
 * @busy:	bitmap of one bit per page of the region, zeroed: set for each
 *		page a caller holds (from the blocks' marks)
 * @present:	bitmap of the same size: set for each page the pool holds
 *
 * Blocks in the per-CPU caches count as free. A snapshot under the pool's
 * lock, which it holds with interrupts off for one read of each held page's
 * mark.
 */
void gunyah_pool_busy_pages(struct gunyah_pool *pool, unsigned long *busy,
			    unsigned long *present)
{
	unsigned long flags;

	spin_lock_irqsave(&pool->lock, flags);
	bitmap_copy(present, pool->present, gunyah_pool_nr_pages(pool));
	pool_walk_out(pool, busy, NULL, NULL);
	spin_unlock_irqrestore(&pool->lock, flags);
}

/**
 * gunyah_pool_free_blocks() - count free naturally aligned blocks per order
 * @pool:	the pool
 * @nr:		array of @nr_orders counters, filled in
 * @nr_orders:	orders to count, from 0
 *
 * nr[o] is how many order-o blocks could be handed out one after another if
 * nothing else were allocated: each run of pages the pool holds and no
 * caller holds is cut into aligned blocks of that order. Blocks in the
 * per-CPU caches are free.
 *
 * Context: process context, may sleep.
 */
void gunyah_pool_free_blocks(struct gunyah_pool *pool, unsigned long *nr,
			     unsigned int nr_orders)
{
	unsigned long npages = gunyah_pool_nr_pages(pool), pfn0 = PHYS_PFN(pool->base);
	unsigned long start, end = 0, *free, *busy;
	unsigned int o;

	memset(nr, 0, nr_orders * sizeof(*nr));
	free = bitmap_zalloc(npages, GFP_KERNEL);
	busy = bitmap_zalloc(npages, GFP_KERNEL);
	if (free && busy) {
		gunyah_pool_busy_pages(pool, busy, free);
		bitmap_andnot(free, free, busy, npages);
		while ((start = find_next_bit(free, npages, end)) < npages) {
			end = find_next_zero_bit(free, npages, start);
			for (o = 0; o < nr_orders; o++) {
				unsigned long first = ALIGN(pfn0 + start, 1UL << o);
				unsigned long last = ALIGN_DOWN(pfn0 + end, 1UL << o);

				if (last > first)
					nr[o] += (last - first) >> o;
			}
		}
	}
	bitmap_free(busy);
	bitmap_free(free);
}

/**
 * gunyah_pool_metadata_bytes() - memory a pool uses for its books
 * @pool:	the pool
 *
 * Context: any context.
 * Return: bytes of the structure, genalloc's pool and bitmap, the @present
 * bitmap and every possible CPU's cache. The marks of handed-out blocks live
 * in struct pages the region has anyway.
 */
size_t gunyah_pool_metadata_bytes(const struct gunyah_pool *pool)
{
	return sizeof(*pool) + sizeof(struct gen_pool) +
	       sizeof(struct gen_pool_chunk) +
	       2 * BITS_TO_LONGS(gunyah_pool_nr_pages(pool)) * sizeof(long) +
	       num_possible_cpus() * sizeof(struct gunyah_pool_pcp);
}
