// SPDX-License-Identifier: GPL-2.0 OR MIT
#include "secmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SECBUF_MAGIC 0x716b646e73656362ULL /* "qkdnsecb" */

struct secbuf_hdr {
	uint64_t magic;
	size_t map_len;
	size_t len;
	struct secbuf_hdr *prev, *next;
};

/* The header is padded to 64 bytes so the user area is well aligned. */
#define SECBUF_HDR_SIZE 64
_Static_assert(sizeof(struct secbuf_hdr) <= SECBUF_HDR_SIZE, "secbuf header");

static struct secbuf_hdr *live;
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static int atexit_done;

static void wipe_all_at_exit(void)
{
	pthread_mutex_lock(&live_lock);
	for (struct secbuf_hdr *h = live; h; h = h->next)
		explicit_bzero((char *)h + SECBUF_HDR_SIZE, h->len);
	pthread_mutex_unlock(&live_lock);
}

static struct secbuf_hdr *hdr_of(const void *buf)
{
	struct secbuf_hdr *h = (struct secbuf_hdr *)((char *)buf - SECBUF_HDR_SIZE);

	if (h->magic != SECBUF_MAGIC)
		abort(); /* not a secbuf, or a corrupted one: never carry on */
	return h;
}

void *qkdn_secbuf_alloc(size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t map_len;
	struct secbuf_hdr *h;

	if (len == 0 || len > SIZE_MAX - SECBUF_HDR_SIZE - (size_t)page) {
		errno = EINVAL;
		return NULL;
	}
	map_len = (len + SECBUF_HDR_SIZE + (size_t)page - 1) & ~((size_t)page - 1);
	h = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED)
		return NULL;
	/* The raw syscall: ASan intercepts mlock() and makes it a no-op (to
	 * spare its shadow memory from mlockall()), which would leave key
	 * bytes swappable in sanitizer builds. */
	if (syscall(SYS_mlock, h, map_len) < 0) {
		int err = errno;

		munmap(h, map_len);
		errno = err;
		return NULL;
	}
	/* Best effort: older kernels lack these, and the mlock is what matters. */
	madvise(h, map_len, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
	madvise(h, map_len, MADV_WIPEONFORK);
#endif
	h->magic = SECBUF_MAGIC;
	h->map_len = map_len;
	h->len = len;

	pthread_mutex_lock(&live_lock);
	if (!atexit_done) {
		atexit(wipe_all_at_exit);
		atexit_done = 1;
	}
	h->prev = NULL;
	h->next = live;
	if (live)
		live->prev = h;
	live = h;
	pthread_mutex_unlock(&live_lock);
	return (char *)h + SECBUF_HDR_SIZE;
}

void qkdn_secbuf_free(void *buf)
{
	struct secbuf_hdr *h;
	size_t map_len;

	if (!buf)
		return;
	h = hdr_of(buf);
	pthread_mutex_lock(&live_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		live = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&live_lock);

	map_len = h->map_len;
	explicit_bzero(h, map_len);
	syscall(SYS_munlock, h, map_len);
	munmap(h, map_len);
}

size_t qkdn_secbuf_len(const void *buf)
{
	return hdr_of(buf)->len;
}

int qkdn_harden_process(void)
{
	struct rlimit no_core = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		return -errno;
	return 0;
}
