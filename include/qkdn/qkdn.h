/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * libqkdn: keys from the QKD network key manager, for applications.
 *
 * The Ak key supply protocol of ITU-T FG QIT4N D2.3 clause 7.2.1 (seed 000
 * Tables 7-2..7-7) over the generic netlink family "qkdn" of qkdn.ko. An
 * application authenticates as its SAE towards a peer SAE and gets a
 * session; within it, it takes new keys to encrypt with, takes by ID the
 * keys the peer took at its end to decrypt with, asks how many keys there
 * are, deletes keys and ends the session. The node is the one of the
 * network namespace the handle was opened in.
 *
 *   struct qkdn *h;
 *   struct qkdn_keys *keys;
 *   uint64_t session;
 *
 *   qkdn_open(&h);
 *   qkdn_ak_auth(h, "sae-a", "sae-b", &session, NULL);
 *   if (qkdn_ak_get(h, session, 1, 0, &keys, NULL) > 0 && keys) {
 *           ... send keys->key[0].id to the peer, encrypt with
 *               keys->key[0].data, keys->key[0].len bytes ...
 *           qkdn_keys_free(keys);
 *   }
 *   qkdn_close(h);
 *
 * and at the peer, with the ID it received:
 *
 *   qkdn_ak_auth(h, "sae-b", "sae-a", &session, NULL);
 *   qkdn_ak_get_by_id(h, session, &id, 1, &keys, NULL);
 *
 * Return values: 0 (or, where said, a positive response code) on success,
 * a negative errno on failure. The errnos are the kernel's, documented
 * command by command in <linux/qkdn.h> (AK_AUTH, AK_KEY, AK_DEL); the
 * library adds -EINVAL for arguments it can refuse itself and -ENOBUFS for
 * a caller's buffer too small, in both cases before asking the kernel.
 * qkdn_error() gives the kernel's message on the last failure.
 *
 * Authentication: the kernel checks the process's effective uid against
 * the uid registered for the SAE (qkdn app add SAE uid UID), when the
 * session opens and on every request in it. There is no secret to keep.
 *
 * Sessions belong to the handle (its netlink socket) that opened them:
 * another handle gets -EPERM, and qkdn_close() ends them all. A node holds
 * at most QKDN_AK_SESSIONS_MAX sessions (-ENOSPC beyond).
 *
 * Key bytes: the library receives them in memory that is locked (never
 * swapped), excluded from core dumps and wiped on fork, and wipes every
 * buffer it held when done with it. Keys a function returns in a struct
 * qkdn_keys stay in such memory until qkdn_keys_free() wipes it. The
 * *_into variants copy keys into the caller's memory instead: locking and
 * wiping that is the caller's business. Never log key bytes.
 *
 * Threads: a handle is not safe for concurrent use; use one handle per
 * thread, or a lock. Different handles are independent.
 *
 * fork(): the library's memory is wiped in the child, so a child must not
 * use, close or free the parent's handles and keys; it opens its own. (The
 * socket it inherits still carries the parent's sessions until both have
 * closed it.)
 *
 * Link with `pkg-config --cflags --libs libqkdn`.
 */
#ifndef QKDN_QKDN_H
#define QKDN_QKDN_H

#include <stddef.h>
#include <stdint.h>

#include <linux/qkdn.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QKDN_LIB_VERSION_MAJOR	0
#define QKDN_LIB_VERSION_MINOR	1

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and its NUL. */
#define QKDN_KEY_ID_STRLEN	37

/* A connection to the node of the caller's network namespace. */
struct qkdn;

/**
 * struct qkdn_key - one key
 * @id: its KMA-key ID, the same at both ends
 * @created: when the key was generated, ns since the epoch
 * @len: bytes at @data
 * @data: the key
 */
struct qkdn_key {
	uint8_t id[QKDN_KEY_ID_LEN];
	uint64_t created;
	uint32_t len;
	unsigned char *data;
};

/**
 * struct qkdn_keys - keys the library received, in one locked buffer
 * @count: entries in @key
 * @key: the keys; their data lies in the same buffer
 */
struct qkdn_keys {
	uint32_t count;
	struct qkdn_key key[];
};

/**
 * struct qkdn_ak_status - status of key supply (ETSI GS QKD 014 Table 9)
 * @stored_key_count: keys one request could take now
 * @max_key_count: capacity of the pools behind them, 0 if unbounded
 * @max_key_per_request: keys one request may ask for
 * @key_size: bits of each key
 * @max_key_size: largest size a request may ask for, bits
 * @min_key_size: smallest size a request may ask for, bits
 */
struct qkdn_ak_status {
	uint64_t stored_key_count;
	uint64_t max_key_count;
	uint32_t max_key_per_request;
	uint32_t key_size;
	uint32_t max_key_size;
	uint32_t min_key_size;
};

/**
 * struct qkdn_ak_info - what a response message of Tables 7-3, 7-5 and
 *	7-7 said besides the keys; items it did not carry are 0
 * @session: Session ID
 * @response: Response code: enum qkdn_ak_result for authentication and
 *	deletion, enum qkdn_ak_supply_code for key supply
 * @app_code: Application code, enum qkdn_ak_app_code
 * @count_id: Count ID: the sub-session's number in the session
 * @amount: Key amount: keys supplied or deleted (asked for, when
 *	insufficient)
 * @key_size: Key size, bits
 * @source_node: this node, the KM that answered (Sender ID)
 * @target_node: the peer SAE's node
 * @link: the link the keys came from, 0 for relayed keys
 * @sae: Source ID: the SAE the session acts as
 * @peer_sae: Target ID: the peer SAE
 * @has_status: @status was in the response (insufficient, status table)
 * @status: the status table
 */
