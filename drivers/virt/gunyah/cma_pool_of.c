// SPDX-License-Identifier: GPL-2.0-only
/*
 * Gunyah donation pool: the system's pool, set up from the device tree, its
 * no-map backing, and the exported API
 *
 * Copyright (c) 2026 The gunyah-pool authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/err.h>
#include <linux/export.h>
#include <linux/gunyah_pool.h>
#include <linux/init.h>
#include <linux/ioport.h>
#include <linux/libfdt.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/of.h>
#include <linux/of_fdt.h>
#include <linux/of_reserved_mem.h>
#include <linux/sizes.h>
#include <linux/string.h>
#include <linux/suspend.h>

#include "cma_pool.h"
#include "cma_pool_reusable.h"

#define GUNYAH_POOL_COMPATIBLE	"qcom,gunyah-donation-pool"

/* Large enough to serve one block of GUNYAH_POOL_MAX_ORDER. */
#define GUNYAH_POOL_MIN_REGION	(PAGE_SIZE << GUNYAH_POOL_MAX_ORDER)

/* ---- The no-map backing ---- */

/*
 * A no-map region is never in the linear map: the pool holds all of it from
 * the start, and never grows, shrinks or gives anything back.
 */
static const struct gunyah_pool_backing_ops gunyah_pool_nomap_ops = {
	.name	= "no-map",
};

/**
 * gunyah_pool_nomap_init() - set up a pool over a region outside the linear map
 * @pool:	zeroed pool to set up
 * @name:	name for messages; must outlive the pool
 * @base:	physical start of the region, page aligned
 * @size:	size of the region in bytes, page aligned
 *
 * The region must have struct pages (zeroing maps them) and must never have
 * been in the linear map, or be out of it for good.
 *
 * Context: process context, may sleep.
 * Return: 0, -EINVAL for a region gunyah_pool_init() refuses, or -ENOMEM.
 */
int gunyah_pool_nomap_init(struct gunyah_pool *pool, const char *name,
			   phys_addr_t base, size_t size)
{
	int ret = gunyah_pool_init(pool, name, base, size, &gunyah_pool_nomap_ops);

	if (ret)
		return ret;
	ret = gunyah_pool_add_range(pool, base, size);
	if (ret)
		gunyah_pool_destroy(pool);
	return ret;
}

/* ---- Setup from the device tree ---- */

/* The region accepted from the device tree, before the pool exists. */
struct gunyah_pool_region {
	const char *name;
	phys_addr_t base;
	phys_addr_t size;
	bool reusable;
	struct cma *cma;	/* reusable: the CMA area declared over it */
};

static struct gunyah_pool_region gunyah_pool_region __initdata;

static struct gunyah_pool gunyah_pool_nomap_instance;

/*
 * Refuse a node. An error makes the reserved-memory core give the region back
 * to Linux, which is right for memory in the linear map. A no-map region is
 * not in it, and by now the linear map is built: given back, its pages would
 * reach the page allocator unmapped. -ENOENT keeps such a region reserved and
 * unused instead.
 */
static __printf(2, 3) int __init pool_refuse(struct reserved_mem *rmem,
					     const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pr_err("%s: refused: %pV\n", rmem->name, &vaf);
	va_end(args);
	return of_get_flat_dt_prop(rmem->fdt_node, "no-map", NULL) ? -ENOENT :
								    -EINVAL;
}

/*
 * The name of another available /reserved-memory node with a reg that
 * overlaps @rmem, or NULL. The core only warns of an overlap, and depending
 * on the nodes' order one of them is not reserved as it asks (a no-map
 * region that overlaps reserved memory is left mapped), so the pool could
 * hand out memory another user holds.
 */
static const char *__init pool_overlapping_node(struct reserved_mem *rmem)
{
	int t_len = (dt_root_addr_cells + dt_root_size_cells) * sizeof(__be32);
	const void *fdt = initial_boot_params;
	const char *status;
	phys_addr_t base, size;
	const __be32 *reg;
	int parent, child, len;

	parent = fdt_path_offset(fdt, "/reserved-memory");
	fdt_for_each_subnode(child, fdt, parent) {
		status = fdt_getprop(fdt, child, "status", NULL);
		if (child == rmem->fdt_node ||
		    (status && strcmp(status, "okay") && strcmp(status, "ok")))
			continue;
		reg = of_get_flat_dt_prop(child, "reg", &len);
		for (; reg && len >= t_len; len -= t_len) {
			base = dt_mem_next_cell(dt_root_addr_cells, &reg);
			size = dt_mem_next_cell(dt_root_size_cells, &reg);
			if (size && base < rmem->base + rmem->size &&
			    rmem->base < base + size)
				return fdt_get_name(fdt, child, NULL);
		}
	}
	return NULL;
}

