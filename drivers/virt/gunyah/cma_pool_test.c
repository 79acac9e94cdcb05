// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the Gunyah donation pool.
 *
 * Most cases run on a private pool built over one order-10 block of the page
 * allocator, taken out of the linear map, so they can fill, fragment and
 * misuse it without disturbing anyone. (Not a block of the system's pool: a
 * pool keeps the mark of each block it hands out in the block's first
 * struct page, which a pool built inside the block would overwrite.)
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
#include <linux/completion.h>
#include <linux/cpu.h>
#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/io.h>
#include <linux/kasan.h>
#include <linux/kthread.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/set_memory.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <asm/word-at-a-time.h>

#include "cma_pool.h"
#include "cma_pool_reusable.h"

#define TEST_POOL_ORDER		GUNYAH_POOL_MAX_ORDER
#define TEST_POOL_BYTES		(PAGE_SIZE << TEST_POOL_ORDER)

struct test_pool {
	struct gunyah_pool pool;
	phys_addr_t phys;
};

/*
 * Memory for a private pool: an order-10 block of the page allocator, out
 * of the linear map as secretmem takes its pages out (where the linear map
 * allows it: rodata=full), until test_region_put().
 */
static int test_region_get(phys_addr_t *phys)
{
	struct page *page = alloc_pages(GFP_KERNEL | __GFP_NOWARN, TEST_POOL_ORDER);
	unsigned long i, addr;

	if (!page)
		return -ENOMEM;
	/* A pool's pages start without marks; the allocator clears only the head's. */
	for (i = 0; i < 1UL << TEST_POOL_ORDER; i++)
		set_page_private(page + i, 0);
	addr = (unsigned long)page_address(page);
	if (can_set_direct_map()) {
		for (i = 0; i < 1UL << TEST_POOL_ORDER; i++)
			set_direct_map_invalid_noflush(page + i);
		flush_tlb_kernel_range(addr, addr + TEST_POOL_BYTES);
	}
	*phys = page_to_phys(page);
	return 0;
}

static void test_region_put(phys_addr_t phys)
{
	struct page *page = phys_to_page(phys);
	unsigned long i;

	if (can_set_direct_map())
		for (i = 0; i < 1UL << TEST_POOL_ORDER; i++)
			set_direct_map_default_noflush(page + i);
	__free_pages(page, TEST_POOL_ORDER);
}

static void test_pool_release(void *data)
{
	struct test_pool *tp = data;

	gunyah_pool_destroy(&tp->pool);
	/* A pool destroy refused (blocks out, warned) leaks its region. */
	if (!tp->pool.gp)
		test_region_put(tp->phys);
	kfree(tp);
}

static struct gunyah_pool *test_sys_pool(struct kunit *test)
{
	struct gunyah_pool *sys = gunyah_pool_get();

	if (!sys)
		kunit_skip(test, "no donation pool is configured");
	return sys;
}

/*
 * A private pool of TEST_POOL_BYTES less the first @skip pages, gone when the
 * test ends.
 */
static struct gunyah_pool *test_pool_create_at(struct kunit *test,
					       unsigned long skip)
{
	struct test_pool *tp;

	/* Only where the system has a pool, as before (skips are pinned). */
	test_sys_pool(test);
	tp = kzalloc(sizeof(*tp), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, tp);
	if (test_region_get(&tp->phys)) {
		kfree(tp);
		KUNIT_FAIL_AND_ABORT(test, "cannot take an order-%u block from the page allocator",
				     TEST_POOL_ORDER);
	}
	if (gunyah_pool_nomap_init(&tp->pool, "kunit", tp->phys + PFN_PHYS(skip),
				   TEST_POOL_BYTES - PFN_PHYS(skip))) {
		test_region_put(tp->phys);
		kfree(tp);
		KUNIT_FAIL_AND_ABORT(test, "cannot set up a private pool");
	}
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, test_pool_release, tp));
	return &tp->pool;
}

/* A private pool of TEST_POOL_BYTES, gone when the test ends. */
static struct gunyah_pool *test_pool_create(struct kunit *test)
{
	return test_pool_create_at(test, 0);
}

static struct gunyah_pool *test_reusable_pool(struct kunit *test)
{
	struct gunyah_pool *sys = test_sys_pool(test);

	if (!gunyah_pool_is_reusable(sys))
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

/* Two blocks, one after the other, from the caches of the CPU it runs on. */
static void test_alloc_two_here(struct kunit *test, struct gunyah_pool *pool,
				unsigned int order_a, phys_addr_t *a,
				unsigned int order_b, phys_addr_t *b)
{
	int ra, rb;

	migrate_disable();
	ra = gunyah_pool_block_alloc(pool, order_a, GFP_KERNEL, a);
	rb = gunyah_pool_block_alloc(pool, order_b, GFP_KERNEL, b);
	migrate_enable();
	KUNIT_ASSERT_EQ(test, ra, 0);
	KUNIT_ASSERT_EQ(test, rb, 0);
}

/* @nr order-0 blocks from @pool, their addresses in an array the test frees. */
static phys_addr_t *test_alloc_pages(struct kunit *test,
				     struct gunyah_pool *pool, unsigned long nr)
{
	phys_addr_t *pages = kunit_kcalloc(test, nr, sizeof(*pages), GFP_KERNEL);
	unsigned long i;

	KUNIT_ASSERT_NOT_NULL(test, pages);
	for (i = 0; i < nr; i++)
		KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL,
							      &pages[i]), 0);
	return pages;
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
	/*
	 * The temporary mappings left no alias in the linear map (where the
	 * private pool's memory left it: see test_region_get(); the public
	 * API case checks the system's pool everywhere).
	 */
	if (can_set_direct_map())
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

	pages = test_alloc_pages(test, pool, nr);
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

/*
 * Small blocks fill the holes below a larger free block before they break it
 * up, refills of the per-CPU caches included: with pages 2-7 and the
 * order-4 block at page 16 free, two pages later the order-4 block is still
 * there to serve a stage-2 PGD.
 */
static void gunyah_pool_test_small_blocks_fill_holes_first(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	unsigned long i, nr = TEST_POOL_BYTES >> PAGE_SHIFT;
	phys_addr_t *pages, a, b, pgd;

	pages = test_alloc_pages(test, pool, nr);
	for (i = 2; i < 32; i++) {
		if (i < 8 || i >= 16)
			KUNIT_ASSERT_EQ(test, gunyah_pool_block_free(pool, pages[i], 0), 0);
	}
	gunyah_pool_drain(pool);

	/* Both from one CPU's cache, as one refill serves them. */
	test_alloc_two_here(test, pool, 0, &a, 0, &b);
	KUNIT_EXPECT_EQ(test, a, pages[2]);
	KUNIT_EXPECT_EQ(test, b, pages[3]);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 4, GFP_KERNEL, &pgd), 0);
	KUNIT_EXPECT_EQ(test, pgd, pages[16]);
	expect_valid(test, pool);

	gunyah_pool_block_free(pool, pgd, 4);
	gunyah_pool_block_free(pool, a, 0);
	gunyah_pool_block_free(pool, b, 0);
	for (i = 0; i < nr; i++) {
		if (i < 2 || (i >= 8 && i < 16) || i >= 32)
			gunyah_pool_block_free(pool, pages[i], 0);
	}
	KUNIT_EXPECT_EQ(test, test_used(pool), 0);
	expect_valid(test, pool);
}

/*
 * A region that starts one page past a large block's alignment: blocks stay
 * naturally aligned in physical memory, a free block at the region's first
 * page is found again although larger blocks around it would start before
 * the region, and the pool fills to its last page.
 */
static void gunyah_pool_test_unaligned_base(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create_at(test, 1);
	unsigned long i, nr = (TEST_POOL_BYTES >> PAGE_SHIFT) - 1;
	phys_addr_t *pages, a, b;

	pages = test_alloc_pages(test, pool, nr);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &a),
			-ENOMEM);
	/* Pages 1 and 2 are an aligned order-1 block; page 0 is alone. */
	for (i = 0; i < 3; i++)
		KUNIT_ASSERT_EQ(test, gunyah_pool_block_free(pool, pages[i], 0), 0);
	gunyah_pool_drain(pool);
	expect_valid(test, pool);

	test_alloc_two_here(test, pool, 1, &a, 0, &b);
	KUNIT_EXPECT_EQ(test, a, pages[1]);
	KUNIT_EXPECT_TRUE(test, IS_ALIGNED(a, PAGE_SIZE << 1));
	KUNIT_EXPECT_EQ(test, b, pages[0]);
	expect_valid(test, pool);

	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, a, 1), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, b, 0), 0);
	for (i = 3; i < nr; i++)
		KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, pages[i], 0), 0);
	KUNIT_EXPECT_EQ(test, test_used(pool), 0);
	/* With everything back, an order-4 block comes out aligned. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 4, GFP_KERNEL, &a), 0);
	KUNIT_EXPECT_TRUE(test, IS_ALIGNED(a, PAGE_SIZE << 4));
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, a, 4), 0);
	expect_valid(test, pool);
}

/* max_size_bytes caps what is handed out; it cannot drop below what is used. */
static void gunyah_pool_test_max_size(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	phys_addr_t a, b;

	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_MAX_SIZE,
						      PAGE_SIZE << 8), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, 9, GFP_KERNEL, &a),
			-ENOMEM);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 8, GFP_KERNEL, &a), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &b),
			-ENOMEM);
	KUNIT_EXPECT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_MAX_SIZE,
						      PAGE_SIZE << 7), -EBUSY);
	expect_valid(test, pool);

	KUNIT_EXPECT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_MAX_SIZE,
						      TEST_POOL_BYTES), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &b), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, b, 0), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, a, 8), 0);
	expect_valid(test, pool);
}

