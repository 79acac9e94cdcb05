/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internal interface of the Gunyah donation pool, shared by the core, its
 * sysfs and debugfs files and its KUnit tests. Nothing here is exported.
 */
#ifndef _GUNYAH_CMA_POOL_H
#define _GUNYAH_CMA_POOL_H

#include <linux/atomic.h>
#include <linux/bits.h>
#include <linux/gunyah_pool.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>

struct cma;
struct dentry;
struct gen_pool;
struct gen_pool_chunk;
struct kernfs_node;
struct kobject;
struct reserved_mem;

enum gunyah_pool_mode {
	GUNYAH_POOL_NO_MAP,
	GUNYAH_POOL_REUSABLE,
};

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

/*
 * The state of one order's stack in a CPU's cache, one atomic word changed
 * by cmpxchg: the number of blocks cached, a generation bumped by every
 * change other than a push or pop (refill, spill, drain), and the pushes
 * and pops since the pool last folded them into its counters.
 */
#define GUNYAH_POOL_PCP_COUNT		GENMASK_ULL(4, 0)
#define GUNYAH_POOL_PCP_GEN		GENMASK_ULL(15, 5)
#define GUNYAH_POOL_PCP_POPS		GENMASK_ULL(39, 16)
#define GUNYAH_POOL_PCP_PUSHES		GENMASK_ULL(63, 40)

/**
 * struct gunyah_pool_pcp - one CPU's cache of free blocks
 * @state:	for each order, the stack's state; see GUNYAH_POOL_PCP_COUNT
 * @slot:	for each order, the cached blocks as page offsets, a stack.
 *		Only the CPU pushes; other CPUs only empty it, under the pool's
 *		lock, and every change is published by a cmpxchg of @state.
 */
struct gunyah_pool_pcp {
	atomic64_t state[GUNYAH_POOL_PCP_ORDERS];
	u32 slot[GUNYAH_POOL_PCP_ORDERS][GUNYAH_POOL_PCP_SLOTS];
};

/*
 * A reusable pool moves memory to and from CMA in chunks of one block of the
 * largest order (4 MiB with 4 KiB pages): a block never spans two chunks,
 * a chunk is whole CMA pageblocks, and each costs one TLB flush to unmap.
 */
#define GUNYAH_POOL_CHUNK_ORDER		GUNYAH_POOL_MAX_ORDER
#define GUNYAH_POOL_CHUNK_PAGES		BIT(GUNYAH_POOL_CHUNK_ORDER)
#define GUNYAH_POOL_CHUNK_BYTES		(PAGE_SIZE << GUNYAH_POOL_CHUNK_ORDER)

/**
 * struct gunyah_pool_reusable - the state of a reusable pool
 * @cma:		the CMA area over the region
 * @resize_lock:	serialises growing and shrinking
 * @resize_work:	refills below the low watermark and drains above the
 *			high one, in the background
 * @pm_nb:		the system's pool: vetoes hibernation
 * @nr_quarantined:	chunks that could not be mapped again and so are kept
 *			out of both the pool and CMA; under @resize_lock
 * @tlb_flushes:	kernel TLB flushes done to move chunks into the pool
 * @held:		one bit per chunk the pool holds; under the pool's lock.
 *			Chunks not held are marked in use in genalloc so
 *			nothing is handed out from them.
 * @frozen:		hibernation is in progress, do not grow; under the
 *			pool's lock
 */
struct gunyah_pool_reusable {
	struct cma *cma;
	struct mutex resize_lock;	/* see @resize_lock above */
	struct work_struct resize_work;
	struct notifier_block pm_nb;
	unsigned long nr_quarantined;
	atomic64_t tlb_flushes;
	unsigned long *held;
	bool frozen;
};