/*
 * Runs while the device tree is scanned, before the page allocator exists:
 * check the node and remember the region.
 */
static int __init gunyah_pool_rmem_setup(struct reserved_mem *rmem)
{
	unsigned long node = rmem->fdt_node;
	bool nomap = of_get_flat_dt_prop(node, "no-map", NULL);
	bool reusable = of_get_flat_dt_prop(node, "reusable", NULL);
	phys_addr_t min_size = GUNYAH_POOL_MIN_REGION;
	const char *other;

	if (gunyah_pool_region.name)
		return pool_refuse(rmem, "only one pool is supported and %s is already configured",
				   gunyah_pool_region.name);
	if (nomap && reusable)
		return pool_refuse(rmem, "both no-map and reusable are set; choose one");
	if (!nomap && !reusable)
		return pool_refuse(rmem, "neither no-map nor reusable is set; choose one");
	if (!PAGE_ALIGNED(rmem->base))
		return pool_refuse(rmem, "base %pa is not aligned to the page size (%lu bytes)",
				   &rmem->base, PAGE_SIZE);
	if (!PAGE_ALIGNED(rmem->size))
		return pool_refuse(rmem, "size %pa is not a multiple of the page size (%lu bytes)",
				   &rmem->size, PAGE_SIZE);
	if (rmem->size < min_size)
		return pool_refuse(rmem, "size %pa is below the minimum of %pa bytes",
				   &rmem->size, &min_size);
	if (rmem->size >> PAGE_SHIFT > U32_MAX)
		return pool_refuse(rmem, "size %pa is more than 2^32 pages", &rmem->size);
	other = pool_overlapping_node(rmem);
	if (other)
		return pool_refuse(rmem, "the region overlaps reserved-memory node %s",
				   other);

	if (reusable) {
		int ret;

		if (!IS_ENABLED(CONFIG_CMA))
			return pool_refuse(rmem, "reusable mode needs CONFIG_CMA");
		ret = gunyah_pool_reusable_declare(rmem, &gunyah_pool_region.cma);
		if (ret)
			return ret;
	}

	gunyah_pool_region.name = rmem->name;
	gunyah_pool_region.base = rmem->base;
	gunyah_pool_region.size = rmem->size;
	gunyah_pool_region.reusable = reusable;
	return 0;
}

RESERVEDMEM_OF_DECLARE(gunyah_pool, GUNYAH_POOL_COMPATIBLE,
		       gunyah_pool_rmem_setup);

/*
 * Runs as soon as the region is reserved, before the linear map is built: a
 * reusable region's chunks leave the linear map page by page, so ask for it
 * to be mapped with pages, whatever rodata= says. Whether the architecture
 * did is asked when the pool is created; every other check is the setup's.
 */
static void __init gunyah_pool_rmem_early(unsigned long node, phys_addr_t base,
					  phys_addr_t size)
{
	if (!IS_ENABLED(CONFIG_CMA) || !of_get_flat_dt_prop(node, "reusable", NULL) ||
	    of_get_flat_dt_prop(node, "no-map", NULL) || !PAGE_ALIGNED(base | size))
		return;
	if (memblock_mark_map_pages(base, size))
		pr_err("%s: cannot ask for the region to be mapped with pages\n",
		       fdt_get_name(initial_boot_params, node, NULL));
}

RESERVEDMEM_OF_DECLARE_EARLY(gunyah_pool_early, GUNYAH_POOL_COMPATIBLE,
			     gunyah_pool_rmem_early);

/*
 * The reserved-memory core never calls gunyah_pool_rmem_setup() for a node it
 * reserved nothing for (no reg and no size, a size of zero, or a size it found
 * no room for in alloc-ranges): say so here, so every node that does not
 * become the pool is explained.
 */
static void __init gunyah_pool_report_unreserved(void)
{
	struct device_node *np;

	for_each_compatible_node(np, NULL, GUNYAH_POOL_COMPATIBLE) {
		if (of_device_is_available(np) && !of_reserved_mem_lookup(np))
			pr_err("%pOFP: refused: no memory is reserved for the node (zero or missing size, or no room to place it)\n",
			       np);
	}
}

/*
 * The system's no-map pool. Zeroing maps a block's struct pages: a region
 * without them is refused (and stays reserved: given back, it would reach
 * Linux unmapped).
 */
static struct gunyah_pool *__init gunyah_pool_nomap_create(struct gunyah_pool_region *r)
{
	struct gunyah_pool *pool = &gunyah_pool_nomap_instance;
	unsigned long pfn;
	phys_addr_t phys;
	int ret;

