// SPDX-License-Identifier: GPL-2.0-only
/*
 * gpool-helper: what a busybox shell cannot do in a test guest.
 *
 *   write FILE DATA [UID]  write DATA (C escapes: \n \0 \xHH \\) to FILE
 *                          in one write(2), as UID if given; print
 *                          "ok N" or the errno name
 *   fill FILE LEN CHAR     write LEN copies of CHAR in one write(2)
 *   poll FILE MS           block in poll(2) on FILE until sysfs_notify()
 *                          or MS milliseconds; print "woken" or "timeout"
 *   eat MIB SECONDS        fault in MIB of anonymous memory, print "eaten",
 *                          hold it for SECONDS (or until killed)
 *   failnth N FILE DATA    arm fail-nth of this task with N, write DATA to
 *                          FILE in one write(2), then print the result and
 *                          whether the fault was injected ("ok:N 1" or
 *                          "ENOMEM 1"; a trailing 0 means it was not)
 *   batch LIST             for each line "FILE DATA" of LIST, write DATA
 *                          (escaped as above, or "@NxHH" for N copies of
 *                          the byte 0xHH; none for an empty write) in one
 *                          write(2), then read FILE back; print "N RESULT
 *                          VALUE LEN:HASH" per line (the bytes written and
 *                          their FNV-1a hash), all in one process
 *
 *   pagesize               print the kernel's PAGE_SIZE
 *
 * Built static for arm64 by the harness.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <unistd.h>

static const char *errname(int err)
{
	switch (err) {
	case EINVAL: return "EINVAL";
	case EBUSY: return "EBUSY";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ENOMEM: return "ENOMEM";
	case ERANGE: return "ERANGE";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case EFBIG: return "EFBIG";
	default: return "EOTHER";
	}
}

static size_t unescape(const char *s, char *out)
{
	size_t n = 0;

	while (*s) {
		if (*s != '\\') {
			out[n++] = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case 'n': out[n++] = '\n'; s++; break;
		case 't': out[n++] = '\t'; s++; break;
		case '0': out[n++] = '\0'; s++; break;
		case '\\': out[n++] = '\\'; s++; break;
		case 'x': {
			char hex[3] = { s[1], s[2], 0 };

			out[n++] = (char)strtoul(hex, NULL, 16);
			s += 3;
			break;
		}
		default: out[n++] = '\\'; break;
		}
	}
	return n;
}

/* One write(2) of exactly @len bytes; the result as "ok N" or an errno name. */
static void write_once(const char *path, const char *buf, size_t len,
		       char *res, size_t res_len)
{
	ssize_t ret;
	int fd;

	fd = open(path, O_WRONLY);
	if (fd < 0) {
		snprintf(res, res_len, "%s", errname(errno));
		return;
	}
	ret = write(fd, buf, len);
	if (ret < 0)
		snprintf(res, res_len, "%s", errname(errno));
	else
		snprintf(res, res_len, "ok:%zd", ret);
	close(fd);
}

static int do_write(const char *path, const char *buf, size_t len)
{
	char res[32];

	write_once(path, buf, len, res, sizeof(res));
	printf("%s\n", res);
	return 0;
}

static void read_back(const char *path, char *val, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	n = fd < 0 ? -1 : read(fd, val, len - 1);
	if (fd >= 0)
		close(fd);
	if (n < 0)
		n = snprintf(val, len, "%s", errname(errno));
	val[n] = '\0';
	val[strcspn(val, "\n")] = '\0';
}

/* FNV-1a: the batch says what it wrote, so the host can check it. */
static unsigned int fnv1a(const char *buf, size_t len)
{
	unsigned int h = 0x811c9dc5;

	while (len--)
		h = (h ^ (unsigned char)*buf++) * 0x01000193;
	return h;
}