/*
 * Every reason the free path refuses a free, each sent alone to a pool of its
 * own (a pool warns once per kind of misuse): the free is refused and
 * counted, nothing is freed, and the block it names, if any, is still handed
 * out afterwards. The description ends with the reason the warning must
 * give; test_kunit.py reads it from the log.
 */
enum free_refusal_at {
	AT_BLOCK,		/* the held order-2 block */
	AT_BLOCK_PAGE,		/* its second page */
	AT_BELOW,		/* the page below the region */
	AT_ABOVE,		/* the page above it */
	AT_LAST_PAGE,		/* the region's last page */
	AT_FREED,		/* a block already given back */
};

struct free_refusal {
	const char *desc;
	enum free_refusal_at at;
	unsigned int order;
	bool names_block;	/* the refused free names the held block */
};

static const struct free_refusal free_refusals[] = {
	{ "order above the largest: bad order", AT_BLOCK, GUNYAH_POOL_MAX_ORDER + 1, true },
	{ "below the region: not from this pool", AT_BELOW, 0, false },
	{ "above the region: not from this pool", AT_ABOVE, 0, false },
	{ "past the region's end: not from this pool", AT_LAST_PAGE, 1, false },
	{ "a block's second page, order 2: misaligned for its order",
	  AT_BLOCK_PAGE, 2, true },
	{ "a block's second page, order 0: order smaller than allocated",
	  AT_BLOCK_PAGE, 0, true },
	{ "order 1 for order 2: order smaller than allocated", AT_BLOCK, 1, true },
	{ "order 3 for order 2: order larger than allocated", AT_BLOCK, 3, true },
	{ "freed twice: not allocated (double free?)", AT_FREED, 2, false },
};

static void free_refusal_desc(const struct free_refusal *r, char *desc)
{
	strscpy(desc, r->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(free_refusal, free_refusals, free_refusal_desc);

static void gunyah_pool_test_free_refused(struct kunit *test)
{
	const struct free_refusal *r = test->param_value;
	struct gunyah_pool *pool = test_pool_create(test);
	struct gunyah_pool_usage before, after;
	phys_addr_t block, freed, at = 0;

	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 2, GFP_KERNEL, &block), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 2, GFP_KERNEL, &freed), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_free(pool, freed, 2), 0);
	switch (r->at) {
	case AT_BLOCK:
		at = block;
		break;
	case AT_BLOCK_PAGE:
		at = block + PAGE_SIZE;
		break;
	case AT_BELOW:
		at = pool->base - PAGE_SIZE;
		break;
	case AT_ABOVE:
		at = pool->base + pool->capacity;
		break;
	case AT_LAST_PAGE:
		at = pool->base + pool->capacity - PAGE_SIZE;
		break;
	case AT_FREED:
		at = freed;
		break;
	}

	/* A larger order at the block must not be refused as misaligned. */
	if (r->at == AT_BLOCK && r->order <= GUNYAH_POOL_MAX_ORDER)
		KUNIT_ASSERT_TRUE(test, IS_ALIGNED(block, PAGE_SIZE << r->order));

	gunyah_pool_usage(pool, &before);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, at, r->order), -EINVAL);
	gunyah_pool_usage(pool, &after);
	KUNIT_EXPECT_EQ(test, after.used, before.used);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_INVALID_FREE), 1);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_FREE), 1);
	expect_valid(test, pool);
	/* The held block is still out: freeing it with its order succeeds. */
	KUNIT_EXPECT_EQ_MSG(test, gunyah_pool_block_free(pool, block, 2), 0,
			    "the block %s named was freed", r->names_block ?
			    "the refused free" : "no refused free");
	KUNIT_EXPECT_EQ(test, test_used(pool), 0);
	expect_valid(test, pool);
}

/*
 * Two writers whose values conflict: low_watermark 0 or 3/4 of the pool,
 * high_watermark 1/2 of it or all of it. Each store alone may or may not be
 * allowed; checked and applied as one step, low never passes high, however
 * they interleave, and no store undoes the other writer's: each writer owns
 * its tunable, so before each store it must still read the value it last
 * set. After each accepted store, the writer reads the tunables back (one
 * consistent snapshot) and counts any low above high.
 */
#define TUNABLES_RACE_ROUNDS	20000

struct tunables_race {
	struct gunyah_pool *pool;
	enum gunyah_pool_tunable which;
	u64 val[2];
	atomic_t *running;
	struct completion *finished;
	unsigned int accepted, refused, other, broken, lost;
};

static u64 tunables_race_own(struct tunables_race *w, struct gunyah_pool_usage *u)
{
	return w->which == GUNYAH_POOL_LOW_WATERMARK ? u->low_wmark : u->high_wmark;
}

static int tunables_race_fn(void *data)
{
	struct tunables_race *w = data;
	struct gunyah_pool_usage u;
	unsigned int i;
	u64 mine;
	int ret;

	gunyah_pool_usage(w->pool, &u);
	mine = tunables_race_own(w, &u);
	for (i = 0; i < TUNABLES_RACE_ROUNDS; i++) {
		gunyah_pool_usage(w->pool, &u);
		if (tunables_race_own(w, &u) != mine)
			w->lost++;
		ret = gunyah_pool_set_tunable(w->pool, w->which, w->val[i & 1]);
		if (ret == -EINVAL) {
			w->refused++;
			continue;
		}
		if (ret) {
			w->other++;
			continue;
		}
		w->accepted++;
		mine = w->val[i & 1];
		gunyah_pool_usage(w->pool, &u);
		if (u.low_wmark > u.high_wmark)
			w->broken++;
		cond_resched();
	}
	if (atomic_dec_and_test(w->running))
		complete(w->finished);
	return 0;
}

static void gunyah_pool_test_tunables_race(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	DECLARE_COMPLETION_ONSTACK(finished);
	atomic_t running = ATOMIC_INIT(2);
	struct tunables_race w[2] = {
		{ .which = GUNYAH_POOL_LOW_WATERMARK,
		  .val = { 0, TEST_POOL_BYTES / 4 * 3 } },
		{ .which = GUNYAH_POOL_HIGH_WATERMARK,
		  .val = { TEST_POOL_BYTES / 2, TEST_POOL_BYTES } },
	};
	struct gunyah_pool_usage u;
	struct task_struct *t[2];
	int i;

	if (num_online_cpus() < 2)
		kunit_skip(test, "one CPU: the writers cannot race");
	for (i = 0; i < 2; i++) {
		w[i].pool = pool;
		w[i].running = &running;
		w[i].finished = &finished;
		t[i] = kthread_create(tunables_race_fn, &w[i], "gpool-tunable/%d", i);
		if (IS_ERR(t[i])) {
			if (i)
				kthread_stop(t[0]);
			KUNIT_FAIL_AND_ABORT(test, "kthread_create: %ld", PTR_ERR(t[i]));
		}
		kthread_bind(t[i], cpumask_nth(i, cpu_online_mask));
	}
	for (i = 0; i < 2; i++)
		wake_up_process(t[i]);
	wait_for_completion(&finished);

	for (i = 0; i < 2; i++) {
		kunit_info(test, "writer %d: %u accepted, %u refused, %u other, %u broken, %u lost\n",
			   i, w[i].accepted, w[i].refused, w[i].other, w[i].broken,
			   w[i].lost);
		KUNIT_EXPECT_EQ(test, w[i].broken, 0);
		KUNIT_EXPECT_EQ(test, w[i].lost, 0);
		KUNIT_EXPECT_EQ(test, w[i].other, 0);
		/* Each writer had stores accepted. */
		KUNIT_EXPECT_GT(test, w[i].accepted, 0);
	}
	/* The conflict happened: some stores were refused for the other's value. */
	KUNIT_EXPECT_GT(test, w[0].refused + w[1].refused, 0);
	gunyah_pool_usage(pool, &u);
	KUNIT_EXPECT_LE(test, u.low_wmark, u.high_wmark);
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
	/* Every size and watermark is bounded by the capacity, so sums cannot wrap. */
	{ "max 2^64-1", GUNYAH_POOL_MAX_SIZE, U64_MAX, -EINVAL },
	{ "max 2^64-page", GUNYAH_POOL_MAX_SIZE, 0ULL - PAGE_SIZE, -EINVAL },
	{ "min 2^64-1", GUNYAH_POOL_MIN_SIZE, U64_MAX, -EINVAL },
	{ "min > capacity", GUNYAH_POOL_MIN_SIZE, TEST_POOL_BYTES + PAGE_SIZE, -EINVAL },
	{ "low 2^64-1", GUNYAH_POOL_LOW_WATERMARK, U64_MAX, -EINVAL },
	{ "low 2^64-page", GUNYAH_POOL_LOW_WATERMARK, 0ULL - PAGE_SIZE, -EINVAL },
	{ "high = capacity", GUNYAH_POOL_HIGH_WATERMARK, TEST_POOL_BYTES, 0 },
	{ "high > capacity", GUNYAH_POOL_HIGH_WATERMARK, TEST_POOL_BYTES + PAGE_SIZE, -EINVAL },
	{ "high 2^64-1", GUNYAH_POOL_HIGH_WATERMARK, U64_MAX, -EINVAL },
	{ "high wraps with a chunk", GUNYAH_POOL_HIGH_WATERMARK,
	  0ULL - (PAGE_SIZE << GUNYAH_POOL_MAX_ORDER), -EINVAL },
	{ "high 2^64-page", GUNYAH_POOL_HIGH_WATERMARK, 0ULL - PAGE_SIZE, -EINVAL },
	{ "ratio 2^32", GUNYAH_POOL_OVERCOMMIT_RATIO, 1ULL << 32, -EINVAL },
	{ "peak reset", GUNYAH_POOL_PEAK_USED, 0, 0 },
	{ "peak nonzero", GUNYAH_POOL_PEAK_USED, PAGE_SIZE, -EINVAL },
};

