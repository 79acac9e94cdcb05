// SPDX-License-Identifier: GPL-2.0-only
/*
 * Gunyah donation pool: the reusable backing
 *
 * Copyright (c) 2026 The gunyah-pool authors
 */

/**
 * DOC: Reusable mode
 *
 * A pool over a region marked ``reusable`` leaves the region to Linux, as a
 * CMA area for movable pages, until it needs the memory. This backing moves
 * memory in chunks of 4 MiB (one block of the largest order): cma_alloc() a
 * chunk, mark its pages PageOffline so the rest of mm (hibernation's
 * snapshot, /proc/kcore, dump tools) leaves them alone, take the chunk out of
 * the linear map with one set_memory_valid() call and one kernel TLB flush,
 * and only then give it to the pool with gunyah_pool_add_range(). A chunk
 * goes back when the pool returns it wholly free from
 * gunyah_pool_take_range(): mapped again, PageOffline cleared, then
 * cma_release(). A chunk that cannot be mapped again wholly is kept out of
 * both CMA and the pool.
 *
 * The pool asks this backing to grow when a GFP_KERNEL allocation finds it
 * short (an allocation that may not sleep only kicks the worker, and one that
 * may not recurse into I/O or filesystems never waits for a grower), and kicks
 * it when free memory falls below the low watermark or rises a chunk above
 * the high one. The worker then refills up to the high watermark, or gives
 * back chunks while a chunk fewer still leaves the high watermark free; the
 * chunk between the two keeps it from thrashing. A mutex serialises growing
 * and shrinking, which sleep; the pool's locks are never held across them.
 *
 * Hibernation and restore freeze the pool: it grows no more until they are
 * over, and before a restore every free chunk goes back to CMA. Whether they
 * may go on at all is the core's decision (gunyah_pool_pm_prepare()): only
 * memory handed out stops them.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/cleanup.h>
#include <linux/cma.h>
#include <linux/err.h>
#include <linux/init.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/of_reserved_mem.h>
#include <linux/page-flags.h>
#include <linux/sched/mm.h>
#include <linux/set_memory.h>
#include <linux/slab.h>

#include "cma_pool_reusable.h"
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
 * Whether the pages of [@base, @base + @size) can leave the linear map one
 * by one: everywhere with a page-granular linear map (rodata=full), or in a
 * region the architecture mapped with pages on the request
 * gunyah_pool_rmem_early() made (MEMBLOCK_MAP_PAGES).
 */
static bool pool_linear_map_pages(phys_addr_t base, size_t size)
{
	if (can_set_direct_map())
		return true;
#ifdef arm64_linear_map_pages
	return arm64_linear_map_pages(base, size);
#else
	return false;
#endif
}

/*
 * Tell the rest of mm that a chunk's pages are, or are no longer, gone. An
 * offline page's private is the pool's: clear of marks, as it expects.
 */
static void pool_chunk_offline(struct page *page, bool offline)
{
	unsigned long i;

	page_offline_begin();
	for (i = 0; i < GUNYAH_POOL_CHUNK_PAGES; i++) {
		if (offline) {
			__folio_set_offline(page_folio(page + i));
			set_page_private(page + i, 0);
		} else {
			__folio_clear_offline(page_folio(page + i));
		}
	}
	page_offline_end();
}

/*
 * Take a chunk out of the linear map: one range call, one TLB flush. Check
 * the effect too: the pool must never believe a page unmapped that is not.
 */
static int pool_unmap_chunk(struct gunyah_pool_reusable *r, struct page *page)
{
	int ret;

	ret = set_memory_valid((unsigned long)page_address(page),
			       GUNYAH_POOL_CHUNK_PAGES, 0);
	atomic64_inc(&r->tlb_flushes);
	if (!ret && (kernel_page_present(page) ||
		     kernel_page_present(page + GUNYAH_POOL_CHUNK_PAGES - 1)))
		ret = -EPERM;
	return ret;
}

/*
 * Put a chunk back in the linear map. On failure, take it out again whole,
 * so it is either wholly mapped or wholly not; if even that fails, return
 * -EIO: the chunk is in neither state.
 */
static int pool_map_chunk(struct gunyah_pool_reusable *r, struct page *page)
{
	int ret = -ENOMEM;

	if (!gunyah_pool_should_fail(GUNYAH_POOL_FAULT_REMAP))
		ret = set_memory_valid((unsigned long)page_address(page),
				       GUNYAH_POOL_CHUNK_PAGES, 1);
	if (ret && pool_unmap_chunk(r, page))
		return -EIO;
	return ret;
}

