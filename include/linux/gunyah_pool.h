/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Memory the Gunyah hypervisor drivers donate to the hypervisor, taken from
 * a reserved-memory region that is never reachable through the linear map.
 */
#ifndef _LINUX_GUNYAH_POOL_H
#define _LINUX_GUNYAH_POOL_H

#include <linux/errno.h>
#include <linux/gfp_types.h>
#include <linux/types.h>

/*
 * The largest order gunyah_pool_alloc() serves: 4 MiB with 4 KiB pages (16 MiB
 * with 16 KiB, 64 MiB with 64 KiB), enough for the chunks of 1 MiB and more
 * that the hypervisor heap takes.
 */
#define GUNYAH_POOL_MAX_ORDER	10

#if IS_ENABLED(CONFIG_GUNYAH_POOL)
int gunyah_pool_alloc(unsigned int order, gfp_t gfp, phys_addr_t *phys);
void gunyah_pool_free(phys_addr_t phys, unsigned int order);
int gunyah_pool_reserve(size_t bytes);
void gunyah_pool_unreserve(size_t bytes);
int gunyah_pool_get_region(phys_addr_t *base, phys_addr_t *size);
#else
static inline int gunyah_pool_alloc(unsigned int order, gfp_t gfp,
				    phys_addr_t *phys)
{
	return -ENODEV;
}

static inline void gunyah_pool_free(phys_addr_t phys, unsigned int order) { }

static inline int gunyah_pool_reserve(size_t bytes)
{
	return -ENODEV;
}

static inline void gunyah_pool_unreserve(size_t bytes) { }

static inline int gunyah_pool_get_region(phys_addr_t *base, phys_addr_t *size)
{
	return -ENODEV;
}
#endif

#endif /* _LINUX_GUNYAH_POOL_H */
