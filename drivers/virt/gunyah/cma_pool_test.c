// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the Gunyah donation pool.
 *
 * Most cases run on a private pool built over one order-10 block taken from
 * the system's pool, so they can fill, fragment and misuse it without
 * disturbing anyone; that memory is as unmapped as the rest of the pool.
 * The linear-map, public-API and reusable cases use the system's pool and
 * leave it as they found it; the reusable cases skip on a no-map pool and
 * the no-map boundary case skips on a reusable one. Every case ends by
 * checking the books with the validator.
 *
 * Copyright (c) 2026 The gunyah-pool authors
 */

#include <kunit/test.h>
#include <linux/cleanup.h>
#include <linux/gunyah_pool.h>
#include <linux/io.h>
#include <linux/kasan.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/set_memory.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <asm/word-at-a-time.h>

#include "cma_pool.h"

#define TEST_POOL_ORDER		GUNYAH_POOL_MAX_ORDER
#define TEST_POOL_BYTES		(PAGE_SIZE << TEST_POOL_ORDER)

struct test_pool {
	struct gunyah_pool pool;
	phys_addr_t phys;
};

static void test_pool_release(void *data)
{
	struct test_pool *tp = data;
	struct gunyah_pool *sys = gunyah_pool_get();

	gunyah_pool_destroy(&tp->pool);
	gunyah_pool_block_free(sys, tp->phys, TEST_POOL_ORDER);
	kfree(tp);
}

static struct gunyah_pool *test_sys_pool(struct kunit *test)
{
	struct gunyah_pool *sys = gunyah_pool_get();

	if (!sys)
		kunit_skip(test, "no donation pool is configured");
	return sys;
}

/* A private pool over a block of the system's pool, gone when the test ends. */
static struct gunyah_pool *test_pool_create(struct kunit *test)
{
	struct gunyah_pool *sys = test_sys_pool(test);
	struct test_pool *tp;

	tp = kzalloc(sizeof(*tp), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, tp);
	if (gunyah_pool_block_alloc(sys, TEST_POOL_ORDER, GFP_KERNEL,
				    &tp->phys)) {
		kfree(tp);
		KUNIT_FAIL_AND_ABORT(test, "cannot take an order-%u block from the system's pool",
				     TEST_POOL_ORDER);
	}
	if (gunyah_pool_init(&tp->pool, "kunit", tp->phys, TEST_POOL_BYTES)) {
		gunyah_pool_block_free(sys, tp->phys, TEST_POOL_ORDER);
		kfree(tp);
		KUNIT_FAIL_AND_ABORT(test, "cannot set up a private pool");
	}
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, test_pool_release, tp));
	return &tp->pool;
}

static struct gunyah_pool *test_reusable_pool(struct kunit *test)
{
	struct gunyah_pool *sys = test_sys_pool(test);

	if (!gunyah_pool_reusable(sys))
		kunit_skip(test, "the system's pool is not reusable");
	return sys;
}

static u64 test_stat(struct gunyah_pool *pool, enum gunyah_pool_stat item)
{
	return gunyah_pool_stat(pool, item);
}

static u64 test_used(struct gunyah_pool *pool)
{
	struct gunyah_pool_usage u;

	gunyah_pool_usage(pool, &u);
	return u.used;
}

static void expect_valid(struct kunit *test, struct gunyah_pool *pool)
{
	KUNIT_EXPECT_EQ_MSG(test, gunyah_pool_validate(pool), 0,
			    "validator found inconsistent books, see the log");
}

/* Every page of [phys, phys + bytes) is absent from the linear map. */
static void expect_unmapped(struct kunit *test, phys_addr_t phys, size_t bytes)
{
	phys_addr_t p;
	u64 word;

	for (p = phys; p < phys + bytes; p += PAGE_SIZE) {
		KUNIT_EXPECT_FALSE_MSG(test, kernel_page_present(phys_to_page(p)),
				       "page %pa is in the linear map", &p);
		KUNIT_EXPECT_NE_MSG(test, copy_from_kernel_nofault(&word, phys_to_virt(p),
								   sizeof(word)),
				    0, "page %pa is readable through the linear map", &p);
	}
}

static const struct {
	gfp_t gfp;
	const char *name;
} alloc_gfps[] = {
	{ GFP_KERNEL, "GFP_KERNEL" },
	{ GFP_NOWAIT, "GFP_NOWAIT" },
	{ GFP_ATOMIC, "GFP_ATOMIC" },
};

static const unsigned int alloc_orders[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

static void order_desc(const unsigned int *order, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "order %u", *order);
}

KUNIT_ARRAY_PARAM(alloc, alloc_orders, order_desc);

/* Each order with each kind of gfp mask: aligned, inside, counted. */
static void gunyah_pool_test_alloc_free(struct kunit *test)
{
	unsigned int order = *(const unsigned int *)test->param_value;
	struct gunyah_pool *pool = test_pool_create(test);
	size_t bytes = PAGE_SIZE << order;
	phys_addr_t phys;
	int i;

	for (i = 0; i < ARRAY_SIZE(alloc_gfps); i++) {
		KUNIT_ASSERT_EQ_MSG(test, gunyah_pool_block_alloc(pool, order,
								  alloc_gfps[i].gfp,
								  &phys),
				    0, "%s", alloc_gfps[i].name);
		KUNIT_EXPECT_TRUE_MSG(test, IS_ALIGNED(phys, bytes),
				      "%pa not aligned to %zu", &phys, bytes);
		KUNIT_EXPECT_GE(test, phys, pool->base);
		KUNIT_EXPECT_LE(test, phys + bytes, pool->base + pool->capacity);
		KUNIT_EXPECT_EQ(test, test_used(pool), bytes);
		KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_ALLOC_SUCCESS),
				i + 1);
		expect_valid(test, pool);

		KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, phys, order), 0);
		KUNIT_EXPECT_EQ(test, test_used(pool), 0);
		KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_FREE), i + 1);
		expect_valid(test, pool);
	}
}

