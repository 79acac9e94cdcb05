// SPDX-License-Identifier: GPL-2.0-only
/*
 * pkvm-vms: the VM lifecycle of a hypervisor driver, against pKVM's EL2.
 *
 *   pkvm-vms [-n VMS] [-c VCPUS] [-r ROUNDS] [-s SEED] [-H CMD] [-F N] [-T]
 *
 * Each round creates VMS VMs; each VM gets VCPUS vCPUs, or with a SEED a
 * seeded number of them from 1 to VCPUS. Every vCPU runs its guest code to a
 * known exit: a store of a value naming the VM and vCPU to an address outside
 * every memslot (KVM_EXIT_MMIO); the last vCPU of each VM then calls PSCI
 * SYSTEM_OFF (KVM_EXIT_SYSTEM_EVENT). The first KVM_RUN makes KVM create the
 * VM at EL2, which is when the host donates its memory. With every VM of the
 * round alive, each VM's protected_hyp_mem statistic (KVM_GET_STATS_FD: the
 * bytes donated to EL2 for it) is printed and CMD (if given) runs through
 * /bin/sh; then all are torn down.
 *
 * The last line is the summary:
 *   pkvm-vms: ok seed=S rounds=R vms=N vcpus=T mmio_exits=T system_off=N
 * or, at the first failure, one line naming the step and the errno:
 *   pkvm-vms: FAIL step=create_vcpu vm=3 vcpu=1 errno=ENOMEM
 * and exit status 1. The VMs created so far are torn down either way.
 *
 * With -F N, the Nth fault-injection point this task passes from the first
 * KVM_CREATE_VM to the last teardown fails (/proc/thread-self/fail-nth;
 * which points count is set in debugfs), and one more line follows:
 *   pkvm-vms: fail-nth n=N injected=1
 * injected=0 when the lifecycle passed fewer than N points.
 *
 * With -T, each round is timed from the first KVM_CREATE_VM to the last
 * close (with one VM a round is one lifecycle: create, run every vCPU once,
 * which is when the host donates, destroy, which is when EL2 gives the
 * memory back), one line per round, then a summary before the last line:
 *   pkvm-vms: round ns=N
 *   pkvm-vms: timed rounds=R p50_ns=N p99_ns=N max_ns=N elapsed_ns=N
 *
 * A stand-in for the Gunyah drivers' VM lifecycle, built static for arm64.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#define GUEST_BASE	0x40000000ULL	/* IPA of the guest's one memslot */
#define GUEST_SIZE	0x10000ULL
#define MMIO_ADDR	0x1000ULL	/* in no memslot: the store exits */
#define PSCI_SYSTEM_OFF	0x84000008ULL
#define MAGIC		0x9e5f000000000000ULL
#define MAX_VMS		64
#define MAX_VCPUS	8

/* x0 = PSCI SYSTEM_OFF, x1 = MMIO_ADDR, x2 = the value to store */
static const uint32_t guest_code[] = {
	0xf9000022,	/* str x2, [x1]	-> KVM_EXIT_MMIO */
	0xd4000002,	/* hvc #0	-> KVM_EXIT_SYSTEM_EVENT */
	0x14000000,	/* b .		*/
};

struct vm {
	int fd;
	void *mem;
	unsigned int nr_vcpus;
	int vcpu_fd[MAX_VCPUS];
	struct kvm_run *run[MAX_VCPUS];
};

static int kvm_fd;
static size_t run_size;
static unsigned long long total_vcpus, mmio_exits, system_offs;

static const char *errname(int err)
{
	switch (err) {
	case ENOMEM: return "ENOMEM";
	case EINVAL: return "EINVAL";
	case EBUSY: return "EBUSY";
	case ENODEV: return "ENODEV";
	case EFAULT: return "EFAULT";
	case ENOENT: return "ENOENT";
	case ENOSPC: return "ENOSPC";
	case E2BIG: return "E2BIG";
	default: return "EOTHER";
	}
}