static void tunable_desc(const struct tunable_param *p, char *desc)
{
	strscpy(desc, p->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(tunable, tunable_params, tunable_desc);

/* The value of @which in @u; for the peak, what a reset to 0 reads back. */
static u64 tunable_of(const struct gunyah_pool_usage *u,
		      enum gunyah_pool_tunable which)
{
	switch (which) {
	case GUNYAH_POOL_MIN_SIZE:
		return u->min_size;
	case GUNYAH_POOL_MAX_SIZE:
		return u->max_size;
	case GUNYAH_POOL_LOW_WATERMARK:
		return u->low_wmark;
	case GUNYAH_POOL_HIGH_WATERMARK:
		return u->high_wmark;
	case GUNYAH_POOL_OVERCOMMIT_RATIO:
		return u->overcommit_ratio;
	case GUNYAH_POOL_PEAK_USED:
		/* Reset to what is in use: one page, which is not 0. */
		return u->peak_used - u->used;
	}
	return U64_MAX;
}

/*
 * A store is checked against every invariant; a refused one changes nothing
 * and an accepted one reads back as written.
 */
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
	else
		KUNIT_EXPECT_EQ(test, tunable_of(&after, p->which), p->val);
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

/* peak_used_bytes is the peak of what callers held, not of what was cached. */
static void gunyah_pool_test_peak_exact(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	struct gunyah_pool_usage u;
	phys_addr_t p[3];
	int i;

	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_PEAK_USED, 0), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &p[0]), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, p[0], 0), 0);
	gunyah_pool_usage(pool, &u);
	KUNIT_EXPECT_EQ(test, u.peak_used, PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, u.used, 0);

	for (i = 0; i < ARRAY_SIZE(p); i++)
		KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 2, GFP_KERNEL, &p[i]), 0);
	for (i = 0; i < ARRAY_SIZE(p); i++)
		KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, p[i], 2), 0);
	gunyah_pool_usage(pool, &u);
	KUNIT_EXPECT_EQ(test, u.peak_used, 3 * (PAGE_SIZE << 2));
	expect_valid(test, pool);
}

/*
 * A backing for the interface tests: it gives the pool its region
 * FAKE_GRANULE at a time when asked to grow, and counts what it is asked.
 */
#define FAKE_GRANULE	(16 * PAGE_SIZE)

struct fake_backing {
	struct gunyah_pool pool;
	phys_addr_t next;
	atomic_t grows;
	atomic_t kicks;
};

static int fake_grow(struct gunyah_pool *pool, gfp_t gfp)
{
	struct fake_backing *fb = container_of(pool, struct fake_backing, pool);
	int ret;

	atomic_inc(&fb->grows);
	if (fb->next >= pool->base + pool->capacity)
		return -ENOMEM;
	ret = gunyah_pool_add_range(pool, fb->next, FAKE_GRANULE);
	fb->next += FAKE_GRANULE;
	return ret;
}

static void fake_kick(struct gunyah_pool *pool)
{
	atomic_inc(&container_of(pool, struct fake_backing, pool)->kicks);
}

static const struct gunyah_pool_backing_ops fake_ops = {
	.name		= "fake",
	.granule	= FAKE_GRANULE,
	.grow		= fake_grow,
	.kick		= fake_kick,
};

static const struct gunyah_pool_backing_ops fake_fixed_ops = {
	.name		= "fake-fixed",
};

struct fake_pool {
	struct fake_backing fb;
	phys_addr_t block;	/* the region, from test_region_get() */
};

static void fake_pool_release(void *data)
{
	struct fake_pool *fp = data;

	gunyah_pool_destroy(&fp->fb.pool);
	if (!fp->fb.pool.gp)
		test_region_put(fp->block);
	kfree(fp);
}

/* An empty pool with a fake backing over an order-10 block of memory. */
static struct fake_backing *fake_pool_create(struct kunit *test,
					     const struct gunyah_pool_backing_ops *ops)
{
	struct fake_pool *fp;

	test_sys_pool(test);
	fp = kzalloc(sizeof(*fp), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, fp);
	if (test_region_get(&fp->block)) {
		kfree(fp);
		KUNIT_FAIL_AND_ABORT(test, "cannot take a block from the page allocator");
	}
	if (gunyah_pool_init(&fp->fb.pool, "kunit-fake", fp->block,
			     TEST_POOL_BYTES, ops)) {
		test_region_put(fp->block);
		kfree(fp);
		KUNIT_FAIL_AND_ABORT(test, "cannot set up a pool");
	}
	fp->fb.next = fp->fb.pool.base;
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, fake_pool_release, fp));
	return &fp->fb;
}

static u64 test_held(struct gunyah_pool *pool)
{
	struct gunyah_pool_usage u;

	gunyah_pool_usage(pool, &u);
	return u.held;
}

/* The core asks its backing to grow when short, and kicks it at watermarks. */
static void gunyah_pool_test_backing_grow_kick(struct kunit *test)
{
	struct fake_backing *fb = fake_pool_create(test, &fake_ops);
	struct gunyah_pool *pool = &fb->pool;
	phys_addr_t a, b, c;

	KUNIT_EXPECT_EQ(test, test_held(pool), 0);
	/* Short: one grow gives a granule, which serves the block. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &a), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&fb->grows), 1);
	KUNIT_EXPECT_EQ(test, test_held(pool), FAKE_GRANULE);
	KUNIT_EXPECT_EQ(test, a, pool->base);
	/* A block larger than a granule takes as many grows as it needs. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 5, GFP_KERNEL, &b), 0);
	KUNIT_EXPECT_EQ(test, test_held(pool), 4 * FAKE_GRANULE);
	KUNIT_EXPECT_TRUE(test, IS_ALIGNED(b, PAGE_SIZE << 5));
	expect_valid(test, pool);

	/* Falling below the low watermark kicks the backing once. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_HIGH_WATERMARK,
						      2 * FAKE_GRANULE), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_LOW_WATERMARK,
						      FAKE_GRANULE), 0);
	atomic_set(&fb->kicks, 0);
	/* Free now: 64 pages held - 1 - 32 = 31 pages, then 15. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 4, GFP_KERNEL, &c), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&fb->kicks), 1);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_LOW_WATERMARK), 1);
	/* Rising to the high watermark plus a granule kicks it again. */
	atomic_set(&fb->kicks, 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, c, 4), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&fb->kicks), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, b, 5), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&fb->kicks), 1);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, a, 0), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&fb->kicks), 1);
	expect_valid(test, pool);
}

/*
 * Frees of small blocks, which go to the per-CPU caches, count toward the
 * high watermark as any free does: the free that brings free memory to a
 * granule above it kicks the backing, once.
 */
static void gunyah_pool_test_small_frees_kick(struct kunit *test)
{
	struct fake_backing *fb = fake_pool_create(test, &fake_ops);
	struct gunyah_pool *pool = &fb->pool;
	const unsigned int nr = FAKE_GRANULE / PAGE_SIZE;
	phys_addr_t blocks[16];
	unsigned int i;

	BUILD_BUG_ON(FAKE_GRANULE / PAGE_SIZE != ARRAY_SIZE(blocks));
	for (i = 0; i < nr; i++)
		KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL,
							      &blocks[i]), 0);
	KUNIT_EXPECT_EQ(test, test_held(pool), FAKE_GRANULE);
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_HIGH_WATERMARK,
						      0), 0);
	atomic_set(&fb->kicks, 0);
	for (i = 0; i < nr; i++) {
		KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, blocks[i], 0), 0);
		KUNIT_EXPECT_EQ_MSG(test, atomic_read(&fb->kicks), i == nr - 1,
				    "after %u of %u frees", i + 1, nr);
	}
	expect_valid(test, pool);
}