	for (pfn = PHYS_PFN(r->base); pfn < PHYS_PFN(r->base + r->size); pfn++) {
		if (!pfn_valid(pfn)) {
			phys = PFN_PHYS(pfn);
			pr_err("%s: refused: page %pa has no struct page (the region is not in the memory map)\n",
			       r->name, &phys);
			return ERR_PTR(-EINVAL);
		}
	}
	ret = gunyah_pool_nomap_init(pool, r->name, r->base, r->size);
	return ret ? ERR_PTR(ret) : pool;
}

/*
 * Hibernation and restore ask the pool first (gunyah_pool_pm_prepare()). A
 * refused restore keeps its image: the hibernation core resets the image's
 * signature only once every PM_RESTORE_PREPARE notifier has agreed.
 */
static int gunyah_pool_pm_notify(struct notifier_block *nb,
				 unsigned long action, void *data)
{
	struct gunyah_pool *pool = gunyah_pool_get();

	if (!pool)
		return NOTIFY_DONE;
	switch (action) {
	case PM_HIBERNATION_PREPARE:
	case PM_RESTORE_PREPARE:
		return notifier_from_errno(gunyah_pool_pm_prepare(pool,
					   action == PM_RESTORE_PREPARE));
	case PM_POST_HIBERNATION:
	case PM_POST_RESTORE:
		gunyah_pool_pm_finish(pool);
		return NOTIFY_OK;
	default:
		return NOTIFY_DONE;
	}
}

static struct notifier_block gunyah_pool_pm_nb = {
	.notifier_call = gunyah_pool_pm_notify,
};

static struct resource gunyah_pool_resource = {
	.name	= "gunyah-pool",
	.flags	= IORESOURCE_MEM | IORESOURCE_BUSY,
};

static int __init gunyah_pool_setup(void)
{
	struct gunyah_pool_region *r = &gunyah_pool_region;
	struct gunyah_pool *pool;
	int ret;

	gunyah_pool_report_unreserved();
	if (!r->name)
		return 0;
	/* Without the veto, hibernation could save donated memory. */
	ret = register_pm_notifier(&gunyah_pool_pm_nb);
	if (ret) {
		pr_err("%s: refused: cannot register for hibernation: %d\n",
		       r->name, ret);
		return ret;
	}

	if (IS_ENABLED(CONFIG_CMA) && r->reusable)
		pool = gunyah_pool_reusable_create(r->name, r->cma);
	else
		pool = gunyah_pool_nomap_create(r);
	ret = PTR_ERR_OR_ZERO(pool);
	if (ret) {
		/* A refusal (-EINVAL) has said why already. */
		if (ret != -EINVAL)
			pr_err("%s: cannot set up the pool: %d\n", r->name, ret);
		return ret;
	}

	/* Name the region in /proc/iomem, inside the core's "reserved". */
	gunyah_pool_resource.start = r->base;
	gunyah_pool_resource.end = r->base + r->size - 1;
	if (insert_resource(&iomem_resource, &gunyah_pool_resource))
		pr_warn("%s: cannot name the region in /proc/iomem\n", r->name);

	ret = gunyah_pool_sysfs_init(pool);
	if (ret)
		pr_warn("%s: no sysfs interface: %d\n", r->name, ret);

	/* Callers see the pool only once it is complete; see gunyah_pool_get(). */
	gunyah_pool_publish(pool);

	pr_info("%s: %pa..%pa (%llu MiB), %s\n", r->name, &r->base,
		&gunyah_pool_resource.end, (u64)r->size / SZ_1M,
		pool->ops->name);
	return 0;
}
subsys_initcall(gunyah_pool_setup);

/* ---- The system's pool and the exported API ---- */

/* Published with release semantics once the pool is ready; never cleared. */
static struct gunyah_pool *gunyah_pool_ready;

/**
 * gunyah_pool_get() - the system's donation pool
 *
 * Return: the pool, or NULL if none is configured or it is not ready yet.
 */
struct gunyah_pool *gunyah_pool_get(void)
{
	/* Pairs with the release in gunyah_pool_publish(). */
	return smp_load_acquire(&gunyah_pool_ready);
}

/**
 * gunyah_pool_publish() - make a pool the system's pool
 * @pool:	a pool that is completely set up
 *
 * Callers of the exported API see the pool from now on.
 */
void gunyah_pool_publish(struct gunyah_pool *pool)
{
	/* Everything set up before is seen by whoever sees the pointer. */
	smp_store_release(&gunyah_pool_ready, pool);
}

