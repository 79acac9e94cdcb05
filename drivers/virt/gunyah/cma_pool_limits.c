// SPDX-License-Identifier: GPL-2.0-only
/*
 * Gunyah donation pool: what bounds it
 *
 * Copyright (c) 2026 The gunyah-pool authors
 *
 * Built on the core allocator (cma_pool.c) and called by nothing in it:
 * reservations against the commit limit, the tunables an operator sets
 * through sysfs, and the decision whether hibernation or a restore may go
 * on. Each change is checked and applied under the pool's lock, in one
 * seqcount section, so gunyah_pool_usage() sees it whole.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cleanup.h>
#include <linux/overflow.h>
#include <linux/printk.h>
#include <linux/spinlock.h>

#include "cma_pool.h"
#include "cma_pool_trace.h"

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
		u64 limit = gunyah_pool_commit_limit(pool->max_size,
						     pool->overcommit_ratio);

		if (check_add_overflow(pool->committed, (u64)bytes, &committed) ||
		    committed > limit) {
			committed = pool->committed;
			break;
		}
		write_seqcount_begin(&pool->seq);
		pool->committed = committed;
		write_seqcount_end(&pool->seq);
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
 * Withdrawing more than is committed is refused (with a warning the first
 * time).
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
		write_seqcount_begin(&pool->seq);
		pool->committed = committed;
		write_seqcount_end(&pool->seq);
		ret = 0;
	}

	gunyah_pool_warn(pool, GUNYAH_POOL_MISUSE_UNRESERVE, ret,
			 "%s: refused to unreserve %zu bytes, only %llu reserved\n",
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
 * all hold; otherwise nothing changes. Sizes and watermarks are bounded by
 * the capacity, so no sum of them with a backing's granule can overflow.
 * A new max_size_bytes is checked with the caches off and empty, so the
 * pool never hands out more than it says; the backing is then told to
 * rebalance in the background.
 *
 * Context: process context, may sleep.
 * Return: 0; -EINVAL for a value that breaks an invariant (not page aligned,
 * above the capacity, min > max, low > high, ratio out of range, peak other
 * than 0); -EBUSY for a legal value the pool's state forbids now (max below
 * what is in use, or a commit limit below what is committed).
 */
int gunyah_pool_set_tunable(struct gunyah_pool *pool,
			    enum gunyah_pool_tunable which, u64 val)
{
	u64 min_size, max_size, low, high, free_before, free_after;
	bool crossed = false, quiesce;
	unsigned int ratio;
	int ret;

	might_sleep();

	switch (which) {
	case GUNYAH_POOL_OVERCOMMIT_RATIO:
		if (val > GUNYAH_POOL_MAX_OVERCOMMIT_RATIO)
			return -EINVAL;
		break;
	case GUNYAH_POOL_PEAK_USED:
		if (val)
			return -EINVAL;
		/*
		 * Reset to what is in use now; racing allocations raise it.
		 * Under the lock, so the validator never sees it in between.
		 */
		scoped_guard(spinlock_irqsave, &pool->lock) {
			atomic64_set(&pool->peak_used, atomic64_read(&pool->used));
			gunyah_pool_raise_peak(pool, atomic64_read(&pool->used));
		}
		return 0;
	default:
		if (!PAGE_ALIGNED(val) || val > pool->capacity)
			return -EINVAL;
	}

	/*
	 * max_size bounds what the pool hands out, cached blocks included: to
	 * check a new one, empty the caches and keep them off meanwhile.
	 */
	quiesce = which == GUNYAH_POOL_MAX_SIZE;
	if (quiesce)
		gunyah_pool_pcp_off(pool);
	scoped_guard(spinlock_irqsave, &pool->lock) {
		u64 used = atomic64_read(&pool->used);

		ret = 0;
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
		default:
			ret = -EINVAL;
		}

		if (ret || min_size > max_size || low > high) {
			ret = -EINVAL;
			break;
		}
		/* With the caches off and empty, taken is what callers hold. */
		if (max_size < pool->taken ||
		    gunyah_pool_commit_limit(max_size, ratio) < pool->committed) {
			ret = -EBUSY;
			break;
		}

		free_before = gunyah_pool_free_of(pool->size, pool->max_size, used);
		free_after = gunyah_pool_free_of(pool->size, max_size, used);
		crossed = free_before >= pool->low_wmark && free_after < low;
		write_seqcount_begin(&pool->seq);
		pool->min_size = min_size;
		WRITE_ONCE(pool->max_size, max_size);
		WRITE_ONCE(pool->low_wmark, low);
		WRITE_ONCE(pool->high_wmark, high);
		pool->overcommit_ratio = ratio;
		write_seqcount_end(&pool->seq);
	}
	if (quiesce)
		gunyah_pool_pcp_on(pool);
	if (ret)
		return ret;

	if (crossed)
		gunyah_pool_notify_low(pool);
	if (pool->ops->kick)
		pool->ops->kick(pool);
	return 0;
}

/**
 * gunyah_pool_settle() - bring a pool within its tunables now
 * @pool:	the pool
 *
 * A backing that grows and shrinks does so until the pool is within its
 * sizes and watermarks; for one that does not, nothing happens.
 *
 * Context: process context, may sleep.
 */
void gunyah_pool_settle(struct gunyah_pool *pool)
{
	might_sleep();
	if (pool->ops->settle)
		pool->ops->settle(pool);
}

/**
 * gunyah_pool_pm_prepare() - decide whether hibernation or a restore may go on
 * @pool:	the pool
 * @restore:	false before an image is made, true before one is restored
 *
 * Memory handed out has been donated to a hypervisor, whose state no image
 * holds: hibernating around it, or restoring an image over it, cannot be
 * right. The pool stops growing first, so nothing is taken from Linux after
 * the decision; a restore also gives back every free chunk, so the image
 * lands on memory that is mapped as the kernel that made it expects. Pages
 * the pool holds free are PageOffline or outside the linear map, and the
 * snapshot skips them. Refuses, saying why, if any memory is handed out.
 *
 * Context: process context, may sleep.
 * Return: 0, or -EBUSY if the pool has memory handed out; the pool is then
 * as it was.
 */
int gunyah_pool_pm_prepare(struct gunyah_pool *pool, bool restore)
{
	struct gunyah_pool_usage u;

	might_sleep();
	if (pool->ops->freeze)
		pool->ops->freeze(pool, restore);
	gunyah_pool_usage(pool, &u);
	if (!u.used)
		return 0;
	if (restore)
		pr_err("%s: restore refused, image kept: %llu bytes of the pool were handed out during boot (a hypervisor driver donated them); restore with that driver kept from donating, or boot with noresume to discard the image\n",
		       pool->name, u.used);
	else
		pr_err("%s: hibernation refused: %llu bytes of the pool are handed out (donated to a hypervisor); stop its users first\n",
		       pool->name, u.used);
	gunyah_pool_pm_finish(pool);
	return -EBUSY;
}

/**
 * gunyah_pool_pm_finish() - hibernation or a restore is over, or refused
 * @pool:	the pool
 *
 * Context: process context, may sleep.
 */
void gunyah_pool_pm_finish(struct gunyah_pool *pool)
{
	might_sleep();
	if (pool->ops->thaw)
		pool->ops->thaw(pool);
}
