/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internal interface of the Gunyah donation pool: the core allocator in
 * cma_pool.c, what bounds it (cma_pool_limits.c), the backings that give it
 * memory (no-map and reusable), the sysfs, validator and KUnit files, and
 * the test suite's debugfs code. Nothing here is exported.
 */
#ifndef _GUNYAH_CMA_POOL_H
#define _GUNYAH_CMA_POOL_H

#include <linux/atomic.h>
#include <linux/bits.h>
#include <linux/cache.h>
#include <linux/gfp_types.h>
#include <linux/gunyah_pool.h>
#include <linux/math64.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/seqlock.h>
#include <linux/spinlock.h>
#include <linux/types.h>

struct gen_pool;
struct gunyah_pool;
struct kernfs_node;

/* Event counters, shown in /sys/kernel/gunyah/pool/stats/. */
enum gunyah_pool_stat {
	GUNYAH_POOL_STAT_ALLOC_SUCCESS,
	GUNYAH_POOL_STAT_ALLOC_FAIL,
	GUNYAH_POOL_STAT_FREE,
	GUNYAH_POOL_STAT_INVALID_FREE,
	GUNYAH_POOL_STAT_RESERVE_FAIL,
	GUNYAH_POOL_STAT_GROW,
	GUNYAH_POOL_STAT_GROW_FAIL,
	GUNYAH_POOL_STAT_SHRINK,
	GUNYAH_POOL_STAT_LOW_WATERMARK,
	NR_GUNYAH_POOL_STATS
};

/* The values an operator tunes; see Documentation/ABI. */
enum gunyah_pool_tunable {
	GUNYAH_POOL_MIN_SIZE,
	GUNYAH_POOL_MAX_SIZE,
	GUNYAH_POOL_LOW_WATERMARK,
	GUNYAH_POOL_HIGH_WATERMARK,
	GUNYAH_POOL_OVERCOMMIT_RATIO,
	GUNYAH_POOL_PEAK_USED,
};

/* overcommit_ratio accepts 0 to this many percent. */
#define GUNYAH_POOL_MAX_OVERCOMMIT_RATIO	1000

/*
 * Each CPU caches free blocks of orders below GUNYAH_POOL_PCP_ORDERS, at most
 * max(GUNYAH_POOL_PCP_SLOTS >> order, 2) of each: 384 KiB with 4 KiB pages.
 */
#define GUNYAH_POOL_PCP_ORDERS		5
#define GUNYAH_POOL_PCP_SLOTS		16

/**
 * struct gunyah_pool_pcp - one CPU's cache of free blocks
 * @lock:	protects @count and @slot. Its CPU takes it with trylock only;
 *		a remote drain takes it with spin_lock() from a context that
 *		may sleep. The pool's lock nests inside it, never around it.
 * @count:	for each order, the number of blocks cached
 * @slot:	for each order, the cached blocks as page offsets, a stack
 * @nr_alloc:	blocks handed out from this cache, under @lock: its share of
 *		stats/alloc_success without an atomic on the fast path
 * @nr_free:	blocks taken back into this cache, under @lock: its share of
 *		stats/free
 * @stats:	this CPU's share of the event counters; this_cpu_inc() only
 */
struct gunyah_pool_pcp {
	spinlock_t lock;	/* see @lock above */
	unsigned int count[GUNYAH_POOL_PCP_ORDERS];
	u32 slot[GUNYAH_POOL_PCP_ORDERS][GUNYAH_POOL_PCP_SLOTS];
	u64 nr_alloc;
	u64 nr_free;
	u64 stats[NR_GUNYAH_POOL_STATS];
};

/**
 * struct gunyah_pool_backing_ops - where a pool's memory comes from
 * @name:	the mode, as /sys/kernel/gunyah/pool/mode shows it
 * @granule:	bytes the backing gives and takes back at a time. The pool
 *		asks it to @kick when free memory rises to the high watermark
 *		plus @granule; 0 for a backing that never takes memory back.
 * @grow:	optional. Add memory with gunyah_pool_add_range() for an
 *		allocation with @gfp that found the pool short. Called without
 *		the pool's locks, in any context @gfp allows; may refuse (for
 *		example when @gfp may not sleep). Returns 0 if memory was added.
 * @kick:	optional. Bring the pool within its tunables (min and max size,
 *		watermarks) in the background. Any context.
 * @settle:	optional. The same, synchronously. Process context.
 * @validate:	optional. Cross-check the backing's own books with the pool's;
 *		log each mismatch and return how many. Process context.
 * @freeze:	optional. Hibernation (@restore false) or a restore (true) is
 *		about to start: stop growing until @thaw, and for a restore
 *		give back every wholly free range, whatever min_size_bytes
 *		says. Process context.
 * @thaw:	optional. Undo @freeze and rebalance. Process context.
 */