/* Ranges in, ranges out: only the region, only once, only whole and free. */
static void gunyah_pool_test_backing_ranges(struct kunit *test)
{
	struct fake_backing *fb = fake_pool_create(test, &fake_fixed_ops);
	struct gunyah_pool *pool = &fb->pool;
	/* A quarter of the pool: 1 MiB with 4 KiB pages, 4 MiB with 16 KiB. */
	const u64 q = TEST_POOL_BYTES / 4;
	phys_addr_t base = pool->base, got = 0, a;

	KUNIT_EXPECT_EQ(test, gunyah_pool_add_range(pool, base - PAGE_SIZE, PAGE_SIZE), -EINVAL);
	KUNIT_EXPECT_EQ(test, gunyah_pool_add_range(pool, base + TEST_POOL_BYTES, PAGE_SIZE),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, gunyah_pool_add_range(pool, base, TEST_POOL_BYTES + PAGE_SIZE),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, gunyah_pool_add_range(pool, base + 1, PAGE_SIZE), -EINVAL);
	KUNIT_EXPECT_EQ(test, gunyah_pool_add_range(pool, base, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, test_held(pool), 0);
	/* Nothing held: nothing to allocate, and no grow to ask for. */
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &a), -ENOMEM);

	KUNIT_ASSERT_EQ(test, gunyah_pool_add_range(pool, base, q), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_add_range(pool, base + q / 2, q), -EEXIST);
	KUNIT_EXPECT_EQ(test, test_held(pool), q);
	KUNIT_ASSERT_EQ(test, gunyah_pool_add_range(pool, base + 2 * q, q), 0);
	expect_valid(test, pool);

	KUNIT_EXPECT_EQ(test, gunyah_pool_take_range(pool, 3 * PAGE_SIZE, &got), -EINVAL);
	KUNIT_EXPECT_EQ(test, gunyah_pool_take_range(pool, 8 * q, &got), -EINVAL);
	/* A block in use, then in a cache, keeps its range busy. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_KERNEL, &a), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_take_range(pool, q, &got), 0);
	KUNIT_EXPECT_EQ(test, got, base + 2 * q);
	KUNIT_EXPECT_EQ(test, gunyah_pool_take_range(pool, q, &got), -EBUSY);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, a, 0), 0);
	gunyah_pool_drain(pool);
	/* min_size_bytes holds it; then it goes. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_MIN_SIZE, q), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_take_range(pool, q, &got), -EBUSY);
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_MIN_SIZE, 0), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_take_range(pool, q, &got), 0);
	KUNIT_EXPECT_EQ(test, got, base);
	KUNIT_EXPECT_EQ(test, test_held(pool), 0);
	expect_valid(test, pool);
}

/*
 * The per-CPU caches under fire: a thread per CPU allocates and frees
 * blocks of orders 0 to 4 (the cached orders) in a pool too small for all
 * of them, GFP_KERNEL and GFP_NOWAIT, while another drains every cache and
 * runs the validator, which switches the caches off, drains them and checks
 * the books, over and over. Every validation must pass, and at the end the
 * books must add up to nothing held.
 */
#define PCP_STRESS_OPS		1000000
#define PCP_STRESS_HOLD		8

struct pcp_stress {
	struct gunyah_pool *pool;
	unsigned long ops;
	atomic_long_t done;
	atomic_t running;
	atomic_t bad;
	struct completion finished;
	/* Interrupts allocate and free too, over whatever a task holds. */
	struct hrtimer timer;
	phys_addr_t irq_block;
	unsigned int irq_order;
	unsigned long irq_ops;
	unsigned long irq_seed;
};

/* Every 50 us in hard interrupt context: free the last block, take another. */
static enum hrtimer_restart pcp_stress_irq(struct hrtimer *timer)
{
	struct pcp_stress *st = container_of(timer, struct pcp_stress, timer);

	if (st->irq_block != PHYS_ADDR_MAX &&
	    gunyah_pool_block_free(st->pool, st->irq_block, st->irq_order))
		atomic_inc(&st->bad);
	st->irq_seed = st->irq_seed * 6364136223846793005UL + 1442695040888963407UL;
	st->irq_order = (st->irq_seed >> 33) % GUNYAH_POOL_PCP_ORDERS;
	if (gunyah_pool_block_alloc(st->pool, st->irq_order, GFP_ATOMIC,
				    &st->irq_block))
		st->irq_block = PHYS_ADDR_MAX;
	st->irq_ops++;
	hrtimer_forward_now(timer, ns_to_ktime(50 * NSEC_PER_USEC));
	return HRTIMER_RESTART;
}

static int pcp_stress_worker(void *data)
{
	struct pcp_stress *st = data;
	phys_addr_t held[PCP_STRESS_HOLD];
	unsigned int order[PCP_STRESS_HOLD];
	unsigned long i, n = 0, seed = (unsigned long)current->pid * 2654435761UL;
	unsigned int k;

	for (k = 0; k < PCP_STRESS_HOLD; k++)
		held[k] = PHYS_ADDR_MAX;
	for (i = 0; i < st->ops; i++) {
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		k = (seed >> 33) % PCP_STRESS_HOLD;
		if (held[k] != PHYS_ADDR_MAX) {
			if (gunyah_pool_block_free(st->pool, held[k], order[k]))
				atomic_inc(&st->bad);
			held[k] = PHYS_ADDR_MAX;
		} else {
			gfp_t gfp = (seed >> 40) & 1 ? GFP_NOWAIT : GFP_KERNEL;
			int ret;

			order[k] = (seed >> 41) % GUNYAH_POOL_PCP_ORDERS;
			ret = gunyah_pool_block_alloc(st->pool, order[k], gfp, &held[k]);
			if (ret) {
				if (ret != -ENOMEM)
					atomic_inc(&st->bad);
				held[k] = PHYS_ADDR_MAX;
			}
		}
		if (++n == 1024) {
			atomic_long_add(n, &st->done);
			n = 0;
			cond_resched();
		}
	}
	atomic_long_add(n, &st->done);
	for (k = 0; k < PCP_STRESS_HOLD; k++)
		if (held[k] != PHYS_ADDR_MAX &&
		    gunyah_pool_block_free(st->pool, held[k], order[k]))
			atomic_inc(&st->bad);
	if (atomic_dec_and_test(&st->running))
		complete(&st->finished);
	return 0;
}

static void gunyah_pool_test_pcp_concurrency(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	unsigned int cpu, workers = 0, validations = 0, drains = 0, i;
	struct task_struct **tasks;
	struct pcp_stress *st;
	ktime_t start;
	int err = 0;

	st = kunit_kzalloc(test, sizeof(*st), GFP_KERNEL);
	tasks = kunit_kcalloc(test, nr_cpu_ids, sizeof(*tasks), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, st);
	KUNIT_ASSERT_NOT_NULL(test, tasks);
	st->pool = pool;
	init_completion(&st->finished);
	st->irq_block = PHYS_ADDR_MAX;
	/* Room for about half of what the workers want: failures and drains. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(pool, GUNYAH_POOL_MAX_SIZE,
						      min_t(u64, SZ_256K * num_online_cpus(),
							    TEST_POOL_BYTES)), 0);

	/* Every thread made before any runs: none is left behind on a failure. */
	cpus_read_lock();
	for_each_online_cpu(cpu) {
		tasks[workers] = kthread_create(pcp_stress_worker, st, "gunyah_pcp/%u", cpu);
		if (IS_ERR(tasks[workers])) {
			err = PTR_ERR(tasks[workers]);
			break;
		}
		kthread_bind(tasks[workers++], cpu);
	}
	if (err) {
		cpus_read_unlock();
		for (i = 0; i < workers; i++)
			kthread_stop(tasks[i]);
		KUNIT_FAIL_AND_ABORT(test, "kthread_create: %d", err);
	}
	st->ops = PCP_STRESS_OPS / workers;
	atomic_set(&st->running, workers);
	start = ktime_get();
	hrtimer_init(&st->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	st->timer.function = pcp_stress_irq;
	hrtimer_start(&st->timer, ns_to_ktime(50 * NSEC_PER_USEC), HRTIMER_MODE_REL_HARD);
	for (i = 0; i < workers; i++)
		wake_up_process(tasks[i]);
	cpus_read_unlock();
	while (!completion_done(&st->finished)) {
		gunyah_pool_drain(pool);
		drains++;
		if (drains % 4 == 0) {
			KUNIT_EXPECT_EQ(test, gunyah_pool_validate(pool), 0);
			validations++;
		}
		usleep_range(50, 100);
	}
	hrtimer_cancel(&st->timer);
	if (st->irq_block != PHYS_ADDR_MAX)
		KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, st->irq_block,
							     st->irq_order), 0);
	KUNIT_EXPECT_GT(test, st->irq_ops, 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&st->bad), 0);
	KUNIT_EXPECT_GE(test, atomic_long_read(&st->done), PCP_STRESS_OPS - workers);
	KUNIT_EXPECT_EQ(test, test_used(pool), 0);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_ALLOC_SUCCESS),
			test_stat(pool, GUNYAH_POOL_STAT_FREE));
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_INVALID_FREE), 0);
	expect_valid(test, pool);
	kunit_info(test, "pcp stress: %ld ops on %u CPUs and %lu in hard interrupts, %u remote drains, %u validations, %llu allocs, %llu failed, %lld ms\n",
		   atomic_long_read(&st->done), workers, st->irq_ops, drains, validations,
		   test_stat(pool, GUNYAH_POOL_STAT_ALLOC_SUCCESS),
		   test_stat(pool, GUNYAH_POOL_STAT_ALLOC_FAIL),
		   ktime_ms_delta(ktime_get(), start));
}

