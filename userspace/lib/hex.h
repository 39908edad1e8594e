/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Text encodings of binary data: hex, base64 (RFC 4648, padded, no line
 * breaks) and the UUID form of 16-byte KMA-key IDs. None of these allocate,
 * so they can encode key bytes into a secbuf without leaving copies behind.
 */
#ifndef QKDN_HEX_H
#define QKDN_HEX_H

#include <stddef.h>
#include <stdint.h>

#define QKDN_UUID_STRLEN 36 /* without the NUL */

/* Lowercase hex of n bytes plus a NUL: dst needs 2 * n + 1 bytes.
 * Returns 2 * n, or -ENOSPC. */
int qkdn_hex_encode(char *dst, size_t dst_len, const void *src, size_t n);
/* Decodes exactly src_len hex digits (either case, even count, nothing
 * else). Returns the byte count, -EINVAL on bad input, -ENOSPC if dst is
 * too small. */
int qkdn_hex_decode(void *dst, size_t dst_len, const char *src, size_t src_len);

static inline size_t qkdn_base64_encoded_len(size_t n)
{
	return 4 * ((n + 2) / 3);
}

/* Writes the encoding plus a NUL: dst needs qkdn_base64_encoded_len(n) + 1.
 * Returns the length without the NUL, or -ENOSPC. */
int qkdn_base64_encode(char *dst, size_t dst_len, const void *src, size_t n);
/* Strict: length a multiple of 4, alphabet only, '=' only as 1 or 2
 * trailing pad characters. dst needs 3 * src_len / 4 bytes (the decoder
 * writes whole groups). Returns the decoded length, -EINVAL or -ENOSPC. */
int qkdn_base64_decode(void *dst, size_t dst_len, const char *src, size_t src_len);

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lowercase, NUL-terminated. */
void qkdn_uuid_format(char out[QKDN_UUID_STRLEN + 1], const uint8_t id[16]);
/* Accepts the 8-4-4-4-12 form in either case, nothing else. 0 or -EINVAL. */
int qkdn_uuid_parse(uint8_t id[16], const char *s);

#endif
