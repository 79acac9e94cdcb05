/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The reusable backing of the Gunyah donation pool, in cma_pool_reusable.c,
 * built with CONFIG_CMA. Callers test IS_ENABLED(CONFIG_CMA) or
 * gunyah_pool_is_reusable() first, so without it no call is left.
 */
#ifndef _GUNYAH_CMA_POOL_REUSABLE_H
#define _GUNYAH_CMA_POOL_REUSABLE_H

#include <linux/atomic.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>

#include "cma_pool.h"

struct cma;
struct reserved_mem;

/*
 * A reusable pool moves memory to and from CMA in chunks of one block of the
 * largest order (4 MiB with 4 KiB pages): a block never spans two chunks,
 * with 4 KiB pages a chunk is whole CMA pageblocks, and each costs one TLB
 * flush to unmap.
 */
#define GUNYAH_POOL_CHUNK_ORDER		GUNYAH_POOL_MAX_ORDER
#define GUNYAH_POOL_CHUNK_PAGES		BIT(GUNYAH_POOL_CHUNK_ORDER)
#define GUNYAH_POOL_CHUNK_BYTES		(PAGE_SIZE << GUNYAH_POOL_CHUNK_ORDER)

/**
 * struct gunyah_pool_reusable - a pool over a CMA area
 * @pool:		the pool
 * @cma:		the CMA area over the region
 * @resize_lock:	serialises growing, shrinking and hibernation; protects
 *			every field below it
 * @resize_work:	refills below the low watermark and drains above the
 *			high one, in the background
 * @held:		one bit per chunk taken from CMA and given to the pool
 * @grow_gen:		chunks grown since boot; read without the lock by callers
 *			about to wait for it, to see whether another grew meanwhile
 * @nr_quarantined:	chunks that could not be mapped again and so are kept
 *			out of both the pool and CMA
 * @frozen:		hibernation or restore is in progress: do not grow
 * @thaw_min_size:	min_size_bytes to set again when a restore is over;
 *			0 if it was 0
 * @tlb_flushes:	kernel TLB flushes done to take chunks out of the
 *			linear map
 * @alloc_grows:	times an allocation waited for cma_alloc()
 */
struct gunyah_pool_reusable {
	struct gunyah_pool pool;
	struct cma *cma;
	struct mutex resize_lock;	/* see @resize_lock above */
	struct work_struct resize_work;
	unsigned long *held;
	unsigned long grow_gen;
	unsigned long nr_quarantined;
	bool frozen;
	u64 thaw_min_size;
	atomic64_t tlb_flushes;
	atomic64_t alloc_grows;
};

extern const struct gunyah_pool_backing_ops gunyah_pool_reusable_ops;

static inline bool gunyah_pool_is_reusable(const struct gunyah_pool *pool)
{
	return IS_ENABLED(CONFIG_CMA) && pool->ops == &gunyah_pool_reusable_ops;
}

static inline struct gunyah_pool_reusable *
to_reusable(struct gunyah_pool *pool)
{
	return container_of(pool, struct gunyah_pool_reusable, pool);
}

int gunyah_pool_reusable_declare(struct reserved_mem *rmem, struct cma **cma);
struct gunyah_pool *gunyah_pool_reusable_create(const char *name,
						struct cma *cma);
struct gunyah_pool *gunyah_pool_reusable_new(const char *name, struct cma *cma);
void gunyah_pool_reusable_free(struct gunyah_pool *pool);
int gunyah_pool_reusable_grow(struct gunyah_pool_reusable *r);
int gunyah_pool_reusable_shrink(struct gunyah_pool_reusable *r);

#endif /* _GUNYAH_CMA_POOL_REUSABLE_H */