/* A chunk in neither state must never reach the page allocator nor a caller. */
static void pool_quarantine(struct gunyah_pool_reusable *r, struct page *page)
{
	phys_addr_t phys = page_to_phys(page);

	WRITE_ONCE(r->nr_quarantined, r->nr_quarantined + 1);
	pr_err("%s: chunk at %pa cannot be mapped again; keeping it out of CMA and the pool\n",
	       r->pool.name, &phys);
}

/**
 * gunyah_pool_reusable_grow() - move one chunk from CMA into the pool
 * @r:		a reusable pool
 *
 * Context: process context, may sleep; holds @r->resize_lock.
 * Return: 0; -ENOSPC if a chunk more would pass max_size_bytes; -EBUSY while
 * hibernation or restore is in progress; -ENOMEM if CMA has no free chunk;
 * -EPERM if the chunk could not be taken out of the linear map; another
 * errno, with a warning, if the pool refused the chunk, which then stays out
 * of the linear map and of CMA.
 */
int gunyah_pool_reusable_grow(struct gunyah_pool_reusable *r)
{
	struct gunyah_pool *pool = &r->pool;
	struct gunyah_pool_usage u;
	struct page *page = NULL;
	phys_addr_t phys;
	int ret;

	lockdep_assert_held(&r->resize_lock);
	might_sleep();

	if (r->frozen)
		return -EBUSY;
	gunyah_pool_usage(pool, &u);
	if (u.held + GUNYAH_POOL_CHUNK_BYTES > u.max_size)
		return -ENOSPC;

	if (!gunyah_pool_should_fail(GUNYAH_POOL_FAULT_CMA))
		page = cma_alloc(r->cma, GUNYAH_POOL_CHUNK_PAGES,
				 GUNYAH_POOL_CHUNK_ORDER, true);
	if (!page) {
		ret = -ENOMEM;
		goto out_fail;
	}
	phys = page_to_phys(page);
	pool_chunk_offline(page, true);
	ret = pool_unmap_chunk(r, page);
	if (!ret && gunyah_pool_should_fail(GUNYAH_POOL_FAULT_UNMAP))
		ret = -ENOMEM;
	if (ret) {
		/* Not unmapped, or not wholly: put it back as it was. */
		switch (pool_map_chunk(r, page)) {
		case 0:
			pool_chunk_offline(page, false);
			cma_release(r->cma, page, GUNYAH_POOL_CHUNK_PAGES);
			goto out_fail;
		case -EIO:
			pool_quarantine(r, page);
			goto out_fail;
		}
		/*
		 * Not mapped again, but wholly out of the linear map: just
		 * what the pool wants of a chunk. It is grown after all.
		 */
	}
	/*
	 * Cannot fail: the chunk is in the region and not held. Should it
	 * fail, its pages may be the pool's already, perhaps handed out:
	 * never map them again.
	 */
	ret = gunyah_pool_add_range(pool, phys, GUNYAH_POOL_CHUNK_BYTES);
	if (WARN_ON(ret)) {
		pool_quarantine(r, page);
		goto out_fail;
	}
	__set_bit(pool_chunk_of(pool, phys), r->held);
	WRITE_ONCE(r->grow_gen, r->grow_gen + 1);
	gunyah_pool_count(pool, GUNYAH_POOL_STAT_GROW);
	trace_gunyah_pool_grow(phys, u.held + GUNYAH_POOL_CHUNK_BYTES, 0);
	return 0;

out_fail:
	gunyah_pool_count(pool, GUNYAH_POOL_STAT_GROW_FAIL);
	trace_gunyah_pool_grow(0, u.held, ret);
	return ret;
}

/**
 * gunyah_pool_reusable_shrink() - give one wholly free chunk back to CMA
 * @r:		a reusable pool
 *
 * The chunk leaves the pool first, then returns to the linear map, and only
 * then to CMA. If it cannot be mapped again it is still wholly unmapped, so
 * it goes back into the pool and the pool is as it was; only a chunk left
 * half mapped is quarantined.
 *
 * Context: process context, may sleep; holds @r->resize_lock.
 * Return: 0; -EBUSY if no chunk is wholly free or the pool is at
 * min_size_bytes; another errno if the chunk could not be mapped again.
 */
