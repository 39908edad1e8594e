/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kx relay frames: layout, parsing and the one-time MAC. The layout is
 * documented in include/uapi/linux/qkdn.h, section "Key relay (Kx)".
 */

#ifndef _QKDN_KX_H
#define _QKDN_KX_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <uapi/linux/qkdn.h>
#endif

#define QKDN_KX_VERSION		1
#define QKDN_KX_MAC_KEY_LEN	32
#define QKDN_KX_TAG_LEN		16

struct qkdn_kx_hdr {
	u8 version;
	u8 type;
	u8 method;
	u8 reserved;
	__be32 source;
	__be32 dest;
	__be32 hop_from;
	__be32 hop_to;
	__be64 relay_id;
	__be64 seq;
	__be64 timestamp;
	__be16 count;
	__be16 key_len;
	__be16 link_keys;
	__be16 hops;
} __packed;

struct qkdn_kx_entry {
	u8 id[QKDN_KEY_ID_LEN];
	__be64 created;
	u8 ciphertext[];	/* key_len bytes, from the second hop on */
} __packed;

/**
 * struct qkdn_kx - a parsed frame, pointing into the frame's bytes
 * @hdr: the header, still in wire byte order
 * @type: enum qkdn_kx_type
 * @source: node that started the relay (or acknowledges it)
 * @dest: node the frame is ultimately for
 * @hop_from: neighbour that sent this hop
 * @hop_to: node this hop is for
 * @relay_id: chosen by the relay's source
 * @seq: hop sequence number on the link
 * @timestamp: time stamp of this hop, ns
 * @count: relayed keys
 * @key_len: bytes of each relayed key
 * @link_keys: link KMA-keys this hop consumes
 * @hops: hops travelled before this one
 * @link_key_ids: @link_keys IDs of QKDN_KEY_ID_LEN bytes
 * @entries: the first of @count entries of @entry_len bytes
 * @entry_len: bytes of one entry
 * @tag: Poly1305 tag over everything before it
 * @mac_len: bytes the tag covers
 */
struct qkdn_kx {
	const struct qkdn_kx_hdr *hdr;
	u8 type;
	u32 source;
	u32 dest;
	u32 hop_from;
	u32 hop_to;
	u64 relay_id;
	u64 seq;
	u64 timestamp;
	u16 count;
	u16 key_len;
	u16 link_keys;
	u16 hops;
	const u8 *link_key_ids;
	const u8 *entries;
	size_t entry_len;
	const u8 *tag;
	size_t mac_len;
};

/* Link KMA-keys of @unit bytes a hop consumes: MAC key, then the pad. */
static inline u16 qkdn_kx_link_keys(u32 unit, u16 count, u16 key_len)
{
	return DIV_ROUND_UP(QKDN_KX_MAC_KEY_LEN + (u32)count * key_len, unit);
}

/* SYNC and SYNC_ACK entries: a key ID, then a digest or a verdict. */
#define QKDN_KX_SYNC_ENTRY_LEN	32
#define QKDN_KX_DIGEST_LEN	16

static inline bool qkdn_kx_is_sync(u8 type)
{
	return type == QKDN_KX_SYNC || type == QKDN_KX_SYNC_ACK;
}

static inline size_t qkdn_kx_entry_len(u8 type, u16 key_len, u16 hops)
{
	if (qkdn_kx_is_sync(type))
		return QKDN_KX_SYNC_ENTRY_LEN;
	return sizeof(struct qkdn_kx_entry) + (hops ? key_len : 0);
}

static inline size_t qkdn_kx_frame_len(u8 type, u16 count, u16 key_len,
				       u16 link_keys, u16 hops)
{
	return sizeof(struct qkdn_kx_hdr) + (size_t)link_keys * QKDN_KEY_ID_LEN +
	       count * qkdn_kx_entry_len(type, key_len, hops) + QKDN_KX_TAG_LEN;
}

int qkdn_kx_parse(const u8 *frame, size_t len, struct qkdn_kx *kx);
void qkdn_kx_mac(const u8 *msg, size_t len, const u8 *key, u8 *tag);
void qkdn_kx_digest(const u8 *id, const u8 *key, u32 len, u8 *digest);

#endif /* _QKDN_KX_H */