/* GFP_ATOMIC and GFP_NOWAIT work with a spinlock held and interrupts off. */
static void gunyah_pool_test_atomic_context(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	static DEFINE_SPINLOCK(lock);
	phys_addr_t a = 0, b = 0;
	int ra, rb;

	scoped_guard(spinlock_irqsave, &lock) {
		ra = gunyah_pool_block_alloc(pool, 0, GFP_ATOMIC, &a);
		rb = gunyah_pool_block_alloc(pool, 4, GFP_NOWAIT, &b);
		if (!ra)
			gunyah_pool_block_free(pool, a, 0);
		if (!rb)
			gunyah_pool_block_free(pool, b, 4);
	}
	KUNIT_EXPECT_EQ(test, ra, 0);
	KUNIT_EXPECT_EQ(test, rb, 0);
	KUNIT_EXPECT_EQ(test, test_used(pool), 0);
	expect_valid(test, pool);
}

static void gunyah_pool_test_bad_order(struct kunit *test)
{
	static const unsigned int orders[] = {
		GUNYAH_POOL_MAX_ORDER + 1, 31, 32, UINT_MAX,
	};
	struct gunyah_pool *pool = test_pool_create(test);
	phys_addr_t phys = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(orders); i++)
		KUNIT_EXPECT_EQ_MSG(test, gunyah_pool_block_alloc(pool, orders[i],
								  GFP_KERNEL, &phys),
				    -EINVAL, "order %u", orders[i]);
	KUNIT_EXPECT_EQ(test, phys, 0);
	KUNIT_EXPECT_EQ(test, test_used(pool), 0);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_ALLOC_SUCCESS), 0);
	expect_valid(test, pool);
}

/*
 * Map a block for the test to look at. Not memremap(): for a reusable pool's
 * pages, which are System RAM, that would return the linear-map address,
 * which the pool has taken away.
 */
static u8 *test_vmap(struct kunit *test, phys_addr_t phys, unsigned int order)
{
	struct page *pages[1 << 2];
	unsigned int i;

	KUNIT_ASSERT_LE(test, 1U << order, ARRAY_SIZE(pages));
	for (i = 0; i < 1U << order; i++)
		pages[i] = phys_to_page(phys + i * PAGE_SIZE);
	return vmap(pages, 1U << order, VM_MAP, PAGE_KERNEL);
}

/* __GFP_ZERO clears memory that was dirty before. */
static void gunyah_pool_test_zero(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	size_t bytes = PAGE_SIZE << 2;
	phys_addr_t phys;
	u8 *va;

	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 2, GFP_KERNEL, &phys), 0);
	va = test_vmap(test, phys, 2);
	KUNIT_ASSERT_NOT_NULL(test, va);
	memset(va, 0xa5, bytes);
	vunmap(va);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_free(pool, phys, 2), 0);

	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 2,
						      GFP_KERNEL | __GFP_ZERO,
						      &phys), 0);
	va = test_vmap(test, phys, 2);
	KUNIT_ASSERT_NOT_NULL(test, va);
	KUNIT_EXPECT_TRUE_MSG(test, !memchr_inv(va, 0, bytes),
			      "block not zeroed");
	vunmap(va);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, phys, 2), 0);
	/* The temporary mappings left no alias in the linear map. */
	expect_unmapped(test, phys, bytes);
	expect_valid(test, pool);
}

/* Zeroing needs a mapping that may sleep: refused for atomic masks. */
static void gunyah_pool_test_zero_atomic_refused(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	phys_addr_t phys = 0;

	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, 0,
						      GFP_ATOMIC | __GFP_ZERO,
						      &phys), -EINVAL);
	KUNIT_EXPECT_EQ(test, phys, 0);
	KUNIT_EXPECT_EQ(test, test_used(pool), 0);
	expect_valid(test, pool);
}

static const unsigned int exhaust_orders[] = { 0, 4, 10 };

KUNIT_ARRAY_PARAM(exhaust, exhaust_orders, order_desc);

/* Fill the pool with one order, fail cleanly, free all, then recover. */
static void gunyah_pool_test_exhaustion(struct kunit *test)
{
	unsigned int order = *(const unsigned int *)test->param_value;
	struct gunyah_pool *pool = test_pool_create(test);
	unsigned long i, nr = TEST_POOL_BYTES >> (PAGE_SHIFT + order);
	phys_addr_t *blocks, extra;

	blocks = kunit_kcalloc(test, nr, sizeof(*blocks), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, blocks);
	for (i = 0; i < nr; i++)
		KUNIT_ASSERT_EQ_MSG(test, gunyah_pool_block_alloc(pool, order,
								  GFP_KERNEL,
								  &blocks[i]),
				    0, "block %lu of %lu", i, nr);
	KUNIT_EXPECT_EQ(test, test_used(pool), TEST_POOL_BYTES);
	expect_valid(test, pool);

	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &extra),
			-ENOMEM);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_ALLOC_FAIL), 1);
	expect_valid(test, pool);

	for (i = 0; i < nr; i++)
		KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, blocks[i], order), 0);
	KUNIT_EXPECT_EQ(test, test_used(pool), 0);
	expect_valid(test, pool);

	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, GUNYAH_POOL_MAX_ORDER,
						      GFP_KERNEL, &extra), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, extra,
						     GUNYAH_POOL_MAX_ORDER), 0);
	expect_valid(test, pool);
}

