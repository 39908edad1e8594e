/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kshim.h - just enough of the kernel for kernel/pool.c to build and run
 * in userspace under ASan/UBSan (force-included with -include).
 */
#ifndef QKDN_KSHIM_H
#define QKDN_KSHIM_H

#define OPENSSL_SUPPRESS_DEPRECATED
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <linux/qkdn.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef uint32_t __le32;
typedef uint64_t __le64;
typedef uint16_t __be16;
typedef uint32_t __be32;
typedef uint64_t __be64;

#define __packed __attribute__((packed))
#define be16_to_cpu(x) be16toh(x)
#define be32_to_cpu(x) be32toh(x)
#define be64_to_cpu(x) be64toh(x)
#define cpu_to_be16(x) htobe16(x)
#define cpu_to_be32(x) htobe32(x)
#define cpu_to_be64(x) htobe64(x)

#define cpu_to_le32(x) htole32(x)
#define cpu_to_le64(x) htole64(x)
#define PAGE_SIZE 4096u
#define GFP_KERNEL 0
#define BIT_ULL(n) (1ULL << (n))
#define BITS_PER_LONG (CHAR_BIT * sizeof(long))
#define BITS_TO_LONGS(n) (((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#define min_t(t, a, b) min((t)(a), (t)(b))
#define max_t(t, a, b) max((t)(a), (t)(b))

#define SHA256_DIGEST_SIZE 32
struct sha256_state {
	SHA256_CTX ctx;
};

static inline void sha256_init(struct sha256_state *s)
{
	SHA256_Init(&s->ctx);
}

static inline void sha256_update(struct sha256_state *s, const u8 *d,
				 unsigned int len)
{
	SHA256_Update(&s->ctx, d, len);
}

static inline void sha256_final(struct sha256_state *s, u8 *out)
{
	SHA256_Final(out, &s->ctx);
	explicit_bzero(s, sizeof(*s));
}

/* Poly1305 through OpenSSL's EVP_MAC, for kernel/kx.c. */
#include <openssl/core_names.h>
#include <openssl/evp.h>

#define POLY1305_KEY_SIZE 32
#define POLY1305_DIGEST_SIZE 16

struct poly1305_desc_ctx {
	EVP_MAC_CTX *ctx;
};

static inline void poly1305_init(struct poly1305_desc_ctx *d, const u8 *key)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);

	d->ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	EVP_MAC_init(d->ctx, key, POLY1305_KEY_SIZE, NULL);
}

static inline void poly1305_update(struct poly1305_desc_ctx *d, const u8 *p,
				   unsigned int len)
{
	EVP_MAC_update(d->ctx, p, len);
}

static inline void poly1305_final(struct poly1305_desc_ctx *d, u8 *out)
{
	size_t n = POLY1305_DIGEST_SIZE;

	EVP_MAC_final(d->ctx, out, &n, n);
	EVP_MAC_CTX_free(d->ctx);
	d->ctx = NULL;
}

extern long qkdn_test_objects;
static inline void qkdn_objects_inc(void) { ++qkdn_test_objects; }
static inline void qkdn_objects_dec(void) { --qkdn_test_objects; }

/* The allocator can be told to fail, to test that nothing changes then. */
extern int qkdn_test_fail_alloc_after;

static inline void *kzalloc(size_t size, int gfp)
{
	(void)gfp;
	if (qkdn_test_fail_alloc_after >= 0 && !qkdn_test_fail_alloc_after--)
		return NULL;
	return calloc(1, size);
}

static inline void *kvcalloc(size_t n, size_t size, int gfp)
{
	return kzalloc(n * size, gfp);
}

#define kfree(p) free(p)
#define kvfree(p) free(p)
#define kfree_sensitive(p) free(p)
#define memzero_explicit(p, n) explicit_bzero(p, n)

static inline u64 div_u64_rem(u64 n, u32 d, u32 *rem)
{
	*rem = n % d;
	return n / d;
}

static inline u64 div_u64(u64 n, u32 d)
{
	return n / d;
}

static inline u32 roundup_pow_of_two(u64 n)
{
	u32 p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static inline void __set_bit(unsigned long nr, unsigned long *map)
{
	map[nr / BITS_PER_LONG] |= 1UL << (nr % BITS_PER_LONG);
}

static inline void __clear_bit(unsigned long nr, unsigned long *map)
{
	map[nr / BITS_PER_LONG] &= ~(1UL << (nr % BITS_PER_LONG));
}

static inline bool test_bit(unsigned long nr, const unsigned long *map)
{
	return map[nr / BITS_PER_LONG] & (1UL << (nr % BITS_PER_LONG));
}

#define for_each_set_bit(bit, map, size) \
	for ((bit) = 0; (bit) < (size); ++(bit)) \
		if (test_bit((bit), (map)))

#endif /* QKDN_KSHIM_H */