static int do_batch(const char *list)
{
	static char line[8192], buf[8192];
	char res[32], val[64];
	FILE *f = fopen(list, "r");
	int i = 0;

	if (!f) {
		perror(list);
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *path = strtok(line, " \n");
		char *data = strtok(NULL, " \n");
		size_t len;

		if (!path)
			continue;
		if (!data)
			data = "";
		if (data[0] == '@') {
			char *end;

			len = strtoul(data + 1, &end, 10);
			if (*end != 'x' || len > sizeof(buf)) {
				fprintf(stderr, "bad run: %s\n", data);
				return 1;
			}
			memset(buf, strtoul(end + 1, NULL, 16), len);
		} else {
			len = unescape(data, buf);
		}
		write_once(path, buf, len, res, sizeof(res));
		read_back(path, val, sizeof(val));
		printf("%d %s %s %zu:%08x\n", i++, res, val, len, fnv1a(buf, len));
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "pagesize")) {
		printf("%ld\n", sysconf(_SC_PAGESIZE));
		return 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "write")) {
		char *buf = malloc(strlen(argv[3]) + 1);
		size_t len = unescape(argv[3], buf);

		if (argc >= 5 && setuid(atoi(argv[4]))) {
			perror("setuid");
			return 1;
		}
		return do_write(argv[2], buf, len);
	}
	if (argc >= 5 && !strcmp(argv[1], "readloop")) {
		int i, n = atoi(argv[3]), f, fd, reads = 0, fails = 0;
		char buf[256];

		if (setuid(atoi(argv[2]))) {
			perror("setuid");
			return 1;
		}
		for (i = 0; i < n; i++) {
			for (f = 4; f < argc; f++) {
				fd = open(argv[f], O_RDONLY);
				if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0)
					fails++;
				else
					reads++;
				if (fd >= 0)
					close(fd);
			}
		}
		printf("reads=%d fails=%d\n", reads, fails);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "fill")) {
		size_t len = strtoul(argv[3], NULL, 0);
		char *buf = malloc(len);

		memset(buf, argv[4][0], len);
		return do_write(argv[2], buf, len);
	}
	if (argc == 4 && !strcmp(argv[1], "poll")) {
		struct pollfd pfd = { .events = POLLPRI | POLLERR };
		char buf[64];
		int ret;

		pfd.fd = open(argv[2], O_RDONLY);
		if (pfd.fd < 0 || read(pfd.fd, buf, sizeof(buf)) < 0) {
			perror(argv[2]);
			return 1;
		}
		printf("armed\n");
		fflush(stdout);
		ret = poll(&pfd, 1, atoi(argv[3]));
		printf("%s\n", ret > 0 ? "woken" : ret == 0 ? "timeout" : "error");
		return ret < 0;
	}
	if (argc == 4 && !strcmp(argv[1], "eat")) {
		size_t len = strtoul(argv[2], NULL, 0) << 20;
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		for (size_t i = 0; i < len; i += 4096)
			p[i] = 1;
		printf("eaten\n");
		fflush(stdout);
		sleep(atoi(argv[3]));
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "failnth")) {
		char nth[64], res[32], left[16] = "";
		char *buf = malloc(strlen(argv[4]) + 1);
		size_t len = unescape(argv[4], buf);
		int fd, dst;
		ssize_t ret;

		/* Open everything first: only the write may consume the fault. */
		snprintf(nth, sizeof(nth), "/proc/self/task/%d/fail-nth", gettid());
		fd = open(nth, O_RDWR);
		dst = open(argv[3], O_WRONLY);
		if (fd < 0 || dst < 0) {
			perror("open");
			return 1;
		}
		if (write(fd, argv[2], strlen(argv[2])) < 0) {
			perror(nth);
			return 1;
		}
		ret = write(dst, buf, len);
		if (ret < 0)
			snprintf(res, sizeof(res), "%s", errname(errno));
		else
			snprintf(res, sizeof(res), "ok:%zd", ret);
		/* Reads 0 once the fault fired, what is left otherwise. */
		if (pread(fd, left, sizeof(left) - 1, 0) < 0)
			perror(nth);
		printf("%s %d\n", res, atoi(left) == 0);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "batch"))
		return do_batch(argv[2]);
	fprintf(stderr, "usage: gpool-helper write FILE DATA [UID] | fill FILE LEN CHAR | poll FILE MS | batch LIST\n");
	return 2;
}