static int fail(const char *step, int vm, int vcpu, int err)
{
	printf("pkvm-vms: FAIL step=%s vm=%d vcpu=%d errno=%s (%d)\n",
	       step, vm, vcpu, errname(err), err);
	fflush(stdout);
	return -1;
}

static int set_reg(int fd, uint64_t id, uint64_t val)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uintptr_t)&val };

	return ioctl(fd, KVM_SET_ONE_REG, &reg);
}

#define CORE_REG(name) (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | \
			KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(name))

static uint64_t store_value(int vm, int vcpu)
{
	return MAGIC | (uint64_t)vm << 8 | (uint64_t)vcpu;
}

static int create_vm(struct vm *v, int idx, unsigned int nr_vcpus)
{
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = GUEST_BASE,
		.memory_size = GUEST_SIZE,
	};
	struct kvm_vcpu_init init;
	unsigned int i;

	memset(v, 0, sizeof(*v));
	for (i = 0; i < MAX_VCPUS; i++)
		v->vcpu_fd[i] = -1;
	v->fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (v->fd < 0)
		return fail("create_vm", idx, -1, errno);

	v->mem = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v->mem == MAP_FAILED) {
		v->mem = NULL;
		return fail("mmap", idx, -1, errno);
	}
	memcpy(v->mem, guest_code, sizeof(guest_code));
	region.userspace_addr = (uintptr_t)v->mem;
	if (ioctl(v->fd, KVM_SET_USER_MEMORY_REGION, &region))
		return fail("memslot", idx, -1, errno);

	if (ioctl(v->fd, KVM_ARM_PREFERRED_TARGET, &init))
		return fail("preferred_target", idx, -1, errno);
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;

	/* Every vCPU must exist before the first KVM_RUN creates the VM at EL2. */
	for (i = 0; i < nr_vcpus; i++) {
		int fd = ioctl(v->fd, KVM_CREATE_VCPU, i);

		if (fd < 0)
			return fail("create_vcpu", idx, i, errno);
		v->vcpu_fd[i] = fd;
		v->nr_vcpus++;
		v->run[i] = mmap(NULL, run_size, PROT_READ | PROT_WRITE,
				 MAP_SHARED, fd, 0);
		if (v->run[i] == MAP_FAILED) {
			v->run[i] = NULL;
			return fail("mmap_run", idx, i, errno);
		}
		if (ioctl(fd, KVM_ARM_VCPU_INIT, &init))
			return fail("vcpu_init", idx, i, errno);
		if (set_reg(fd, CORE_REG(regs.pc), GUEST_BASE) ||
		    set_reg(fd, CORE_REG(regs.regs[0]), PSCI_SYSTEM_OFF) ||
		    set_reg(fd, CORE_REG(regs.regs[1]), MMIO_ADDR) ||
		    set_reg(fd, CORE_REG(regs.regs[2]), store_value(idx, i)))
			return fail("set_reg", idx, i, errno);
	}
	return 0;
}

static int run_vm(struct vm *v, int idx)
{
	unsigned int i;

	for (i = 0; i < v->nr_vcpus; i++) {
		struct kvm_run *run = v->run[i];
		uint64_t data;

		if (ioctl(v->vcpu_fd[i], KVM_RUN, 0))
			return fail("run", idx, i, errno);
		memcpy(&data, run->mmio.data, sizeof(data));
		if (run->exit_reason != KVM_EXIT_MMIO ||
		    run->mmio.phys_addr != MMIO_ADDR || !run->mmio.is_write ||
		    run->mmio.len != 8 || data != store_value(idx, i)) {
			printf("pkvm-vms: vm %d vcpu %u: exit %u addr %#llx len %u data %#llx\n",
			       idx, i, run->exit_reason,
			       (unsigned long long)run->mmio.phys_addr,
			       run->mmio.len, (unsigned long long)data);
			return fail("mmio_exit", idx, i, EINVAL);
		}
		mmio_exits++;
	}

	/* The last vCPU goes on to PSCI SYSTEM_OFF: it stops the whole VM. */
	i = v->nr_vcpus - 1;
	if (ioctl(v->vcpu_fd[i], KVM_RUN, 0))
		return fail("run", idx, i, errno);
	if (v->run[i]->exit_reason != KVM_EXIT_SYSTEM_EVENT ||
	    v->run[i]->system_event.type != KVM_SYSTEM_EVENT_SHUTDOWN)
		return fail("system_off", idx, i, EINVAL);
	system_offs++;
	return 0;
}

