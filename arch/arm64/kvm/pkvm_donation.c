// SPDX-License-Identifier: GPL-2.0-only
/*
 * pKVM's donations to EL2, and taking them from the Gunyah donation pool.
 *
 * For every VM the host donates to the hypervisor its stage-2 PGD pages, the
 * hypervisor's VM structure and one hypervisor vCPU structure per vCPU
 * (__pkvm_create_hyp_vm()). A donated page leaves the host's stage 2; a host
 * access to it, even a load_unaligned_zeropad() running off the end of the
 * page before it or a copy_from_kernel_nofault(), is not fixed up: EL2 stops
 * the machine. A page from the page allocator stays in the linear map, so
 * such an access can reach it; a page from the Gunyah donation pool is never
 * in the linear map, so it cannot.
 *
 * In a kernel with this file and a Gunyah donation pool that EL2 can take (a
 * reusable pool: EL2 refuses MEMBLOCK_NOMAP memory, see
 * addr_is_allowed_memory()), every donation comes from the pool, through
 * its public API only. There is no switch: the device tree that declares
 * the pool asks for it, and a kernel booted without the pool's node donates
 * as stock pKVM does.
 *
 *  - KVM_CREATE_VCPU reserves what the VM will donate with that many vCPUs
 *    (gunyah_pool_reserve()), so a VM the pool cannot promise is refused
 *    there with -ENOMEM rather than at its first KVM_RUN (a promise, not
 *    pages: a pool overcommitted by its operator can still run short);
 *  - every donated block is recorded. At teardown EL2 hands the pages back
 *    on a list whose links it writes inside them, which the host could only
 *    read through a mapping it must not have, so the record, not that list,
 *    says what goes back to the pool;
 *  - a block EL2 did not hand back stays out of the pool for good, still
 *    committed, counted in debugfs (pkvm_donations/stranded_bytes) and
 *    reported.
 *
 * EL2 clears what it maps, so the host never writes into a donated page.
 * Without a usable pool, donations come from the page allocator and go back
 * through the teardown memcache as they always did, with no record.
 *
 * This relies on two properties of 6.12's EL2: a VM's stage-2 page-table
 * pool holds only its PGD pages, so the teardown memcache returns exactly
 * what was donated (later kernels also return vCPU memcache pages there);
 * and protected mode gives every VM the host's IPA size, so the PGD the host
 * sizes from the VM's VTCR is the one EL2 sizes from its own.
 *
 * Locking: a VM's record changes under its config_lock, where pkvm.c creates
 * and destroys the hypervisor's VM; the reservation grows under kvm->lock
 * (vCPU creation) and is given back when the VM is destroyed.
 */

#define pr_fmt(fmt) "kvm: pkvm donation pool: " fmt

#include <linux/debugfs.h>
#include <linux/gunyah_pool.h>
#include <linux/kvm_host.h>
#include <linux/memblock.h>
#include <linux/slab.h>

#include <asm/kvm_pgtable.h>

#include "hyp_constants.h"
#include "pkvm_donation.h"

/**
 * struct pkvm_donation - one block of memory donated to EL2
 * @phys: physical address of the block
 * @size: bytes EL2 took (page aligned); a pool block is get_order(@size)
 */
struct pkvm_donation {
	phys_addr_t phys;
	size_t size;
};

/**
 * struct pkvm_donations - what one VM has donated to EL2
 * @nr: number of blocks in @blocks
 * @blocks: the blocks, in no particular order
 */
struct pkvm_donations {
	unsigned int nr;
	struct pkvm_donation blocks[];
};

static bool donation_pool_on __ro_after_init;
static atomic64_t stranded_bytes = ATOMIC64_INIT(0);

/* The pool's block for @size bytes: what gunyah_pool_alloc() hands out. */
static size_t pool_block_bytes(size_t size)
{
	return PAGE_SIZE << get_order(size);
}

static size_t pgd_bytes(struct kvm *kvm)
{
	return kvm_pgtable_stage2_pgd_size(kvm->arch.mmu.vtcr);
}

static size_t hyp_vm_bytes(unsigned int nr_vcpus)
{
	return PAGE_ALIGN(size_add(PKVM_HYP_VM_SIZE,
				   size_mul(sizeof(void *), nr_vcpus)));
}

static size_t hyp_vcpu_bytes(void)
{
	return PAGE_ALIGN(PKVM_HYP_VCPU_SIZE);
}