int gunyah_pool_reusable_shrink(struct gunyah_pool_reusable *r)
{
	struct gunyah_pool *pool = &r->pool;
	struct gunyah_pool_usage u;
	struct page *page;
	phys_addr_t phys;
	int ret;

	lockdep_assert_held(&r->resize_lock);
	might_sleep();

	/* Cached blocks would keep their chunks busy. */
	gunyah_pool_drain(pool);
	ret = gunyah_pool_take_range(pool, GUNYAH_POOL_CHUNK_BYTES, &phys);
	if (ret)
		return ret;

	page = phys_to_page(phys);
	ret = pool_map_chunk(r, page);
	if (ret == -EIO) {
		__clear_bit(pool_chunk_of(pool, phys), r->held);
		pool_quarantine(r, page);
	} else if (ret) {
		/* Wholly unmapped still: the pool may have it back. */
		WARN_ON(gunyah_pool_add_range(pool, phys, GUNYAH_POOL_CHUNK_BYTES));
	} else {
		__clear_bit(pool_chunk_of(pool, phys), r->held);
		pool_chunk_offline(page, false);
		cma_release(r->cma, page, GUNYAH_POOL_CHUNK_PAGES);
		gunyah_pool_count(pool, GUNYAH_POOL_STAT_SHRINK);
	}
	gunyah_pool_usage(pool, &u);
	trace_gunyah_pool_shrink(phys, u.held, ret);
	return ret;
}

/*
 * Bring a reusable pool within its limits: grow to min_size_bytes; when free
 * memory is below the low watermark, refill until it reaches the high one;
 * then give back chunks while the pool is above max_size_bytes, or while
 * free memory stays at or above the high watermark with a chunk fewer.
 */
static void pool_resize(struct gunyah_pool *pool)
{
	struct gunyah_pool_reusable *r = to_reusable(pool);
	struct gunyah_pool_usage u;
	u64 drain;
	bool refill;

	might_sleep();
	guard(mutex)(&r->resize_lock);

	gunyah_pool_usage(pool, &u);
	while (u.held < u.min_size && !gunyah_pool_reusable_grow(r))
		gunyah_pool_usage(pool, &u);
	refill = u.free < u.low_wmark;
	while (refill && u.free < u.high_wmark && !gunyah_pool_reusable_grow(r))
		gunyah_pool_usage(pool, &u);
	for (;;) {
		gunyah_pool_usage(pool, &u);
		/* Tunables are at most the capacity, far from overflowing. */
		if (check_add_overflow(u.high_wmark, (u64)GUNYAH_POOL_CHUNK_BYTES,
				       &drain))
			break;
		if (u.held <= u.max_size && u.free < drain)
			break;
		if (gunyah_pool_reusable_shrink(r))
			break;
	}
}

static void pool_resize_workfn(struct work_struct *work)
{
	pool_resize(&container_of(work, struct gunyah_pool_reusable,
				  resize_work)->pool);
}

static void pool_kick(struct gunyah_pool *pool)
{
	queue_work(system_freezable_wq, &to_reusable(pool)->resize_work);
}

/*
 * An allocation found the pool short. Only a caller that may sleep grows it,
 * within the reclaim its @gfp allows; any other kicks the worker, which grows
 * the pool if the watermarks say so, and fails.
 *
 * Callers that miss together grow the pool once, not once each (F5): a
 * caller that finds @grow_gen moved while it waited for the lock returns at
 * once to try the chunk another grew. The worker and settle hold the lock
 * across a cma_alloc() with full GFP_KERNEL reclaim, which may wait on I/O
 * and filesystem locks; a caller that may not recurse into either must not
 * wait for them (F6), so it only tries the lock and otherwise fails as a
 * caller that may not sleep does.
 */
static int pool_grow_for(struct gunyah_pool *pool, gfp_t gfp)
{
	struct gunyah_pool_reusable *r = to_reusable(pool);
	unsigned long gen = READ_ONCE(r->grow_gen);
	unsigned int scope;
	int ret;

	gfp = current_gfp_context(gfp);
	if (!gfpflags_allow_blocking(gfp)) {
		pool_kick(pool);
		return -EAGAIN;
	}
	if ((gfp & (__GFP_IO | __GFP_FS)) == (__GFP_IO | __GFP_FS)) {
		mutex_lock(&r->resize_lock);
	} else if (!mutex_trylock(&r->resize_lock)) {
		pool_kick(pool);
		return -EAGAIN;
	}
	if (READ_ONCE(r->grow_gen) != gen) {
		mutex_unlock(&r->resize_lock);
		return 0;
	}
	scope = gunyah_pool_reclaim_save(gfp);
	ret = gunyah_pool_reusable_grow(r);
	memalloc_flags_restore(scope);
	mutex_unlock(&r->resize_lock);
	/* It waited for cma_alloc() unless the pool could not grow at all. */
	if (ret != -ENOSPC && ret != -EBUSY)
		atomic64_inc(&r->alloc_grows);
	return ret;
}

