// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Secbufs: locked, excluded from core dumps, zeroed, wiped on free. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "secmem.h"
#include "tap.h"

/* Looks up the smaps entry of the mapping holding p. */
static int smaps_field(const void *p, const char *field, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && strncmp(line, field, strlen(field)) == 0) {
			snprintf(out, len, "%s", line + strlen(field));
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

int main(void)
{
	unsigned char *b = qkdn_secbuf_alloc(100), *c;
	char val[256];
	int zero = 1;

	ok(b != NULL, "alloc 100 bytes");
	if (!b)
		return tap_done();
	for (int i = 0; i < 100; i++)
		zero &= b[i] == 0;
	ok(zero, "fresh secbuf is zeroed");
	ok(qkdn_secbuf_len(b) == 100, "length recorded");
	ok(((uintptr_t)b & 15) == 0, "16-byte aligned");
	memset(b, 0xa5, 100);
	if (smaps_field(b, "Locked:", val, sizeof(val)) < 0)
		val[0] = '\0';
	val[strcspn(val, "\n")] = '\0';
	ok(strtol(val, NULL, 10) > 0, "mapping is locked (Locked:%s)", val);
	if (smaps_field(b, "VmFlags:", val, sizeof(val)) < 0)
		val[0] = '\0';
	val[strcspn(val, "\n")] = '\0';
	ok(strstr(val, " dd") && strstr(val, " lo"),
	   "mapping is dontdump and locked (VmFlags:%s)", val);
	qkdn_secbuf_free(b);
	qkdn_secbuf_free(NULL);
	ok(1, "free and free(NULL)");

	c = qkdn_secbuf_alloc(3 * 4096 + 1);
	ok(c && qkdn_secbuf_len(c) == 3 * 4096 + 1, "multi-page alloc");
	if (c)
		c[3 * 4096] = 1;
	qkdn_secbuf_free(c);

	errno = 0;
	ok(qkdn_secbuf_alloc(0) == NULL && errno == EINVAL, "zero length refused");
	ok(qkdn_secbuf_alloc(SIZE_MAX) == NULL && errno == EINVAL, "huge length refused");

	/* Left live on purpose: the atexit wipe must cope with it. */
	c = qkdn_secbuf_alloc(32);
	ok(c != NULL, "secbuf left for the exit wipe");

	ok(qkdn_harden_process() == 0, "harden process");
	ok(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0, "process not dumpable");
	{
		struct rlimit rl;

		ok(getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 && rl.rlim_max == 0,
		   "RLIMIT_CORE is 0");
	}
	return tap_done();
}