/* A statistic by name from a KVM stats fd; -1 if there is none. */
static long long stats_read(int fd, const char *name)
{
	struct kvm_stats_header h;
	struct kvm_stats_desc *d;
	long long val = -1;
	uint64_t v;
	size_t dsz;
	char *buf = NULL;
	unsigned int i;

	if (pread(fd, &h, sizeof(h), 0) != sizeof(h))
		goto out;
	dsz = sizeof(*d) + h.name_size;
	buf = calloc(h.num_desc, dsz);
	if (!buf || pread(fd, buf, dsz * h.num_desc, h.desc_offset) !=
		    (ssize_t)(dsz * h.num_desc))
		goto out;
	for (i = 0; i < h.num_desc; i++) {
		d = (struct kvm_stats_desc *)(buf + i * dsz);
		if (strncmp(d->name, name, h.name_size))
			continue;
		if (pread(fd, &v, sizeof(v), h.data_offset + d->offset) ==
		    sizeof(v))
			val = v;
		break;
	}
out:
	free(buf);
	return val;
}

/* A VM statistic by name, through KVM_GET_STATS_FD; -1 if there is none. */
static long long vm_stat(int vm_fd, const char *name)
{
	long long val;
	int fd;

	fd = ioctl(vm_fd, KVM_GET_STATS_FD, NULL);
	if (fd < 0)
		return -1;
	val = stats_read(fd, name);
	close(fd);
	return val;
}

static void destroy_vm(struct vm *v)
{
	unsigned int i;

	for (i = 0; i < MAX_VCPUS; i++) {
		if (v->run[i])
			munmap(v->run[i], run_size);
		if (v->vcpu_fd[i] >= 0)
			close(v->vcpu_fd[i]);
	}
	if (v->mem)
		munmap(v->mem, GUEST_SIZE);
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}

/* xorshift64: the same seed gives the same VMs on every machine. */
static uint64_t rnd_state;

static unsigned int rnd(unsigned int n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state % n;
}

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a;
	unsigned long long y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

/* The rounds' times, then their percentiles (nearest rank). */
static void report_times(unsigned long long *ns, unsigned int n,
			 unsigned long long elapsed)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		printf("pkvm-vms: round ns=%llu\n", ns[i]);
	qsort(ns, n, sizeof(*ns), cmp_ull);
	printf("pkvm-vms: timed rounds=%u p50_ns=%llu p99_ns=%llu max_ns=%llu elapsed_ns=%llu\n",
	       n, ns[(n - 1) / 2], ns[(n * 99 + 99) / 100 - 1], ns[n - 1], elapsed);
}