struct gunyah_pool_backing_ops {
	const char *name;
	size_t granule;
	int (*grow)(struct gunyah_pool *pool, gfp_t gfp);
	void (*kick)(struct gunyah_pool *pool);
	void (*settle)(struct gunyah_pool *pool);
	int (*validate)(struct gunyah_pool *pool);
	void (*freeze)(struct gunyah_pool *pool, bool restore);
	void (*thaw)(struct gunyah_pool *pool);
};

/**
 * struct gunyah_pool - an allocator over memory outside the linear map
 * @name:		name of the reserved-memory node, for messages
 * @base:		physical start of the region, page aligned; may be 0
 * @capacity:		size of the region in bytes
 * @ops:		the backing that gives the pool its memory
 * @pcp:		per-CPU caches of small free blocks
 * @gp:			genalloc over the whole region; the pool's own view of
 *			it (@present, the blocks' marks, the caches) is the
 *			truth, genalloc
 *			only finds free ranges. Addresses in it are the physical
 *			address plus a bias, so that a region at 0 works.
 * @present:		one bit per page of the region the pool holds now
 * @free_kn:		sysfs node of free_bytes, to wake its pollers; NULL for
 *			a pool without sysfs
 * @pcp_off:		holders that need the caches empty (the validator, a new
 *			max_size)
 * @size:		bytes the pool holds now
 * @min_size:		the pool never gives memory back below this size
 * @max_size:		the pool never grows above, nor hands out more than,
 *			this many bytes
 * @low_wmark:		free bytes below which pollers and the backing are told
 * @high_wmark:		free bytes above which the backing may take memory back
 * @overcommit_ratio:	percent of @max_size that reservations may reach
 * @used:		bytes callers hold: what is handed out and not freed
 * @peak_used:		highest @used since boot or the last reset
 * @lock:		protects the allocator, @taken, @committed, and every
 *			write to @pcp_off, @size and the tunables
 * @seq:		lets readers see @size, @committed and the tunables
 *			together without taking @lock
 * @taken:		bytes out of genalloc: @used plus what the caches hold
 * @search_from:	per order, a page offset below which no free block of
 *			that order starts: where a search for one begins
 * @committed:		sum of outstanding reservations, in bytes
 * @warned:		the kinds of misuse already warned about, a bit each
 */
struct gunyah_pool {
	/* Set up once. */
	const char *name;
	phys_addr_t base;
	size_t capacity;
	const struct gunyah_pool_backing_ops *ops;
	struct gunyah_pool_pcp __percpu *pcp;
	struct gen_pool *gp;
	unsigned long *present;
	struct kernfs_node *free_kn;

	/* Read by every allocation and free, written rarely under @lock. */
	unsigned int pcp_off;
	u64 size;
	u64 min_size;
	u64 max_size;
	u64 low_wmark;
	u64 high_wmark;
	unsigned int overcommit_ratio;

	/*
	 * Written by every allocation and free, from any CPU: a line of their
	 * own, so that they bounce alone.
	 */
	atomic64_t used ____cacheline_aligned_in_smp;
	atomic64_t peak_used;

	/* The allocator, taken only when a cache misses or is full. */
	spinlock_t lock ____cacheline_aligned_in_smp;	/* see @lock above */
	seqcount_spinlock_t seq;
	u64 taken;
	unsigned long search_from[GUNYAH_POOL_MAX_ORDER + 1];
	u64 committed;
	unsigned long warned;
};

/**
 * struct gunyah_pool_usage - a consistent snapshot of a pool's numbers
 * @held:		bytes of the region the pool holds; a reusable pool may
 *			hold more than a just lowered max_size, briefly
 * @size:		bytes held, up to max_size: what the pool may hand out
 * @used:		bytes handed out to callers
 * @free:		@size - @used
 * @peak_used:		highest @used since boot or reset
 * @committed:		outstanding reservations
 * @commit_limit:	max_size * overcommit_ratio / 100
 * @overcommit:		bytes by which @committed exceeds max_size, or 0
 * @min_size:		tunable, see struct gunyah_pool
 * @max_size:		tunable, see struct gunyah_pool
 * @low_wmark:		tunable, see struct gunyah_pool
 * @high_wmark:		tunable, see struct gunyah_pool
 * @overcommit_ratio:	tunable, see struct gunyah_pool
 */