/* The validator itself notices books that disagree. */
static void gunyah_pool_test_validator_detects(struct kunit *test)
{
	struct gunyah_pool *pool = test_pool_create(test);
	struct page *head;
	phys_addr_t phys;

	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 2, GFP_KERNEL, &phys), 0);
	expect_valid(test, pool);

	atomic64_add(PAGE_SIZE, &pool->used);
	KUNIT_EXPECT_EQ(test, gunyah_pool_validate(pool), -EUCLEAN);
	atomic64_sub(PAGE_SIZE, &pool->used);

	/* An order-0 block inside the order-2 one. */
	head = phys_to_page(phys + PAGE_SIZE);
	set_page_private(head, (unsigned long)pool | 1);
	KUNIT_EXPECT_EQ(test, gunyah_pool_validate(pool), -EUCLEAN);
	/* A value no pool writes, on a page the pool holds. */
	set_page_private(head, 1);
	KUNIT_EXPECT_EQ(test, gunyah_pool_validate(pool), -EUCLEAN);
	set_page_private(head, 0);

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
	unsigned int o, i;

	for (o = 0; o < sys->capacity / GUNYAH_POOL_CHUNK_BYTES; o++)
		if (!gunyah_pool_is_reusable(sys) || test_bit(o, to_reusable(sys)->held))
			expect_unmapped(test, sys->base + o * GUNYAH_POOL_CHUNK_BYTES,
					GUNYAH_POOL_CHUNK_BYTES);
	/*
	 * One block of each order is just under two of the largest: all a
	 * 32 MiB region holds with 16 KiB pages. Largest first, from a pool
	 * whose caches keep nothing, they fit.
	 */
	gunyah_pool_drain(sys);
	for (i = 0; i <= GUNYAH_POOL_MAX_ORDER; i++) {
		o = GUNYAH_POOL_MAX_ORDER - i;
		if (gunyah_pool_alloc(o, GFP_KERNEL, &blocks[o])) {
			KUNIT_FAIL(test, "no block of order %u, %llu bytes in use",
				   o, test_used(sys));
			break;
		}
		expect_unmapped(test, blocks[o], PAGE_SIZE << o);
	}
	while (i--)
		gunyah_pool_free(blocks[GUNYAH_POOL_MAX_ORDER - i], GUNYAH_POOL_MAX_ORDER - i);
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
 * So that a page still mapped cannot pass for a zero-padded one, the first
 * word past the boundary holds a non-zero pattern during the load, written
 * through a short-lived mapping and put back after.
 *
 * The page before the region is not ours, and KASAN may have poisoned it;
 * the fixup re-reads the aligned word there with an instrumented load, so
 * reports are off for the duration.
 */
static void expect_zeropad(struct kunit *test, phys_addr_t boundary,
			   unsigned int n)
{
	unsigned long word, expect = 0, saved;
	const u8 *edge = (const u8 *)phys_to_virt(boundary) - n;
	struct page *page = phys_to_page(boundary);
	unsigned long *past;

	past = vmap(&page, 1, VM_MAP, PAGE_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, past);
	saved = *past;
	*past = 0xa5a5a5a5a5a5a5a5UL;

	kasan_disable_current();
	memcpy(&expect, edge, n);
	word = load_unaligned_zeropad(edge);
	kasan_enable_current();

	*past = saved;
	vunmap(past);

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

	if (gunyah_pool_is_reusable(sys))
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
	size_t bytes = PAGE_SIZE << 2;
	struct gunyah_pool_usage before, u;
	phys_addr_t phys, dirty;
	u8 *va = NULL;
	int ret;

	gunyah_pool_usage(sys, &before);
	KUNIT_ASSERT_EQ(test, gunyah_pool_reserve(SZ_1M), 0);

	/*
	 * __GFP_ZERO clears memory a previous owner dirtied: on one CPU, the
	 * block just freed is the one its cache hands out next.
	 */
	migrate_disable();
	ret = gunyah_pool_alloc(2, GFP_KERNEL, &dirty);
	if (!ret) {
		struct page *pages[4];
		unsigned int i;

		for (i = 0; i < ARRAY_SIZE(pages); i++)
			pages[i] = phys_to_page(dirty + i * PAGE_SIZE);
		va = vmap(pages, ARRAY_SIZE(pages), VM_MAP, PAGE_KERNEL);
		if (va) {
			memset(va, 0xa5, bytes);
			vunmap(va);
		}
		gunyah_pool_free(dirty, 2);
		ret = gunyah_pool_alloc(2, GFP_KERNEL | __GFP_ZERO, &phys);
	}
	migrate_enable();
	KUNIT_ASSERT_EQ(test, ret, 0);
	KUNIT_ASSERT_NOT_NULL_MSG(test, va, "could not dirty the block");
	KUNIT_EXPECT_EQ_MSG(test, phys, dirty, "not the block just freed");
	va = test_vmap(test, phys, 2);
	KUNIT_ASSERT_NOT_NULL(test, va);
	KUNIT_EXPECT_TRUE_MSG(test, !memchr_inv(va, 0, bytes), "block not zeroed");
	vunmap(va);

	gunyah_pool_usage(sys, &u);
	KUNIT_EXPECT_EQ(test, u.committed, before.committed + SZ_1M);
	KUNIT_EXPECT_EQ(test, u.used, before.used + bytes);
	KUNIT_EXPECT_EQ(test, u.free, u.size - u.used);
	KUNIT_EXPECT_GE(test, u.peak_used, u.used);
	KUNIT_EXPECT_EQ(test, gunyah_pool_alloc(GUNYAH_POOL_MAX_ORDER + 1,
						GFP_KERNEL, &dirty), -EINVAL);
	gunyah_pool_free(phys, 2);
	gunyah_pool_unreserve(SZ_1M);
	/* The temporary mappings left no alias in the linear map. */
	expect_unmapped(test, phys, bytes);

	gunyah_pool_usage(sys, &u);
	KUNIT_EXPECT_EQ(test, u.used, before.used);
	KUNIT_EXPECT_EQ(test, u.committed, before.committed);
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_ALLOC_SUCCESS), allocs + 2);
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_FREE), frees + 2);
	expect_valid(test, sys);
}

/*
 * What the API answered a caller that came before the pool's initcall, as a
 * driver probed from an earlier initcall would: a core_initcall is earlier
 * than the subsys_initcall that publishes the pool.
 */
static int early_alloc_ret = 1, early_reserve_ret = 1;

static int __init gunyah_pool_test_early_caller(void)
{
	phys_addr_t phys;

	early_alloc_ret = gunyah_pool_alloc(0, GFP_KERNEL, &phys);
	if (!early_alloc_ret)
		gunyah_pool_free(phys, 0);
	early_reserve_ret = gunyah_pool_reserve(PAGE_SIZE);
	if (!early_reserve_ret)
		gunyah_pool_unreserve(PAGE_SIZE);
	return 0;
}
core_initcall(gunyah_pool_test_early_caller);

static void gunyah_pool_test_before_initcall(struct kunit *test)
{
	test_sys_pool(test);
	KUNIT_EXPECT_EQ(test, early_alloc_ret, -ENODEV);
	KUNIT_EXPECT_EQ(test, early_reserve_ret, -ENODEV);
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
	gunyah_pool_settle(pool);
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
	flush_work(&to_reusable(sys)->resize_work);
	/*
	 * ... and holds no wholly free chunk, so that the region has room to
	 * grow: with 16 KiB pages it is only four chunks.
	 */
	scoped_guard(mutex, &to_reusable(sys)->resize_lock)
		while (!gunyah_pool_reusable_shrink(to_reusable(sys)))
			;
	return sys;
}