/* What a VM of @nr_vcpus vCPUs takes from the pool (__pkvm_create_hyp_vm()). */
static size_t pool_bytes_for(struct kvm *kvm, unsigned int nr_vcpus)
{
	return pool_block_bytes(pgd_bytes(kvm)) +
	       pool_block_bytes(hyp_vm_bytes(nr_vcpus)) +
	       nr_vcpus * pool_block_bytes(hyp_vcpu_bytes());
}

/**
 * pkvm_donation_reserve_vcpu() - commit pool memory for one more vCPU
 * @kvm: the VM, with kvm->lock held, about to create a vCPU
 *
 * Return: 0, or -ENOMEM when the pool's commit limit refuses the VM.
 */
int pkvm_donation_reserve_vcpu(struct kvm *kvm)
{
	size_t need, have = kvm->arch.pkvm.pool_reserved;
	int ret;

	lockdep_assert_held(&kvm->lock);
	if (!donation_pool_on)
		return 0;

	need = pool_bytes_for(kvm, kvm->created_vcpus + 1);
	if (need <= have)
		return 0;
	ret = gunyah_pool_reserve(need - have);
	if (ret)
		return -ENOMEM;
	kvm->arch.pkvm.pool_reserved = need;
	return 0;
}

static struct pkvm_donations *donations_grow(struct kvm *kvm)
{
	struct pkvm_donations *old = kvm->arch.pkvm.donations, *d;
	unsigned int nr = old ? old->nr : 0;

	d = krealloc(old, struct_size(d, blocks, nr + 1), GFP_KERNEL_ACCOUNT);
	if (!d)
		return NULL;
	d->nr = nr;
	kvm->arch.pkvm.donations = d;
	return d;
}

static void *donation_alloc(struct kvm *kvm, size_t size);

/**
 * pkvm_donation_alloc() - memory for the host to donate to EL2
 * @kvm: the VM, with its config_lock held
 * @size: bytes EL2 will take, page aligned
 *
 * Return: the linear-map address of the memory (EL2 translates it; the host
 * never dereferences it), or NULL.
 */
void *pkvm_donation_alloc(struct kvm *kvm, size_t size)
{
	void *va;

	lockdep_assert_held(&kvm->arch.config_lock);
	va = donation_alloc(kvm, size);
	if (va)
		kvm->stat.protected_hyp_mem += size;
	return va;
}

static void *donation_alloc(struct kvm *kvm, size_t size)
{
	struct pkvm_donations *d;
	phys_addr_t phys;
	void *va;

	/* Without the pool, no record: the teardown memcache says it all. */
	if (!donation_pool_on)
		return alloc_pages_exact(size, GFP_KERNEL_ACCOUNT);
	d = donations_grow(kvm);
	if (!d)
		return NULL;
	/*
	 * Charged to the VMM's memory cgroup, as the page allocator's path
	 * charges it. No __GFP_ZERO: EL2 clears what it maps.
	 */
	if (gunyah_pool_alloc(get_order(size), GFP_KERNEL_ACCOUNT, &phys))
		return NULL;
	va = phys_to_virt(phys);
	d->blocks[d->nr++] = (struct pkvm_donation) { .phys = phys, .size = size };
	return va;
}

static void donation_free(struct pkvm_donation *b)
{
	gunyah_pool_free(b->phys, get_order(b->size));
}

/**
 * pkvm_donation_free() - free a donation EL2 refused or handed back at once
 * @kvm: the VM, with its config_lock held
 * @va: what pkvm_donation_alloc() returned
 * @size: what it was asked for
 */
void pkvm_donation_free(struct kvm *kvm, void *va, size_t size)
{
	struct pkvm_donations *d = kvm->arch.pkvm.donations;
	phys_addr_t phys = virt_to_phys(va);
	unsigned int i;

	lockdep_assert_held(&kvm->arch.config_lock);
	kvm->stat.protected_hyp_mem -= size;
	if (!donation_pool_on) {
		free_pages_exact(va, size);
		return;
	}
	for (i = 0; d && i < d->nr; i++) {
		if (d->blocks[i].phys != phys)
			continue;
		WARN_ON_ONCE(d->blocks[i].size != size);
		donation_free(&d->blocks[i]);
		d->blocks[i] = d->blocks[--d->nr];
		return;
	}
	WARN_ONCE(1, "freeing a donation that was not recorded\n");
}

