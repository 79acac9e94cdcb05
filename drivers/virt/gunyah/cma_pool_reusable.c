// SPDX-License-Identifier: GPL-2.0-only
/*
 * Gunyah donation pool: reusable mode
 *
 * Copyright (c) 2026 The gunyah-pool authors
 */

/**
 * DOC: Reusable mode
 *
 * A pool over a region marked ``reusable`` leaves the region to Linux, as a
 * CMA area for movable pages, until it needs the memory. It moves memory in
 * chunks of 4 MiB (one block of the largest order): cma_alloc() a chunk,
 * take every page out of the linear map, flush the kernel TLB once for the
 * chunk, and only then let the allocator hand it out; a chunk goes back to
 * the linear map and then to CMA only when nothing in it is handed out.
 * Chunks the pool does not hold are marked in use in genalloc, so nothing is
 * handed out from them.
 *
 * GFP_KERNEL allocations grow the pool when it is short; a worker refills it
 * below the low watermark up to the high one and drains it above the high
 * watermark plus a chunk, so it does not thrash. A mutex serialises growing
 * and shrinking, which sleep; the pool's spinlock is never held across them.
 *
 * While a reusable pool holds any chunk, hibernation is refused: it would
 * copy every page it believes is RAM through the linear map.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/cleanup.h>
#include <linux/cma.h>
#include <linux/genalloc.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/notifier.h>
#include <linux/of_reserved_mem.h>
#include <linux/set_memory.h>
#include <linux/suspend.h>
#include <linux/workqueue.h>

#include <asm/tlbflush.h>

#include "cma_pool.h"
#include "cma_pool_trace.h"

static inline unsigned long pool_chunks(const struct gunyah_pool *pool)
{
	return pool->capacity / GUNYAH_POOL_CHUNK_BYTES;
}

static inline unsigned long pool_chunk_of(const struct gunyah_pool *pool,
					  phys_addr_t phys)
{
	return (phys - pool->base) / GUNYAH_POOL_CHUNK_BYTES;
}

/*
 * Take pages [@from, @to) of a chunk out of the linear map, then flush the
 * kernel TLB once for the whole chunk. set_direct_map_*() succeed without
 * doing anything when the linear map is not page granular, so check the
 * effect too.
 */
static int pool_unmap_pages(struct gunyah_pool *pool, struct page *page,
			    unsigned long from, unsigned long to)
{
	unsigned long addr = (unsigned long)page_address(page);
	unsigned long i;
	int ret = 0;

	for (i = from; i < to && !ret; i++)
		ret = set_direct_map_invalid_noflush(page + i);
	flush_tlb_kernel_range(addr, addr + GUNYAH_POOL_CHUNK_BYTES);
	atomic64_inc(&pool->reusable.tlb_flushes);
	if (!ret && to > from && (kernel_page_present(page + from) ||
				  kernel_page_present(page + to - 1)))
		ret = -EPERM;
	return ret;
}

/*
 * Put every page of a chunk back in the linear map; invalid to valid needs no
 * TLB flush, as invalid entries are never cached. On failure, take the pages
 * already mapped out again, so the chunk is either wholly mapped or wholly
 * not; if even that fails, return -EIO: the chunk is in neither state.
 */
static int pool_map_chunk(struct gunyah_pool *pool, struct page *page)
{
	unsigned long i;
	int ret = 0;

	if (gunyah_pool_should_fail(GUNYAH_POOL_FAULT_REMAP))
		return -ENOMEM;
	for (i = 0; i < GUNYAH_POOL_CHUNK_PAGES && !ret; i++)
		ret = set_direct_map_default_noflush(page + i);
	if (ret && pool_unmap_pages(pool, page, 0, i))
		return -EIO;
	return ret;
}

/* A chunk in neither state must never reach the page allocator nor a caller. */
static void pool_quarantine(struct gunyah_pool *pool, struct page *page)
{
	phys_addr_t phys = page_to_phys(page);

	pool->reusable.nr_quarantined++;
	pr_err("%s: chunk at %pa is half mapped; keeping it out of CMA and the pool\n",
	       pool->name, &phys);
}

/* Hand an unmapped chunk to the allocator. */
static u64 pool_add_chunk(struct gunyah_pool *pool, phys_addr_t phys)
{
	guard(spinlock_irqsave)(&pool->lock);
	gen_pool_free(pool->gp, phys, GUNYAH_POOL_CHUNK_BYTES);
	__set_bit(pool_chunk_of(pool, phys), pool->reusable.held);
	pool->size += GUNYAH_POOL_CHUNK_BYTES;
	gunyah_pool_pcp_update(pool);
	return pool->size;
}

