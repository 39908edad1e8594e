// SPDX-License-Identifier: GPL-2.0
/*
 * Kx relay frames: strict parsing and the Wegman-Carter one-time MAC.
 *
 * The MAC is Poly1305 keyed with 32 bytes of link key that are used for
 * this one frame only, which makes it information-theoretically secure:
 * a forgery of an L-byte frame succeeds with probability at most
 * 8 * ceil(L / 16) / 2^106 per try (about 2^-91 at QKDN_KX_FRAME_MAX),
 * whatever the attacker's computing power.
 *
 * Like pool.c, this file also builds in userspace (tests/kshim.h) for
 * unit tests under ASan/UBSan.
 */

#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <crypto/poly1305.h>
#include <crypto/sha2.h>
#endif

#include "kx.h"

int qkdn_kx_parse(const u8 *frame, size_t len, struct qkdn_kx *kx)
{
	const struct qkdn_kx_hdr *hdr = (const void *)frame;

	if (len < sizeof(*hdr) + QKDN_KX_TAG_LEN)
		return -EBADMSG;
	if (hdr->version != QKDN_KX_VERSION || hdr->reserved ||
	    hdr->method != QKDN_KX_OTP_POLY1305 ||
	    !hdr->type || hdr->type > QKDN_KX_MAX)
		return -EBADMSG;

	kx->hdr = hdr;
	kx->type = hdr->type;
	kx->source = be32_to_cpu(hdr->source);
	kx->dest = be32_to_cpu(hdr->dest);
	kx->hop_from = be32_to_cpu(hdr->hop_from);
	kx->hop_to = be32_to_cpu(hdr->hop_to);
	kx->relay_id = be64_to_cpu(hdr->relay_id);
	kx->seq = be64_to_cpu(hdr->seq);
	kx->timestamp = be64_to_cpu(hdr->timestamp);
	kx->count = be16_to_cpu(hdr->count);
	kx->key_len = be16_to_cpu(hdr->key_len);
	kx->link_keys = be16_to_cpu(hdr->link_keys);
	kx->hops = be16_to_cpu(hdr->hops);

	if (kx->type == QKDN_KX_RELAY) {
		if (!kx->count || kx->count > QKDN_RELAY_KEYS_MAX ||
		    kx->key_len < QKDN_KEY_UNIT_MIN ||
		    kx->key_len > QKDN_KEY_UNIT_MAX || kx->key_len % 8)
			return -EBADMSG;
	} else if (qkdn_kx_is_sync(kx->type)) {
		if (!kx->count || kx->count > QKDN_KEY_AMOUNT_MAX ||
		    kx->key_len)
			return -EBADMSG;
	} else if (kx->count || kx->key_len) {
		return -EBADMSG;
	}
	if (!kx->link_keys || kx->source == kx->dest ||
	    kx->hop_from == kx->hop_to)
		return -EBADMSG;
	if (len != qkdn_kx_frame_len(kx->type, kx->count, kx->key_len,
				     kx->link_keys, kx->hops))
		return -EBADMSG;

	kx->entry_len = qkdn_kx_entry_len(kx->type, kx->key_len, kx->hops);
	kx->link_key_ids = frame + sizeof(*hdr);
	kx->entries = kx->link_key_ids + kx->link_keys * QKDN_KEY_ID_LEN;
	kx->mac_len = len - QKDN_KX_TAG_LEN;
	kx->tag = frame + kx->mac_len;
	return 0;
}

void qkdn_kx_mac(const u8 *msg, size_t len, const u8 *key, u8 *tag)
{
	struct poly1305_desc_ctx desc;

	poly1305_init(&desc, key);
	poly1305_update(&desc, msg, len);
	poly1305_final(&desc, tag);
	memzero_explicit(&desc, sizeof(desc));
}

/*
 * What the two KSAs compare (seed 000 clause 7.1.5): a hash of the key ID
 * and the key, cut to 128 bits, under a domain of its own.
 */
void qkdn_kx_digest(const u8 *id, const u8 *key, u32 len, u8 *digest)
{
	static const char domain[] = "qkdn ksa sync v1";
	u8 full[SHA256_DIGEST_SIZE];
	struct sha256_state state;

	sha256_init(&state);
	sha256_update(&state, (const u8 *)domain, sizeof(domain) - 1);
	sha256_update(&state, id, QKDN_KEY_ID_LEN);
	sha256_update(&state, key, len);
	sha256_final(&state, full);
	memcpy(digest, full, QKDN_KX_DIGEST_LEN);
	memzero_explicit(full, sizeof(full));
}