/* Free every other page: plenty free, nothing of order 1 left. */
static void gunyah_pool_test_fragmentation(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	unsigned long i, nr = TEST_POOL_BYTES >> PAGE_SHIFT;
	unsigned long free[GUNYAH_POOL_MAX_ORDER + 1];
	phys_addr_t *pages, phys;

	pages = kunit_kcalloc(test, nr, sizeof(*pages), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pages);
	for (i = 0; i < nr; i++)
		KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL,
							      &pages[i]), 0);
	for (i = 0; i < nr; i += 2)
		KUNIT_ASSERT_EQ(test, gunyah_pool_block_free(pool, pages[i], 0), 0);
	expect_valid(test, pool);

	gunyah_pool_free_blocks(pool, free, ARRAY_SIZE(free));
	KUNIT_EXPECT_EQ(test, free[0], nr / 2);
	KUNIT_EXPECT_EQ(test, free[1], 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, 1, GFP_KERNEL, &phys),
			-ENOMEM);

	for (i = 1; i < nr; i += 2)
		KUNIT_ASSERT_EQ(test, gunyah_pool_block_free(pool, pages[i], 0), 0);
	gunyah_pool_free_blocks(pool, free, ARRAY_SIZE(free));
	KUNIT_EXPECT_EQ(test, free[GUNYAH_POOL_MAX_ORDER], 1);
	expect_valid(test, pool);
}

/* max_size_bytes caps what is handed out; it cannot drop below what is used. */
static void gunyah_pool_test_max_size(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	phys_addr_t a, b;

	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_MAX_SIZE,
						      SZ_1M), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, 9, GFP_KERNEL, &a),
			-ENOMEM);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 8, GFP_KERNEL, &a), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &b),
			-ENOMEM);
	KUNIT_EXPECT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_MAX_SIZE,
						      SZ_512K), -EBUSY);
	expect_valid(test, pool);

	KUNIT_EXPECT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_MAX_SIZE,
						      TEST_POOL_BYTES), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &b), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, b, 0), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, a, 8), 0);
	expect_valid(test, pool);
}

/* Frees the pool did not hand out are refused and counted; nothing changes. */
static void gunyah_pool_test_bad_free(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	struct gunyah_pool_usage before, after;
	phys_addr_t phys, other;
	struct {
		phys_addr_t phys;
		unsigned int order;
	} bad[6];
	int i;

	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 2, GFP_KERNEL, &phys), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 2, GFP_KERNEL, &other), 0);
	bad[0].phys = pool->base - PAGE_SIZE;			/* foreign, below */
	bad[0].order = 0;
	bad[1].phys = pool->base + pool->capacity;		/* foreign, above */
	bad[1].order = 0;
	bad[2].phys = phys + PAGE_SIZE;				/* inside a block */
	bad[2].order = 0;
	bad[3].phys = phys;					/* order too small */
	bad[3].order = 1;
	bad[4].phys = phys;					/* order too large */
	bad[4].order = 3;
	bad[5].phys = phys;					/* bad order */
	bad[5].order = GUNYAH_POOL_MAX_ORDER + 1;

	gunyah_pool_usage(pool, &before);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		KUNIT_EXPECT_EQ_MSG(test, gunyah_pool_block_free(pool, bad[i].phys,
								 bad[i].order),
				    -EINVAL, "bad free %d accepted", i);
	gunyah_pool_usage(pool, &after);
	KUNIT_EXPECT_EQ(test, after.used, before.used);
	KUNIT_EXPECT_EQ(test, after.nr_blocks, before.nr_blocks);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_INVALID_FREE),
			ARRAY_SIZE(bad));
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_FREE), 0);
	expect_valid(test, pool);

	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, phys, 2), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, other, 2), 0);
	expect_valid(test, pool);
}

static void gunyah_pool_test_double_free(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	phys_addr_t phys;

	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 3, GFP_KERNEL, &phys), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, phys, 3), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, phys, 3), -EINVAL);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_INVALID_FREE), 1);
	KUNIT_EXPECT_EQ(test, test_used(pool), 0);
	expect_valid(test, pool);

	/* The block can be handed out again and freed once more. */
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, 3, GFP_KERNEL, &phys), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, phys, 3), 0);
	expect_valid(test, pool);
}

/* Reservations stop at the commit limit, which follows overcommit_ratio. */
static void gunyah_pool_test_reserve_limits(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	struct gunyah_pool_usage u;

	KUNIT_EXPECT_EQ(test, gunyah_pool_commit(pool, TEST_POOL_BYTES - PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_commit(pool, PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_commit(pool, 1), -ENOMEM);
	KUNIT_EXPECT_EQ(test, gunyah_pool_commit(pool, SIZE_MAX), -ENOMEM);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_RESERVE_FAIL), 2);
	gunyah_pool_usage(pool, &u);
	KUNIT_EXPECT_EQ(test, u.committed, TEST_POOL_BYTES);
	KUNIT_EXPECT_EQ(test, u.overcommit, 0);
	/* Reservations take no pages. */
	KUNIT_EXPECT_EQ(test, u.used, 0);

	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(pool,
						      GUNYAH_POOL_OVERCOMMIT_RATIO,
						      150), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_commit(pool, TEST_POOL_BYTES / 2), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_commit(pool, 1), -ENOMEM);
	gunyah_pool_usage(pool, &u);
	KUNIT_EXPECT_EQ(test, u.commit_limit, TEST_POOL_BYTES * 3 / 2);
	KUNIT_EXPECT_EQ(test, u.overcommit, TEST_POOL_BYTES / 2);

	/* A limit below what is promised is refused until it is withdrawn. */
	KUNIT_EXPECT_EQ(test, gunyah_pool_set_tunable(pool,
						      GUNYAH_POOL_OVERCOMMIT_RATIO,
						      100), -EBUSY);
	KUNIT_EXPECT_EQ(test, gunyah_pool_uncommit(pool, TEST_POOL_BYTES / 2), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_set_tunable(pool,
						      GUNYAH_POOL_OVERCOMMIT_RATIO,
						      100), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_uncommit(pool, TEST_POOL_BYTES), 0);
	gunyah_pool_usage(pool, &u);
	KUNIT_EXPECT_EQ(test, u.committed, 0);
	expect_valid(test, pool);
}