/**
 * gunyah_pool_alloc() - allocate memory to donate to the hypervisor
 * @order:	log2 of the number of pages, 0 to %GUNYAH_POOL_MAX_ORDER
 * @gfp:	%GFP_KERNEL, or %GFP_NOWAIT or %GFP_ATOMIC when the caller may
 *		not sleep; %__GFP_ZERO clears the block through a short-lived
 *		mapping and needs a mask that may sleep; %__GFP_ACCOUNT
 *		(%GFP_KERNEL_ACCOUNT) charges the block to the current task's
 *		memory cgroup until it is freed, as the page allocator does
 * @phys:	set to the physical address of the block on success
 *
 * Allocates 2^@order physically contiguous pages, aligned to their size,
 * that are not in the kernel's linear map, so the caller may donate them to
 * the hypervisor without an access through the linear map ever reaching them.
 *
 * Context: Any context if @gfp does not allow blocking; otherwise process
 * context, may sleep.
 * Return: 0 on success; -ENOMEM if the pool has no such block within
 * max_size_bytes, or the memory cgroup refused the charge (the block is
 * back in the pool); -EINVAL for a bad @order, or %__GFP_ZERO with a mask that
 * may not sleep; -ENODEV if there is no pool or it is not ready yet.
 */
int gunyah_pool_alloc(unsigned int order, gfp_t gfp, phys_addr_t *phys)
{
	struct gunyah_pool *pool = gunyah_pool_get();

	if (!pool)
		return -ENODEV;
	return gunyah_pool_block_alloc(pool, order, gfp, phys);
}
EXPORT_SYMBOL_NS_GPL(gunyah_pool_alloc, GUNYAH);

/**
 * gunyah_pool_free() - give back memory from gunyah_pool_alloc()
 * @phys:	the physical address gunyah_pool_alloc() returned
 * @order:	the order it was allocated with
 *
 * The caller must have reclaimed the memory from the hypervisor first. A free
 * of memory the pool did not hand out, with another order, or a second free
 * is refused and counted in stats/invalid_free (the first such refusal warns),
 * unless the block was handed out again in between: then the second free
 * frees it.
 *
 * Context: Any context.
 */
void gunyah_pool_free(phys_addr_t phys, unsigned int order)
{
	struct gunyah_pool *pool = gunyah_pool_get();

	if (WARN_ONCE(!pool, "free of %pa order %u without a pool\n",
		      &phys, order))
		return;
	gunyah_pool_block_free(pool, phys, order);
}
EXPORT_SYMBOL_NS_GPL(gunyah_pool_free, GUNYAH);

/**
 * gunyah_pool_reserve() - commit pool memory ahead of use
 * @bytes:	bytes to commit, e.g. a VM's worst-case stage-2 page tables
 *
 * Lets a Gunyah driver refuse a VM when it is created rather than fail later
 * at a stage-2 fault. The commitment is accounting only and takes no pages;
 * all commitments together may not pass
 * max_size_bytes * overcommit_ratio / 100.
 *
 * Context: Any context.
 * Return: 0; -ENOMEM if the commitment would pass the commit limit; -ENODEV if
 * there is no pool or it is not ready yet.
 */
int gunyah_pool_reserve(size_t bytes)
{
	struct gunyah_pool *pool = gunyah_pool_get();

	if (!pool)
		return -ENODEV;
	return gunyah_pool_commit(pool, bytes);
}
EXPORT_SYMBOL_NS_GPL(gunyah_pool_reserve, GUNYAH);

/**
 * gunyah_pool_unreserve() - withdraw a commitment
 * @bytes:	bytes committed earlier by gunyah_pool_reserve()
 *
 * Withdrawing more than is committed is refused (with a warning the first
 * time).
 *
 * Context: Any context.
 */
void gunyah_pool_unreserve(size_t bytes)
{
	struct gunyah_pool *pool = gunyah_pool_get();

	if (WARN_ONCE(!pool, "unreserve of %zu bytes without a pool\n", bytes))
		return;
	gunyah_pool_uncommit(pool, bytes);
}
EXPORT_SYMBOL_NS_GPL(gunyah_pool_unreserve, GUNYAH);

/**
 * gunyah_pool_get_region() - where the system's pool takes its memory from
 * @base:	set to the physical start of the pool's region
 * @size:	set to the size of the region in bytes
 *
 * For built-in users that must know what memory they would get before they
 * take any: a hypervisor that accepts only memory the host maps, for one.
 * Asking changes nothing. Not exported: a module has no such need.
 *
 * Context: any context.
 * Return: 0, or -ENODEV if there is no pool or it is not ready yet.
 */
int gunyah_pool_get_region(phys_addr_t *base, phys_addr_t *size)
{
	struct gunyah_pool *pool = gunyah_pool_get();

	if (!pool)
		return -ENODEV;
	*base = pool->base;
	*size = pool->capacity;
	return 0;
}
