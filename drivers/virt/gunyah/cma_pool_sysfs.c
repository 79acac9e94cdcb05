// SPDX-License-Identifier: GPL-2.0-only
/*
 * /sys/kernel/gunyah/pool: sizing, watermarks and overcommit statistics of
 * the Gunyah donation pool. Documentation/ABI/testing/sysfs-kernel-gunyah-pool
 * is the contract for every file here.
 *
 * Copyright (c) 2026 The gunyah-pool authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ctype.h>
#include <linux/kernel.h>
#include <linux/kobject.h>
#include <linux/kstrtox.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "cma_pool.h"

/* The one pool with a sysfs interface; set before its files appear. */
static struct gunyah_pool *sysfs_pool;

static struct gunyah_pool *kobj_to_pool(struct kobject *kobj)
{
	return sysfs_pool;
}

static ssize_t mode_show(struct kobject *kobj, struct kobj_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%s\n", kobj_to_pool(kobj)->ops->name);
}

static struct kobj_attribute mode_attr = __ATTR_RO(mode);

static ssize_t capacity_bytes_show(struct kobject *kobj,
				   struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%zu\n", kobj_to_pool(kobj)->capacity);
}

static struct kobj_attribute capacity_bytes_attr = __ATTR_RO(capacity_bytes);

/* Read-only files that show one field of a usage snapshot. */
#define POOL_USAGE_ATTR_RO(_name, _field)				\
static ssize_t _name##_show(struct kobject *kobj,			\
			    struct kobj_attribute *attr, char *buf)	\
{									\
	struct gunyah_pool_usage u;					\
									\
	gunyah_pool_usage(kobj_to_pool(kobj), &u);			\
	return sysfs_emit(buf, "%llu\n", (u64)u._field);		\
}									\
static struct kobj_attribute _name##_attr = __ATTR_RO(_name)

/*
 * Writable files: parse, then check and apply under the pool's lock in
 * gunyah_pool_set_tunable(). The grammar is stricter than kstrtou64(): one
 * decimal number with no sign and no leading zero, optionally followed by
 * one newline, so that "+1", "010", "0x10" and "1\0junk" are refused rather
 * than read in a way the writer did not mean.
 */
static int pool_parse_u64(const char *buf, size_t count, u64 *val)
{
	int ret;

	if (strnlen(buf, count) != count || buf[0] == '+' ||
	    (buf[0] == '0' && isdigit(buf[1])))
		return -EINVAL;
	ret = kstrtou64(buf, 10, val);
	/* A number too large for the file is out of range, not special. */
	return ret == -ERANGE ? -EINVAL : ret;
}

/* Apply; a reusable pool has grown or shrunk to match when this returns. */
static int pool_store(struct gunyah_pool *pool, enum gunyah_pool_tunable which,
		      u64 val)
{
	int ret = gunyah_pool_set_tunable(pool, which, val);

	if (!ret)
		gunyah_pool_settle(pool);
	return ret;
}

#define POOL_USAGE_ATTR_RW(_name, _field, _tunable)			\
static ssize_t _name##_show(struct kobject *kobj,			\
			    struct kobj_attribute *attr, char *buf)	\
{									\
	struct gunyah_pool_usage u;					\
									\
	gunyah_pool_usage(kobj_to_pool(kobj), &u);			\
	return sysfs_emit(buf, "%llu\n", (u64)u._field);		\
}									\
static ssize_t _name##_store(struct kobject *kobj,			\
			     struct kobj_attribute *attr,		\
			     const char *buf, size_t count)		\
{									\
	u64 val;							\
	int ret;							\
									\
	ret = pool_parse_u64(buf, count, &val);				\
	if (!ret)							\
		ret = pool_store(kobj_to_pool(kobj), _tunable, val);	\
	return ret ?: count;						\
}									\
static struct kobj_attribute _name##_attr = __ATTR_RW(_name)

POOL_USAGE_ATTR_RO(size_bytes, size);
POOL_USAGE_ATTR_RW(min_size_bytes, min_size, GUNYAH_POOL_MIN_SIZE);
POOL_USAGE_ATTR_RW(max_size_bytes, max_size, GUNYAH_POOL_MAX_SIZE);
POOL_USAGE_ATTR_RO(used_bytes, used);
POOL_USAGE_ATTR_RO(free_bytes, free);
POOL_USAGE_ATTR_RW(peak_used_bytes, peak_used, GUNYAH_POOL_PEAK_USED);
POOL_USAGE_ATTR_RW(low_watermark_bytes, low_wmark, GUNYAH_POOL_LOW_WATERMARK);
POOL_USAGE_ATTR_RW(high_watermark_bytes, high_wmark,
		   GUNYAH_POOL_HIGH_WATERMARK);