static void gunyah_pool_test_unreserve_too_much(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	struct gunyah_pool_usage u;

	KUNIT_ASSERT_EQ(test, gunyah_pool_commit(pool, SZ_64K), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_uncommit(pool, SZ_64K + 1), -EINVAL);
	gunyah_pool_usage(pool, &u);
	KUNIT_EXPECT_EQ(test, u.committed, SZ_64K);
	KUNIT_EXPECT_EQ(test, gunyah_pool_uncommit(pool, SZ_64K), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_uncommit(pool, 1), -EINVAL);
	expect_valid(test, pool);
}

struct tunable_param {
	const char *desc;
	enum gunyah_pool_tunable which;
	u64 val;
	int err;
};

static const struct tunable_param tunable_params[] = {
	{ "max = capacity", GUNYAH_POOL_MAX_SIZE, TEST_POOL_BYTES, 0 },
	{ "max > capacity", GUNYAH_POOL_MAX_SIZE, TEST_POOL_BYTES + PAGE_SIZE, -EINVAL },
	{ "max unaligned", GUNYAH_POOL_MAX_SIZE, SZ_1M + 1, -EINVAL },
	{ "max below used", GUNYAH_POOL_MAX_SIZE, 0, -EBUSY },
	{ "min > max", GUNYAH_POOL_MIN_SIZE, TEST_POOL_BYTES + PAGE_SIZE, -EINVAL },
	{ "min = max", GUNYAH_POOL_MIN_SIZE, TEST_POOL_BYTES, 0 },
	{ "low > high", GUNYAH_POOL_LOW_WATERMARK, TEST_POOL_BYTES + PAGE_SIZE, -EINVAL },
	{ "low = high", GUNYAH_POOL_LOW_WATERMARK, TEST_POOL_BYTES, 0 },
	{ "high = low = 0", GUNYAH_POOL_HIGH_WATERMARK, 0, 0 },
	{ "high unaligned", GUNYAH_POOL_HIGH_WATERMARK, 100, -EINVAL },
	{ "ratio max", GUNYAH_POOL_OVERCOMMIT_RATIO, GUNYAH_POOL_MAX_OVERCOMMIT_RATIO, 0 },
	{ "ratio too big", GUNYAH_POOL_OVERCOMMIT_RATIO,
	  GUNYAH_POOL_MAX_OVERCOMMIT_RATIO + 1, -EINVAL },
	{ "ratio huge", GUNYAH_POOL_OVERCOMMIT_RATIO, U64_MAX, -EINVAL },
	{ "peak reset", GUNYAH_POOL_PEAK_USED, 0, 0 },
	{ "peak nonzero", GUNYAH_POOL_PEAK_USED, PAGE_SIZE, -EINVAL },
};

static void tunable_desc(const struct tunable_param *p, char *desc)
{
	strscpy(desc, p->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(tunable, tunable_params, tunable_desc);

/* A store is checked against every invariant; a refused one changes nothing. */
static void gunyah_pool_test_tunables(struct kunit *test)
{
	const struct tunable_param *p = test->param_value;
	struct gunyah_pool *pool = test_pool_create(test);
	struct gunyah_pool_usage before, after;
	phys_addr_t phys;

	/* Something in use, so "below used" has a meaning. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &phys), 0);
	gunyah_pool_usage(pool, &before);
	KUNIT_EXPECT_EQ(test, gunyah_pool_set_tunable(pool, p->which, p->val),
			p->err);
	gunyah_pool_usage(pool, &after);
	if (p->err)
		KUNIT_EXPECT_EQ(test, memcmp(&before, &after, sizeof(before)), 0);
	expect_valid(test, pool);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, phys, 0), 0);
}

/* Falling below the low watermark is counted once per crossing. */
static void gunyah_pool_test_low_watermark(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	phys_addr_t a, b;

	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_LOW_WATERMARK,
						      TEST_POOL_BYTES / 2), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 9, GFP_KERNEL, &a), 0);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_LOW_WATERMARK), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &b), 0);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_LOW_WATERMARK), 1);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, b, 0), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &b), 0);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_LOW_WATERMARK), 2);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, b, 0), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, a, 9), 0);
	expect_valid(test, pool);
}

/* The validator itself notices books that disagree. */
static void gunyah_pool_test_validator_detects(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	unsigned long head;
	phys_addr_t phys;

	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 2, GFP_KERNEL, &phys), 0);
	expect_valid(test, pool);

	scoped_guard(spinlock_irqsave, &pool->lock)
		pool->used += PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, gunyah_pool_validate(pool), -EUCLEAN);
	scoped_guard(spinlock_irqsave, &pool->lock)
		pool->used -= PAGE_SIZE;

	/* An order-0 block inside the order-2 one. */
	head = PHYS_PFN(phys) + 1 - PHYS_PFN(pool->base);
	set_bit(head, pool->out[0]);
	KUNIT_EXPECT_EQ(test, gunyah_pool_validate(pool), -EUCLEAN);
	clear_bit(head, pool->out[0]);

	expect_valid(test, pool);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, phys, 2), 0);
}

