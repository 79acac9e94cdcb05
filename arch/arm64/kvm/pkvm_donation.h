/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Memory the host donates to EL2 for a protected-mode VM. With
 * CONFIG_PKVM_DONATION_POOL it may come from the Gunyah donation pool
 * (pkvm_donation.c); without, it comes from the page allocator and goes
 * back through the VM's teardown memcache, as it always did.
 */
#ifndef __ARM64_KVM_PKVM_DONATION_H__
#define __ARM64_KVM_PKVM_DONATION_H__

#include <linux/gfp.h>
#include <linux/kvm_host.h>

#ifdef CONFIG_PKVM_DONATION_POOL
int pkvm_donation_reserve_vcpu(struct kvm *kvm);
void *pkvm_donation_alloc(struct kvm *kvm, size_t size);
void pkvm_donation_free(struct kvm *kvm, void *va, size_t size);
void pkvm_donation_reclaim(struct kvm *kvm, bool returned);
void pkvm_donation_unreserve(struct kvm *kvm);
#else
static inline int pkvm_donation_reserve_vcpu(struct kvm *kvm)
{
	return 0;
}

static inline void *pkvm_donation_alloc(struct kvm *kvm, size_t size)
{
	return alloc_pages_exact(size, GFP_KERNEL_ACCOUNT);
}

static inline void pkvm_donation_free(struct kvm *kvm, void *va, size_t size)
{
	free_pages_exact(va, size);
}

static inline void pkvm_donation_reclaim(struct kvm *kvm, bool returned)
{
	free_hyp_memcache(&kvm->arch.pkvm.teardown_mc);
}

static inline void pkvm_donation_unreserve(struct kvm *kvm) { }
#endif

#endif /* __ARM64_KVM_PKVM_DONATION_H__ */
