// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the pool exists to make unnecessary: a module unmapping a page from
 * the linear map itself. set_direct_map_invalid_noflush() is not exported,
 * so this module must not link.
 */
#include <linux/gfp.h>
#include <linux/module.h>
#include <linux/set_memory.h>

static int __init gpool_direct_map_init(void)
{
	struct page *page = alloc_page(GFP_KERNEL);

	if (!page)
		return -ENOMEM;
	return set_direct_map_invalid_noflush(page);
}

module_init(gpool_direct_map_init);
MODULE_DESCRIPTION("A module that tries to unmap the linear map itself");
MODULE_LICENSE("GPL");
