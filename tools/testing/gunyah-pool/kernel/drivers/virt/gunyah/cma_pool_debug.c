// SPDX-License-Identifier: GPL-2.0-only
/*
 * Debug interface of the Gunyah donation pool, /sys/kernel/debug/gunyah_pool/:
 * allocate, free and reserve from userspace, read the allocator's state, and
 * run a workload that models what the Gunyah drivers do over VM lifecycles.
 * None of this is ABI; it exists for tests and for people chasing a problem.
 *
 * The workload stands in for the Gunyah drivers, which are not upstream. At
 * VM creation it reserves the worst case of page-table memory for the VM's
 * IPA space and allocates the VM's metadata and its order-4 stage-2 root
 * (16 concatenated tables); as the guest "faults in" memory it allocates a
 * level-2 table per GiB and a level-3 table per 2 MiB touched; at destruction
 * it frees everything and withdraws the reservation. It uses only the public
 * API, as the drivers would.
 *
 * The stress runs 1 to 8 kthreads released together, each doing a seeded
 * random mix of allocations and frees over all orders with every kind of gfp
 * mask, reservations, and changes of the low watermark, while keeping its own
 * books. When all have stopped, still holding what they allocated, their
 * books are summed and compared with the pool's counters; then everything is
 * given back and the validator runs.
 *
 * Copyright (c) 2026 The gunyah-pool authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/cleanup.h>
#include <linux/completion.h>
#include <linux/dcache.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/gunyah_pool.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/prandom.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "cma_pool.h"
#include "cma_pool_reusable.h"

#define VM_ROOT_ORDER		4
#define VM_META_ORDER		0
#define VM_L2_SPAN		SZ_1G
#define VM_L3_SPAN		SZ_2M
#define VM_MAX_IPA_MIB		(64 * 1024)
#define DEBUG_CMD_MAX		128

struct pool_block {
	struct list_head node;
	phys_addr_t phys;
	unsigned int order;
};

struct pool_vm {
	struct list_head node;
	unsigned int id;
	u64 ipa_size;
	size_t reserved;
	phys_addr_t meta;
	phys_addr_t root;
	unsigned long nr_l2;
	unsigned long nr_l3;
	phys_addr_t *l2;
	phys_addr_t *l3;
	unsigned long tables;
	unsigned long faults;
};

struct pool_workload_result {
	unsigned long rounds;
	unsigned long vms;
	unsigned long refused;
	unsigned long faults;
	unsigned long tables;
	u64 seed;
	int err;
};

static struct gunyah_pool *debug_pool;

/* Serialises the debugfs writers; protects the lists and the last result. */
static DEFINE_MUTEX(debug_lock);
static LIST_HEAD(debug_blocks);
static LIST_HEAD(debug_vms);
static struct pool_workload_result debug_last;

static size_t vm_worst_case(const struct pool_vm *vm)
{
	return (size_t)((1 << VM_ROOT_ORDER) + (1 << VM_META_ORDER) +
			vm->nr_l2 + vm->nr_l3) << PAGE_SHIFT;
}

static void vm_destroy(struct pool_vm *vm)
{
	unsigned long i;

	lockdep_assert_held(&debug_lock);

	for (i = 0; vm->l3 && i < vm->nr_l3; i++)
		if (vm->l3[i])
			gunyah_pool_free(vm->l3[i], 0);
	for (i = 0; vm->l2 && i < vm->nr_l2; i++)
		if (vm->l2[i])
			gunyah_pool_free(vm->l2[i], 0);
	if (vm->root)
		gunyah_pool_free(vm->root, VM_ROOT_ORDER);
	if (vm->meta)
		gunyah_pool_free(vm->meta, VM_META_ORDER);
	if (vm->reserved)
		gunyah_pool_unreserve(vm->reserved);
	list_del(&vm->node);
	kvfree(vm->l3);
	kvfree(vm->l2);
	kfree(vm);
}

static struct pool_vm *vm_find(unsigned int id)
{
	struct pool_vm *vm;

	list_for_each_entry(vm, &debug_vms, node)
		if (vm->id == id)
			return vm;
	return NULL;
}