/*
 * The chunks held are the pool's size, each wholly out of the linear map
 * and marked PageOffline.
 */
static int pool_validate_chunks(struct gunyah_pool *pool)
{
	struct gunyah_pool_reusable *r = to_reusable(pool);
	struct gunyah_pool_usage u;
	unsigned long c, nr_held;
	struct page *page;
	int bad = 0;

	guard(mutex)(&r->resize_lock);
	gunyah_pool_usage(pool, &u);
	nr_held = bitmap_weight(r->held, pool_chunks(pool));
	if (u.held != (u64)nr_held * GUNYAH_POOL_CHUNK_BYTES) {
		pr_err("%s: validate: pool holds %llu bytes but %lu chunks are held\n",
		       pool->name, u.held, nr_held);
		bad++;
	}
	for_each_set_bit(c, r->held, pool_chunks(pool)) {
		page = phys_to_page(pool->base + c * GUNYAH_POOL_CHUNK_BYTES);
		if (kernel_page_present(page) ||
		    kernel_page_present(page + GUNYAH_POOL_CHUNK_PAGES - 1) ||
		    !folio_test_offline(page_folio(page)) ||
		    !folio_test_offline(page_folio(page + GUNYAH_POOL_CHUNK_PAGES - 1))) {
			pr_err("%s: validate: held chunk %lu is mapped or not offline\n",
			       pool->name, c);
			bad++;
		}
	}
	return bad;
}

/*
 * Hibernation or a restore is about to start: grow no more. A restore also
 * gives every free chunk back to CMA, below min_size_bytes too, so that the
 * image is written over memory mapped as the kernel that made it expects,
 * whatever the restore's page tables do with pages the pool unmapped.
 */
static void pool_freeze(struct gunyah_pool *pool, bool restore)
{
	struct gunyah_pool_reusable *r = to_reusable(pool);
	struct gunyah_pool_usage u;
	u64 held;

	scoped_guard(mutex, &r->resize_lock)
		r->frozen = true;
	if (!restore)
		return;
	gunyah_pool_usage(pool, &u);
	held = u.held;
	/* min_size_bytes would keep chunks: lift it until the restore is over. */
	if (u.min_size && gunyah_pool_set_tunable(pool, GUNYAH_POOL_MIN_SIZE, 0))
		u.min_size = 0;
	scoped_guard(mutex, &r->resize_lock) {
		r->thaw_min_size = u.min_size;
		while (!gunyah_pool_reusable_shrink(r))
			;
	}
	gunyah_pool_usage(pool, &u);
	pr_info("%s: restore: %llu bytes given back to CMA, %llu still held\n",
		pool->name, held - u.held, u.held);
}

/* Over or refused: grow again, to min_size_bytes as it was before. */
static void pool_thaw(struct gunyah_pool *pool)
{
	struct gunyah_pool_reusable *r = to_reusable(pool);
	u64 min_size;

	scoped_guard(mutex, &r->resize_lock) {
		r->frozen = false;
		min_size = r->thaw_min_size;
		r->thaw_min_size = 0;
	}
	if (min_size && gunyah_pool_set_tunable(pool, GUNYAH_POOL_MIN_SIZE, min_size))
		pr_warn("%s: min_size_bytes %llu could not be set again\n",
			pool->name, min_size);
	pool_kick(pool);
}

const struct gunyah_pool_backing_ops gunyah_pool_reusable_ops = {
	.name		= "reusable",
	.granule	= GUNYAH_POOL_CHUNK_BYTES,
	.grow		= pool_grow_for,
	.kick		= pool_kick,
	.settle		= pool_resize,
	.validate	= pool_validate_chunks,
	.freeze		= pool_freeze,
	.thaw		= pool_thaw,
};

/**
 * gunyah_pool_reusable_new() - a reusable pool over a CMA area, holding nothing
 * @name:	name for messages; must outlive the pool
 * @cma:	the CMA area, whole chunks
 *
 * Context: process context, may sleep.
 * Return: the pool, or an ERR_PTR(): -EINVAL if the area is not whole
 * chunks or the linear map is not page granular; -ENOMEM.
 */
struct gunyah_pool *gunyah_pool_reusable_new(const char *name, struct cma *cma)
{
	phys_addr_t base = cma_get_base(cma);
	size_t size = cma_get_size(cma);
	struct gunyah_pool_reusable *r;
	int ret;