struct gunyah_pool_usage {
	u64 held;
	u64 size;
	u64 used;
	u64 free;
	u64 peak_used;
	u64 committed;
	u64 commit_limit;
	u64 overcommit;
	u64 min_size;
	u64 max_size;
	u64 low_wmark;
	u64 high_wmark;
	u64 overcommit_ratio;
};

/* ---- Helpers for the core and the files built on it ---- */

static inline unsigned long gunyah_pool_nr_pages(const struct gunyah_pool *pool)
{
	return pool->capacity >> PAGE_SHIFT;
}

static inline u64 gunyah_pool_commit_limit(u64 max_size, unsigned int ratio)
{
	/* max_size is at most 2^32 pages (2^48 bytes) and ratio at most 1000. */
	return div_u64(max_size * ratio, 100);
}

/*
 * What the pool may still hand out: what it holds, up to max_size_bytes
 * (which a reusable pool may briefly exceed after it was lowered), less what
 * callers hold.
 */
static inline u64 gunyah_pool_free_of(u64 size, u64 max_size, s64 used)
{
	size = min(size, max_size);
	return used < 0 || size > used ? size - used : 0;
}

/* Raise the peak to @used if it is below. */
static inline void gunyah_pool_raise_peak(struct gunyah_pool *pool, s64 used)
{
	s64 peak = atomic64_read(&pool->peak_used);

	while (used > peak &&
	       !atomic64_try_cmpxchg_relaxed(&pool->peak_used, &peak, used))
		;
}

/*
 * The mark of a handed-out block, in page_private() of its first page: the
 * pool's address with the order plus one in these bits. See "Handed-out
 * blocks" in cma_pool.c.
 */
#define GUNYAH_POOL_MARK_ORDER	GENMASK(3, 0)

static inline unsigned long *gunyah_pool_mark(const struct gunyah_pool *pool,
					      unsigned long pgoff)
{
	return &pfn_to_page(PHYS_PFN(pool->base) + pgoff)->private;
}

static inline unsigned long gunyah_pool_mark_of(const struct gunyah_pool *pool,
						unsigned int order)
{
	BUILD_BUG_ON(GUNYAH_POOL_MAX_ORDER + 1 > GUNYAH_POOL_MARK_ORDER ||
		     __alignof__(struct gunyah_pool) <= GUNYAH_POOL_MARK_ORDER);
	return (unsigned long)pool | (order + 1);
}

/* The order plus one of the block of @pool at @pgoff; 0 if none starts there. */
static inline unsigned int gunyah_pool_marked(const struct gunyah_pool *pool,
					      unsigned long pgoff)
{
	unsigned long mark = READ_ONCE(*gunyah_pool_mark(pool, pgoff));

	return (mark & ~GUNYAH_POOL_MARK_ORDER) == (unsigned long)pool ?
	       mark & GUNYAH_POOL_MARK_ORDER : 0;
}

/* The first page of the order-@order block that holds page @pgoff. */
static inline unsigned long
gunyah_pool_block_start(const struct gunyah_pool *pool, unsigned long pgoff,
			unsigned int order)
{
	unsigned long pfn0 = PHYS_PFN(pool->base);

	return ALIGN_DOWN(pfn0 + pgoff, 1UL << order) - pfn0;
}

/* The kinds of misuse a pool warns about, once each: see gunyah_pool_warn(). */
enum gunyah_pool_misuse {
	GUNYAH_POOL_MISUSE_DESTROY,
	GUNYAH_POOL_MISUSE_ZERO_ATOMIC,
	GUNYAH_POOL_MISUSE_FREE,
	GUNYAH_POOL_MISUSE_UNRESERVE,
};

/*
 * Refuse misuse of @pool if @cond, warning once per pool and kind: once in
 * a system with its one pool, as WARN_ONCE() would, and once in each pool a
 * test makes, so that each expected warning can be told from another. The
 * refusals themselves are counted every time (stats/invalid_free, ...).
 * Evaluates to !!@cond.
 */