#ifdef CONFIG_CMA
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
		if (test_bit(c, to_reusable(pool)->held) && !test_bit(c, before))
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
	struct gunyah_pool_reusable *r = to_reusable(sys);
	u64 flushes = atomic64_read(&r->tlb_flushes);
	u64 size = test_size(sys);
	phys_addr_t chunk, p;
	long c;

	KUNIT_ASSERT_LE(test, sys->capacity / GUNYAH_POOL_CHUNK_BYTES, 64);
	bitmap_copy(before, r->held, sys->capacity / GUNYAH_POOL_CHUNK_BYTES);
	scoped_guard(mutex, &r->resize_lock)
		KUNIT_ASSERT_EQ(test, gunyah_pool_reusable_grow(r), 0);
	KUNIT_EXPECT_EQ(test, test_size(sys), size + GUNYAH_POOL_CHUNK_BYTES);
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_GROW), grows + 1);
	KUNIT_EXPECT_EQ(test, atomic64_read(&r->tlb_flushes), flushes + 1);
	c = new_chunk(sys, before);
	KUNIT_ASSERT_GE(test, c, 0);
	chunk = sys->base + c * GUNYAH_POOL_CHUNK_BYTES;
	expect_unmapped(test, chunk, GUNYAH_POOL_CHUNK_BYTES);
	expect_valid(test, sys);

	scoped_guard(mutex, &r->resize_lock)
		KUNIT_ASSERT_EQ(test, gunyah_pool_reusable_shrink(r), 0);
	KUNIT_EXPECT_EQ(test, test_size(sys), size);
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_SHRINK), shrinks + 1);
	/*
	 * The pool held no other free chunk (test_reusable_setup()), so ours
	 * went back, mapped again, unless debug_pagealloc unmapped its pages
	 * anew as free pages.
	 */
	KUNIT_EXPECT_FALSE(test, test_bit(c, r->held));
	if (!debug_pagealloc_enabled())
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
	flush_work(&to_reusable(sys)->resize_work);
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

/* Take every free page the pool holds now, without growing it. */
static phys_addr_t *use_up(struct kunit *test, struct gunyah_pool *pool,
			   unsigned long *nr)
{
	struct gunyah_pool_usage u;
	phys_addr_t *blocks;
	unsigned long i;

	gunyah_pool_usage(pool, &u);
	*nr = u.free >> PAGE_SHIFT;
	blocks = kunit_kcalloc(test, *nr + 8, sizeof(*blocks), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, blocks);
	for (i = 0; i < *nr; i++)
		KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(pool, 0, GFP_NOWAIT,
							      &blocks[i]), 0);
	return blocks;
}

/* Give back @nr order-0 blocks, the books checked before and after. */
static void give_back(struct kunit *test, struct gunyah_pool *pool,
		      const phys_addr_t *blocks, unsigned long nr)
{
	unsigned long i;

	expect_valid(test, pool);
	for (i = 0; i < nr; i++)
		gunyah_pool_block_free(pool, blocks[i], 0);
	expect_valid(test, pool);
}

struct grower {
	struct gunyah_pool *pool;
	gfp_t gfp;
	phys_addr_t phys;
	int ret;
	atomic_t *started;
	struct completion done;
};

static int grower_fn(void *data)
{
	struct grower *g = data;

	atomic_inc(g->started);
	g->ret = gunyah_pool_block_alloc(g->pool, 0, g->gfp, &g->phys);
	complete(&g->done);
	return 0;
}

static void grower_start(struct kunit *test, struct grower *g,
			 struct gunyah_pool *pool, gfp_t gfp, atomic_t *started)
{
	struct task_struct *t;

	g->pool = pool;
	g->gfp = gfp;
	g->started = started;
	init_completion(&g->done);
	t = kthread_run(grower_fn, g, "gpool-grower");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
}

/*
 * F6: a GFP_NOIO or GFP_NOFS caller never waits for the lock a grower holds
 * across a cma_alloc() with full GFP_KERNEL reclaim: with the lock held here,
 * as the worker would hold it, such a caller returns at once, refused.
 */
static void gunyah_pool_test_reusable_noio_never_waits(struct kunit *test)
{
	struct gunyah_pool *sys = test_reusable_setup(test);
	struct gunyah_pool_reusable *r = to_reusable(sys);
	static const gfp_t masks[] = { GFP_NOIO, GFP_NOFS };
	bool done[ARRAY_SIZE(masks)];
	atomic_t started = ATOMIC_INIT(0);
	struct grower g[ARRAY_SIZE(masks)];
	unsigned long i, nr, nr_done = 0;
	phys_addr_t *blocks;
	u64 grows;

	blocks = use_up(test, sys, &nr);
	grows = test_stat(sys, GUNYAH_POOL_STAT_GROW);

	mutex_lock(&r->resize_lock);
	for (i = 0; i < ARRAY_SIZE(masks); i++)
		grower_start(test, &g[i], sys, masks[i], &started);
	for (i = 0; i < ARRAY_SIZE(masks); i++) {
		done[i] = wait_for_completion_timeout(&g[i].done, 2 * HZ);
		nr_done += done[i];
	}
	mutex_unlock(&r->resize_lock);
	/* Let a caller that did wait finish before its stack goes. */
	for (i = 0; i < ARRAY_SIZE(masks); i++)
		if (!done[i])
			wait_for_completion(&g[i].done);
	flush_work(&r->resize_work);

	KUNIT_EXPECT_EQ_MSG(test, nr_done, ARRAY_SIZE(masks),
			    "a NOIO/NOFS caller waited for the grower's lock");
	for (i = 0; i < ARRAY_SIZE(masks); i++) {
		KUNIT_EXPECT_EQ(test, g[i].ret, -ENOMEM);
		if (!g[i].ret)
			blocks[nr++] = g[i].phys;
	}
	/* Refused as GFP_NOWAIT is: the worker grows only for the watermarks. */
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_GROW), grows);
	/* With no grower in the way, a NOIO caller grows the pool itself. */
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(sys, 0, GFP_NOIO, &blocks[nr]), 0);
	nr++;
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_GROW), grows + 1);
	give_back(test, sys, blocks, nr);
}

struct atomic_irq {
	struct hrtimer timer;
	struct gunyah_pool *pool;
	phys_addr_t phys;
	int ret;
	struct completion done;
};

static enum hrtimer_restart atomic_irq_fn(struct hrtimer *timer)
{
	struct atomic_irq *ai = container_of(timer, struct atomic_irq, timer);

	ai->ret = gunyah_pool_block_alloc(ai->pool, 0, GFP_ATOMIC, &ai->phys);
	complete(&ai->done);
	return HRTIMER_NORESTART;
}

/* One GFP_ATOMIC allocation in hard interrupt context. */
static int alloc_in_hardirq(struct gunyah_pool *pool, phys_addr_t *phys)
{
	struct atomic_irq ai = { .pool = pool };

	init_completion(&ai.done);
	hrtimer_init_on_stack(&ai.timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	ai.timer.function = atomic_irq_fn;
	hrtimer_start(&ai.timer, ns_to_ktime(NSEC_PER_USEC), HRTIMER_MODE_REL_HARD);
	wait_for_completion(&ai.done);
	hrtimer_cancel(&ai.timer);
	destroy_hrtimer_on_stack(&ai.timer);
	*phys = ai.phys;
	return ai.ret;
}

/*
 * A reusable pool that must grow, asked under a spinlock and from hard
 * interrupt context: it fails fast and never sleeps (DEBUG_ATOMIC_SLEEP
 * lanes would fail the boot), and once the worker has refilled it for the
 * low watermark the same callers are served.
 */
static void gunyah_pool_test_reusable_atomic_contexts(struct kunit *test)
{
	struct gunyah_pool *sys = test_reusable_setup(test);
	const u64 chunk = GUNYAH_POOL_CHUNK_BYTES;
	static DEFINE_SPINLOCK(lock);
	phys_addr_t *blocks, a, b;
	unsigned long i, nr;
	int ra, rb, rc;
	u64 grows;

	blocks = use_up(test, sys, &nr);
	grows = test_stat(sys, GUNYAH_POOL_STAT_GROW);

	scoped_guard(spinlock_irqsave, &lock) {
		ra = gunyah_pool_block_alloc(sys, 0, GFP_ATOMIC, &a);
		rb = gunyah_pool_block_alloc(sys, 4, GFP_NOWAIT, &b);
	}
	rc = alloc_in_hardirq(sys, &blocks[nr]);
	KUNIT_EXPECT_EQ(test, ra, -ENOMEM);
	KUNIT_EXPECT_EQ(test, rb, -ENOMEM);
	KUNIT_EXPECT_EQ(test, rc, -ENOMEM);
	if (!ra)
		gunyah_pool_block_free(sys, a, 0);
	if (!rb)
		gunyah_pool_block_free(sys, b, 4);
	if (!rc)
		gunyah_pool_block_free(sys, blocks[nr], 0);
	flush_work(&to_reusable(sys)->resize_work);
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_GROW), grows);

	/* Below a low watermark of a chunk, the worker refills one. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(sys, GUNYAH_POOL_HIGH_WATERMARK,
						      chunk), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(sys, GUNYAH_POOL_LOW_WATERMARK,
						      chunk), 0);
	flush_work(&to_reusable(sys)->resize_work);
	KUNIT_EXPECT_EQ(test, test_stat(sys, GUNYAH_POOL_STAT_GROW), grows + 1);
	scoped_guard(spinlock_irqsave, &lock) {
		ra = gunyah_pool_block_alloc(sys, 0, GFP_ATOMIC, &blocks[nr]);
		rb = gunyah_pool_block_alloc(sys, 4, GFP_NOWAIT, &blocks[nr + 1]);
	}
	KUNIT_EXPECT_EQ(test, ra, 0);
	KUNIT_EXPECT_EQ(test, rb, 0);
	rc = alloc_in_hardirq(sys, &blocks[nr + 2]);
	KUNIT_EXPECT_EQ(test, rc, 0);

	expect_valid(test, sys);
	for (i = 0; i < nr; i++)
		gunyah_pool_block_free(sys, blocks[i], 0);
	if (!ra)
		gunyah_pool_block_free(sys, blocks[nr], 0);
	if (!rb)
		gunyah_pool_block_free(sys, blocks[nr + 1], 4);
	if (!rc)
		gunyah_pool_block_free(sys, blocks[nr + 2], 0);
	expect_valid(test, sys);
}

/*
 * F5: callers that find the pool short together grow it by what they need:
 * four GFP_KERNEL callers queued behind a grower take one chunk between them.
 */