/**
 * gunyah_pool_grow() - move one chunk from CMA into a reusable pool
 * @pool:	a reusable pool
 *
 * Context: process context, may sleep; holds @pool->reusable.resize_lock.
 * Return: 0; -ENOSPC if a chunk more would pass max_size_bytes; -EBUSY while
 * hibernation is in progress; -ENOMEM if CMA has no free chunk; -EPERM if the
 * chunk could not be taken out of the linear map.
 */
int gunyah_pool_grow(struct gunyah_pool *pool)
{
	struct page *page;
	phys_addr_t phys;
	u64 size = 0;
	int ret = 0;

	lockdep_assert_held(&pool->reusable.resize_lock);
	might_sleep();

	scoped_guard(spinlock_irqsave, &pool->lock) {
		if (pool->reusable.frozen)
			ret = -EBUSY;
		else if (pool->size + GUNYAH_POOL_CHUNK_BYTES > pool->max_size)
			ret = -ENOSPC;
	}
	if (ret)
		return ret;

	page = NULL;
	if (!gunyah_pool_should_fail(GUNYAH_POOL_FAULT_CMA))
		page = cma_alloc(pool->reusable.cma, GUNYAH_POOL_CHUNK_PAGES,
				 GUNYAH_POOL_CHUNK_ORDER, true);
	if (!page) {
		ret = -ENOMEM;
		goto out_fail;
	}
	phys = page_to_phys(page);
	ret = pool_unmap_pages(pool, page, 0, GUNYAH_POOL_CHUNK_PAGES);
	if (!ret && gunyah_pool_should_fail(GUNYAH_POOL_FAULT_UNMAP))
		ret = -ENOMEM;
	if (ret)
		goto err_map;

	size = pool_add_chunk(pool, phys);
	gunyah_pool_count(pool, GUNYAH_POOL_STAT_GROW);
	trace_gunyah_pool_grow(phys, size, 0);
	return 0;

err_map:
	if (pool_map_chunk(pool, page))
		pool_quarantine(pool, page);
	else
		cma_release(pool->reusable.cma, page, GUNYAH_POOL_CHUNK_PAGES);
out_fail:
	gunyah_pool_count(pool, GUNYAH_POOL_STAT_GROW_FAIL);
	trace_gunyah_pool_grow(0, READ_ONCE(pool->size), ret);
	return ret;
}

/**
 * gunyah_pool_shrink() - give one entirely free chunk back to CMA
 * @pool:	a reusable pool
 *
 * The chunk leaves the allocator first, then returns to the linear map, and
 * only then to CMA. The highest free chunk goes first. If the chunk cannot be
 * mapped again it is still wholly unmapped, so it goes back into the pool and
 * the pool is as it was; only a chunk left half mapped is quarantined.
 *
 * Context: process context, may sleep; holds @pool->reusable.resize_lock.
 * Return: 0; -EBUSY if no chunk is entirely free or the pool is at
 * min_size_bytes; another errno if the chunk could not be mapped again.
 */
int gunyah_pool_shrink(struct gunyah_pool *pool)
{
	struct genpool_data_fixed at;
	unsigned long c, addr = 0;
	struct page *page;
	u64 size = 0;
	int ret;

	lockdep_assert_held(&pool->reusable.resize_lock);
	might_sleep();

	scoped_guard(spinlock_irqsave, &pool->lock) {
		/* Cached blocks would keep their chunks busy. */
		gunyah_pool_quiesce(pool);
		if (pool->size < pool->min_size + GUNYAH_POOL_CHUNK_BYTES &&
		    pool->size <= pool->max_size)
			break;
		for (c = pool_chunks(pool); c-- > 0 && !addr;) {
			if (!test_bit(c, pool->reusable.held))
				continue;
			at.offset = c * GUNYAH_POOL_CHUNK_BYTES;
			addr = gen_pool_alloc_algo(pool->gp,
						   GUNYAH_POOL_CHUNK_BYTES,
						   gen_pool_fixed_alloc, &at);
		}
		if (!addr)
			break;
		__clear_bit(pool_chunk_of(pool, addr), pool->reusable.held);
		pool->size -= GUNYAH_POOL_CHUNK_BYTES;
		size = pool->size;
	}
	scoped_guard(spinlock_irqsave, &pool->lock)
		gunyah_pool_pcp_update(pool);
	if (!addr)
		return -EBUSY;

	page = phys_to_page(addr);
	ret = pool_map_chunk(pool, page);
	if (ret == -EIO)
		pool_quarantine(pool, page);
	else if (ret)
		size = pool_add_chunk(pool, addr);
	else
		cma_release(pool->reusable.cma, page, GUNYAH_POOL_CHUNK_PAGES);
	if (!ret)
		gunyah_pool_count(pool, GUNYAH_POOL_STAT_SHRINK);
	trace_gunyah_pool_shrink(addr, size, ret);
	return ret;
}