/**
 * struct gunyah_pool - a donation pool over one physically contiguous region
 * @name:		name of the reserved-memory node, for messages
 * @base:		physical start of the region, page aligned
 * @capacity:		size of the region in bytes
 * @mode:		how the region is kept out of the linear map
 * @reusable:		the state of a reusable pool
 * @pcp:		per-CPU caches of small free blocks
 * @pcp_slack:		the most all CPUs' caches can hold together, in bytes
 * @out:		for each order, one bit per naturally aligned block of
 *			that order, set while that block is handed out; changed
 *			with atomic bit operations, also outside @lock, so a
 *			free is checked, and a double free refused, by one
 *			test_and_clear_bit()
 * @lock:		protects the allocator's books and every field below it,
 *			except @stats, which are atomic
 * @gp:			genalloc pool over the whole region, one bit per page;
 *			a page is used there when handed out or cached
 * @chunk:		the single chunk of @gp; its bitmap marks used pages
 * @pcp_ok:		the caches may be used; when false they are empty and
 *			the books below are exact. Read without @lock.
 * @pcp_off:		holders that need the caches off, e.g. the validator
 * @nr_blocks:		blocks genalloc has handed out: to callers, or to the
 *			caches; exactly those handed out while the caches are off
 * @size:		bytes the pool holds now, free, cached and used
 * @used:		bytes genalloc has handed out, like @nr_blocks
 * @peak_used:		highest @used since boot or the last reset
 * @committed:		sum of outstanding reservations, in bytes
 * @min_size:		the pool never shrinks below this many bytes
 * @max_size:		the pool never grows above, nor hands out more than,
 *			this many bytes
 * @low_wmark:		free bytes below which pollers are woken
 * @high_wmark:		free bytes above which a reusable pool shrinks
 * @overcommit_ratio:	percent of @max_size that reservations may reach
 * @free_kn:		sysfs node of free_bytes, to wake its pollers; NULL for
 *			a pool without sysfs
 * @stats:		event counters, indexed by enum gunyah_pool_stat
 */
struct gunyah_pool {
	const char *name;
	phys_addr_t base;
	size_t capacity;
	enum gunyah_pool_mode mode;
	struct gunyah_pool_reusable reusable;
	struct gunyah_pool_pcp __percpu *pcp;
	u64 pcp_slack;
	unsigned long *out[GUNYAH_POOL_MAX_ORDER + 1];

	spinlock_t lock;		/* see @lock above */
	struct gen_pool *gp;
	struct gen_pool_chunk *chunk;
	bool pcp_ok;
	unsigned int pcp_off;
	unsigned long nr_blocks;
	u64 size;
	u64 used;
	u64 peak_used;
	u64 committed;
	u64 min_size;
	u64 max_size;
	u64 low_wmark;
	u64 high_wmark;
	unsigned int overcommit_ratio;

	struct kernfs_node *free_kn;
	atomic64_t stats[NR_GUNYAH_POOL_STATS];
};

/**
 * struct gunyah_pool_usage - a consistent snapshot of a pool's numbers
 * @size:		bytes held
 * @used:		bytes handed out
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
 * @nr_blocks:		blocks handed out
 */
struct gunyah_pool_usage {
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
	unsigned int overcommit_ratio;
	unsigned long nr_blocks;
};

struct gunyah_pool *gunyah_pool_get(void);
const char *gunyah_pool_mode_name(const struct gunyah_pool *pool);

int gunyah_pool_init(struct gunyah_pool *pool, const char *name,
		     phys_addr_t base, size_t size);
void gunyah_pool_destroy(struct gunyah_pool *pool);

int gunyah_pool_block_alloc(struct gunyah_pool *pool, unsigned int order,
			    gfp_t gfp, phys_addr_t *phys);
int gunyah_pool_block_free(struct gunyah_pool *pool, phys_addr_t phys,
			   unsigned int order);
int gunyah_pool_commit(struct gunyah_pool *pool, size_t bytes);
int gunyah_pool_uncommit(struct gunyah_pool *pool, size_t bytes);

int gunyah_pool_set_tunable(struct gunyah_pool *pool,
			    enum gunyah_pool_tunable which, u64 val);
