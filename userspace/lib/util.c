// SPDX-License-Identifier: GPL-2.0 OR MIT
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int qkdn_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull() would skip spaces, take a sign and negate: refuse both. */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

#define PARSE_NARROW(name, type)						\
int name(const char *s, type min, type max, type *out)				\
{										\
	uint64_t v;								\
	int ret = qkdn_parse_u64(s, min, max, &v);				\
										\
	if (ret == 0)								\
		*out = (type)v;							\
	return ret;								\
}

PARSE_NARROW(qkdn_parse_u32, uint32_t)
PARSE_NARROW(qkdn_parse_u16, uint16_t)
PARSE_NARROW(qkdn_parse_u8, uint8_t)

int qkdn_parse_fd(const char *s, int *out)
{
	uint64_t v;
	int ret = qkdn_parse_u64(s, 0, INT_MAX, &v);

	if (ret)
		return -EINVAL;
	if (fcntl((int)v, F_GETFD) < 0)
		return -EBADF;
	*out = (int)v;
	return 0;
}

ssize_t qkdn_read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int qkdn_write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

void *qkdn_grow(void **arr, size_t *n, size_t *cap, size_t size)
{
	if (*n == *cap) {
		size_t new_cap = *cap ? 2 * *cap : 8;
		void *p = realloc(*arr, new_cap * size);

		if (!p)
			return NULL;
		*arr = p;
		*cap = new_cap;
	}
	return memset((char *)*arr + (*n)++ * size, 0, size);
}