/**
 * gunyah_pool_resize() - bring a reusable pool within its limits
 * @pool:	a reusable pool
 *
 * Grows to min_size_bytes; when free memory is below the low watermark,
 * refills until it reaches the high watermark; then gives back chunks while
 * the pool is above max_size_bytes, or while free memory stays at or above
 * the high watermark with a chunk fewer. The chunk of difference between
 * where refilling stops and draining starts keeps the pool from thrashing.
 *
 * Context: process context, may sleep.
 */
void gunyah_pool_resize(struct gunyah_pool *pool)
{
	struct gunyah_pool_usage u;
	bool refill;

	might_sleep();
	guard(mutex)(&pool->reusable.resize_lock);

	gunyah_pool_usage(pool, &u);
	while (u.size < u.min_size && !gunyah_pool_grow(pool))
		gunyah_pool_usage(pool, &u);
	refill = u.free < u.low_wmark;
	while (refill && u.free < u.high_wmark && !gunyah_pool_grow(pool))
		gunyah_pool_usage(pool, &u);
	for (;;) {
		gunyah_pool_usage(pool, &u);
		if (u.size <= u.max_size &&
		    (u.size < u.min_size + GUNYAH_POOL_CHUNK_BYTES ||
		     u.free < u.high_wmark + GUNYAH_POOL_CHUNK_BYTES))
			break;
		if (gunyah_pool_shrink(pool))
			break;
	}
}

static void pool_resize_workfn(struct work_struct *work)
{
	gunyah_pool_resize(container_of(work, struct gunyah_pool,
					reusable.resize_work));
}

/**
 * gunyah_pool_kick() - bring a reusable pool within its limits, in the background
 * @pool:	a reusable pool
 *
 * Context: any context.
 */
void gunyah_pool_kick(struct gunyah_pool *pool)
{
	queue_work(system_freezable_wq, &pool->reusable.resize_work);
}

/**
 * gunyah_pool_check_drain() - start draining a reusable pool that has too much
 * @pool:	a reusable pool
 *
 * With the caches on, free memory is below the draining point by design;
 * with them off it is exact, and the pool drains above the high watermark
 * plus a chunk.
 *
 * Context: holds the pool's lock.
 */
void gunyah_pool_check_drain(struct gunyah_pool *pool)
{
	lockdep_assert_held(&pool->lock);

	if (!pool->pcp_ok &&
	    pool->size - pool->used >= pool->high_wmark + GUNYAH_POOL_CHUNK_BYTES)
		gunyah_pool_kick(pool);
}

/**
 * gunyah_pool_grow_for() - grow a reusable pool that is short of memory
 * @pool:	a reusable pool
 * @gfp:	the flags of the allocation that found it short
 *
 * Only a caller that may sleep grows the pool itself; for any other, the
 * pool grows in the background and the allocation fails.
 *
 * Context: any context if @gfp does not allow blocking, else may sleep.
 * Return: true if the pool grew by a chunk, so the allocation may try again.
 */
bool gunyah_pool_grow_for(struct gunyah_pool *pool, gfp_t gfp)
{
	if (!gfpflags_allow_blocking(gfp)) {
		gunyah_pool_kick(pool);
		return false;
	}
	guard(mutex)(&pool->reusable.resize_lock);
	return !gunyah_pool_grow(pool);
}

/**
 * gunyah_pool_validate_chunks() - cross-check a reusable pool's chunks
 * @pool:	a reusable pool, its caches drained
 * @absent:	set to the number of pages in chunks the pool does not hold
 *
 * Checks that no chunk the pool does not hold is open to allocation, and
 * that the pool's size is the chunks it holds. Each mismatch is logged.
 *
 * Context: holds the pool's lock.
 * Return: the number of failed checks.
 */
int gunyah_pool_validate_chunks(struct gunyah_pool *pool,
				unsigned long *absent)
{
	unsigned long *held = pool->reusable.held, c, nr_held;
	int bad = 0;

	lockdep_assert_held(&pool->lock);

	*absent = 0;
	for_each_clear_bit(c, held, pool_chunks(pool)) {
		unsigned long first = c * GUNYAH_POOL_CHUNK_PAGES;
		unsigned long end = first + GUNYAH_POOL_CHUNK_PAGES;

		*absent += GUNYAH_POOL_CHUNK_PAGES;
		/* A chunk is one block of the largest order. */
		if (find_next_zero_bit(pool->chunk->bits, end, first) < end ||
		    gunyah_pool_block_out(pool, first, GUNYAH_POOL_CHUNK_ORDER)) {
			pr_err("%s: validate: chunk %lu not held but open to allocation\n",
			       pool->name, c);
			bad++;
		}
	}
	nr_held = bitmap_weight(held, pool_chunks(pool));
	if (pool->size != (u64)nr_held * GUNYAH_POOL_CHUNK_BYTES) {
		pr_err("%s: validate: size %llu but %lu chunks held\n",
		       pool->name, pool->size, nr_held);
		bad++;
	}
	return bad;
}

