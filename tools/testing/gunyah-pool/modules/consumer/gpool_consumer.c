// SPDX-License-Identifier: GPL-2.0-only
/*
 * A modular user of the Gunyah donation pool, as a Gunyah driver built as a
 * module would be: it imports the GUNYAH namespace and reserves, allocates
 * and frees through <linux/gunyah_pool.h> only. Loading it runs the calls
 * and reports each result; unloading returns anything still held.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/gunyah_pool.h>
#include <linux/module.h>
#include <linux/sizes.h>

static phys_addr_t block;

static int __init gpool_consumer_init(void)
{
	phys_addr_t page;
	int reserve, alloc4, alloc0, bad;

	reserve = gunyah_pool_reserve(SZ_1M);
	alloc4 = gunyah_pool_alloc(4, GFP_KERNEL | __GFP_ZERO, &block);
	alloc0 = gunyah_pool_alloc(0, GFP_NOWAIT, &page);
	if (!alloc0)
		gunyah_pool_free(page, 0);
	bad = gunyah_pool_alloc(GUNYAH_POOL_MAX_ORDER + 1, GFP_KERNEL, &page);
	pr_info("reserve=%d alloc4=%d alloc0=%d bad_order=%d\n",
		reserve, alloc4, alloc0, bad);
	if (!reserve)
		gunyah_pool_unreserve(SZ_1M);
	if (alloc4)
		block = 0;
	return 0;
}

static void __exit gpool_consumer_exit(void)
{
	if (block)
		gunyah_pool_free(block, 4);
	pr_info("unloaded\n");
}

module_init(gpool_consumer_init);
module_exit(gpool_consumer_exit);
MODULE_DESCRIPTION("A modular consumer of the Gunyah donation pool");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(GUNYAH);