POOL_USAGE_ATTR_RO(committed_bytes, committed);
POOL_USAGE_ATTR_RW(overcommit_ratio, overcommit_ratio,
		   GUNYAH_POOL_OVERCOMMIT_RATIO);
POOL_USAGE_ATTR_RO(commit_limit_bytes, commit_limit);
POOL_USAGE_ATTR_RO(overcommit_bytes, overcommit);

static struct attribute *pool_attrs[] = {
	&mode_attr.attr,
	&capacity_bytes_attr.attr,
	&size_bytes_attr.attr,
	&min_size_bytes_attr.attr,
	&max_size_bytes_attr.attr,
	&used_bytes_attr.attr,
	&free_bytes_attr.attr,
	&peak_used_bytes_attr.attr,
	&low_watermark_bytes_attr.attr,
	&high_watermark_bytes_attr.attr,
	&committed_bytes_attr.attr,
	&overcommit_ratio_attr.attr,
	&commit_limit_bytes_attr.attr,
	&overcommit_bytes_attr.attr,
	NULL,
};

static const struct attribute_group pool_group = {
	.attrs = pool_attrs,
};

#define POOL_STAT_ATTR(_name, _item)					\
static ssize_t _name##_show(struct kobject *kobj,			\
			    struct kobj_attribute *attr, char *buf)	\
{									\
	return sysfs_emit(buf, "%llu\n",				\
			  gunyah_pool_stat(kobj_to_pool(kobj), _item));	\
}									\
static struct kobj_attribute _name##_attr = __ATTR_RO(_name)

POOL_STAT_ATTR(alloc_success, GUNYAH_POOL_STAT_ALLOC_SUCCESS);
POOL_STAT_ATTR(alloc_fail, GUNYAH_POOL_STAT_ALLOC_FAIL);
POOL_STAT_ATTR(free, GUNYAH_POOL_STAT_FREE);
POOL_STAT_ATTR(invalid_free, GUNYAH_POOL_STAT_INVALID_FREE);
POOL_STAT_ATTR(reserve_fail, GUNYAH_POOL_STAT_RESERVE_FAIL);
POOL_STAT_ATTR(grow, GUNYAH_POOL_STAT_GROW);
POOL_STAT_ATTR(grow_fail, GUNYAH_POOL_STAT_GROW_FAIL);
POOL_STAT_ATTR(shrink, GUNYAH_POOL_STAT_SHRINK);
POOL_STAT_ATTR(low_watermark, GUNYAH_POOL_STAT_LOW_WATERMARK);

static struct attribute *stats_attrs[] = {
	&alloc_success_attr.attr,
	&alloc_fail_attr.attr,
	&free_attr.attr,
	&invalid_free_attr.attr,
	&reserve_fail_attr.attr,
	&grow_attr.attr,
	&grow_fail_attr.attr,
	&shrink_attr.attr,
	&low_watermark_attr.attr,
	NULL,
};

static const struct attribute_group stats_group = {
	.name = "stats",
	.attrs = stats_attrs,
};

static const struct attribute_group *pool_groups[] = {
	&pool_group,
	&stats_group,
	NULL,
};

/**
 * gunyah_pool_sysfs_init() - create /sys/kernel/gunyah/pool for the pool
 * @pool:	the system's pool, set up but not yet published, so that
 *		free_kn is in place before any allocation can look at it
 *
 * Context: process context, may sleep.
 * Return: 0, or a negative errno; on failure nothing is left in sysfs.
 */
int gunyah_pool_sysfs_init(struct gunyah_pool *pool)
{
	struct kobject *gunyah_kobj, *pool_kobj;
	int ret;

	gunyah_kobj = kobject_create_and_add("gunyah", kernel_kobj);
	if (!gunyah_kobj)
		return -ENOMEM;

	pool_kobj = kobject_create_and_add("pool", gunyah_kobj);
	if (!pool_kobj) {
		ret = -ENOMEM;
		goto err_put_gunyah;
	}

	sysfs_pool = pool;
	ret = sysfs_create_groups(pool_kobj, pool_groups);
	if (ret)
		goto err_put_pool;

	pool->free_kn = sysfs_get_dirent(pool_kobj->sd, "free_bytes");
	return 0;

err_put_pool:
	kobject_put(pool_kobj);
err_put_gunyah:
	kobject_put(gunyah_kobj);
	return ret;
}