/*
 * The invariant the hypervisor relies on: no page handed out, of any order,
 * and no page of the region at all, is reachable through the linear map.
 */
static void gunyah_pool_test_not_in_linear_map(struct kunit *test)
{
	struct gunyah_pool *sys = test_sys_pool(test);
	phys_addr_t blocks[GUNYAH_POOL_MAX_ORDER + 1];
	unsigned int o;

	for (o = 0; o < sys->capacity / GUNYAH_POOL_CHUNK_BYTES; o++)
		if (sys->mode == GUNYAH_POOL_NO_MAP || test_bit(o, sys->reusable.held))
			expect_unmapped(test, sys->base + o * GUNYAH_POOL_CHUNK_BYTES,
					GUNYAH_POOL_CHUNK_BYTES);
	for (o = 0; o <= GUNYAH_POOL_MAX_ORDER; o++) {
		KUNIT_ASSERT_EQ(test, gunyah_pool_alloc(o, GFP_KERNEL, &blocks[o]), 0);
		expect_unmapped(test, blocks[o], PAGE_SIZE << o);
	}
	for (o = 0; o <= GUNYAH_POOL_MAX_ORDER; o++)
		gunyah_pool_free(blocks[o], o);
	expect_valid(test, sys);
}

static const unsigned int zeropad_bytes[] = { 1, 2, 3, 4, 5, 6, 7 };

static void zeropad_desc(const unsigned int *n, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%u mapped bytes", *n);
}

KUNIT_ARRAY_PARAM(zeropad, zeropad_bytes, zeropad_desc);

/*
 * load_unaligned_zeropad() from the last mapped page across the start of
 * the region: the access into the region faults, the exception fixup pads
 * the word with zeroes, and the kernel goes on. On Gunyah the same access to
 * a page that is mapped but donated would be a fatal external abort.
 *
 * The page before the region is not ours, and KASAN may have poisoned it;
 * the fixup re-reads the aligned word there with an instrumented load, so
 * reports are off for the duration.
 */
static void expect_zeropad(struct kunit *test, phys_addr_t boundary,
			   unsigned int n)
{
	unsigned long word, expect = 0;
	const u8 *edge = (const u8 *)phys_to_virt(boundary) - n;

	kasan_disable_current();
	memcpy(&expect, edge, n);
	word = load_unaligned_zeropad(edge);
	kasan_enable_current();

	KUNIT_EXPECT_EQ_MSG(test, word, expect,
			    "%u bytes before %pa: got %#lx, expected %#lx",
			    n, &boundary, word, expect);
}

static bool page_mapped_before(phys_addr_t boundary)
{
	unsigned long pfn = PHYS_PFN(boundary) - 1;

	return pfn_valid(pfn) && kernel_page_present(pfn_to_page(pfn));
}

static void gunyah_pool_test_zeropad_boundary(struct kunit *test)
{
	unsigned int n = *(const unsigned int *)test->param_value;
	struct gunyah_pool *sys = test_sys_pool(test);

	if (sys->mode != GUNYAH_POOL_NO_MAP)
		kunit_skip(test, "a reusable pool's boundaries are its chunks'");
	if (!page_mapped_before(sys->base))
		kunit_skip(test, "the page before the region is not in the linear map");
	expect_zeropad(test, sys->base, n);
}

/* The exported API works on the system's pool and counts what it does. */
static void gunyah_pool_test_public_api(struct kunit *test)
{
	struct gunyah_pool *sys = test_sys_pool(test);
	u64 allocs = test_stat(sys, GUNYAH_POOL_STAT_ALLOC_SUCCESS);
	u64 frees = test_stat(sys, GUNYAH_POOL_STAT_FREE);
	struct gunyah_pool_usage before, u;
	phys_addr_t phys;

	gunyah_pool_usage(sys, &before);
	KUNIT_ASSERT_EQ(test, gunyah_pool_reserve(SZ_1M), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_alloc(4, GFP_KERNEL | __GFP_ZERO, &phys), 0);
	gunyah_pool_usage(sys, &u);
	KUNIT_EXPECT_EQ(test, u.committed, before.committed + SZ_1M);
	KUNIT_EXPECT_EQ(test, u.used, before.used + (PAGE_SIZE << 4));
	KUNIT_EXPECT_EQ(test, u.free, u.size - u.used);
	KUNIT_EXPECT_GE(test, u.peak_used, u.used);
	KUNIT_EXPECT_EQ(test, gunyah_pool_alloc(GUNYAH_POOL_MAX_ORDER + 1,
						GFP_KERNEL, &phys), -EINVAL);
	gunyah_pool_free(phys, 4);
	gunyah_pool_unreserve(SZ_1M);

	gunyah_pool_usage(sys, &u);
	KUNIT_EXPECT_EQ(test, u.used, before.used);
	KUNIT_EXPECT_EQ(test, u.committed, before.committed);
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_ALLOC_SUCCESS), allocs + 1);
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_FREE), frees + 1);
	expect_valid(test, sys);
}

/* Put the system's tunables back when a reusable case ends. */
struct saved_tunables {
	struct gunyah_pool *pool;
	struct gunyah_pool_usage u;
};

