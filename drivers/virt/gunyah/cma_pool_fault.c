// SPDX-License-Identifier: GPL-2.0-only
/*
 * Gunyah donation pool: fault injection
 *
 * Copyright (c) 2026 The gunyah-pool authors
 */

#include <linux/debugfs.h>
#include <linux/fault-inject.h>
#include <linux/init.h>

#include "cma_pool.h"

static struct fault_attr pool_faults[NR_GUNYAH_POOL_FAULTS] = {
	[0 ... NR_GUNYAH_POOL_FAULTS - 1] = FAULT_ATTR_INITIALIZER,
};

static const char * const pool_fault_names[NR_GUNYAH_POOL_FAULTS] = {
	[GUNYAH_POOL_FAULT_ZERO]	= "fail_zero",
	[GUNYAH_POOL_FAULT_CMA]		= "fail_cma",
	[GUNYAH_POOL_FAULT_UNMAP]	= "fail_unmap",
	[GUNYAH_POOL_FAULT_REMAP]	= "fail_remap",
};

bool gunyah_pool_should_fail(enum gunyah_pool_fault point)
{
	return should_fail(&pool_faults[point], 1);
}

/*
 * One fault-injection directory per step, e.g. gunyah_pool/fail_cma/, for
 * every pool, the system's and those KUnit makes.
 */
static int __init gunyah_pool_fault_debugfs_init(void)
{
	struct dentry *dir = debugfs_create_dir("gunyah_pool", NULL);
	int i;

	for (i = 0; i < NR_GUNYAH_POOL_FAULTS; i++)
		fault_create_debugfs_attr(pool_fault_names[i], dir,
					  &pool_faults[i]);
	return 0;
}
postcore_initcall(gunyah_pool_fault_debugfs_init);