/**
 * gunyah_pool_reusable_init() - make a new pool a reusable one
 * @pool:	a pool just set up by gunyah_pool_init(), nothing handed out
 * @cma:	the CMA area over its region
 *
 * The pool gives up its region, which it then takes from @cma chunk by
 * chunk as it needs it.
 *
 * Context: process context, may sleep.
 * Return: 0; -EINVAL if the region is not whole chunks or the linear map is
 * not page granular; -ENOMEM.
 */
int gunyah_pool_reusable_init(struct gunyah_pool *pool, struct cma *cma)
{
	struct genpool_data_fixed whole = { .offset = 0 };
	struct gunyah_pool_reusable *r = &pool->reusable;

	might_sleep();

	/* Without a page-granular linear map no page can be unmapped. */
	if (!can_set_direct_map()) {
		pr_err("%s: refused: reusable mode needs a page-granular linear map (rodata=full)\n",
		       pool->name);
		return -EINVAL;
	}
	if (!IS_ALIGNED(pool->base | pool->capacity, GUNYAH_POOL_CHUNK_BYTES))
		return -EINVAL;

	r->held = bitmap_zalloc(pool_chunks(pool), GFP_KERNEL);
	if (!r->held)
		return -ENOMEM;
	/* Nothing is held yet: mark the whole region in use. */
	if (gen_pool_alloc_algo(pool->gp, pool->capacity, gen_pool_fixed_alloc,
				&whole) != pool->base) {
		bitmap_free(r->held);
		r->held = NULL;
		return -ENOMEM;
	}

	r->cma = cma;
	mutex_init(&r->resize_lock);
	INIT_WORK(&r->resize_work, pool_resize_workfn);
	scoped_guard(spinlock_irqsave, &pool->lock) {
		pool->mode = GUNYAH_POOL_REUSABLE;
		pool->size = 0;
		gunyah_pool_pcp_update(pool);
	}
	return 0;
}

/* ---- The system's pool ---- */

/*
 * Runs while the device tree is scanned: declare the region a CMA area, so
 * Linux uses it for movable pages until the pool takes it.
 */
int __init gunyah_pool_reusable_declare(struct reserved_mem *rmem,
					struct cma **cma)
{
	phys_addr_t align = max_t(phys_addr_t, CMA_MIN_ALIGNMENT_BYTES,
				  GUNYAH_POOL_CHUNK_BYTES);
	int ret;

	if (!IS_ALIGNED(rmem->base | rmem->size, align)) {
		pr_err("%s: refused: reusable: base %pa and size %pa must be aligned to %pa\n",
		       rmem->name, &rmem->base, &rmem->size, &align);
		return -EINVAL;
	}
	ret = cma_init_reserved_mem(rmem->base, rmem->size, 0, rmem->name, cma);
	if (ret)
		pr_err("%s: refused: reusable: cannot declare the CMA area (%d)\n",
		       rmem->name, ret);
	return ret;
}

/*
 * Hibernation copies every page it takes for RAM through the linear map, and
 * chunks taken from CMA are still RAM to it (no-map memory is not): refuse
 * while a reusable pool holds any, and keep it from growing until resume.
 */
static int gunyah_pool_pm_notify(struct notifier_block *nb,
				 unsigned long action, void *data)
{
	struct gunyah_pool *pool = container_of(nb, struct gunyah_pool,
						reusable.pm_nb);
	u64 size = 0;

	if (action != PM_HIBERNATION_PREPARE && action != PM_POST_HIBERNATION)
		return NOTIFY_DONE;

	guard(mutex)(&pool->reusable.resize_lock);
	scoped_guard(spinlock_irqsave, &pool->lock) {
		size = pool->size;
		pool->reusable.frozen = action == PM_HIBERNATION_PREPARE && !size;
	}
	if (action == PM_HIBERNATION_PREPARE && size) {
		pr_info("%s: hibernation refused: %llu bytes of CMA are in the pool\n",
			pool->name, size);
		return notifier_from_errno(-EBUSY);
	}
	return NOTIFY_OK;
}

/* Make the system's new pool reusable, and bring it within its limits. */
int __init gunyah_pool_reusable_setup(struct gunyah_pool *pool,
				      struct cma *cma)
{
	int ret = gunyah_pool_reusable_init(pool, cma);

	if (ret)
		return ret;
	pool->reusable.pm_nb.notifier_call = gunyah_pool_pm_notify;
	register_pm_notifier(&pool->reusable.pm_nb);
	gunyah_pool_resize(pool);
	return 0;
}