static void restore_tunables(void *data)
{
	struct saved_tunables *st = data;
	struct gunyah_pool *pool = st->pool;

	/* Order matters: widen first, then narrow. */
	gunyah_pool_set_tunable(pool, GUNYAH_POOL_MAX_SIZE, pool->capacity);
	gunyah_pool_set_tunable(pool, GUNYAH_POOL_HIGH_WATERMARK, pool->capacity);
	gunyah_pool_set_tunable(pool, GUNYAH_POOL_LOW_WATERMARK, st->u.low_wmark);
	gunyah_pool_set_tunable(pool, GUNYAH_POOL_HIGH_WATERMARK, st->u.high_wmark);
	gunyah_pool_set_tunable(pool, GUNYAH_POOL_MIN_SIZE, st->u.min_size);
	gunyah_pool_set_tunable(pool, GUNYAH_POOL_MAX_SIZE, st->u.max_size);
	gunyah_pool_resize(pool);
}

static struct gunyah_pool *test_reusable_setup(struct kunit *test)
{
	struct gunyah_pool *sys = test_reusable_pool(test);
	struct saved_tunables *st;

	st = kunit_kzalloc(test, sizeof(*st), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, st);
	st->pool = sys;
	gunyah_pool_usage(sys, &st->u);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, restore_tunables, st));
	/* Start from a pool that neither refills nor drains by itself. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(sys, GUNYAH_POOL_HIGH_WATERMARK,
						      sys->capacity), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(sys, GUNYAH_POOL_LOW_WATERMARK, 0), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(sys, GUNYAH_POOL_MIN_SIZE, 0), 0);
	flush_work(&sys->reusable.resize_work);
	return sys;
}

static u64 test_size(struct gunyah_pool *pool)
{
	struct gunyah_pool_usage u;

	gunyah_pool_usage(pool, &u);
	return u.size;
}

/* The chunk that is held in @after and not in @before, or -1. */
static long new_chunk(struct gunyah_pool *pool, const unsigned long *before)
{
	unsigned long c;

	for (c = 0; c < pool->capacity / GUNYAH_POOL_CHUNK_BYTES; c++)
		if (test_bit(c, pool->reusable.held) && !test_bit(c, before))
			return c;
	return -1;
}

/*
 * A chunk leaves the linear map before the pool hands any of it out, and is
 * back in it once it has left the pool.
 */
static void gunyah_pool_test_reusable_grow_shrink(struct kunit *test)
{
	struct gunyah_pool *sys = test_reusable_setup(test);
	unsigned long before[BITS_TO_LONGS(64)] = {};
	u64 grows = test_stat(sys, GUNYAH_POOL_STAT_GROW);
	u64 shrinks = test_stat(sys, GUNYAH_POOL_STAT_SHRINK);
	u64 flushes = atomic64_read(&sys->reusable.tlb_flushes);
	u64 size = test_size(sys);
	phys_addr_t chunk, p;
	long c;

	KUNIT_ASSERT_LE(test, sys->capacity / GUNYAH_POOL_CHUNK_BYTES, 64);
	bitmap_copy(before, sys->reusable.held, sys->capacity / GUNYAH_POOL_CHUNK_BYTES);
	scoped_guard(mutex, &sys->reusable.resize_lock)
		KUNIT_ASSERT_EQ(test, gunyah_pool_grow(sys), 0);
	KUNIT_EXPECT_EQ(test, test_size(sys), size + GUNYAH_POOL_CHUNK_BYTES);
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_GROW), grows + 1);
	KUNIT_EXPECT_EQ(test, atomic64_read(&sys->reusable.tlb_flushes), flushes + 1);
	c = new_chunk(sys, before);
	KUNIT_ASSERT_GE(test, c, 0);
	chunk = sys->base + c * GUNYAH_POOL_CHUNK_BYTES;
	expect_unmapped(test, chunk, GUNYAH_POOL_CHUNK_BYTES);
	expect_valid(test, sys);

	scoped_guard(mutex, &sys->reusable.resize_lock)
		KUNIT_ASSERT_EQ(test, gunyah_pool_shrink(sys), 0);
	KUNIT_EXPECT_EQ(test, test_size(sys), size);
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_SHRINK), shrinks + 1);
	/*
	 * The highest free chunk went back: if it was ours, it is mapped again,
	 * unless debug_pagealloc unmapped its pages anew as free pages.
	 */
	if (!test_bit(c, sys->reusable.held) && !debug_pagealloc_enabled())
		for (p = chunk; p < chunk + GUNYAH_POOL_CHUNK_BYTES; p += PAGE_SIZE)
			KUNIT_EXPECT_TRUE_MSG(test, kernel_page_present(phys_to_page(p)),
					      "page %pa left the pool unmapped", &p);
	expect_valid(test, sys);
}

/* GFP_NOWAIT and GFP_ATOMIC never grow the pool; GFP_KERNEL does. */
static void gunyah_pool_test_reusable_atomic_never_grows(struct kunit *test)
{
	struct gunyah_pool *sys = test_reusable_setup(test);
	struct gunyah_pool_usage u;
	phys_addr_t *blocks, phys;
	unsigned long i, nr;
	u64 grows;

	/* Use up what the pool holds now, without growing it. */
	gunyah_pool_usage(sys, &u);
	nr = u.free >> PAGE_SHIFT;
	blocks = kunit_kcalloc(test, nr + 1, sizeof(*blocks), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, blocks);
	for (i = 0; i < nr; i++)
		KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(sys, 0, GFP_NOWAIT,
							      &blocks[i]), 0);
	grows = test_stat(sys, GUNYAH_POOL_STAT_GROW);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(sys, 0, GFP_NOWAIT, &phys),
			-ENOMEM);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(sys, 0, GFP_ATOMIC, &phys),
			-ENOMEM);
	flush_work(&sys->reusable.resize_work);
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_GROW), grows);
	KUNIT_EXPECT_EQ(test, test_size(sys), u.size);

	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(sys, 0, GFP_KERNEL,
						      &blocks[nr]), 0);
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_GROW), grows + 1);
	expect_valid(test, sys);
	for (i = 0; i <= nr; i++)
		gunyah_pool_block_free(sys, blocks[i], 0);
	expect_valid(test, sys);
}