/**
 * pkvm_donation_reclaim() - take back what the VM donated, after teardown
 * @kvm: the VM, with its config_lock held
 * @returned: EL2 tore the VM down and handed its pages back
 *
 * Pages from the page allocator go back through the teardown memcache, as
 * they always did. Pool blocks go back by the record: the memcache's links
 * are inside pages the host has no mapping of. When EL2 did not tear the VM
 * down, or handed back another number of pages than it was given, it may
 * still own any block: they all stay out of the pool, and stay committed so
 * that no later VM is promised them.
 */
void pkvm_donation_reclaim(struct kvm *kvm, bool returned)
{
	struct kvm_hyp_memcache *mc = &kvm->arch.pkvm.teardown_mc;
	struct pkvm_donations *d = kvm->arch.pkvm.donations;
	unsigned long pages = 0;
	size_t bytes = 0;
	unsigned int i;

	lockdep_assert_held(&kvm->arch.config_lock);
	if (!donation_pool_on) {
		if (returned)
			kvm->stat.protected_hyp_mem = 0;
		free_hyp_memcache(mc);
		goto out;
	}

	for (i = 0; d && i < d->nr; i++) {
		pages += d->blocks[i].size >> PAGE_SHIFT;
		bytes += PAGE_SIZE << get_order(d->blocks[i].size);
	}
	if (returned && WARN_ONCE(mc->nr_pages != pages,
				  "EL2 handed back %lu pages, %lu were donated\n",
				  mc->nr_pages, pages))
		returned = false;

	if (returned) {
		kvm->stat.protected_hyp_mem = 0;
		for (i = 0; d && i < d->nr; i++)
			donation_free(&d->blocks[i]);
	} else if (bytes) {
		/* kvm->lock guards pool_reserved; this is config_lock (F7). */
		kvm->arch.pkvm.pool_stranded += bytes;
		atomic64_add(bytes, &stranded_bytes);
		pr_err("EL2 kept %u blocks (%zu bytes) of a VM it did not tear down; they stay out of the pool\n",
		       d->nr, bytes);
	}
	mc->head = 0;
	mc->nr_pages = 0;
out:
	kfree(d);
	kvm->arch.pkvm.donations = NULL;
}

/**
 * pkvm_donation_unreserve() - give back the VM's reservation
 * @kvm: the VM being destroyed, after pkvm_donation_reclaim()
 */
void pkvm_donation_unreserve(struct kvm *kvm)
{
	struct kvm_protected_vm *pkvm = &kvm->arch.pkvm;
	size_t kept = min(pkvm->pool_stranded, pkvm->pool_reserved);

	/* Blocks EL2 kept stay committed, so no later VM is promised them. */
	if (pkvm->pool_reserved > kept)
		gunyah_pool_unreserve(pkvm->pool_reserved - kept);
	pkvm->pool_reserved = 0;
	pkvm->pool_stranded = 0;
}

static int stranded_get(void *data, u64 *val)
{
	*val = atomic64_read(&stranded_bytes);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(stranded_fops, stranded_get, NULL, "%llu\n");

/*
 * Decide once, at boot, where donations come from: the pool is ready by
 * now (it sets up before late_initcall), and KVM finished at device_initcall.
 */
static int __init pkvm_donation_pool_init(void)
{
	phys_addr_t base, size;
	struct dentry *dir;
	int ret;

	if (!is_protected_kvm_enabled() || !is_kvm_arm_initialised())
		return 0;

	dir = debugfs_create_dir("pkvm_donations", NULL);
	debugfs_create_file_unsafe("stranded_bytes", 0444, dir, NULL,
				   &stranded_fops);

	/*
	 * No pool (none in the device tree, or its node was refused, which
	 * the pool reported): stock pKVM.
	 */
	ret = gunyah_pool_get_region(&base, &size);
	if (ret) {
		pr_info("no Gunyah donation pool (%d); donating from the page allocator\n",
			ret);
		return 0;
	}
	/*
	 * EL2 takes only memory the host maps: no MEMBLOCK_NOMAP. A region is
	 * no-map as a whole. Asked of the region, not of an allocation, so
	 * that deciding changes nothing in the pool.
	 */
	if (!memblock_is_map_memory(base) ||
	    !memblock_is_map_memory(base + size - 1)) {
		pr_warn("the Gunyah donation pool is no-map memory, which EL2 refuses; donating from the page allocator\n");
		return 0;
	}

	donation_pool_on = true;
	pr_info("VM memory for EL2 comes from the Gunyah donation pool\n");
	return 0;
}
late_initcall(pkvm_donation_pool_init);