int main(int argc, char **argv)
{
	static struct vm vms[MAX_VMS];
	static int kept[MAX_VMS] = { [0 ... MAX_VMS - 1] = -1 };
	unsigned int nr_vms = 1, max_vcpus = 1, rounds = 1, r, i;
	unsigned long long seed = 0;
	const char *hold_cmd = NULL;
	int opt, ret = 0, created, nth_fd = -1;
	unsigned int fail_nth = 0;
	unsigned long long *times = NULL, t0 = 0, start;
	int timed = 0;
	char nth[16];

	while ((opt = getopt(argc, argv, "n:c:r:s:H:F:T")) != -1) {
		switch (opt) {
		case 'n': nr_vms = strtoul(optarg, NULL, 0); break;
		case 'c': max_vcpus = strtoul(optarg, NULL, 0); break;
		case 'r': rounds = strtoul(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'H': hold_cmd = optarg; break;
		case 'F': fail_nth = strtoul(optarg, NULL, 0); break;
		case 'T': timed = 1; break;
		default:
			fprintf(stderr, "usage: %s [-n VMS] [-c VCPUS] [-r ROUNDS] [-s SEED] [-H CMD] [-F N] [-T]\n",
				argv[0]);
			return 2;
		}
	}
	if (!nr_vms || nr_vms > MAX_VMS || !max_vcpus || max_vcpus > MAX_VCPUS) {
		fprintf(stderr, "pkvm-vms: 1..%d VMs of 1..%d vCPUs\n",
			MAX_VMS, MAX_VCPUS);
		return 2;
	}
	rnd_state = seed ? seed : 1;
	if (timed && !(times = calloc(rounds, sizeof(*times))))
		return 2;

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0)
		return fail("open_kvm", -1, -1, errno) ? 1 : 0;
	run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (fail_nth) {
		/* Opened first: only the lifecycle may consume the fault. */
		nth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
		snprintf(nth, sizeof(nth), "%u", fail_nth);
		if (nth_fd < 0 || write(nth_fd, nth, strlen(nth)) < 0)
			return fail("fail_nth", -1, -1, errno) ? 1 : 0;
	}

	start = now_ns();
	for (r = 0; r < rounds && !ret; r++) {
		if (timed)
			t0 = now_ns();
		for (created = 0; created < (int)nr_vms && !ret; created++) {
			unsigned int n = seed ? 1 + rnd(max_vcpus) : max_vcpus;

			ret = create_vm(&vms[created], created, n);
			total_vcpus += vms[created].nr_vcpus;
			if (!ret)
				ret = run_vm(&vms[created], created);
		}
		if (!ret && hold_cmd) {
			/*
			 * What each VM has donated to EL2, as KVM's stats say;
			 * and a stats fd kept open through the teardown.
			 */
			for (i = 0; i < (unsigned int)created; i++) {
				printf("pkvm-vms: vm %u protected_hyp_mem=%lld\n", i,
				       vm_stat(vms[i].fd, "protected_hyp_mem"));
				kept[i] = ioctl(vms[i].fd, KVM_GET_STATS_FD, NULL);
			}
			fflush(stdout);
			if (system(hold_cmd))
				ret = fail("hold_cmd", -1, -1, EINVAL);
		}
		for (i = 0; i < (unsigned int)created; i++)
			destroy_vm(&vms[i]);
		/*
		 * Read after every fd of the VM is closed: the stats fd holds
		 * the VM until it is closed itself, which tears the VM down.
		 */
		for (i = 0; i < (unsigned int)created; i++) {
			if (kept[i] < 0)
				continue;
			printf("pkvm-vms: vm %u closed protected_hyp_mem=%lld\n", i,
			       stats_read(kept[i], "protected_hyp_mem"));
			close(kept[i]);
			kept[i] = -1;
		}
		if (timed)
			times[r] = now_ns() - t0;
	}
	if (timed && !ret)
		report_times(times, rounds, now_ns() - start);
	if (nth_fd >= 0) {
		ssize_t len;

		/* What is left of the count: 0 once the fault was injected. */
		len = pread(nth_fd, nth, sizeof(nth) - 1, 0);
		nth[len > 0 ? len : 0] = '\0';
		if (write(nth_fd, "0", 1) < 0)
			ret = fail("fail_nth", -1, -1, errno);
		if (!ret)
			printf("pkvm-vms: ok seed=%llu rounds=%u vms=%u vcpus=%llu mmio_exits=%llu system_off=%llu\n",
			       seed, rounds, nr_vms, total_vcpus, mmio_exits, system_offs);
		printf("pkvm-vms: fail-nth n=%u injected=%d\n", fail_nth,
		       len > 0 && atoi(nth) == 0);
		return ret ? 1 : 0;
	}
	if (ret)
		return 1;
	printf("pkvm-vms: ok seed=%llu rounds=%u vms=%u vcpus=%llu mmio_exits=%llu system_off=%llu\n",
	       seed, rounds, nr_vms, total_vcpus, mmio_exits, system_offs);
	return 0;
}