struct qkdn_ak_info {
	uint64_t session;
	uint8_t response;
	uint8_t app_code;
	uint32_t count_id;
	uint32_t amount;
	uint32_t key_size;
	uint32_t source_node;
	uint32_t target_node;
	uint32_t link;
	char sae[QKDN_ID_MAXLEN];
	char peer_sae[QKDN_ID_MAXLEN];
	int has_status;
	struct qkdn_ak_status status;
};

/*
 * Opens a handle on the node of the caller's network namespace. 0, or
 * -ENOENT when qkdn.ko is not loaded, -ENOMEM/-EPERM when memory cannot be
 * locked (RLIMIT_MEMLOCK), another -errno of the socket.
 */
int qkdn_open(struct qkdn **h);
/* Closes the handle: every session it opened ends. NULL is a no-op. */
void qkdn_close(struct qkdn *h);
/* The kernel's (or the library's) message on the last failure, or "". */
const char *qkdn_error(const struct qkdn *h);

/*
 * Authentication (Tables 7-2, 7-3): opens a session for the local SAE @sae
 * towards the remote SAE @peer_sae; its ID goes to *@session. 0 or
 * -errno: -ENOENT unknown SAE, -EINVAL SAE not local or peer not remote,
 * -EACCES the process's uid is not the SAE's, -ENOSPC too many sessions.
 * @info may be NULL.
 */
int qkdn_ak_auth(struct qkdn *h, const char *sae, const char *peer_sae,
		 uint64_t *session, struct qkdn_ak_info *info);

/*
 * Key supply for encryption (Tables 7-4, 7-5, application code 0x01):
 * @amount new keys (1..QKDN_KEY_AMOUNT_MAX) of @key_size bits (0: the
 * size the node supplies). Returns QKDN_AK_SUPPLY_SUCCESS or
 * QKDN_AK_SUPPLY_SUFFICIENT with the keys in *@keys (free them with
 * qkdn_keys_free()); QKDN_AK_SUPPLY_INSUFFICIENT with *@keys NULL and
 * nothing taken when fewer keys are available (@info->status says how
 * many); or -errno, *@keys NULL.
 */
int qkdn_ak_get(struct qkdn *h, uint64_t session, uint32_t amount,
		uint32_t key_size, struct qkdn_keys **keys,
		struct qkdn_ak_info *info);
/*
 * Key supply for decryption (application code 0x02): the @count keys the
 * peer SAE took at its end, by ID, all or nothing. Returns
 * QKDN_AK_SUPPLY_SUCCESS with the keys in *@keys, in the order asked, or
 * -errno (-ENOKEY: an ID is unknown or already taken).
 */
int qkdn_ak_get_by_id(struct qkdn *h, uint64_t session,
		      const uint8_t (*ids)[QKDN_KEY_ID_LEN], uint32_t count,
		      struct qkdn_keys **keys, struct qkdn_ak_info *info);
/*
 * The same two into the caller's memory: key i to @buf + i * @key_size / 8
 * (@key_size is required here), its ID to @ids[i]. @len must hold @amount
 * (@count) keys, or -ENOBUFS before anything is asked; keys of another
 * size are refused by the kernel (-EINVAL) before any is taken.
 */
int qkdn_ak_get_into(struct qkdn *h, uint64_t session, uint32_t amount,
		     uint32_t key_size, uint8_t (*ids)[QKDN_KEY_ID_LEN],
		     void *buf, size_t len, struct qkdn_ak_info *info);
int qkdn_ak_get_by_id_into(struct qkdn *h, uint64_t session,
			   const uint8_t (*ids)[QKDN_KEY_ID_LEN],
			   uint32_t count, uint32_t key_size, void *buf,
			   size_t len, struct qkdn_ak_info *info);

/*
 * Status only (the "status table" of Table 7-5): how many keys a request
 * of @app_code (QKDN_AK_ENCRYPT or QKDN_AK_DECRYPT) could take now, into
 * @status. 0 or -errno; nothing is taken and no count ID used.
 */
int qkdn_ak_status(struct qkdn *h, uint64_t session, uint8_t app_code,
		   struct qkdn_ak_status *status);

/*
 * Key deletion (Tables 7-6, 7-7): wipes the @count keys with these IDs
 * that the peer SAE took at its end, without taking them, all or nothing.
 * 0 or -errno.
 */
int qkdn_ak_delete(struct qkdn *h, uint64_t session,
		   const uint8_t (*ids)[QKDN_KEY_ID_LEN], uint32_t count);
/* Ends the session (a deletion without keys). 0 or -errno. */
int qkdn_ak_end(struct qkdn *h, uint64_t session);

/* Wipes and frees keys the library returned. NULL is a no-op. */
void qkdn_keys_free(struct qkdn_keys *keys);

/* A key ID as the UUID text the CLI and ETSI GS QKD 014 use, and back:
 * 0, or -EINVAL for text that is not a UUID. */
void qkdn_key_id_format(char out[QKDN_KEY_ID_STRLEN],
			const uint8_t id[QKDN_KEY_ID_LEN]);
int qkdn_key_id_parse(uint8_t id[QKDN_KEY_ID_LEN], const char *text);

#ifdef __cplusplus
}
#endif

#endif /* QKDN_QKDN_H */