/* Returns -ENOMEM when the pool refuses the VM's reservation. */
static int vm_create(unsigned int id, u64 ipa_mib)
{
	struct pool_vm *vm;
	int ret;

	lockdep_assert_held(&debug_lock);

	if (!ipa_mib || ipa_mib > VM_MAX_IPA_MIB)
		return -EINVAL;
	if (vm_find(id))
		return -EEXIST;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL);
	if (!vm)
		return -ENOMEM;
	INIT_LIST_HEAD(&vm->node);
	list_add_tail(&vm->node, &debug_vms);
	vm->id = id;
	vm->ipa_size = ipa_mib * SZ_1M;
	vm->nr_l2 = DIV_ROUND_UP(vm->ipa_size, VM_L2_SPAN);
	vm->nr_l3 = DIV_ROUND_UP(vm->ipa_size, VM_L3_SPAN);
	vm->l2 = kvcalloc(vm->nr_l2, sizeof(*vm->l2), GFP_KERNEL);
	vm->l3 = kvcalloc(vm->nr_l3, sizeof(*vm->l3), GFP_KERNEL);
	if (!vm->l2 || !vm->l3) {
		ret = -ENOMEM;
		goto err_destroy;
	}

	ret = gunyah_pool_reserve(vm_worst_case(vm));
	if (ret)
		goto err_destroy;
	vm->reserved = vm_worst_case(vm);

	ret = gunyah_pool_alloc(VM_META_ORDER, GFP_KERNEL | __GFP_ZERO,
				&vm->meta);
	if (ret)
		goto err_destroy;
	ret = gunyah_pool_alloc(VM_ROOT_ORDER, GFP_KERNEL | __GFP_ZERO,
				&vm->root);
	if (ret)
		goto err_destroy;
	return 0;

err_destroy:
	vm_destroy(vm);
	return ret;
}

/* The guest touches one random page of its IPA space. */
static int vm_fault(struct pool_vm *vm, struct rnd_state *rnd)
{
	u64 ipa = (u64)prandom_u32_state(rnd) << 32 | prandom_u32_state(rnd);
	unsigned long i2, i3;
	int ret;

	lockdep_assert_held(&debug_lock);

	ipa %= vm->ipa_size;
	i2 = ipa / VM_L2_SPAN;
	i3 = ipa / VM_L3_SPAN;
	vm->faults++;
	if (!vm->l2[i2]) {
		ret = gunyah_pool_alloc(0, GFP_KERNEL, &vm->l2[i2]);
		if (ret)
			return ret;
		vm->tables++;
	}
	if (!vm->l3[i3]) {
		ret = gunyah_pool_alloc(0, GFP_KERNEL, &vm->l3[i3]);
		if (ret)
			return ret;
		vm->tables++;
	}
	return 0;
}

static int vm_faults(struct pool_vm *vm, unsigned long count, u64 seed)
{
	struct rnd_state rnd;
	int ret = 0;

	prandom_seed_state(&rnd, seed);
	while (count-- && !ret)
		ret = vm_fault(vm, &rnd);
	return ret;
}

static void vm_destroy_all(void)
{
	struct pool_vm *vm, *tmp;

	list_for_each_entry_safe(vm, tmp, &debug_vms, node)
		vm_destroy(vm);
}

/*
 * Each round creates @nr_vms VMs with random IPA sizes from 64 MiB to 1 GiB,
 * spreads @nr_faults faults over them at random, then destroys them all. A VM
 * whose reservation is refused is counted and skipped, as a driver would
 * refuse to create it.
 */
static void run_workload(struct pool_workload_result *res, unsigned long rounds,
			 unsigned int nr_vms, unsigned long nr_faults, u64 seed)
{
	struct pool_vm *vm, **vms __free(kfree) = NULL;
	struct rnd_state rnd;
	unsigned int i, live;
	unsigned long f;
	int ret;

	lockdep_assert_held(&debug_lock);

	memset(res, 0, sizeof(*res));
	res->seed = seed;
	prandom_seed_state(&rnd, seed);
	vms = kcalloc(nr_vms, sizeof(*vms), GFP_KERNEL);
	if (!vms) {
		res->err = -ENOMEM;
		return;
	}

	for (res->rounds = 0; res->rounds < rounds; res->rounds++) {
		live = 0;
		for (i = 0; i < nr_vms; i++) {
			u64 mib = 64 + prandom_u32_state(&rnd) % (1024 - 64 + 1);
			unsigned int id = U32_MAX - i;

			ret = vm_create(id, mib);
			if (ret == -ENOMEM) {
				res->refused++;
				continue;
			}
			if (ret)
				goto out_err;
			vms[live++] = vm_find(id);
			res->vms++;
		}
		for (f = 0; f < nr_faults && live; f++) {
			vm = vms[prandom_u32_state(&rnd) % live];
			ret = vm_fault(vm, &rnd);
			if (ret)
				goto out_err;
			res->faults++;
		}
		for (i = 0; i < live; i++) {
			res->tables += vms[i]->tables;
			vm_destroy(vms[i]);
		}
	}
	return;

out_err:
	res->err = ret;
	for (i = 0; i < live; i++)
		vm_destroy(vms[i]);
}

/* Copy one command from userspace, NUL terminated and bounded. */
static char *debug_cmd(const char __user *ubuf, size_t count)
{
	if (count >= DEBUG_CMD_MAX)
		return ERR_PTR(-EINVAL);
	return memdup_user_nul(ubuf, count);
}

