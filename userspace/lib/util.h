/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Small helpers shared by all qkdn programs: number parsing and full
 * reads/writes on file descriptors. */
#ifndef QKDN_UTIL_H
#define QKDN_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define QKDN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Parses a decimal unsigned integer: digits only (no sign, no leading
 * space, no trailing junk, no base prefix) within [min, max].
 * Returns 0, -EINVAL (not a number) or -ERANGE (out of range, overflow). */
int qkdn_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int qkdn_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
int qkdn_parse_u16(const char *s, uint16_t min, uint16_t max, uint16_t *out);
int qkdn_parse_u8(const char *s, uint8_t min, uint8_t max, uint8_t *out);
/* A file descriptor number 0..INT_MAX that is open. 0, -EINVAL or -EBADF. */
int qkdn_parse_fd(const char *s, int *out);

/* Reads until len bytes or end of file, retrying on EINTR. Returns the
 * byte count or -errno. */
ssize_t qkdn_read_full(int fd, void *buf, size_t len);
/* Writes all len bytes, retrying on EINTR and short writes. 0 or -errno. */
int qkdn_write_full(int fd, const void *buf, size_t len);

/*
 * One more element at the end of the array *arr of *n elements of size
 * bytes (room for *cap), doubling the room when full; returns the new
 * element, zeroed, or NULL when out of memory (the array is unchanged).
 */
void *qkdn_grow(void **arr, size_t *n, size_t *cap, size_t size);

#endif