void gunyah_pool_usage(struct gunyah_pool *pool, struct gunyah_pool_usage *u);
int gunyah_pool_validate(struct gunyah_pool *pool);
u64 gunyah_pool_stat(struct gunyah_pool *pool, enum gunyah_pool_stat item);
size_t gunyah_pool_metadata_bytes(const struct gunyah_pool *pool);

/* Under the pool's lock: after the books changed; to make them exact. */
void gunyah_pool_pcp_update(struct gunyah_pool *pool);
void gunyah_pool_quiesce(struct gunyah_pool *pool);

/*
 * Reusable mode, in cma_pool_reusable.c, built with CONFIG_CMA: called only
 * for a pool that gunyah_pool_reusable() says is reusable.
 */
static inline bool gunyah_pool_reusable(const struct gunyah_pool *pool)
{
	return IS_ENABLED(CONFIG_CMA) && pool->mode == GUNYAH_POOL_REUSABLE;
}

int gunyah_pool_reusable_init(struct gunyah_pool *pool, struct cma *cma);
int gunyah_pool_reusable_declare(struct reserved_mem *rmem, struct cma **cma);
int gunyah_pool_reusable_setup(struct gunyah_pool *pool, struct cma *cma);
void gunyah_pool_kick(struct gunyah_pool *pool);
bool gunyah_pool_grow_for(struct gunyah_pool *pool, gfp_t gfp);
void gunyah_pool_check_drain(struct gunyah_pool *pool);
int gunyah_pool_validate_chunks(struct gunyah_pool *pool,
				unsigned long *absent);
/* In the core, for gunyah_pool_validate_chunks(). */
bool gunyah_pool_block_out(struct gunyah_pool *pool, unsigned long pgoff,
			   unsigned int order);
#ifdef CONFIG_CMA
int gunyah_pool_grow(struct gunyah_pool *pool);
int gunyah_pool_shrink(struct gunyah_pool *pool);
void gunyah_pool_resize(struct gunyah_pool *pool);
#else
/* For the tests, which call them only for a reusable pool. */
static inline int gunyah_pool_grow(struct gunyah_pool *pool)
{
	return -EOPNOTSUPP;
}

static inline int gunyah_pool_shrink(struct gunyah_pool *pool)
{
	return -EOPNOTSUPP;
}

static inline void gunyah_pool_resize(struct gunyah_pool *pool) { }
#endif

/* Free memory by order, from the allocator's bitmap; for debugfs. */
void gunyah_pool_free_blocks(struct gunyah_pool *pool, unsigned long *nr,
			     unsigned int nr_orders);

enum gunyah_pool_page_state {
	GUNYAH_POOL_PAGE_FREE,
	GUNYAH_POOL_PAGE_USED,
	GUNYAH_POOL_PAGE_ABSENT,	/* reusable: in a chunk not held */
};

enum gunyah_pool_page_state gunyah_pool_page_state(struct gunyah_pool *pool,
						   unsigned long pgoff);

static inline void gunyah_pool_count(struct gunyah_pool *pool,
				     enum gunyah_pool_stat item)
{
	atomic64_inc(&pool->stats[item]);
}

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
void gunyah_pool_fault_debugfs_init(struct dentry *dir);
#else
static inline bool gunyah_pool_should_fail(enum gunyah_pool_fault point)
{
	return false;
}

static inline void gunyah_pool_fault_debugfs_init(struct dentry *dir) { }
#endif

#ifdef CONFIG_SYSFS
int gunyah_pool_sysfs_init(struct gunyah_pool *pool);
#else
static inline int gunyah_pool_sysfs_init(struct gunyah_pool *pool)
{
	return 0;
}
#endif

#ifdef CONFIG_GUNYAH_POOL_DEBUG
void gunyah_pool_debugfs_init(struct gunyah_pool *pool);
#else
static inline void gunyah_pool_debugfs_init(struct gunyah_pool *pool) { }
#endif

#endif /* _GUNYAH_CMA_POOL_H */