#define gunyah_pool_warn(pool, misuse, cond, fmt, ...)			\
({									\
	bool __pw_cond = !!(cond);					\
									\
	if (unlikely(__pw_cond) &&					\
	    !test_and_set_bit(misuse, &(pool)->warned))			\
		WARN(1, fmt, ##__VA_ARGS__);				\
	__pw_cond;							\
})

/* Switch the per-CPU caches off and empty them; nests. Process context. */
void gunyah_pool_pcp_off(struct gunyah_pool *pool);
void gunyah_pool_pcp_on(struct gunyah_pool *pool);
void gunyah_pool_notify_low(struct gunyah_pool *pool);

struct gunyah_pool *gunyah_pool_get(void);
void gunyah_pool_publish(struct gunyah_pool *pool);

/* For a backing: set up, give memory, take it back. */
int gunyah_pool_init(struct gunyah_pool *pool, const char *name,
		     phys_addr_t base, size_t size,
		     const struct gunyah_pool_backing_ops *ops);
void gunyah_pool_destroy(struct gunyah_pool *pool);
int gunyah_pool_add_range(struct gunyah_pool *pool, phys_addr_t phys,
			  size_t bytes);
int gunyah_pool_take_range(struct gunyah_pool *pool, size_t bytes,
			   phys_addr_t *phys);
void gunyah_pool_drain(struct gunyah_pool *pool);

int gunyah_pool_block_alloc(struct gunyah_pool *pool, unsigned int order,
			    gfp_t gfp, phys_addr_t *phys);
int gunyah_pool_block_free(struct gunyah_pool *pool, phys_addr_t phys,
			   unsigned int order);
int gunyah_pool_commit(struct gunyah_pool *pool, size_t bytes);
int gunyah_pool_uncommit(struct gunyah_pool *pool, size_t bytes);

int gunyah_pool_set_tunable(struct gunyah_pool *pool,
			    enum gunyah_pool_tunable which, u64 val);
void gunyah_pool_settle(struct gunyah_pool *pool);
int gunyah_pool_pm_prepare(struct gunyah_pool *pool, bool restore);
void gunyah_pool_pm_finish(struct gunyah_pool *pool);
void gunyah_pool_usage(struct gunyah_pool *pool, struct gunyah_pool_usage *u);
u64 gunyah_pool_stat(struct gunyah_pool *pool, enum gunyah_pool_stat item);

/*
 * Keep what is allocated on behalf of a caller (vmap() of a block to zero
 * it, cma_alloc() to grow) within the reclaim its @gfp allows; undo with
 * memalloc_flags_restore().
 */
static inline unsigned int gunyah_pool_reclaim_save(gfp_t gfp)
{
	if (!(gfp & __GFP_IO))
		return memalloc_flags_save(PF_MEMALLOC_NOIO);
	if (!(gfp & __GFP_FS))
		return memalloc_flags_save(PF_MEMALLOC_NOFS);
	return memalloc_flags_save(0);
}

static inline void gunyah_pool_count(struct gunyah_pool *pool,
				     enum gunyah_pool_stat item)
{
	this_cpu_inc(pool->pcp->stats[item]);
}

/* The validator and read-outs (cma_pool_validate.c), for the tests. */
int gunyah_pool_validate(struct gunyah_pool *pool);
void gunyah_pool_free_blocks(struct gunyah_pool *pool, unsigned long *nr,
			     unsigned int nr_orders);
void gunyah_pool_busy_pages(struct gunyah_pool *pool, unsigned long *busy,
			    unsigned long *present);
size_t gunyah_pool_metadata_bytes(const struct gunyah_pool *pool);

/* The no-map backing: the whole region, held from the start. */
int gunyah_pool_nomap_init(struct gunyah_pool *pool, const char *name,
			   phys_addr_t base, size_t size);

/* Steps that can fail, each with a fault-injection point. */
enum gunyah_pool_fault {
	GUNYAH_POOL_FAULT_ZERO,		/* map a block to clear it */
	GUNYAH_POOL_FAULT_CMA,		/* take a chunk from CMA */
	GUNYAH_POOL_FAULT_UNMAP,	/* take a chunk out of the linear map */
	GUNYAH_POOL_FAULT_REMAP,	/* put a chunk back in the linear map */
	NR_GUNYAH_POOL_FAULTS
};

#ifdef CONFIG_GUNYAH_POOL_FAULT_INJECTION
bool gunyah_pool_should_fail(enum gunyah_pool_fault point);
#else
static inline bool gunyah_pool_should_fail(enum gunyah_pool_fault point)
{
	return false;
}
#endif

#ifdef CONFIG_SYSFS
int gunyah_pool_sysfs_init(struct gunyah_pool *pool);
#else
static inline int gunyah_pool_sysfs_init(struct gunyah_pool *pool)
{
	return 0;
}
#endif

#endif /* _GUNYAH_CMA_POOL_H */