static ssize_t alloc_write(struct file *file, const char __user *ubuf,
			   size_t count, loff_t *ppos)
{
	char *cmd __free(kfree) = debug_cmd(ubuf, count);
	struct pool_block *blk;
	char flags[16] = "";
	unsigned int order;
	gfp_t gfp;
	int ret;

	if (IS_ERR(cmd))
		return PTR_ERR(cmd);
	if (sscanf(cmd, "%u %15s", &order, flags) < 1)
		return -EINVAL;
	if (!*flags || !strcmp(flags, "kernel"))
		gfp = GFP_KERNEL;
	else if (!strcmp(flags, "zero"))
		gfp = GFP_KERNEL | __GFP_ZERO;
	else if (!strcmp(flags, "account"))
		gfp = GFP_KERNEL_ACCOUNT;
	else if (!strcmp(flags, "nowait"))
		gfp = GFP_NOWAIT;
	else if (!strcmp(flags, "atomic"))
		gfp = GFP_ATOMIC;
	else
		return -EINVAL;

	blk = kzalloc(sizeof(*blk), GFP_KERNEL);
	if (!blk)
		return -ENOMEM;
	ret = gunyah_pool_block_alloc(debug_pool, order, gfp, &blk->phys);
	if (ret) {
		kfree(blk);
		return ret;
	}
	blk->order = order;
	scoped_guard(mutex, &debug_lock)
		list_add_tail(&blk->node, &debug_blocks);
	return count;
}

static const struct file_operations alloc_fops = {
	.write = alloc_write,
	.llseek = noop_llseek,
};

/* "PHYS ORDER": free any block, including one this file did not allocate. */
static ssize_t free_write(struct file *file, const char __user *ubuf,
			  size_t count, loff_t *ppos)
{
	char *cmd __free(kfree) = debug_cmd(ubuf, count);
	struct pool_block *blk, *tmp;
	unsigned long long phys;
	unsigned int order;
	int ret;

	if (IS_ERR(cmd))
		return PTR_ERR(cmd);
	if (sscanf(cmd, "%llx %u", &phys, &order) != 2)
		return -EINVAL;

	guard(mutex)(&debug_lock);
	ret = gunyah_pool_block_free(debug_pool, phys, order);
	if (ret)
		return ret;
	list_for_each_entry_safe(blk, tmp, &debug_blocks, node) {
		if (blk->phys == phys && blk->order == order) {
			list_del(&blk->node);
			kfree(blk);
			break;
		}
	}
	return count;
}

static const struct file_operations free_fops = {
	.write = free_write,
	.llseek = noop_llseek,
};

static ssize_t free_all_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	struct pool_block *blk, *tmp;

	guard(mutex)(&debug_lock);
	list_for_each_entry_safe(blk, tmp, &debug_blocks, node) {
		gunyah_pool_block_free(debug_pool, blk->phys, blk->order);
		list_del(&blk->node);
		kfree(blk);
	}
	return count;
}

static const struct file_operations free_all_fops = {
	.write = free_all_write,
	.llseek = noop_llseek,
};

static ssize_t commit_write(struct file *file, const char __user *ubuf,
			    size_t count, bool reserve)
{
	u64 bytes;
	int ret;

	ret = kstrtou64_from_user(ubuf, count, 0, &bytes);
	if (ret)
		return ret;
	if (bytes > SIZE_MAX)
		return -EINVAL;
	ret = reserve ? gunyah_pool_commit(debug_pool, bytes) :
			gunyah_pool_uncommit(debug_pool, bytes);
	return ret ?: count;
}

static ssize_t reserve_write(struct file *file, const char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	return commit_write(file, ubuf, count, true);
}

static ssize_t unreserve_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	return commit_write(file, ubuf, count, false);
}

static const struct file_operations reserve_fops = {
	.write = reserve_write,
	.llseek = noop_llseek,
};

static const struct file_operations unreserve_fops = {
	.write = unreserve_write,
	.llseek = noop_llseek,
};

