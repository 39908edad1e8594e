// SPDX-License-Identifier: GPL-2.0 OR MIT
#include "hex.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

static const char hexdigits[] = "0123456789abcdef";

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int qkdn_hex_encode(char *dst, size_t dst_len, const void *src, size_t n)
{
	const uint8_t *p = src;

	if (n > (size_t)INT32_MAX / 2 || dst_len < 2 * n + 1)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		dst[2 * i] = hexdigits[p[i] >> 4];
		dst[2 * i + 1] = hexdigits[p[i] & 0xf];
	}
	dst[2 * n] = '\0';
	return (int)(2 * n);
}

int qkdn_hex_decode(void *dst, size_t dst_len, const char *src, size_t src_len)
{
	uint8_t *out = dst;

	if (src_len % 2 || src_len / 2 > (size_t)INT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < src_len; i++)
		if (hexval(src[i]) < 0)
			return -EINVAL;
	if (dst_len < src_len / 2)
		return -ENOSPC;
	for (size_t i = 0; i < src_len / 2; i++)
		out[i] = (uint8_t)(hexval(src[2 * i]) << 4 | hexval(src[2 * i + 1]));
	return (int)(src_len / 2);
}

int qkdn_base64_encode(char *dst, size_t dst_len, const void *src, size_t n)
{
	if (n > (size_t)INT32_MAX / 4 * 3 - 3 || dst_len < qkdn_base64_encoded_len(n) + 1)
		return -ENOSPC;
	return EVP_EncodeBlock((unsigned char *)dst, src, (int)n);
}

static int is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int qkdn_base64_decode(void *dst, size_t dst_len, const char *src, size_t src_len)
{
	size_t pad = 0;
	int n;

	if (src_len % 4 || src_len > (size_t)INT32_MAX)
		return -EINVAL;
	if (src_len >= 1 && src[src_len - 1] == '=')
		pad++;
	if (src_len >= 2 && src[src_len - 2] == '=')
		pad++;
	for (size_t i = 0; i < src_len - pad; i++)
		if (!is_b64(src[i]))
			return -EINVAL;
	if (dst_len < src_len / 4 * 3)
		return -ENOSPC;
	if (src_len == 0)
		return 0;
	n = EVP_DecodeBlock(dst, (const unsigned char *)src, (int)src_len);
	if (n < 0 || (size_t)n < pad)
		return -EINVAL;
	return n - (int)pad;
}

/* Byte index at which each of the 32 hex digit pairs starts in the text. */
static const uint8_t uuid_pos[16] = {
	0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34,
};

void qkdn_uuid_format(char out[QKDN_UUID_STRLEN + 1], const uint8_t id[16])
{
	memset(out, '-', QKDN_UUID_STRLEN);
	for (int i = 0; i < 16; i++) {
		out[uuid_pos[i]] = hexdigits[id[i] >> 4];
		out[uuid_pos[i] + 1] = hexdigits[id[i] & 0xf];
	}
	out[QKDN_UUID_STRLEN] = '\0';
}

int qkdn_uuid_parse(uint8_t id[16], const char *s)
{
	uint8_t tmp[16];

	if (strlen(s) != QKDN_UUID_STRLEN ||
	    s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
		return -EINVAL;
	for (int i = 0; i < 16; i++) {
		int hi = hexval(s[uuid_pos[i]]), lo = hexval(s[uuid_pos[i] + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(id, tmp, 16);
	return 0;
}
