// SPDX-License-Identifier: GPL-2.0-only
/*
 * Calls the pool without importing the GUNYAH namespace: modpost warns, and
 * the kernel refuses to load it.
 */
#include <linux/gunyah_pool.h>
#include <linux/module.h>

static int __init gpool_no_ns_init(void)
{
	return gunyah_pool_reserve(0);
}

module_init(gpool_no_ns_init);
MODULE_DESCRIPTION("A pool user that forgot the GUNYAH namespace");
MODULE_LICENSE("GPL");