	might_sleep();

	/* A chunk can leave only a linear map that maps it with pages. */
	if (!pool_linear_map_pages(base, size)) {
#ifdef arm64_linear_map_pages
		pr_err("%s: refused: reusable mode needs the region mapped with pages: rodata=full, or the early request, which the architecture did not honour\n",
		       name);
#else
		pr_err("%s: refused: reusable mode needs a page-granular linear map (rodata=full)\n",
		       name);
#endif
		return ERR_PTR(-EINVAL);
	}
	if (!IS_ALIGNED(base | size, GUNYAH_POOL_CHUNK_BYTES))
		return ERR_PTR(-EINVAL);

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return ERR_PTR(-ENOMEM);
	r->held = bitmap_zalloc(size / GUNYAH_POOL_CHUNK_BYTES, GFP_KERNEL);
	if (!r->held) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = gunyah_pool_init(&r->pool, name, base, size,
			       &gunyah_pool_reusable_ops);
	if (ret)
		goto err_free;
	r->cma = cma;
	mutex_init(&r->resize_lock);
	INIT_WORK(&r->resize_work, pool_resize_workfn);
	return &r->pool;

err_free:
	bitmap_free(r->held);
	kfree(r);
	return ERR_PTR(ret);
}

/**
 * gunyah_pool_reusable_free() - give every chunk back and free the pool
 * @pool:	a pool from gunyah_pool_reusable_new(), nothing handed out
 *
 * Every page of the CMA area is as it was before, but for chunks that had
 * to be quarantined. Not for the system's pool.
 *
 * Context: process context, may sleep.
 */
void gunyah_pool_reusable_free(struct gunyah_pool *pool)
{
	struct gunyah_pool_reusable *r = to_reusable(pool);

	/* No worker from here on: it could grow the pool again. */
	disable_work_sync(&r->resize_work);
	gunyah_pool_set_tunable(pool, GUNYAH_POOL_MIN_SIZE, 0);
	scoped_guard(mutex, &r->resize_lock)
		while (!gunyah_pool_reusable_shrink(r))
			;
	if (WARN_ONCE(!bitmap_empty(r->held, pool_chunks(pool)),
		      "%s: chunks still held, leaking the pool\n", pool->name))
		return;
	gunyah_pool_destroy(pool);
	bitmap_free(r->held);
	kfree(r);
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
	phys_addr_t covered = rmem->base;
	struct memblock_region *r;
	int ret;

	if (!IS_ALIGNED(rmem->base | rmem->size, align)) {
		pr_err("%s: refused: reusable: base %pa and size %pa must be aligned to %pa\n",
		       rmem->name, &rmem->base, &rmem->size, &align);
		return -EINVAL;
	}
	/* CMA cannot take memory the kernel does not manage (mem=, say). */
	for_each_mem_region(r)
		if (r->base <= covered && covered < r->base + r->size)
			covered = r->base + r->size;
	if (covered < rmem->base + rmem->size) {
		pr_err("%s: refused: reusable: the region is not all in the kernel's memory (outside RAM, or cut off by mem=)\n",
		       rmem->name);
		return -EINVAL;
	}
	/*
	 * CMA would give the page allocator memory that is not in the linear
	 * map: no-map memory of any origin (a node of the device tree that
	 * overlaps is refused before, whatever the nodes' order).
	 */
	for_each_mem_region(r) {
		if (memblock_is_nomap(r) && r->base < rmem->base + rmem->size &&
		    rmem->base < r->base + r->size) {
			pr_err("%s: refused: reusable: the region overlaps no-map memory at %pa\n",
			       rmem->name, &r->base);
			return -EINVAL;
		}
	}
	ret = cma_init_reserved_mem(rmem->base, rmem->size, 0, rmem->name, cma);
	if (ret)
		pr_err("%s: refused: reusable: cannot declare the CMA area (%d)\n",
		       rmem->name, ret);
	return ret;
}

/**
 * gunyah_pool_reusable_create() - the system's reusable pool
 * @name:	name of the reserved-memory node
 * @cma:	the CMA area gunyah_pool_reusable_declare() made of it
 *
 * Context: process context, may sleep.
 * Return: the pool, brought within its limits, or an ERR_PTR().
 */
struct gunyah_pool *__init gunyah_pool_reusable_create(const char *name,
						       struct cma *cma)
{
	struct gunyah_pool *pool = gunyah_pool_reusable_new(name, cma);

	if (IS_ERR(pool))
		return pool;
	pool_resize(pool);
	return pool;
}