/* Refill below the low watermark up to the high one; drain above it. */
static void gunyah_pool_test_reusable_watermarks(struct kunit *test)
{
	struct gunyah_pool *sys = test_reusable_setup(test);
	const u64 chunk = GUNYAH_POOL_CHUNK_BYTES;
	struct gunyah_pool_usage u;
	phys_addr_t a, b;

	/* Empty out what is free, then ask for 8 MiB free below 4 MiB. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(sys, GUNYAH_POOL_HIGH_WATERMARK, 0), 0);
	gunyah_pool_resize(sys);
	gunyah_pool_usage(sys, &u);
	KUNIT_EXPECT_LT(test, u.free, chunk);
	expect_valid(test, sys);

	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(sys, GUNYAH_POOL_HIGH_WATERMARK,
						      2 * chunk), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(sys, GUNYAH_POOL_LOW_WATERMARK,
						      chunk), 0);
	gunyah_pool_resize(sys);
	gunyah_pool_usage(sys, &u);
	KUNIT_EXPECT_GE(test, u.free, 2 * chunk);
	KUNIT_EXPECT_LT(test, u.free, 3 * chunk);
	expect_valid(test, sys);

	/* Take 1.5 chunks: below low, so it refills to high again. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(sys, GUNYAH_POOL_MAX_ORDER,
						      GFP_KERNEL, &a), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(sys, GUNYAH_POOL_MAX_ORDER - 1,
						      GFP_KERNEL, &b), 0);
	flush_work(&sys->reusable.resize_work);
	gunyah_pool_resize(sys);
	gunyah_pool_usage(sys, &u);
	KUNIT_EXPECT_GE(test, u.free, 2 * chunk);
	expect_valid(test, sys);

	/* Free it all: more than a chunk above high, so it drains. */
	gunyah_pool_block_free(sys, a, GUNYAH_POOL_MAX_ORDER);
	gunyah_pool_block_free(sys, b, GUNYAH_POOL_MAX_ORDER - 1);
	flush_work(&sys->reusable.resize_work);
	gunyah_pool_resize(sys);
	gunyah_pool_usage(sys, &u);
	KUNIT_EXPECT_GE(test, u.free, 2 * chunk);
	KUNIT_EXPECT_LT(test, u.free, 3 * chunk);
	expect_valid(test, sys);
}

/*
 * load_unaligned_zeropad() across the start of every chunk the pool holds
 * whose previous page is mapped (a chunk left to CMA, or memory before the
 * region). As above, the mapped side is not ours: KASAN reports are off.
 */
static void gunyah_pool_test_reusable_zeropad_chunks(struct kunit *test)
{
	struct gunyah_pool *sys = test_reusable_setup(test);
	unsigned int crossed = 0, n, i;
	phys_addr_t blocks[3], boundary;
	unsigned long c;

	/* Hold a few chunks: one block of the largest order fills each. */
	for (i = 0; i < ARRAY_SIZE(blocks); i++)
		KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(sys, GUNYAH_POOL_MAX_ORDER,
							      GFP_KERNEL, &blocks[i]), 0);
	for (c = 0; c < sys->capacity / GUNYAH_POOL_CHUNK_BYTES; c++) {
		if (!test_bit(c, sys->reusable.held))
			continue;
		boundary = sys->base + c * GUNYAH_POOL_CHUNK_BYTES;
		if (!page_mapped_before(boundary))
			continue;
		for (n = 1; n <= 7; n++)
			expect_zeropad(test, boundary, n);
		crossed++;
	}
	for (i = 0; i < ARRAY_SIZE(blocks); i++)
		gunyah_pool_block_free(sys, blocks[i], GUNYAH_POOL_MAX_ORDER);
	expect_valid(test, sys);
	if (!crossed && debug_pagealloc_enabled())
		kunit_skip(test, "debug_pagealloc unmaps the free pages before every chunk");
	KUNIT_EXPECT_GT(test, crossed, 0);
}

/*
 * Fail-nth sweep: for each step that can fail, make the n-th fault point the
 * step reaches fail (current->fail_nth, the in-kernel side of
 * /proc/<pid>/fail-nth), for n = 1, 2, ... until the step reaches fewer than
 * n. After every attempt the step is undone if it succeeded, and the pool
 * must be as it was: books valid, the same bytes held, used and committed.
 */
struct fail_step {
	const char *name;
	bool reusable;		/* runs on the system's reusable pool */
	int (*run)(struct gunyah_pool *pool, phys_addr_t *phys);
	void (*undo)(struct gunyah_pool *pool, phys_addr_t phys);
};

static int fail_alloc0(struct gunyah_pool *pool, phys_addr_t *phys)
{
	return gunyah_pool_block_alloc(pool, 0, GFP_KERNEL | __GFP_ZERO, phys);
}

static int fail_alloc9(struct gunyah_pool *pool, phys_addr_t *phys)
{
	return gunyah_pool_block_alloc(pool, 9, GFP_KERNEL | __GFP_ZERO, phys);
}

static void fail_free0(struct gunyah_pool *pool, phys_addr_t phys)
{
	gunyah_pool_block_free(pool, phys, 0);
}

static void fail_free9(struct gunyah_pool *pool, phys_addr_t phys)
{
	gunyah_pool_block_free(pool, phys, 9);
}

