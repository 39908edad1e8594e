// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Integer parsing with range checks, fd helpers, log quoting. */
#include <errno.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"
#include "util.h"

static void test_parse(void)
{
	uint64_t v64 = 7;
	uint32_t v32 = 7;
	uint16_t v16 = 7;
	uint8_t v8 = 7;
	int fd;

	ok(qkdn_parse_u64("0", 0, UINT64_MAX, &v64) == 0 && v64 == 0, "u64 0");
	ok(qkdn_parse_u64("18446744073709551615", 0, UINT64_MAX, &v64) == 0 &&
	   v64 == UINT64_MAX, "u64 max");
	ok(qkdn_parse_u64("18446744073709551616", 0, UINT64_MAX, &v64) == -ERANGE,
	   "u64 overflow is ERANGE");
	ok(qkdn_parse_u64("-1", 0, UINT64_MAX, &v64) == -EINVAL, "negative rejected");
	ok(qkdn_parse_u64("+1", 0, UINT64_MAX, &v64) == -EINVAL, "plus sign rejected");
	ok(qkdn_parse_u64(" 1", 0, UINT64_MAX, &v64) == -EINVAL, "leading space rejected");
	ok(qkdn_parse_u64("1 ", 0, UINT64_MAX, &v64) == -EINVAL, "trailing space rejected");
	ok(qkdn_parse_u64("12x", 0, UINT64_MAX, &v64) == -EINVAL, "trailing junk rejected");
	ok(qkdn_parse_u64("", 0, UINT64_MAX, &v64) == -EINVAL, "empty rejected");
	ok(qkdn_parse_u64("0x10", 0, UINT64_MAX, &v64) == -EINVAL, "hex prefix rejected");
	ok(qkdn_parse_u64(NULL, 0, UINT64_MAX, &v64) == -EINVAL, "NULL rejected");
	ok(qkdn_parse_u64("010", 0, UINT64_MAX, &v64) == 0 && v64 == 10, "decimal, not octal");
	v64 = 99;
	ok(qkdn_parse_u64("5", 6, 10, &v64) == -ERANGE && v64 == 99, "below min, output untouched");
	ok(qkdn_parse_u64("11", 6, 10, &v64) == -ERANGE, "above max");
	ok(qkdn_parse_u64("6", 6, 10, &v64) == 0 && v64 == 6, "min inclusive");
	ok(qkdn_parse_u64("10", 6, 10, &v64) == 0 && v64 == 10, "max inclusive");
	ok(qkdn_parse_u32("4294967295", 0, UINT32_MAX, &v32) == 0 && v32 == UINT32_MAX, "u32 max");
	ok(qkdn_parse_u32("4294967296", 0, UINT32_MAX, &v32) == -ERANGE, "u32 overflow");
	ok(qkdn_parse_u16("65535", 0, UINT16_MAX, &v16) == 0 && v16 == 65535, "u16 max");
	ok(qkdn_parse_u16("65536", 0, UINT16_MAX, &v16) == -ERANGE, "u16 overflow");
	ok(qkdn_parse_u8("255", 0, UINT8_MAX, &v8) == 0 && v8 == 255, "u8 max");
	ok(qkdn_parse_u8("256", 0, UINT8_MAX, &v8) == -ERANGE, "u8 overflow");
	ok(qkdn_parse_fd("1", &fd) == 0 && fd == 1, "fd 1 is open");
	ok(qkdn_parse_fd("987654", &fd) == -EBADF, "closed fd is EBADF");
	ok(qkdn_parse_fd("-1", &fd) == -EINVAL, "negative fd is EINVAL");
}

static void test_io(void)
{
	char buf[16];
	int p[2];

	if (pipe(p) < 0) {
		ok(0, "pipe");
		return;
	}
	ok(qkdn_write_full(p[1], "hello", 5) == 0, "write_full");
	close(p[1]);
	ok(qkdn_read_full(p[0], buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0,
	   "read_full stops at end of file");
	close(p[0]);
}

static void test_quote(void)
{
	char buf[64];

	ok(strcmp(qkdn_log_quote(buf, sizeof(buf), "plain"), "plain") == 0, "plain value unquoted");
	ok(strcmp(qkdn_log_quote(buf, sizeof(buf), "a b"), "\"a b\"") == 0, "space quoted");
	ok(strcmp(qkdn_log_quote(buf, sizeof(buf), "a\"b\n"), "\"a\\\"b\\n\"") == 0,
	   "quote and newline escaped");
	ok(strcmp(qkdn_log_quote(buf, sizeof(buf), ""), "\"\"") == 0, "empty quoted");
	ok(strcmp(qkdn_log_quote(buf, sizeof(buf), "k=v"), "\"k=v\"") == 0, "'=' quoted");
}

static void test_grow(void)
{
	size_t n = 0, cap = 0, i;
	unsigned int *v = NULL, *e = NULL;
	bool zeroed = true, kept = true;

	for (i = 0; i < 100; ++i) {
		e = qkdn_grow((void **)&v, &n, &cap, sizeof(*v));
		if (!e)
			break;
		zeroed &= *e == 0;
		*e = i;
	}
	for (i = 0; e && i < 100; ++i)
		kept &= v[i] == i;
	ok(e && n == 100 && cap >= 100 && zeroed && kept,
	   "grow: 100 elements, each new one zeroed, the old ones kept (room %zu)", cap);
	free(v);
}

int main(void)
{
	test_parse();
	test_io();
	test_quote();
	test_grow();
	return tap_done();
}