static void gunyah_pool_test_reusable_misses_grow_once(struct kunit *test)
{
	struct gunyah_pool *sys = test_reusable_setup(test);
	struct gunyah_pool_reusable *r = to_reusable(sys);
	atomic_t started = ATOMIC_INIT(0);
	unsigned long i, nr;
	struct grower g[4];
	phys_addr_t *blocks;
	u64 grows;

	blocks = use_up(test, sys, &nr);
	grows = test_stat(sys, GUNYAH_POOL_STAT_GROW);

	mutex_lock(&r->resize_lock);
	for (i = 0; i < ARRAY_SIZE(g); i++)
		grower_start(test, &g[i], sys, GFP_KERNEL, &started);
	while (atomic_read(&started) < ARRAY_SIZE(g))
		msleep(20);
	/* Each has missed and waits for the lock by now. */
	msleep(200);
	mutex_unlock(&r->resize_lock);
	for (i = 0; i < ARRAY_SIZE(g); i++) {
		wait_for_completion(&g[i].done);
		KUNIT_EXPECT_EQ(test, g[i].ret, 0);
		if (!g[i].ret)
			blocks[nr++] = g[i].phys;
	}
	KUNIT_EXPECT_EQ_MSG(test, test_stat(sys, GUNYAH_POOL_STAT_GROW), grows + 1,
			    "%zu callers that missed together grew more than one chunk",
			    ARRAY_SIZE(g));
	give_back(test, sys, blocks, nr);
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
	gunyah_pool_settle(sys);
	gunyah_pool_usage(sys, &u);
	KUNIT_EXPECT_LT(test, u.free, chunk);
	expect_valid(test, sys);

	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(sys, GUNYAH_POOL_HIGH_WATERMARK,
						      2 * chunk), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_set_tunable(sys, GUNYAH_POOL_LOW_WATERMARK,
						      chunk), 0);
	gunyah_pool_settle(sys);
	gunyah_pool_usage(sys, &u);
	KUNIT_EXPECT_GE(test, u.free, 2 * chunk);
	KUNIT_EXPECT_LT(test, u.free, 3 * chunk);
	expect_valid(test, sys);

	/* Take 1.5 chunks: below low, so it refills to high again. */
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(sys, GUNYAH_POOL_MAX_ORDER,
						      GFP_KERNEL, &a), 0);
	KUNIT_ASSERT_EQ(test, gunyah_pool_block_alloc(sys, GUNYAH_POOL_MAX_ORDER - 1,
						      GFP_KERNEL, &b), 0);
	flush_work(&to_reusable(sys)->resize_work);
	gunyah_pool_settle(sys);
	gunyah_pool_usage(sys, &u);
	KUNIT_EXPECT_GE(test, u.free, 2 * chunk);
	expect_valid(test, sys);

	/* Free it all: more than a chunk above high, so it drains. */
	gunyah_pool_block_free(sys, a, GUNYAH_POOL_MAX_ORDER);
	gunyah_pool_block_free(sys, b, GUNYAH_POOL_MAX_ORDER - 1);
	flush_work(&to_reusable(sys)->resize_work);
	gunyah_pool_settle(sys);
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
	for (i = 0; i < ARRAY_SIZE(blocks); i++) {
		c = (blocks[i] - sys->base) / GUNYAH_POOL_CHUNK_BYTES;
		boundary = sys->base + c * GUNYAH_POOL_CHUNK_BYTES;
		KUNIT_EXPECT_TRUE(test, test_bit(c, to_reusable(sys)->held));
		if (!page_mapped_before(boundary))
			continue;
		for (n = 1; n <= 7; n++)
			expect_zeropad(test, boundary, n);
		crossed++;
	}
	for (i = 0; i < ARRAY_SIZE(blocks); i++)
		KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(sys, blocks[i],
							     GUNYAH_POOL_MAX_ORDER), 0);
	expect_valid(test, sys);
	/* A skip must not hide a failure above: skip only a clean run. */
	if (!crossed && debug_pagealloc_enabled() && test->status != KUNIT_FAILURE)
		kunit_skip(test, "debug_pagealloc unmaps the free pages before every chunk");
	KUNIT_EXPECT_GT(test, crossed, 0);
}

#endif /* CONFIG_CMA */

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
	int zeroed;		/* order of the zeroed block it returns, or -1 */
};

/*
 * A zeroed block that came back from a run must be zero. Dirty it before it
 * goes back, so that the next run, which gets the same block, cannot pass
 * by finding it clean: a fault that failed the zeroing must fail the run.
 */
static void fail_check_zeroed(struct kunit *test, phys_addr_t phys,
			      unsigned int order, unsigned int n)
{
	unsigned long i, nr = 1UL << order;
	struct page **pages;
	u8 *va = NULL;

	pages = kvmalloc_array(nr, sizeof(*pages), GFP_KERNEL);
	if (pages) {
		for (i = 0; i < nr; i++)
			pages[i] = phys_to_page(phys + i * PAGE_SIZE);
		va = vmap(pages, nr, VM_MAP, PAGE_KERNEL);
		kvfree(pages);
	}
	KUNIT_ASSERT_NOT_NULL(test, va);
	KUNIT_EXPECT_TRUE_MSG(test, !memchr_inv(va, 0, nr << PAGE_SHIFT),
			      "n=%u: a block handed out as zeroed is not", n);
	memset(va, 0xa5, nr << PAGE_SHIFT);
	vunmap(va);
}

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
	if (!IS_ENABLED(CONFIG_CMA))
		return -EOPNOTSUPP;
	guard(mutex)(&to_reusable(pool)->resize_lock);
	return gunyah_pool_reusable_grow(to_reusable(pool));
}