static int fail_grow(struct gunyah_pool *pool, phys_addr_t *phys)
{
	guard(mutex)(&pool->reusable.resize_lock);
	return gunyah_pool_grow(pool);
}

static int fail_shrink(struct gunyah_pool *pool, phys_addr_t *phys)
{
	guard(mutex)(&pool->reusable.resize_lock);
	return gunyah_pool_shrink(pool);
}

static void fail_undo_grow(struct gunyah_pool *pool, phys_addr_t phys)
{
	fail_shrink(pool, NULL);
}

static void fail_undo_shrink(struct gunyah_pool *pool, phys_addr_t phys)
{
	fail_grow(pool, NULL);
}

static const struct fail_step fail_steps[] = {
	{ "alloc order 0 zeroed", false, fail_alloc0, fail_free0 },
	{ "alloc order 9 zeroed", false, fail_alloc9, fail_free9 },
	{ "grow by a chunk", true, fail_grow, fail_undo_grow },
	{ "shrink by a chunk", true, fail_shrink, fail_undo_shrink },
};

static void fail_step_desc(const struct fail_step *step, char *desc)
{
	strscpy(desc, step->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(fail_step, fail_steps, fail_step_desc);

#ifdef CONFIG_FAULT_INJECTION
static void set_fail_nth(unsigned int n)
{
	WRITE_ONCE(current->fail_nth, n);
}

static unsigned int fail_nth_left(void)
{
	return READ_ONCE(current->fail_nth);
}
#else
static void set_fail_nth(unsigned int n) { }
static unsigned int fail_nth_left(void) { return 1; }
#endif

static void gunyah_pool_test_fail_nth(struct kunit *test)
{
	const struct fail_step *step = test->param_value;
	struct gunyah_pool_usage before, after;
	unsigned int n, injected = 0, failed = 0;
	struct gunyah_pool *pool;
	phys_addr_t phys = 0;
	int ret = 0;
	bool hit;

	if (!IS_ENABLED(CONFIG_GUNYAH_POOL_FAULT_INJECTION))
		kunit_skip(test, "CONFIG_GUNYAH_POOL_FAULT_INJECTION is off");
	pool = step->reusable ? test_reusable_setup(test) : test_pool_create(test);
	/* Something to shrink. */
	if (step->run == fail_shrink)
		KUNIT_ASSERT_EQ(test, fail_grow(pool, NULL), 0);

	for (n = 1; n < 1000; n++) {
		gunyah_pool_usage(pool, &before);
		set_fail_nth(n);
		ret = step->run(pool, &phys);
		hit = !fail_nth_left();
		set_fail_nth(0);
		if (!ret)
			step->undo(pool, phys);
		else
			failed++;
		gunyah_pool_usage(pool, &after);
		expect_valid(test, pool);
		KUNIT_EXPECT_EQ_MSG(test, after.size, before.size, "n=%u", n);
		KUNIT_EXPECT_EQ_MSG(test, after.used, before.used, "n=%u", n);
		KUNIT_EXPECT_EQ_MSG(test, after.committed, before.committed, "n=%u", n);
		if (!hit)
			break;
		injected++;
	}
	/* The last attempt ran clean and must have succeeded. */
	KUNIT_EXPECT_EQ(test, ret, 0);
	KUNIT_EXPECT_GT(test, injected, 0);
	kunit_info(test, "fail-nth sweep: %s: %u faults injected, %u failed the step, books ok\n",
		   step->name, injected, failed);
	if (step->run == fail_shrink)
		fail_undo_grow(pool, 0);
}

static struct kunit_case gunyah_pool_test_cases[] = {
	KUNIT_CASE_PARAM(gunyah_pool_test_alloc_free, alloc_gen_params),
	KUNIT_CASE(gunyah_pool_test_atomic_context),
	KUNIT_CASE(gunyah_pool_test_bad_order),
	KUNIT_CASE(gunyah_pool_test_zero),
	KUNIT_CASE(gunyah_pool_test_zero_atomic_refused),
	KUNIT_CASE_PARAM(gunyah_pool_test_exhaustion, exhaust_gen_params),
	KUNIT_CASE(gunyah_pool_test_fragmentation),
	KUNIT_CASE(gunyah_pool_test_max_size),
	KUNIT_CASE(gunyah_pool_test_bad_free),
	KUNIT_CASE(gunyah_pool_test_double_free),
	KUNIT_CASE(gunyah_pool_test_reserve_limits),
	KUNIT_CASE(gunyah_pool_test_unreserve_too_much),
	KUNIT_CASE_PARAM(gunyah_pool_test_tunables, tunable_gen_params),
	KUNIT_CASE(gunyah_pool_test_low_watermark),
	KUNIT_CASE(gunyah_pool_test_validator_detects),
	KUNIT_CASE(gunyah_pool_test_not_in_linear_map),
	KUNIT_CASE_PARAM(gunyah_pool_test_zeropad_boundary, zeropad_gen_params),
	KUNIT_CASE(gunyah_pool_test_public_api),
	KUNIT_CASE(gunyah_pool_test_reusable_grow_shrink),
	KUNIT_CASE(gunyah_pool_test_reusable_atomic_never_grows),
	KUNIT_CASE(gunyah_pool_test_reusable_watermarks),
	KUNIT_CASE(gunyah_pool_test_reusable_zeropad_chunks),
	KUNIT_CASE_PARAM(gunyah_pool_test_fail_nth, fail_step_gen_params),
	{}
};

static struct kunit_suite gunyah_pool_test_suite = {
	.name = "gunyah_pool",
	.test_cases = gunyah_pool_test_cases,
};

kunit_test_suite(gunyah_pool_test_suite);