static int blocks_show(struct seq_file *m, void *v)
{
	struct pool_block *blk;

	guard(mutex)(&debug_lock);
	list_for_each_entry(blk, &debug_blocks, node)
		seq_printf(m, "%pa %u\n", &blk->phys, blk->order);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(blocks);

static int base_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%pa\n", &debug_pool->base);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(base);

static int free_per_order_show(struct seq_file *m, void *v)
{
	unsigned long nr[GUNYAH_POOL_MAX_ORDER + 1];
	unsigned int o;

	gunyah_pool_free_blocks(debug_pool, nr, ARRAY_SIZE(nr));
	for (o = 0; o < ARRAY_SIZE(nr); o++)
		seq_printf(m, "%2u %lu\n", o, nr[o]);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(free_per_order);

/* Bytes of the largest block an allocation could be given now, or 0. */
static int largest_free_block_show(struct seq_file *m, void *v)
{
	unsigned long nr[GUNYAH_POOL_MAX_ORDER + 1];
	int o;

	gunyah_pool_free_blocks(debug_pool, nr, ARRAY_SIZE(nr));
	for (o = GUNYAH_POOL_MAX_ORDER; o >= 0 && !nr[o]; o--)
		;
	seq_printf(m, "%lu\n", o < 0 ? 0 : PAGE_SIZE << o);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(largest_free_block);

/*
 * Occupancy, one character a page, '#' held by a caller, '.' free (blocks
 * in the per-CPU caches included) and '-' not in the pool (a reusable
 * pool's chunk left to CMA), 64 pages a line behind the line's offset into
 * the region. A snapshot taken under the pool's lock.
 */
static int map_show(struct seq_file *m, void *v)
{
	unsigned long npages = debug_pool->capacity >> PAGE_SHIFT, i;
	unsigned long *busy, *present;
	char line[65];
	int ret = -ENOMEM;

	busy = bitmap_zalloc(npages, GFP_KERNEL);
	present = bitmap_zalloc(npages, GFP_KERNEL);
	if (!busy || !present)
		goto out;
	gunyah_pool_busy_pages(debug_pool, busy, present);
	for (i = 0; i < npages; i++) {
		line[i % 64] = !test_bit(i, present) ? '-' :
			       test_bit(i, busy) ? '#' : '.';
		if (i % 64 == 63 || i == npages - 1) {
			line[i % 64 + 1] = '\0';
			seq_printf(m, "%#010lx %s\n",
				   (i - i % 64) << PAGE_SHIFT, line);
		}
	}
	ret = 0;
out:
	bitmap_free(present);
	bitmap_free(busy);
	return ret;
}
DEFINE_SHOW_ATTRIBUTE(map);

static int validate_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", gunyah_pool_validate(debug_pool) ? "bad" : "ok");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(validate);

/*
 * "create ID IPA_MIB", "fault ID COUNT SEED", "destroy ID", "destroy all".
 * create fails with ENOMEM when the pool refuses the VM's reservation.
 */
static ssize_t vm_write(struct file *file, const char __user *ubuf,
			size_t count, loff_t *ppos)
{
	char *cmd __free(kfree) = debug_cmd(ubuf, count);
	unsigned long long a, b;
	unsigned int id;
	struct pool_vm *vm;
	char op[16], all[4];
	int ret;

	if (IS_ERR(cmd))
		return PTR_ERR(cmd);

	guard(mutex)(&debug_lock);
	if (sscanf(cmd, "%15s %u %llu %llu", op, &id, &a, &b) == 3 &&
	    !strcmp(op, "create")) {
		ret = vm_create(id, a);
	} else if (sscanf(cmd, "%15s %u %llu %llu", op, &id, &a, &b) == 4 &&
		   !strcmp(op, "fault")) {
		vm = vm_find(id);
		ret = vm ? vm_faults(vm, a, b) : -ENOENT;
	} else if (sscanf(cmd, "%15s %3s", op, all) == 2 &&
		   !strcmp(op, "destroy") && !strcmp(all, "all")) {
		vm_destroy_all();
		ret = 0;
	} else if (sscanf(cmd, "%15s %u", op, &id) == 2 &&
		   !strcmp(op, "destroy")) {
		vm = vm_find(id);
		if (vm)
			vm_destroy(vm);
		ret = vm ? 0 : -ENOENT;
	} else {
		ret = -EINVAL;
	}
	return ret ?: count;
}

static const struct file_operations vm_fops = {
	.write = vm_write,
	.llseek = noop_llseek,
};

static int vms_show(struct seq_file *m, void *v)
{
	struct pool_vm *vm;

	guard(mutex)(&debug_lock);
	list_for_each_entry(vm, &debug_vms, node)
		seq_printf(m, "vm %u ipa_mib=%llu reserved=%zu faults=%lu tables=%lu\n",
			   vm->id, vm->ipa_size / SZ_1M, vm->reserved,
			   vm->faults, vm->tables);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vms);

/* "ROUNDS VMS FAULTS SEED" runs the workload; reading shows the last run. */
static ssize_t workload_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	char *cmd __free(kfree) = debug_cmd(ubuf, count);
	unsigned long rounds, faults;
	unsigned int nr_vms;
	u64 seed;

	if (IS_ERR(cmd))
		return PTR_ERR(cmd);
	if (sscanf(cmd, "%lu %u %lu %llu", &rounds, &nr_vms, &faults,
		   &seed) != 4 || !nr_vms || nr_vms > 64)
		return -EINVAL;

	guard(mutex)(&debug_lock);
	run_workload(&debug_last, rounds, nr_vms, faults, seed);
	return debug_last.err ?: count;
}

static int workload_show(struct seq_file *m, void *v)
{
	struct pool_workload_result *r = &debug_last;

	guard(mutex)(&debug_lock);
	seq_printf(m, "seed=%llu rounds=%lu vms=%lu refused=%lu faults=%lu tables=%lu err=%d\n",
		   r->seed, r->rounds, r->vms, r->refused, r->faults,
		   r->tables, r->err);
	return 0;
}

DEFINE_SHOW_STORE_ATTRIBUTE(workload);

#define STRESS_MAX_THREADS	8
#define STRESS_MAX_HELD		128

struct stress_thread {
	struct gunyah_pool *pool;
	struct completion *go;
	struct completion done;
	struct rnd_state rnd;
	unsigned long ops;
	phys_addr_t held[STRESS_MAX_HELD];
	u8 held_order[STRESS_MAX_HELD];
	unsigned int nr_held;
	u64 held_bytes;
	u64 max_held_bytes;
	u64 committed;
	unsigned long allocs;
	unsigned long frees;
	unsigned long fails;
	unsigned long reserves;
	unsigned long nr_done;
	int err;
};

struct stress_result {
	unsigned int threads;
	unsigned long ops;
	u64 seed;
	unsigned long allocs;
	unsigned long frees;
	unsigned long fails;
	unsigned long reserves;
	unsigned long nr_done;
	u64 ns;
	u64 peak;
	u64 peak_bound;
	bool books_ok;
	bool valid;
	int err;
};

static struct stress_result debug_stress;

/* Mostly small blocks, as stage-2 tables are, now and then a large one. */
static unsigned int stress_order(struct rnd_state *rnd)
{
	u32 r = prandom_u32_state(rnd);

	return r % 8 ? r % 3 : r % (GUNYAH_POOL_MAX_ORDER + 1);
}

static void stress_free_one(struct stress_thread *t, unsigned int i)
{
	unsigned int order = t->held_order[i];

	if (gunyah_pool_block_free(t->pool, t->held[i], order))
		t->err = -EUCLEAN;
	t->held_bytes -= PAGE_SIZE << order;
	t->frees++;
	t->held[i] = t->held[--t->nr_held];
	t->held_order[i] = t->held_order[t->nr_held];
}

static int stress_fn(void *data)
{
	static const gfp_t gfps[] = { GFP_KERNEL, GFP_NOWAIT, GFP_ATOMIC,
				      GFP_KERNEL | __GFP_ZERO };
	struct stress_thread *t = data;
	unsigned long i;

	wait_for_completion(t->go);
	for (i = 0; i < t->ops && !t->err; i++) {
		u32 op = prandom_u32_state(&t->rnd) % 100;

		if (op < 48 && t->nr_held < STRESS_MAX_HELD) {
			unsigned int order = stress_order(&t->rnd);
			gfp_t gfp = gfps[prandom_u32_state(&t->rnd) % ARRAY_SIZE(gfps)];
			phys_addr_t phys;
			int ret;

			ret = gunyah_pool_block_alloc(t->pool, order, gfp, &phys);
			/* Running out is the one refusal the API documents here. */
			if (ret == -ENOMEM) {
				t->fails++;
				goto next;
			}
			if (ret) {
				t->err = ret;
				goto next;
			}
			t->held[t->nr_held] = phys;
			t->held_order[t->nr_held++] = order;
			t->held_bytes += PAGE_SIZE << order;
			t->max_held_bytes = max(t->max_held_bytes, t->held_bytes);
			t->allocs++;
		} else if (op < 94 && t->nr_held) {
			stress_free_one(t, prandom_u32_state(&t->rnd) % t->nr_held);
		} else if (op < 97) {
			size_t bytes = (prandom_u32_state(&t->rnd) % 64 + 1) * PAGE_SIZE;
			int ret = gunyah_pool_commit(t->pool, bytes);

			if (!ret) {
				t->committed += bytes;
				t->reserves++;
			} else if (ret != -ENOMEM) {
				t->err = ret;
			}
		} else if (op < 99 && t->committed) {
			if (gunyah_pool_uncommit(t->pool, t->committed))
				t->err = -EUCLEAN;
			t->committed = 0;
		} else {
			/* What an operator does meanwhile through sysfs. */
			gunyah_pool_set_tunable(t->pool, GUNYAH_POOL_LOW_WATERMARK,
						(prandom_u32_state(&t->rnd) % 4) * SZ_1M);
		}
next:
		t->nr_done++;
		if (!(i % 1024))
			cond_resched();
	}
	complete(&t->done);
	return 0;
}

static void run_stress(struct stress_result *res, unsigned int threads,
		       unsigned long ops, u64 seed)
{
	struct stress_thread *t __free(kvfree) = NULL;
	struct gunyah_pool *pool = debug_pool;
	struct gunyah_pool_usage before, after;
	u64 allocs0, frees0, held = 0, committed = 0;
	DECLARE_COMPLETION_ONSTACK(go);
	unsigned int i, started = 0;
	ktime_t start;

	lockdep_assert_held(&debug_lock);

	memset(res, 0, sizeof(*res));
	res->threads = threads;
	res->ops = ops;
	res->seed = seed;
	t = kvcalloc(threads, sizeof(*t), GFP_KERNEL);
	if (!t) {
		res->err = -ENOMEM;
		return;
	}

	/* The peak from here is what the threads held on top of what was. */
	gunyah_pool_set_tunable(pool, GUNYAH_POOL_PEAK_USED, 0);
	gunyah_pool_usage(pool, &before);
	allocs0 = gunyah_pool_stat(pool, GUNYAH_POOL_STAT_ALLOC_SUCCESS);
	frees0 = gunyah_pool_stat(pool, GUNYAH_POOL_STAT_FREE);
	for (i = 0; i < threads; i++) {
		struct task_struct *task;

		t[i].pool = pool;
		t[i].go = &go;
		t[i].ops = ops / threads;
		init_completion(&t[i].done);
		prandom_seed_state(&t[i].rnd, seed + i);
		task = kthread_run(stress_fn, &t[i], "gunyah_pool_stress/%u", i);
		if (IS_ERR(task)) {
			res->err = PTR_ERR(task);
			break;
		}
		started++;
	}
	start = ktime_get();
	complete_all(&go);
	for (i = 0; i < started; i++)
		wait_for_completion(&t[i].done);
	res->ns = ktime_to_ns(ktime_sub(ktime_get(), start));

	/* Books against counters, with every thread's blocks still out. */
	gunyah_pool_usage(pool, &after);
	res->peak = after.peak_used;
	res->peak_bound = before.used;
	for (i = 0; i < started; i++) {
		held += t[i].held_bytes;
		res->peak_bound += t[i].max_held_bytes;
		committed += t[i].committed;
		res->allocs += t[i].allocs;
		res->frees += t[i].frees;
		res->fails += t[i].fails;
		res->reserves += t[i].reserves;
		res->nr_done += t[i].nr_done;
		res->err = res->err ?: t[i].err;
	}
	/* No more than every thread at its most at once, no less than now. */
	res->books_ok = after.used == before.used + held &&
			res->peak >= after.used && res->peak <= res->peak_bound &&
			after.committed == before.committed + committed &&
			gunyah_pool_stat(pool, GUNYAH_POOL_STAT_ALLOC_SUCCESS) ==
			allocs0 + res->allocs &&
			gunyah_pool_stat(pool, GUNYAH_POOL_STAT_FREE) ==
			frees0 + res->frees;

	for (i = 0; i < started; i++) {
		while (t[i].nr_held)
			stress_free_one(&t[i], t[i].nr_held - 1);
		if (t[i].committed)
			gunyah_pool_uncommit(pool, t[i].committed);
	}
	gunyah_pool_set_tunable(pool, GUNYAH_POOL_LOW_WATERMARK, before.low_wmark);
	res->valid = !gunyah_pool_validate(pool);
}

/* "THREADS OPS SEED": run the stress; reading shows the last run. */
static ssize_t stress_write(struct file *file, const char __user *ubuf,
			    size_t count, loff_t *ppos)
{
	char *cmd __free(kfree) = debug_cmd(ubuf, count);
	unsigned int threads;
	unsigned long ops;
	u64 seed;

	if (IS_ERR(cmd))
		return PTR_ERR(cmd);
	if (sscanf(cmd, "%u %lu %llu", &threads, &ops, &seed) != 3 ||
	    !threads || threads > STRESS_MAX_THREADS || !ops)
		return -EINVAL;

	guard(mutex)(&debug_lock);
	run_stress(&debug_stress, threads, ops, seed);
	return debug_stress.err ?: count;
}

static int stress_show(struct seq_file *m, void *v)
{
	struct stress_result *r = &debug_stress;

	guard(mutex)(&debug_lock);
	seq_printf(m, "threads=%u ops=%lu seed=%llu done=%lu allocs=%lu frees=%lu fails=%lu reserves=%lu ns=%llu peak=%llu peak_bound=%llu books=%s validate=%s err=%d\n",
		   r->threads, r->ops, r->seed, r->nr_done, r->allocs, r->frees,
		   r->fails, r->reserves, r->ns, r->peak, r->peak_bound,
		   r->books_ok ? "ok" : "bad", r->valid ? "ok" : "bad", r->err);
	return 0;
}

DEFINE_SHOW_STORE_ATTRIBUTE(stress);

/*
 * Blocks in each CPU's cache, per order: what a test compares before and
 * after something that must not touch them. Each cache is read under its
 * lock; root only.
 */
static int pcp_show(struct seq_file *m, void *v)
{
	unsigned int count[GUNYAH_POOL_PCP_ORDERS];
	struct gunyah_pool_pcp *pcp;
	unsigned int cpu, o;

	for_each_possible_cpu(cpu) {
		pcp = per_cpu_ptr(debug_pool->pcp, cpu);
		scoped_guard(spinlock, &pcp->lock)
			memcpy(count, pcp->count, sizeof(count));
		seq_printf(m, "cpu%u", cpu);
		for (o = 0; o < GUNYAH_POOL_PCP_ORDERS; o++)
			seq_printf(m, " %u", count[o]);
		seq_putc(m, '\n');
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pcp);

static int misc_show(struct seq_file *m, void *v)
{
	struct gunyah_pool_reusable *r;

	if (!gunyah_pool_is_reusable(debug_pool)) {
		seq_puts(m, "tlb_flushes=0 quarantined=0\n");
		return 0;
	}
	r = to_reusable(debug_pool);
	seq_printf(m, "tlb_flushes=%lld quarantined=%lu\n",
		   atomic64_read(&r->tlb_flushes), READ_ONCE(r->nr_quarantined));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(misc);

#ifdef CONFIG_GUNYAH_POOL_PROVOKE
/*
 * Positive controls for the kernel's debugging tools, as lkdtm and the
 * KASAN and KFENCE tests have them: each word written to "provoke" makes one
 * tool report once, so that a test can show that the tool is on in its
 * kernel and that a boot with such a report fails. None of them touches the
 * pool. They live in this file so that they are built as the pool's objects
 * are (KCSAN instruments only those).
 */
static DEFINE_MUTEX(provoke_a);
static DEFINE_MUTEX(provoke_b);
static unsigned long provoke_racy;

static noinline void provoke_kasan(void)
{
	char *p = kmalloc(8, GFP_KERNEL);

	if (!p)
		return;
	OPTIMIZER_HIDE_VAR(p);
	pr_info("provoke: kasan: reading one byte past an 8-byte object\n");
	pr_info("provoke: read %d\n", READ_ONCE(p[8]));
	kfree(p);
}

static noinline void provoke_ubsan(void)
{
	unsigned int shift = BITS_PER_LONG;
	unsigned long one = 1;

	OPTIMIZER_HIDE_VAR(shift);

	pr_info("provoke: ubsan: shifting a long by its width\n");
	pr_info("provoke: shifted %lu\n", one << shift);
}

/* Both orders of two mutexes, one after the other: no deadlock, a report. */
static noinline void provoke_lockdep(void)
{
	pr_info("provoke: lockdep: taking two mutexes in both orders\n");
	mutex_lock(&provoke_a);
	mutex_lock(&provoke_b);
	mutex_unlock(&provoke_b);
	mutex_unlock(&provoke_a);
	mutex_lock(&provoke_b);
	mutex_lock(&provoke_a);
	mutex_unlock(&provoke_a);
	mutex_unlock(&provoke_b);
}

/*
 * Plain increments for a second, then wait to be stopped. cpu_relax() is a
 * compiler barrier: each increment loads and stores the word.
 */
static int provoke_racer(void *unused)
{
	unsigned long end = jiffies + HZ;

	while (time_before(jiffies, end)) {
		provoke_racy++;
		cpu_relax();
	}
	while (!kthread_should_stop())
		schedule_timeout_interruptible(1);
	return 0;
}

/* Plain increments of one word from two CPUs at once. */
static noinline void provoke_kcsan(void)
{
	struct task_struct *t[2];
	unsigned int i;

	if (num_online_cpus() < ARRAY_SIZE(t))
		return;
	pr_info("provoke: kcsan: plain writes to one word from two CPUs\n");
	for (i = 0; i < ARRAY_SIZE(t); i++) {
		t[i] = kthread_create(provoke_racer, NULL, "gpool-race/%u", i);
		if (IS_ERR(t[i]))
			break;
		kthread_bind(t[i], cpumask_nth(i, cpu_online_mask));
		wake_up_process(t[i]);
	}
	msleep(1100);
	while (i--)
		kthread_stop(t[i]);
}

/* Objects nothing points to once this returns. */
static noinline void provoke_leak(void)
{
	unsigned int i;
	void *p;

	pr_info("provoke: kmemleak: losing eight 64-byte objects\n");
	for (i = 0; i < 8; i++) {
		p = kmalloc(64, GFP_KERNEL);
		OPTIMIZER_HIDE_VAR(p);
	}
}

static noinline void provoke_oops(void)
{
	int *p = NULL;

	OPTIMIZER_HIDE_VAR(p);
	pr_info("provoke: oops: reading through a NULL pointer\n");
	pr_info("provoke: read %d\n", READ_ONCE(*p));
}

/* DEBUG_ATOMIC_SLEEP: a call that may sleep, under a spinlock. */
static noinline void provoke_sleep(void)
{
	static DEFINE_SPINLOCK(lock);

	pr_info("provoke: sleep: might_sleep() under a spinlock\n");
	spin_lock(&lock);
	might_sleep();
	spin_unlock(&lock);
}

static const struct {
	const char *name;
	void (*fn)(void);
} provocations[] = {
	{ "kasan", provoke_kasan },
	{ "ubsan", provoke_ubsan },
	{ "lockdep", provoke_lockdep },
	{ "kcsan", provoke_kcsan },
	{ "leak", provoke_leak },
	{ "oops", provoke_oops },
	{ "sleep", provoke_sleep },
};

static ssize_t provoke_write(struct file *file, const char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	char *cmd __free(kfree) = debug_cmd(ubuf, count);
	unsigned int i;

	if (IS_ERR(cmd))
		return PTR_ERR(cmd);
	for (i = 0; i < ARRAY_SIZE(provocations); i++) {
		if (sysfs_streq(cmd, provocations[i].name)) {
			provocations[i].fn();
			return count;
		}
	}
	return -EINVAL;
}

static const struct file_operations provoke_fops = {
	.write = provoke_write,
	.llseek = noop_llseek,
};
#endif /* CONFIG_GUNYAH_POOL_PROVOKE */

/*
 * A boot-time user of the pool, for tests of what a restore from hibernation
 * meets: gunyah_pool.boot_alloc=hold keeps an order-0 block from
 * late_initcall on (among the blocks free_all gives back), =cycle takes one
 * and frees it, which leaves a reusable pool a chunk it keeps while the
 * watermarks allow. Both come before a resume (late_initcall_sync).
 */
static char *boot_alloc;
module_param(boot_alloc, charp, 0400);

static int __init debug_boot_alloc(void)
{
	struct pool_block *blk;
	bool hold;
	int ret;

	if (!boot_alloc || !debug_pool)
		return 0;
	hold = !strcmp(boot_alloc, "hold");
	if (!hold && strcmp(boot_alloc, "cycle")) {
		pr_err("boot_alloc=%s: expected hold or cycle\n", boot_alloc);
		return -EINVAL;
	}
	blk = kzalloc(sizeof(*blk), GFP_KERNEL);
	if (!blk)
		return -ENOMEM;
	ret = gunyah_pool_block_alloc(debug_pool, 0, GFP_KERNEL, &blk->phys);
	if (ret) {
		pr_err("boot_alloc=%s: %d\n", boot_alloc, ret);
		kfree(blk);
		return ret;
	}
	pr_info("boot_alloc=%s: block at %pa\n", boot_alloc, &blk->phys);
	if (!hold) {
		gunyah_pool_block_free(debug_pool, blk->phys, 0);
		kfree(blk);
		return 0;
	}
	scoped_guard(mutex, &debug_lock)
		list_add_tail(&blk->node, &debug_blocks);
	return 0;
}
late_initcall(debug_boot_alloc);

/*
 * /sys/kernel/debug/gunyah_pool, once the system's pool is set up (at
 * subsys_initcall); the fault-injection directories, when the kernel has
 * them, are there already.
 */
static int __init gunyah_pool_debugfs_init(void)
{
	struct dentry *found, *debug_dir;

	debug_pool = gunyah_pool_get();
	if (!debug_pool)
		return 0;
	/* debugfs_lookup() takes a reference, given back below. */
	found = debugfs_lookup("gunyah_pool", NULL);
	debug_dir = found ?: debugfs_create_dir("gunyah_pool", NULL);
	debugfs_create_file("base", 0400, debug_dir, NULL, &base_fops);
	debugfs_create_file("alloc", 0200, debug_dir, NULL, &alloc_fops);
	debugfs_create_file("free", 0200, debug_dir, NULL, &free_fops);
	debugfs_create_file("free_all", 0200, debug_dir, NULL, &free_all_fops);
	debugfs_create_file("blocks", 0400, debug_dir, NULL, &blocks_fops);
	debugfs_create_file("reserve", 0200, debug_dir, NULL, &reserve_fops);
	debugfs_create_file("unreserve", 0200, debug_dir, NULL,
			    &unreserve_fops);
	debugfs_create_file("free_per_order", 0400, debug_dir, NULL,
			    &free_per_order_fops);
	debugfs_create_file("largest_free_block", 0400, debug_dir, NULL,
			    &largest_free_block_fops);
	debugfs_create_file("map", 0400, debug_dir, NULL, &map_fops);
	debugfs_create_file("validate", 0400, debug_dir, NULL, &validate_fops);
	debugfs_create_file("vm", 0200, debug_dir, NULL, &vm_fops);
	debugfs_create_file("vms", 0400, debug_dir, NULL, &vms_fops);
	debugfs_create_file("workload", 0600, debug_dir, NULL, &workload_fops);
	debugfs_create_file("stress", 0600, debug_dir, NULL, &stress_fops);
	debugfs_create_file("counters", 0400, debug_dir, NULL, &misc_fops);
	debugfs_create_file("pcp", 0400, debug_dir, NULL, &pcp_fops);
#ifdef CONFIG_GUNYAH_POOL_PROVOKE
	debugfs_create_file("provoke", 0200, debug_dir, NULL, &provoke_fops);
#endif
	dput(found);
	return 0;
}
subsys_initcall_sync(gunyah_pool_debugfs_init);