static int fail_shrink(struct gunyah_pool *pool, phys_addr_t *phys)
{
	if (!IS_ENABLED(CONFIG_CMA))
		return -EOPNOTSUPP;
	guard(mutex)(&to_reusable(pool)->resize_lock);
	return gunyah_pool_reusable_shrink(to_reusable(pool));
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
	{ "alloc order 0 zeroed", false, fail_alloc0, fail_free0, 0 },
	{ "alloc order 9 zeroed", false, fail_alloc9, fail_free9, 9 },
	{ "grow by a chunk", true, fail_grow, fail_undo_grow, -1 },
	{ "shrink by a chunk", true, fail_shrink, fail_undo_shrink, -1 },
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
	/* The block the runs will get, dirty. */
	if (step->zeroed >= 0) {
		KUNIT_ASSERT_EQ(test, step->run(pool, &phys), 0);
		fail_check_zeroed(test, phys, step->zeroed, 0);
		step->undo(pool, phys);
	}

	for (n = 1; n < 1000; n++) {
		gunyah_pool_usage(pool, &before);
		set_fail_nth(n);
		ret = step->run(pool, &phys);
		hit = !fail_nth_left();
		set_fail_nth(0);
		if (!ret && step->zeroed >= 0)
			fail_check_zeroed(test, phys, step->zeroed, n);
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

/*
 * The bare API under a memory cgroup: %__GFP_ACCOUNT charges a block to the
 * caller's cgroup until it is freed, and at memory.max the allocation fails
 * and the pool is as it was. KUnit runs each case in a kthread of the root
 * cgroup, whose kernel memory is not charged, so the suite takes the cgroup
 * of the task that starts it (suite_init runs there) and each case charges
 * it through set_active_memcg(). At boot that task is in the root cgroup and
 * the cases skip; test_kunit.py runs the suite again through KUnit's debugfs
 * from a cgroup whose memory.max leaves 1.5 MiB.
 */
static struct mem_cgroup *test_memcg;

#ifdef CONFIG_MEMCG
#define TEST_MEMCG_BATCH	MEMCG_CHARGE_BATCH

static unsigned long test_memcg_pages(struct mem_cgroup *memcg)
{
	return page_counter_read(&memcg->memory);
}

static unsigned long test_memcg_room(struct mem_cgroup *memcg)
{
	unsigned long max = READ_ONCE(memcg->memory.max);

	return max - min(max, page_counter_read(&memcg->memory));
}

static bool test_charged_to(phys_addr_t phys, struct mem_cgroup *memcg)
{
	guard(rcu)();
	return folio_memcg(page_folio(phys_to_page(phys))) == memcg;
}
#else
#define TEST_MEMCG_BATCH	0

static unsigned long test_memcg_pages(struct mem_cgroup *memcg) { return 0; }
static unsigned long test_memcg_room(struct mem_cgroup *memcg) { return 0; }
static bool test_charged_to(phys_addr_t phys, struct mem_cgroup *memcg) { return false; }
#endif

static int gunyah_pool_memcg_init(struct kunit_suite *suite)
{
	struct mem_cgroup *memcg = get_mem_cgroup_from_current();
	struct kunit_case *c;

	/*
	 * KUnit keeps each case's last status and does not run a case left
	 * SKIPPED: run again from a cgroup, the cases that skipped at boot
	 * must run.
	 */
	kunit_suite_for_each_test_case(suite, c)
		c->status = KUNIT_SUCCESS;

	if (memcg && mem_cgroup_is_root(memcg)) {
		mem_cgroup_put(memcg);
		memcg = NULL;
	}
	test_memcg = memcg;
	return 0;
}

static void gunyah_pool_memcg_exit(struct kunit_suite *suite)
{
	mem_cgroup_put(test_memcg);
	test_memcg = NULL;
}

static struct mem_cgroup *test_memcg_get(struct kunit *test)
{
	if (!IS_ENABLED(CONFIG_MEMCG))
		kunit_skip(test, "no memory cgroups in this kernel");
	if (!test_memcg)
		kunit_skip(test, "started from the root cgroup, which is not charged");
	return test_memcg;
}

/* Order 8: 256 pages, more than a charge batch, so charged exactly. */
#define MEMCG_ORDER	8

static void gunyah_pool_test_memcg_charge(struct kunit *test)
{
	struct mem_cgroup *memcg = test_memcg_get(test), *old;
	struct gunyah_pool *pool = test_pool_create(test);
	unsigned long before, held, after, nr = 1UL << MEMCG_ORDER;
	phys_addr_t phys;
	int ret;

	before = test_memcg_pages(memcg);
	old = set_active_memcg(memcg);
	ret = gunyah_pool_block_alloc(pool, MEMCG_ORDER, GFP_KERNEL_ACCOUNT, &phys);
	set_active_memcg(old);
	KUNIT_ASSERT_EQ(test, ret, 0);
	held = test_memcg_pages(memcg);
	KUNIT_EXPECT_TRUE(test, test_charged_to(phys, memcg));
	/*
	 * Exactly nr pages more, less what a drain of the per-CPU charge
	 * stocks (a batch per CPU) may have given back meanwhile.
	 */
	KUNIT_EXPECT_LE(test, held, before + nr);
	KUNIT_EXPECT_GE(test, held + num_possible_cpus() * TEST_MEMCG_BATCH, before + nr);

	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, phys, MEMCG_ORDER), 0);
	after = test_memcg_pages(memcg);
	KUNIT_EXPECT_FALSE(test, test_charged_to(phys, memcg));
	KUNIT_EXPECT_LE(test, after + nr, held);
	kunit_info(test, "memcg: %lu pages before, %lu with the block, %lu after\n",
		   before, held, after);
	expect_valid(test, pool);
}

static void gunyah_pool_test_memcg_refused(struct kunit *test)
{
	struct mem_cgroup *memcg = test_memcg_get(test), *old;
	struct gunyah_pool *pool = test_pool_create(test);
	struct gunyah_pool_usage before, after;
	unsigned long room = test_memcg_room(memcg);
	unsigned int order = MEMCG_ORDER + 1;
	phys_addr_t phys;
	int ret;

	/* The smallest block that does not fit; the room depends on charge stocks. */
	while (order < TEST_POOL_ORDER && (1UL << order) <= room)
		order++;
	if ((1UL << order) <= room)
		kunit_skip(test, "memory.max leaves %lu pages, an order-%u block fits",
			   room, order);
	gunyah_pool_usage(pool, &before);
	old = set_active_memcg(memcg);
	ret = gunyah_pool_block_alloc(pool, order, GFP_KERNEL_ACCOUNT, &phys);
	set_active_memcg(old);
	KUNIT_EXPECT_EQ(test, ret, -ENOMEM);
	gunyah_pool_usage(pool, &after);
	KUNIT_EXPECT_EQ(test, after.used, before.used);
	KUNIT_EXPECT_EQ(test, test_stat(pool, GUNYAH_POOL_STAT_ALLOC_SUCCESS), 0);
	/* Nothing was kept: uncharged, the pool gives its whole capacity. */
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_alloc(pool, TEST_POOL_ORDER, GFP_KERNEL,
						      &phys), 0);
	KUNIT_EXPECT_EQ(test, gunyah_pool_block_free(pool, phys, TEST_POOL_ORDER), 0);
	kunit_info(test, "memcg: %lu pages of room, an order-%u block refused\n",
		   room, order);
	expect_valid(test, pool);
}

static struct kunit_case gunyah_pool_test_cases[] = {
	KUNIT_CASE_PARAM(gunyah_pool_test_alloc_free, alloc_gen_params),
	KUNIT_CASE(gunyah_pool_test_atomic_context),
	KUNIT_CASE(gunyah_pool_test_bad_order),
	KUNIT_CASE(gunyah_pool_test_zero),
	KUNIT_CASE(gunyah_pool_test_zero_atomic_refused),
	KUNIT_CASE_PARAM(gunyah_pool_test_exhaustion, exhaust_gen_params),
	KUNIT_CASE(gunyah_pool_test_fragmentation),
	KUNIT_CASE(gunyah_pool_test_small_blocks_fill_holes_first),
	KUNIT_CASE(gunyah_pool_test_unaligned_base),
	KUNIT_CASE(gunyah_pool_test_max_size),
	KUNIT_CASE_PARAM(gunyah_pool_test_free_refused, free_refusal_gen_params),
	KUNIT_CASE(gunyah_pool_test_reserve_limits),
	KUNIT_CASE_SLOW(gunyah_pool_test_tunables_race),
	KUNIT_CASE(gunyah_pool_test_unreserve_too_much),
	KUNIT_CASE_PARAM(gunyah_pool_test_tunables, tunable_gen_params),
	KUNIT_CASE(gunyah_pool_test_low_watermark),
	KUNIT_CASE(gunyah_pool_test_peak_exact),
	KUNIT_CASE(gunyah_pool_test_backing_grow_kick),
	KUNIT_CASE(gunyah_pool_test_small_frees_kick),
	KUNIT_CASE(gunyah_pool_test_backing_ranges),
	KUNIT_CASE_SLOW(gunyah_pool_test_pcp_concurrency),
	KUNIT_CASE(gunyah_pool_test_validator_detects),
	KUNIT_CASE(gunyah_pool_test_not_in_linear_map),
	KUNIT_CASE_PARAM(gunyah_pool_test_zeropad_boundary, zeropad_gen_params),
	KUNIT_CASE(gunyah_pool_test_public_api),
	KUNIT_CASE(gunyah_pool_test_before_initcall),
#ifdef CONFIG_CMA
	KUNIT_CASE(gunyah_pool_test_reusable_grow_shrink),
	KUNIT_CASE(gunyah_pool_test_reusable_atomic_never_grows),
	KUNIT_CASE(gunyah_pool_test_reusable_noio_never_waits),
	KUNIT_CASE(gunyah_pool_test_reusable_atomic_contexts),
	KUNIT_CASE_SLOW(gunyah_pool_test_reusable_misses_grow_once),
	KUNIT_CASE(gunyah_pool_test_reusable_watermarks),
	KUNIT_CASE(gunyah_pool_test_reusable_zeropad_chunks),
#endif
	{}
};

static struct kunit_suite gunyah_pool_test_suite = {
	.name = "gunyah_pool",
	.test_cases = gunyah_pool_test_cases,
};

/*
 * The fault sweeps, in a suite of their own so that they can run again
 * after boot (CONFIG_KUNIT_DEBUGFS: /sys/kernel/debug/kunit/<suite>/run),
 * once failslab and fail_page_alloc are set to fail sleeping allocations
 * too, which only their debugfs files can ask.
 */
static struct kunit_case gunyah_pool_fault_cases[] = {
	KUNIT_CASE_PARAM(gunyah_pool_test_fail_nth, fail_step_gen_params),
	{}
};

static struct kunit_suite gunyah_pool_fault_suite = {
	.name = "gunyah_pool_faults",
	.test_cases = gunyah_pool_fault_cases,
};

static struct kunit_case gunyah_pool_memcg_cases[] = {
	KUNIT_CASE(gunyah_pool_test_memcg_charge),
	KUNIT_CASE(gunyah_pool_test_memcg_refused),
	{}
};

static struct kunit_suite gunyah_pool_memcg_suite = {
	.name = "gunyah_pool_memcg",
	.suite_init = gunyah_pool_memcg_init,
	.suite_exit = gunyah_pool_memcg_exit,
	.test_cases = gunyah_pool_memcg_cases,
};

kunit_test_suites(&gunyah_pool_test_suite, &gunyah_pool_fault_suite,
		  &gunyah_pool_memcg_suite);
