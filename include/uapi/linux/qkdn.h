/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * qkdn: key manager of a quantum key distribution network (QKDN) node.
 *
 * Documentation
 * =============
 *
 * One QKD node lives in each network namespace. The node's key manager (KM)
 * keeps every key byte in kernel memory: one key pool per KMA link to a
 * neighbour node, fed with QKD-keys by the QKD layer (Kq-1), reformatted
 * into KMA-keys of the link's unit length and supplied to applications
 * (Ak). Userspace talks to it through the generic netlink family "qkdn"
 * (QKDN_GENL_NAME, version QKDN_GENL_VERSION).
 *
 * All commands use the top-level attributes of enum qkdn_attr. Lists are
 * nests of repeated entries: QKDN_A_KEYS holds QKDN_A_KEY entries, each a
 * nest of enum qkdn_key_attr. Statistics of a link travel in the
 * QKDN_A_LINK_STATS nest of enum qkdn_stat_attr. Attributes are validated
 * strictly, and a refused request changes nothing: integers out of range,
 * binary attributes of the wrong length and strings too long for their
 * limit get ERANGE; integers of the wrong width, unknown attributes,
 * attributes only replies carry, missing attributes and strings without
 * their NUL get EINVAL; each with an extended-ack message naming the
 * attribute. Strings are NUL-terminated
 * and at most QKDN_ID_MAXLEN bytes with the NUL; IDs (node names aside)
 * are printable ASCII without blanks or ':'.
 *
 * Permissions: commands marked [admin] need CAP_NET_ADMIN in the user
 * namespace that owns the node's network namespace (EPERM otherwise).
 * Key supply commands ([app]) need no capability, but the caller's
 * effective uid must be the uid registered for the application whose
 * SAE ID it names (EACCES otherwise). The *_GET commands are open to every
 * user of the namespace, as `ip link` is: they show configuration and
 * counters, never key material.
 *
 * Key identifiers
 * ---------------
 *
 * A KMA-key ID (QKDN_KEY_A_ID) is 16 bytes, laid out as an RFC 9562
 * version 8 UUID: bytes 0..9 are a SHA-256 over the link's QKD module pair
 * (Alice's module ID first), the key's sequence number in the link's
 * stream and the (QKD-key ID, offset, length) of every QKD-key fragment
 * the KMA-key was cut from, with the UUID version and variant bits set;
 * bytes 10..15 are the 48-bit sequence number, big endian. Two nodes fed
 * the same QKD-key stream therefore derive the same IDs for the same
 * bytes, and a stream that differs at one end yields different IDs, never
 * the same ID for different bytes.
 *
 * Pool halves
 * -----------
 *
 * KMA-keys with an even sequence number are Alice's encrypting keys and
 * Bob's decrypting keys; odd ones the reverse. A node hands out (GET_KEY)
 * only keys of its encrypting half, oldest first, and looks up by ID
 * (GET_KEY_ID, KEY_DEL) only keys of its decrypting half, so the two ends
 * of a link can never consume the same key. Each key leaves the pool once
 * per side and is wiped when it does.
 *
 * When a pool holds QKDN_A_POOL_CAPACITY keys, new KMA-keys are still
 * numbered (so both ends stay aligned) but wiped at once and counted as
 * discarded.
 *
 * Commands
 * --------
 *
 * QKDN_CMD_PING: no attributes; the reply is empty. Measures the netlink
 *   round trip.
 *
 * QKDN_CMD_NODE_GET: no attributes. Reply:
 *     QKDN_A_NODE_ID: NLA_U32 (0 until set)
 *     QKDN_A_NODE_NAME: NLA_NUL_STRING
 *     QKDN_A_KEYRING_TTL: NLA_U32, seconds (0: keyring keys do not expire)
 *     QKDN_A_LINK_COUNT: NLA_U32
 *     QKDN_A_APP_COUNT: NLA_U32
 *     QKDN_A_RELAY_TIMEOUT: NLA_U32, ms
 *     QKDN_A_KSA_SYNC: NLA_U8
 *     QKDN_A_RELAY_STATS: NLA_NESTED, see enum qkdn_relay_stat_attr
 *
 * QKDN_CMD_NODE_SET [admin]:
 *     QKDN_A_NODE_ID: NLA_U32, 1..QKDN_NODE_ID_MAX, optional
 *     QKDN_A_NODE_NAME: NLA_NUL_STRING, optional
 *     QKDN_A_KEYRING_TTL: NLA_U32, optional
 *     QKDN_A_RELAY_TIMEOUT: NLA_U32, ms a relay waits for its
 *         acknowledgment, 1..QKDN_RELAY_TIMEOUT_MS_MAX, default
 *         QKDN_RELAY_TIMEOUT_MS_DEFAULT. The wait happens inside the
 *         request, which holds genetlink's registration lock for reading
 *         meanwhile, hence the one-minute ceiling.
 *     QKDN_A_KSA_SYNC: NLA_U8, 0 or 1: check keys with the peer before
 *         supplying them (see KSA synchronisation), default 0
 *   Errors: EBUSY changing the ID while links or applications exist.
 *
 * QKDN_CMD_LINK_ADD [admin]: a KMA link to a neighbour node.
 *     QKDN_A_LINK_ID: NLA_U32, 1..U32_MAX, unique in the node, required
 *     QKDN_A_PEER_NODE_ID: NLA_U32, required, not the node's own ID
 *     QKDN_A_LINK_ROLE: NLA_U8, enum qkdn_link_role, required
 *     QKDN_A_QKD_MODULE_ID: NLA_NUL_STRING, this node's QKD module, required
 *     QKDN_A_MATCHING_QKD_MODULE_ID: NLA_NUL_STRING, the peer's, required
 *     QKDN_A_KEY_UNIT: NLA_U16, KMA-key length in bytes,
 *         QKDN_KEY_UNIT_MIN..QKDN_KEY_UNIT_MAX, multiple of 8,
 *         default QKDN_KEY_UNIT_DEFAULT
 *     QKDN_A_POOL_CAPACITY: NLA_U32, keys, 1..QKDN_POOL_CAPACITY_MAX,
 *         default QKDN_POOL_CAPACITY_DEFAULT
 *     QKDN_A_POOL_LOW, QKDN_A_POOL_HIGH: NLA_U32, keys; low < high <=
 *         capacity; defaults capacity / 10 and capacity - capacity / 10
 *   Errors: EINVAL node ID not set, bad watermarks; EEXIST link ID taken,
 *   or another link of the node has the same QKD module pair (its keys
 *   would get the same IDs); ENOSPC more than QKDN_LINKS_MAX links.
 *
 * QKDN_CMD_LINK_SET [admin]: QKDN_A_LINK_ID required; QKDN_A_POOL_CAPACITY,
 *   QKDN_A_POOL_LOW, QKDN_A_POOL_HIGH optional. Errors: ENODEV unknown link;
 *   EINVAL bad watermarks.
 *
 * QKDN_CMD_LINK_DEL [admin]: QKDN_A_LINK_ID. Wipes and frees every key of
 *   the pool. Errors: ENODEV.
 *
 * QKDN_CMD_LINK_GET: with QKDN_A_LINK_ID, one link; as a dump (NLM_F_DUMP,
 *   no attributes), every link in ascending ID order, NLM_F_DUMP_INTR set if
 *   links were added or removed during the dump. Each reply:
 *     QKDN_A_LINK_ID, QKDN_A_PEER_NODE_ID, QKDN_A_LINK_ROLE,
 *     QKDN_A_QKD_MODULE_ID, QKDN_A_MATCHING_QKD_MODULE_ID, QKDN_A_KEY_UNIT,
 *     QKDN_A_POOL_CAPACITY, QKDN_A_POOL_LOW, QKDN_A_POOL_HIGH,
 *     QKDN_A_LINK_STATS: NLA_NESTED
 *       QKDN_STAT_A_*: NLA_U64 each, see enum qkdn_stat_attr
 *     QKDN_A_QKD_STATE, QKDN_A_QKD_KEY_RATE, QKDN_A_QKD_QBER,
 *     QKDN_A_QKD_UPDATED: the QKD link's status, once its driver reported
 *   Errors: ENODEV.
 *
 * QKDN_CMD_QKD_STATUS [admin] (Mq/Cq, from the QKD device driver): the
 *   state of the QKD link under a KMA link, as its driver sees it.
 *     QKDN_A_LINK_ID: NLA_U32, required
 *     QKDN_A_QKD_STATE: NLA_U8, enum qkdn_qkd_state, required
 *     QKDN_A_QKD_KEY_RATE: NLA_U64, secret key rate, bit/s
 *     QKDN_A_QKD_QBER: NLA_U32, quantum bit error rate, parts per million
 *         (0..1000000)
 *   While the state is DOWN or EAVESDROPPED the module refuses KEY_PUSH on
 *   the link (ENETDOWN): no key of a link under attack enters the pool.
 *   A change of state raises QKDN_ALARM_QKD_DOWN, QKDN_ALARM_QKD_EAVESDROP
 *   or QKDN_ALARM_QKD_UP on the alarm group, with the link's attributes.
 *   Errors: ENODEV.
 *
 * QKDN_CMD_KEY_PUSH [admin] (Kq-1): one QKD-key from the QKD module of a
 *   link, with the metadata of Y.3803 Table 1 (1).
 *     QKDN_A_LINK_ID: NLA_U32, required
 *     QKDN_A_QKD_KEY_ID: NLA_NUL_STRING, required
 *     QKDN_A_QKD_KEY_DATA: NLA_BINARY, 1..QKDN_QKD_KEY_MAX bytes, required
 *     QKDN_A_QKD_KEY_TIMESTAMP: NLA_U64, generation time, ns since the epoch
 *     QKDN_A_QKD_KEY_HASH: NLA_BINARY, exactly 32 bytes, SHA-256 of the data
 *     QKDN_A_QKD_MODULE_ID, QKDN_A_MATCHING_QKD_MODULE_ID: if present,
 *         must name the link's modules
 *   No reply beyond the ack, so a driver can push at full rate.
 *   Errors: ENODEV; ENETDOWN its QKD link is reported down or
 *   eavesdropped; EBADMSG hash mismatch; EINVAL module IDs differ;
 *   EOVERFLOW the link's 48-bit sequence space is used up. A refused push
 *   changes nothing.
 *
 * QKDN_CMD_APP_ADD [admin]: register an application (SAE).
 *     QKDN_A_SAE_ID: NLA_NUL_STRING, required
 *     QKDN_A_NODE_ID: NLA_U32, the node the SAE is attached to; default
 *         this node
 *     QKDN_A_UID: NLA_U32, for a local SAE the uid allowed to act as it
 *         (in the caller's user namespace): required for a local SAE,
 *         refused (EINVAL) for a remote one
 *   Errors: EEXIST; EINVAL node ID not set; ENOSPC more than QKDN_APPS_MAX.
 *
 * QKDN_CMD_APP_DEL [admin]: QKDN_A_SAE_ID. Errors: ENOENT.
 *
 * QKDN_CMD_APP_GET: dump (or QKDN_A_SAE_ID for one). Each reply:
 *     QKDN_A_SAE_ID, QKDN_A_NODE_ID, QKDN_A_UID (local SAEs only: absent
 *     for a remote one),
 *     QKDN_A_KEYS_SUPPLIED: NLA_U64
 *
 * QKDN_CMD_KEY_GET [app] (Ak key supply, "GET_KEY"): new keys for the
 *   local SAE QKDN_A_SAE_ID to share with the remote SAE QKDN_A_PEER_SAE_ID.
 *     QKDN_A_SAE_ID, QKDN_A_PEER_SAE_ID: NLA_NUL_STRING, required
 *     QKDN_A_KEY_AMOUNT: NLA_U32, 1..QKDN_KEY_AMOUNT_MAX, default 1
 *     QKDN_A_KEY_SIZE: NLA_U32, bits; if present must be the link's unit
 *     QKDN_A_KSA_NOWAIT: NLA_FLAG: with KSA synchronisation, fail with
 *         EINPROGRESS rather than wait when there are too few verified
 *         keys (a batch is started or already in flight, nothing is
 *         taken); so a caller on an event loop asks again from a thread
 *         that may block
 *   Reply (up to QKDN_KEY_BYTES_MAX of keys plus 44 bytes a key: receive
 *   buffers must hold QKDN_REPLY_MAX bytes):
 *     QKDN_A_LINK_ID: the link the keys came from
 *     QKDN_A_KEYS: NLA_NESTED
 *       QKDN_A_KEY: NLA_NESTED, one per key
 *         QKDN_KEY_A_ID: 16 bytes
 *         QKDN_KEY_A_DATA: the key
 *         QKDN_KEY_A_TIMESTAMP: NLA_U64, KMA-key generation time, ns
 *   Errors: ENOENT unknown SAE; EINVAL SAE not local, peer not remote or
 *   bad size; EACCES caller is not the SAE's uid; EHOSTUNREACH no link to
 *   the peer's node; EAGAIN fewer keys available than asked (nothing is
 *   taken); EMSGSIZE amount times unit over QKDN_KEY_BYTES_MAX.
 *
 * QKDN_CMD_KEY_GET_ID [app] ("GET_KEY_WITH_ID"): the keys the peer SAE got
 *   with GET_KEY at its end, by ID.
 *     QKDN_A_SAE_ID, QKDN_A_PEER_SAE_ID: required
 *     QKDN_A_KEYS: nest of QKDN_A_KEY, each with QKDN_KEY_A_ID only,
 *         1..QKDN_KEY_AMOUNT_MAX entries
 *   Reply: as for KEY_GET. Errors: as KEY_GET, and ENOKEY when any ID is
 *   not (or no longer) in the decrypting half of a link to the peer's
 *   node; EINVAL an ID repeated. All or nothing.
 *
 * QKDN_CMD_KEY_DEL [app] (Ak key deletion): wipe keys of the decrypting
 *   half by ID, as the application asked.
 *     QKDN_A_SAE_ID, QKDN_A_PEER_SAE_ID, QKDN_A_KEYS: as KEY_GET_ID
 *   Errors: as KEY_GET_ID. All or nothing.
 *
 * Notifications
 * -------------
 *
 * Multicast group QKDN_MCGRP_ALARM ("alarm") carries QKDN_CMD_ALARM:
 *     QKDN_A_ALARM: NLA_U32, enum qkdn_alarm
 *     QKDN_A_NODE_ID
 *     the link's attributes, exactly as in a LINK_GET reply
 *
 * Key relay (Kx)
 * --------------
 *
 * Two nodes without a link between them share keys relayed hop by hop
 * through trusted nodes (seed 000 clauses 7.1.3-7.1.4). The module builds,
 * verifies, decrypts and re-encrypts every relay frame; the key manager
 * daemon (qkdn-kmd) only carries the opaque frames between neighbours.
 *
 * QKDN_CMD_ROUTE_ADD [admin]: where relay frames for a node go next.
 *     QKDN_A_DEST_NODE_ID: NLA_U32, required, not this node
 *     QKDN_A_NEXT_HOP_NODE_ID: NLA_U32, required: a node this one has a
 *         link to (or will have; frames wait for no one)
 *   Replaces an existing route to the same destination.
 *   Errors: EINVAL node ID not set, destination or next hop is this node;
 *   ENOSPC more
 *   than QKDN_ROUTES_MAX routes.
 * QKDN_CMD_ROUTE_DEL [admin]: QKDN_A_DEST_NODE_ID. Errors: ENOENT.
 * QKDN_CMD_ROUTE_GET: dump of QKDN_A_DEST_NODE_ID, QKDN_A_NEXT_HOP_NODE_ID,
 *   in ascending destination order.
 *
 * QKDN_CMD_RELAY [admin]: relay new keys to a distant node and wait until
 *   its acknowledgment arrives or QKDN_A_RELAY_TIMEOUT passes.
 *     QKDN_A_DEST_NODE_ID: NLA_U32, required
 *     QKDN_A_KEY_AMOUNT: NLA_U32, 1..QKDN_RELAY_KEYS_MAX, default 1
 *     QKDN_A_KEY_SIZE: NLA_U32, bits, multiple of 64,
 *         QKDN_KEY_UNIT_MIN * 8..QKDN_KEY_UNIT_MAX * 8, default 256 (EINVAL
 *         otherwise); amount times size at most QKDN_RELAY_BYTES_MAX bytes
 *         (EMSGSIZE otherwise), and a frame of that many keys must fit a
 *         KX_FRAME both on the first link and, unless the destination is
 *         the next hop, after the first hop on a link of the first link's
 *         unit (EMSGSIZE otherwise, nothing taken; see the definition of
 *         QKDN_RELAY_BYTES_MAX). A later link of a smaller unit refuses an
 *         onward frame too large for it (EMSGSIZE there: the relay times out)
 *     QKDN_A_NEXT_HOP_NODE_ID: NLA_U32, optional: the first hop, a
 *         neighbour, instead of the route to the destination (a key
 *         manager spreading relays over several paths); the hops after it
 *         follow their own routes
 *   Reply: QKDN_A_RELAY_ID: NLA_U64; QKDN_A_KEYS with QKDN_KEY_A_ID only.
 *   The keys are then in the store of the destination node (STORE_GET),
 *   this node's half: GET_KEY hands them to a local SAE whose peer SAE is
 *   attached to the destination; the destination's SAE takes them by ID.
 *   Errors: EINVAL node ID not set or destination is this node;
 *   EHOSTUNREACH no route, or the next hop has no link; EAGAIN the first
 *   link has too few keys (nothing is taken); ETIMEDOUT no acknowledgment
 *   in time: the relay is abandoned at both ends and the link keys it used
 *   stay consumed; EINTR the caller was killed while waiting (abandoned
 *   the same way); ECONNABORTED the route to the destination was changed
 *   or deleted (ROUTE_ADD, ROUTE_DEL) while the relay was in flight and
 *   its first frame had left on another next hop: abandoned the same way
 *   at once, so the caller can relay again over the new route.
 *
 * QKDN_CMD_KEY_GET_MULTICAST [app] (ETSI GS QKD 014 enc_keys with
 *   additional_slave_SAE_IDs): fresh keys for the local SAE QKDN_A_SAE_ID
 *   that every slave SAE takes by ID (KEY_GET_ID) exactly once, byte for
 *   byte the same. The module relays them to the node of each slave SAE
 *   attached elsewhere, one leg per slave (its own relay ID, frames and
 *   ACK; a neighbour's leg is a one-hop relay), and answers only once every
 *   leg is acknowledged; copies for slave SAEs of this node then wait in
 *   this node's store for itself. If any leg is not acknowledged within
 *   QKDN_A_RELAY_TIMEOUT, every leg is abandoned and ABORTed, acknowledged
 *   or not, so no key is ever usable at some slaves only.
 *     QKDN_A_SAE_ID: NLA_NUL_STRING, required: the master SAE, local
 *     QKDN_A_PEER_SAE_ID: NLA_NUL_STRING, required: the slave SAE
 *     QKDN_A_PEER_SAE_IDS: NLA_NESTED, optional: the additional slave SAEs,
 *         QKDN_A_PEER_SAE_ID entries, 1..QKDN_MULTICAST_SAES_MAX - 1
 *     QKDN_A_KEY_AMOUNT, QKDN_A_KEY_SIZE: as for RELAY (at most
 *         QKDN_RELAY_KEYS_MAX keys, default 1 of 256 bits)
 *   At least one slave must be attached to another node: the keys are
 *   drawn from the first link towards the first such slave. A node with
 *   two slave SAEs gets two legs, hence two copies, each taken once.
 *   Reply: as for KEY_GET, with QKDN_A_LINK_ID 0. The call sleeps (without
 *   the node lock) until the last ACK or the timeout.
 *   Errors: ENOENT unknown master or slave SAE; EACCES as KEY_GET; EINVAL
 *   master not local, a slave named twice or equal to the master, no slave
 *   attached to another node, bad size; ERANGE too many slaves or keys;
 *   EMSGSIZE as RELAY; EHOSTUNREACH no route or link towards a slave's
 *   node; EAGAIN too few keys on a first link for every leg it carries;
 *   all of these before anything is taken. ETIMEDOUT, EINTR: a leg was
 *   not acknowledged in time; every leg is abandoned (RELAY_FAILED alarm
 *   per leg), the link keys the frames used stay consumed.
 *   KEY_GET_ID (and KEY_DEL) accept a peer SAE of this node for the copies
 *   kept here (ENOKEY if there are none); a peer SAE that is the SAE
 *   itself is refused (EINVAL) by every supply command.
 *
 * QKDN_CMD_KX_FRAME: on the "kx" multicast group, a frame for a
 *   neighbour; as an [admin] command, a frame from a neighbour.
 *     QKDN_A_PEER_NODE_ID: NLA_U32, the neighbour the frame goes to, or
 *         came from (as the daemon authenticated it)
 *     QKDN_A_KX_FRAME: NLA_BINARY, at most QKDN_KX_FRAME_MAX bytes
 *   Errors (each counted in QKDN_A_RELAY_STATS): EBADMSG malformed or
 *   truncated, or its MAC does not verify (nothing consumed); ENODEV no
 *   link to that neighbour; ENOKEY it names link keys this node does not
 *   hold (nothing consumed); EALREADY a replayed or reordered frame (its
 *   sequence number is not above the last one accepted on that link);
 *   EHOSTUNREACH no route onwards, EAGAIN too few keys on the onward link,
 *   EMSGSIZE the onward frame would be too large (in these three the frame
 *   was authenticated and its link keys are consumed; the relay then times
 *   out at its source); EEXIST a relayed key ID this node already holds;
 *   ENOMEM. A frame whose MAC verifies but that names one link key twice
 *   (which no correct sender builds) gets EBADMSG after the keys before the
 *   repeat were consumed.
 *
 * QKDN_CMD_STORE_GET: dump, one message per remote node this node shares
 *   relayed keys with:
 *     QKDN_A_PEER_NODE_ID
 *     QKDN_A_STORE_STATS: NLA_NESTED, QKDN_STORE_A_*: NLA_U64 each
 *
 * Relay counters of the node travel in QKDN_A_RELAY_STATS (NLA_NESTED of
 * QKDN_RELAY_A_*, NLA_U64 each) in the NODE_GET reply.
 *
 * Frame format (all integers big endian; the daemon never looks inside):
 *
 *     u8  version (1)        u8  type (enum qkdn_kx_type)
 *     u8  method (enum qkdn_kx_method)                u8  reserved (0)
 *     u32 source node        u32 destination node
 *     u32 hop sender         u32 hop receiver
 *     u64 relay ID           u64 hop sequence number (per link direction)
 *     u64 time stamp of this hop, ns since the epoch
 *     u16 relayed keys       u16 bytes per relayed key
 *     u16 link keys used     u16 hop count
 *     link key IDs used, 16 bytes each: their concatenated bytes are the
 *         32-byte Poly1305 one-time key, then the one-time pad
 *     per relayed key: 16-byte KMA-key ID, u64 generation time stamp,
 *         the key XORed with its stretch of the pad
 *     16-byte Poly1305 tag over everything before it
 *
 * RELAY frames carry keys; ACK and ABORT frames carry none and only name
 * the relay ID, on the way back to the source or on to the destination.
 * A RELAY frame with hop count 0 carries no key bytes: its keys are the
 * pad stretch of the link keys it names. A multicast relay's first leg
 * sends such a frame; its other legs' frames carry the same keys
 * one-time-padded from the first hop on and so leave the source with hop
 * count 1. A destination accepts a relayed key ID it already holds only
 * as another copy of the same bytes from the same source (a second slave
 * SAE there); otherwise EEXIST.
 * SYNC and SYNC_ACK frames (KSA synchronisation, below) carry entries of
 * 32 bytes instead: a 16-byte key ID and, in SYNC, the first 16 bytes of
 * SHA-256("qkdn ksa sync v1" || key ID || key), in SYNC_ACK a u8 verdict
 * (enum qkdn_ksa_verdict) and 15 zero bytes; their "bytes per relayed
 * key" is 0.
 *
 * KSA synchronisation (Kx-2)
 * --------------------------
 *
 * With QKDN_A_KSA_SYNC set on a node (qkdn-kmd sets it), GET_KEY and
 * request_key() hand out only keys checked with the peer SAE's node
 * (seed 000 clause 7.1.5). The check runs ahead of supply, in batches
 * (kernel/ksa.c, Documentation/key-pool.rst): when the verified keys of a
 * link pool's encrypting half, or of a store's own keys, fall below a
 * stock size (128, doubled up to 1024 whenever the stock runs out before
 * a batch comes back), a SYNC frame carries the IDs and digests of up to
 * that many unchecked keys (more if a waiting request needs them) to the
 * peer's node, which
 * compares them with its copies; if all match it marks them verified and
 * answers SYNC_ACK, on which this node marks them verified too. If any
 * differs or is missing, both ends delete every key of the batch and raise
 * QKDN_ALARM_KSA_MISMATCH. A request served from verified keys takes no
 * round trip; one that finds too few starts a batch (if none is in
 * flight) and waits for it, up to the relay timeout. Errors added to
 * KEY_GET: EKEYREJECTED the batch it waited for failed (its keys are
 * deleted at both ends and an alarm raised at both); ETIMEDOUT no answer
 * in time (the keys stay, unchecked); EHOSTUNREACH and EAGAIN as for
 * RELAY, for the SYNC frame, or EAGAIN no unchecked key left to check.
 * Link stats QKDN_STAT_A_VERIFIED and _PEER_VERIFIED, store stats
 * QKDN_STORE_A_OWN_VERIFIED and _PEER_VERIFIED, and the relay counters
 * QKDN_RELAY_A_SYNC_* show the stock and the batches.
 *
 * Keyring
 * -------
 *
 * The key type "qkdn" is instantiated from the node of the caller's network
 * namespace, in-kernel, without an upcall:
 *     request_key("qkdn", "<sae>:<peer-sae>", "", ...) takes a new key as
 *         GET_KEY does;
 *     request_key("qkdn", "<sae>:<peer-sae>:<key-uuid>", "", ...) takes
 *         the key with that ID as GET_KEY_ID does.
 * The callout information may be empty but must be given: without it the
 * kernel only searches the keyrings (keyctl request2, not request). Once on
 * a keyring the key is found there by later requests for the same
 * description; unlink it to take a new one. add_key("qkdn", desc, NULL, 0)
 * does the same as request_key(); a non-empty payload is refused (EINVAL).
 * The payload read with keyctl_read() is the key; /proc/keys shows its ID.
 * The same uid rule applies. Keys are wiped when revoked or destroyed.
 *
 * Ak key supply sessions
 * ----------------------
 *
 * The key supply protocol of seed 000 clause 7.2.1: an application
 * authenticates as its SAE towards a peer SAE and gets a session (Tables
 * 7-2, 7-3), takes keys within it (7-4, 7-5) and deletes keys or ends it
 * (7-6, 7-7). Keys come from the same pools and stores, by the same rules,
 * as with KEY_GET and KEY_GET_ID; Documentation/ak.rst maps every item of
 * the tables to its attribute.
 *
 * The items every message of the tables carries travel in the netlink
 * headers: Message ID is the request's nlmsg_seq, and OrigMessage ID the
 * same nlmsg_seq in the reply; Command code is genlmsghdr.cmd; Sender ID
 * is QKDN_A_SAE_ID in a command (the application) and QKDN_A_NODE_ID in a
 * reply (the KM). Authentication info is the credential of the calling
 * process, which the kernel takes from the request itself: its effective
 * uid must be the uid registered for the SAE (APP_ADD), exactly as for
 * KEY_GET; nothing an application could forge travels in the message. The
 * check is made when the session opens and again on every request in it,
 * so a session never outlives the registration it was opened under.
 *
 * A session belongs to the netlink socket that opened it: requests on any
 * other socket are refused (EPERM), and closing the socket ends every
 * session it opened (NETLINK_URELEASE). A node holds at most
 * QKDN_AK_SESSIONS_MAX sessions (ENOSPC beyond). A session holds no key
 * bytes: keys it took are the application's, keys it did not take stay in
 * their pools, so ending it wipes only its own state.
 *
 * Response codes travel in QKDN_A_AK_RESPONSE of a reply: enum
 * qkdn_ak_result for AK_AUTH and AK_DEL, enum qkdn_ak_supply_code for
 * AK_KEY. A failure (QKDN_AK_RESULT_FAILURE) is never in a reply: the
 * request fails with an errno and an extended-ack message instead, and
 * changes nothing.
 *
 * QKDN_CMD_AK_AUTH [app] (Tables 7-2, 7-3): open a session.
 *     QKDN_A_SAE_ID: NLA_NUL_STRING, required: the local SAE
 *     QKDN_A_PEER_SAE_ID: NLA_NUL_STRING, required: the remote SAE
 *   Reply:
 *     QKDN_A_AK_RESPONSE: NLA_U8, QKDN_AK_RESULT_SUCCESS
 *     QKDN_A_AK_SESSION_ID: NLA_U64, random, never 0, unique in the node
 *     QKDN_A_SAE_ID, QKDN_A_PEER_SAE_ID: as asked
 *     QKDN_A_NODE_ID: this node; QKDN_A_PEER_NODE_ID: the peer SAE's node
 *   Errors: ENOENT unknown SAE or peer SAE; EINVAL SAE not local, peer
 *   not remote, missing or malformed IDs; EACCES the caller is not the
 *   SAE's uid; ENOSPC QKDN_AK_SESSIONS_MAX sessions exist. Whether the
 *   peer's node can be reached is a question for each request.
 *
 * QKDN_CMD_AK_KEY [app] (Tables 7-4, 7-5): one sub-session of key supply.
 *     QKDN_A_AK_SESSION_ID: NLA_U64, required
 *     QKDN_A_AK_APP_CODE: NLA_U8, enum qkdn_ak_app_code, required: ENCRYPT
 *         takes new keys, as KEY_GET; DECRYPT takes the keys the peer SAE
 *         took at its end, by ID, as KEY_GET_ID
 *     QKDN_A_KEY_AMOUNT: NLA_U32, 1..QKDN_KEY_AMOUNT_MAX. ENCRYPT: default
 *         1. DECRYPT: optional, and then the number of key IDs
 *     QKDN_A_KEY_SIZE: NLA_U32, bits. ENCRYPT: as for KEY_GET. DECRYPT:
 *         optional, and then the keys must total amount times size
 *     QKDN_A_KEYS: DECRYPT only, required: key IDs as for KEY_GET_ID
 *     QKDN_A_AK_GET_STATUS: NLA_FLAG: status only, no key is taken; then
 *         QKDN_A_KEY_AMOUNT, QKDN_A_KEY_SIZE and QKDN_A_KEYS are refused
 *     QKDN_A_SAE_ID, QKDN_A_PEER_SAE_ID (Source ID, Target ID): optional;
 *         if present, must be the session's
 *   Reply:
 *     QKDN_A_AK_RESPONSE: NLA_U8, enum qkdn_ak_supply_code
 *     QKDN_A_AK_SESSION_ID, QKDN_A_AK_APP_CODE: as asked
 *     QKDN_A_SAE_ID, QKDN_A_PEER_SAE_ID: source and target SAE
 *     QKDN_A_NODE_ID, QKDN_A_PEER_NODE_ID: source and target KM (node)
 *     QKDN_A_AK_COUNT_ID: NLA_U32, see below
 *     QKDN_A_KEY_SIZE: bits of each key (0: the keys differ in size)
 *     QKDN_A_KEY_AMOUNT: keys supplied; with INSUFFICIENT, keys asked for;
 *         absent with STATUS_TABLE
 *     QKDN_A_KEYS, QKDN_A_LINK_ID: with SUCCESS and SUFFICIENT only, as in
 *         a KEY_GET reply (Key ID and Key data of each key)
 *     QKDN_A_AK_STATUS: NLA_NESTED, enum qkdn_ak_status_attr: with
 *         INSUFFICIENT and STATUS_TABLE only
 *   Count ID: each request of the session that supplies keys is a
 *   sub-session and gets the next number, 1, 2, 3...; a status request or
 *   an INSUFFICIENT answer gets none and carries the last one given (0
 *   before the first).
 *   Errors: EINVAL missing session ID or application code, or attributes
 *   the application code or a status request does not allow; ENOENT no
 *   such session in this node (never opened, or ended); EPERM the session
 *   belongs to another socket; EBUSY another request of the session is
 *   waiting for KSA synchronisation; then every error of KEY_GET (ENCRYPT)
 *   or KEY_GET_ID (DECRYPT), EACCES and ENOENT included (the SAE's
 *   registration changed), but EAGAIN: fewer keys than asked for is the
 *   answer INSUFFICIENT, with nothing taken. A refused request takes no key
 *   and no count ID.
 *
 * QKDN_CMD_AK_DEL [app] (Tables 7-6, 7-7): key deletion within a session.
 *     QKDN_A_AK_SESSION_ID: NLA_U64, required
 *     QKDN_A_AK_APP_CODE: NLA_U8, optional; with QKDN_A_KEYS, DECRYPT only
 *     QKDN_A_KEYS: optional: wipe these keys of the decrypting half, as
 *         KEY_DEL does, all or nothing; the session goes on. Without it,
 *         end the session: its ID is forgotten and its state wiped
 *     QKDN_A_SAE_ID, QKDN_A_PEER_SAE_ID: optional, as for AK_KEY
 *   Reply:
 *     QKDN_A_AK_RESPONSE: NLA_U8, QKDN_AK_RESULT_SUCCESS
 *     QKDN_A_AK_SESSION_ID, QKDN_A_AK_APP_CODE (if given), QKDN_A_SAE_ID,
 *     QKDN_A_PEER_SAE_ID, QKDN_A_NODE_ID, QKDN_A_PEER_NODE_ID
 *     QKDN_A_KEY_AMOUNT: keys wiped (0 when the session ended)
 *   Errors: as AK_KEY; with keys, those of KEY_DEL; EINVAL keys with
 *   ENCRYPT (keys supplied for encryption are the application's: the KM
 *   holds them no longer). Ending a session needs only its socket: it
 *   works after the SAE's registration is gone.
 */

#ifndef _UAPI_LINUX_QKDN_H
#define _UAPI_LINUX_QKDN_H

#define QKDN_GENL_NAME		"qkdn"
#define QKDN_GENL_VERSION	1
#define QKDN_MCGRP_ALARM	"alarm"
#define QKDN_MCGRP_KX		"kx"

#define QKDN_ID_MAXLEN		64
#define QKDN_KEY_ID_LEN		16
#define QKDN_NODE_ID_MAX	0xfffffffe
#define QKDN_KEY_UNIT_MIN	16
#define QKDN_KEY_UNIT_MAX	1024
#define QKDN_KEY_UNIT_DEFAULT	32
#define QKDN_POOL_CAPACITY_MAX	(1U << 26)
#define QKDN_POOL_CAPACITY_DEFAULT	(1U << 20)
#define QKDN_QKD_KEY_MAX	32768
#define QKDN_KEY_AMOUNT_MAX	1024
#define QKDN_KEY_BYTES_MAX	65536
#define QKDN_REPLY_MAX		(QKDN_KEY_BYTES_MAX + 64 * 1024)
#define QKDN_LINKS_MAX		1024
#define QKDN_APPS_MAX		4096
#define QKDN_ROUTES_MAX		4096
#define QKDN_RELAY_KEYS_MAX	64
#define QKDN_KX_FRAME_MAX	65000
/*
 * A relay carries at most QKDN_RELAY_BYTES_MAX key bytes. For B key bytes
 * its frame after the first hop is 68 + 16 * ceil((32 + B) / unit) +
 * count * 24 + B bytes and must fit QKDN_KX_FRAME_MAX on every hop: any
 * relay of at most QKDN_RELAY_BYTES_ANY_UNIT bytes does, whatever the
 * links' units; a larger one needs units of at least 32 (up to 40 KiB) or
 * 512 (up to 60 KiB).
 */
#define QKDN_RELAY_BYTES_MAX	61440
#define QKDN_RELAY_BYTES_ANY_UNIT	30720
#define QKDN_RELAY_TIMEOUT_MS_DEFAULT	5000
#define QKDN_RELAY_TIMEOUT_MS_MAX	60000
#define QKDN_MULTICAST_SAES_MAX	16
#define QKDN_AK_SESSIONS_MAX	1024

enum qkdn_cmd {
	QKDN_CMD_UNSPEC,
	QKDN_CMD_PING,
	QKDN_CMD_NODE_GET,
	QKDN_CMD_NODE_SET,
	QKDN_CMD_LINK_ADD,
	QKDN_CMD_LINK_SET,
	QKDN_CMD_LINK_DEL,
	QKDN_CMD_LINK_GET,
	QKDN_CMD_KEY_PUSH,
	QKDN_CMD_APP_ADD,
	QKDN_CMD_APP_DEL,
	QKDN_CMD_APP_GET,
	QKDN_CMD_KEY_GET,
	QKDN_CMD_KEY_GET_ID,
	QKDN_CMD_KEY_DEL,
	QKDN_CMD_ALARM,
	QKDN_CMD_ROUTE_ADD,
	QKDN_CMD_ROUTE_DEL,
	QKDN_CMD_ROUTE_GET,
	QKDN_CMD_RELAY,
	QKDN_CMD_KX_FRAME,
	QKDN_CMD_STORE_GET,
	QKDN_CMD_QKD_STATUS,
	QKDN_CMD_KEY_GET_MULTICAST,
	QKDN_CMD_AK_AUTH,
	QKDN_CMD_AK_KEY,
	QKDN_CMD_AK_DEL,
	__QKDN_CMD_LAST
};

#define QKDN_CMD_MAX (__QKDN_CMD_LAST - 1)

enum qkdn_attr {
	QKDN_A_UNSPEC,
	QKDN_A_NODE_ID,
	QKDN_A_NODE_NAME,
	QKDN_A_KEYRING_TTL,
	QKDN_A_LINK_COUNT,
	QKDN_A_APP_COUNT,
	QKDN_A_LINK_ID,
	QKDN_A_PEER_NODE_ID,
	QKDN_A_LINK_ROLE,
	QKDN_A_QKD_MODULE_ID,
	QKDN_A_MATCHING_QKD_MODULE_ID,
	QKDN_A_KEY_UNIT,
	QKDN_A_POOL_CAPACITY,
	QKDN_A_POOL_LOW,
	QKDN_A_POOL_HIGH,
	QKDN_A_LINK_STATS,
	QKDN_A_QKD_KEY_ID,
	QKDN_A_QKD_KEY_DATA,
	QKDN_A_QKD_KEY_TIMESTAMP,
	QKDN_A_QKD_KEY_HASH,
	QKDN_A_SAE_ID,
	QKDN_A_PEER_SAE_ID,
	QKDN_A_UID,
	QKDN_A_KEYS_SUPPLIED,
	QKDN_A_KEY_AMOUNT,
	QKDN_A_KEY_SIZE,
	QKDN_A_KEYS,
	QKDN_A_KEY,
	QKDN_A_ALARM,
	QKDN_A_PAD,
	QKDN_A_DEST_NODE_ID,
	QKDN_A_NEXT_HOP_NODE_ID,
	QKDN_A_RELAY_ID,
	QKDN_A_RELAY_TIMEOUT,
	QKDN_A_KX_FRAME,
	QKDN_A_RELAY_STATS,
	QKDN_A_STORE_STATS,
	QKDN_A_KSA_SYNC,
	QKDN_A_QKD_STATE,
	QKDN_A_QKD_KEY_RATE,
	QKDN_A_QKD_QBER,
	QKDN_A_QKD_UPDATED,
	QKDN_A_PEER_SAE_IDS,
	QKDN_A_AK_SESSION_ID,
	QKDN_A_AK_APP_CODE,
	QKDN_A_AK_COUNT_ID,
	QKDN_A_AK_RESPONSE,
	QKDN_A_AK_STATUS,
	QKDN_A_AK_GET_STATUS,
	QKDN_A_KSA_NOWAIT,
	__QKDN_A_LAST
};

#define QKDN_A_MAX (__QKDN_A_LAST - 1)

enum qkdn_key_attr {
	QKDN_KEY_A_UNSPEC,
	QKDN_KEY_A_ID,
	QKDN_KEY_A_DATA,
	QKDN_KEY_A_TIMESTAMP,
	QKDN_KEY_A_PAD,
	__QKDN_KEY_A_LAST
};

#define QKDN_KEY_A_MAX (__QKDN_KEY_A_LAST - 1)

/**
 * enum qkdn_stat_attr - counters of one link's pool, all NLA_U64
 * @QKDN_STAT_A_STORED: KMA-keys held now, both halves
 * @QKDN_STAT_A_ENC_AVAILABLE: keys of this node's encrypting half, the
 *	ones it can still hand out; the watermarks apply to this count
 * @QKDN_STAT_A_DEC_STORED: keys of the decrypting half, waiting to be
 *	fetched by ID
 * @QKDN_STAT_A_GENERATED: KMA-keys cut from QKD-keys since the link began
 * @QKDN_STAT_A_CONSUMED: keys that left the pool for use (supplied or
 *	fetched by ID)
 * @QKDN_STAT_A_DELETED: keys wiped on an application's request
 * @QKDN_STAT_A_DISCARDED: keys wiped on arrival because the pool was full
 * @QKDN_STAT_A_QKD_KEYS: QKD-keys received
 * @QKDN_STAT_A_QKD_BYTES: QKD-key bytes received
 * @QKDN_STAT_A_GEN_RATE: KMA-keys generated per second, last full second
 * @QKDN_STAT_A_CONS_RATE: keys consumed per second, last full second
 * @QKDN_STAT_A_NEXT_SEQ: sequence number the next KMA-key will carry
 * @QKDN_STAT_A_PAD: padding for 64-bit attributes
 * @QKDN_STAT_A_VERIFIED: of the encrypting half, keys KSA synchronisation
 *	verified with the peer's node: the stock GET_KEY takes from without
 *	a round trip
 * @QKDN_STAT_A_PEER_VERIFIED: of the decrypting half, keys the peer's
 *	node verified with this one (its stock, seen from here)
 */
enum qkdn_stat_attr {
	QKDN_STAT_A_UNSPEC,
	QKDN_STAT_A_STORED,
	QKDN_STAT_A_ENC_AVAILABLE,
	QKDN_STAT_A_DEC_STORED,
	QKDN_STAT_A_GENERATED,
	QKDN_STAT_A_CONSUMED,
	QKDN_STAT_A_DELETED,
	QKDN_STAT_A_DISCARDED,
	QKDN_STAT_A_QKD_KEYS,
	QKDN_STAT_A_QKD_BYTES,
	QKDN_STAT_A_GEN_RATE,
	QKDN_STAT_A_CONS_RATE,
	QKDN_STAT_A_NEXT_SEQ,
	QKDN_STAT_A_PAD,
	QKDN_STAT_A_VERIFIED,
	QKDN_STAT_A_PEER_VERIFIED,
	__QKDN_STAT_A_LAST
};

#define QKDN_STAT_A_MAX (__QKDN_STAT_A_LAST - 1)

/**
 * enum qkdn_link_role - which QKD module of the pair this node's is
 * @QKDN_ROLE_ALICE: the transmitter; encrypts with even KMA-keys
 * @QKDN_ROLE_BOB: the receiver; encrypts with odd KMA-keys
 */
enum qkdn_link_role {
	QKDN_ROLE_UNSPEC,
	QKDN_ROLE_ALICE,
	QKDN_ROLE_BOB,
	__QKDN_ROLE_LAST
};

#define QKDN_ROLE_MAX (__QKDN_ROLE_LAST - 1)

/**
 * enum qkdn_qkd_state - a QKD link as its driver reports it
 * @QKDN_QKD_UP: producing keys
 * @QKDN_QKD_DOWN: not producing keys: outage, fibre cut, device fault
 * @QKDN_QKD_EAVESDROPPED: QBER above the abort threshold; keys discarded
 */
enum qkdn_qkd_state {
	QKDN_QKD_UNKNOWN,
	QKDN_QKD_UP,
	QKDN_QKD_DOWN,
	QKDN_QKD_EAVESDROPPED,
	__QKDN_QKD_STATE_LAST
};

#define QKDN_QKD_STATE_MAX (__QKDN_QKD_STATE_LAST - 1)

/**
 * enum qkdn_alarm - events on the alarm multicast group
 * @QKDN_ALARM_POOL_LOW: the encrypting half fell below the low watermark
 * @QKDN_ALARM_POOL_LOW_CLEARED: it is back at or above the low watermark
 * @QKDN_ALARM_POOL_HIGH: the encrypting half reached the high watermark
 * @QKDN_ALARM_POOL_FULL: the pool is at capacity; new keys are discarded
 * @QKDN_ALARM_RELAY_FAILED: a relay this node started was abandoned
 *	(QKDN_A_RELAY_ID, QKDN_A_DEST_NODE_ID; no link attributes)
 * @QKDN_ALARM_KSA_MISMATCH: KSA synchronisation found keys that differ
 *	between the two ends; they were wiped (QKDN_A_DEST_NODE_ID: the other
 *	end; no link attributes)
 * @QKDN_ALARM_QKD_DOWN: the link's QKD driver reports it down
 * @QKDN_ALARM_QKD_EAVESDROP: the QBER is above the abort threshold: an
 *	eavesdropper, or a fault that looks like one
 * @QKDN_ALARM_QKD_UP: the QKD link produces keys again
 */
enum qkdn_alarm {
	QKDN_ALARM_UNSPEC,
	QKDN_ALARM_POOL_LOW,
	QKDN_ALARM_POOL_LOW_CLEARED,
	QKDN_ALARM_POOL_HIGH,
	QKDN_ALARM_POOL_FULL,
	QKDN_ALARM_RELAY_FAILED,
	QKDN_ALARM_KSA_MISMATCH,
	QKDN_ALARM_QKD_DOWN,
	QKDN_ALARM_QKD_EAVESDROP,
	QKDN_ALARM_QKD_UP,
	__QKDN_ALARM_LAST
};

#define QKDN_ALARM_MAX (__QKDN_ALARM_LAST - 1)

/**
 * enum qkdn_relay_stat_attr - relay counters of a node, all NLA_U64
 * @QKDN_RELAY_A_STARTED: relays this node started
 * @QKDN_RELAY_A_COMPLETED: of those, acknowledged by the destination
 * @QKDN_RELAY_A_FAILED: of those, abandoned (timeout, abort, killed)
 * @QKDN_RELAY_A_RECEIVED: relays that ended here, keys stored
 * @QKDN_RELAY_A_FORWARDED: frames this node passed on as a trusted node
 * @QKDN_RELAY_A_FRAMES_TX: frames sent to neighbours
 * @QKDN_RELAY_A_FRAMES_RX: frames from neighbours accepted
 * @QKDN_RELAY_A_BAD_FRAME: rejected: malformed or truncated
 * @QKDN_RELAY_A_BAD_MAC: rejected: the MAC did not verify
 * @QKDN_RELAY_A_REPLAYED: rejected: replayed or reordered
 * @QKDN_RELAY_A_UNKNOWN_LINK: rejected: no link to the sender
 * @QKDN_RELAY_A_UNKNOWN_KEY: rejected: names link keys not held here
 * @QKDN_RELAY_A_UNROUTABLE: authenticated but no route onwards
 * @QKDN_RELAY_A_LINK_KEYS_USED: link KMA-keys consumed by relay frames,
 *	sent and received
 * @QKDN_RELAY_A_PAD: padding for 64-bit attributes
 * @QKDN_RELAY_A_SYNC_OK: keys KSA synchronisation confirmed, both ends
 *	(every key of a batch that matched in full)
 * @QKDN_RELAY_A_SYNC_MISMATCH: keys of batches that failed (a key
 *	different or missing): all deleted, at both ends
 * @QKDN_RELAY_A_SYNC_TIMEOUT: batches this node started that got no
 *	answer in time (their keys are unchecked again)
 * @QKDN_RELAY_A_SYNC_BATCHES: batches (SYNC frames) this node started
 * @QKDN_RELAY_A_SYNC_WAITS: supply requests that found too few verified
 *	keys and waited for a batch; the others took no round trip
 */
enum qkdn_relay_stat_attr {
	QKDN_RELAY_A_UNSPEC,
	QKDN_RELAY_A_STARTED,
	QKDN_RELAY_A_COMPLETED,
	QKDN_RELAY_A_FAILED,
	QKDN_RELAY_A_RECEIVED,
	QKDN_RELAY_A_FORWARDED,
	QKDN_RELAY_A_FRAMES_TX,
	QKDN_RELAY_A_FRAMES_RX,
	QKDN_RELAY_A_BAD_FRAME,
	QKDN_RELAY_A_BAD_MAC,
	QKDN_RELAY_A_REPLAYED,
	QKDN_RELAY_A_UNKNOWN_LINK,
	QKDN_RELAY_A_UNKNOWN_KEY,
	QKDN_RELAY_A_UNROUTABLE,
	QKDN_RELAY_A_LINK_KEYS_USED,
	QKDN_RELAY_A_PAD,
	QKDN_RELAY_A_SYNC_OK,
	QKDN_RELAY_A_SYNC_MISMATCH,
	QKDN_RELAY_A_SYNC_TIMEOUT,
	QKDN_RELAY_A_SYNC_BATCHES,
	QKDN_RELAY_A_SYNC_WAITS,
	__QKDN_RELAY_A_LAST
};

#define QKDN_RELAY_A_MAX (__QKDN_RELAY_A_LAST - 1)

/**
 * enum qkdn_store_stat_attr - a store of relayed keys, all NLA_U64
 * @QKDN_STORE_A_OWN_AVAILABLE: keys this node relayed and can hand out
 * @QKDN_STORE_A_PEER_STORED: keys the remote node relayed here, waiting
 *	to be fetched by ID
 * @QKDN_STORE_A_RELAYED_OUT: keys relayed to the remote node, acknowledged
 * @QKDN_STORE_A_RELAYED_IN: keys relayed from the remote node
 * @QKDN_STORE_A_CONSUMED: keys that left the store for use
 * @QKDN_STORE_A_DELETED: keys wiped on request or on abort
 * @QKDN_STORE_A_PAD: padding for 64-bit attributes
 * @QKDN_STORE_A_OWN_VERIFIED: of OWN_AVAILABLE, keys KSA synchronisation
 *	verified with the remote node
 * @QKDN_STORE_A_PEER_VERIFIED: of PEER_STORED, keys the remote node
 *	verified with this one
 */
enum qkdn_store_stat_attr {
	QKDN_STORE_A_UNSPEC,
	QKDN_STORE_A_OWN_AVAILABLE,
	QKDN_STORE_A_PEER_STORED,
	QKDN_STORE_A_RELAYED_OUT,
	QKDN_STORE_A_RELAYED_IN,
	QKDN_STORE_A_CONSUMED,
	QKDN_STORE_A_DELETED,
	QKDN_STORE_A_PAD,
	QKDN_STORE_A_OWN_VERIFIED,
	QKDN_STORE_A_PEER_VERIFIED,
	__QKDN_STORE_A_LAST
};

#define QKDN_STORE_A_MAX (__QKDN_STORE_A_LAST - 1)

/**
 * enum qkdn_kx_type - what a relay frame does
 * @QKDN_KX_RELAY: carries keys from the source towards the destination
 * @QKDN_KX_ACK: the destination stored them; back to the source
 * @QKDN_KX_ABORT: the source gave up; on to the destination, which wipes
 *	the keys if it has them
 * @QKDN_KX_SYNC: key IDs and digests, for the peer to compare (Kx-2)
 * @QKDN_KX_SYNC_ACK: the peer's verdict on each
 */
enum qkdn_kx_type {
	QKDN_KX_UNSPEC,
	QKDN_KX_RELAY,
	QKDN_KX_ACK,
	QKDN_KX_ABORT,
	QKDN_KX_SYNC,
	QKDN_KX_SYNC_ACK,
	__QKDN_KX_LAST
};

#define QKDN_KX_MAX (__QKDN_KX_LAST - 1)

/**
 * enum qkdn_ksa_verdict - the peer's answer on one key (SYNC_ACK)
 * @QKDN_KSA_MATCH: same ID, same bytes
 * @QKDN_KSA_MISMATCH: same ID, different bytes: wiped at both ends
 * @QKDN_KSA_MISSING: the peer has no key of that ID
 */
enum qkdn_ksa_verdict {
	QKDN_KSA_UNSPEC,
	QKDN_KSA_MATCH,
	QKDN_KSA_MISMATCH,
	QKDN_KSA_MISSING,
	__QKDN_KSA_LAST
};

/**
 * enum qkdn_kx_method - key relay encryption method (Table 7-1 (3))
 * @QKDN_KX_OTP_POLY1305: one-time pad, and a Wegman-Carter MAC: Poly1305
 *	with a one-time key, both from the link's key pool
 */
enum qkdn_kx_method {
	QKDN_KX_METHOD_UNSPEC,
	QKDN_KX_OTP_POLY1305,
	__QKDN_KX_METHOD_LAST
};

/**
 * enum qkdn_ak_app_code - Application code: how keys are to be consumed
 *	(seed 000 Tables 7-4, 7-6)
 * @QKDN_AK_ENCRYPT: 0x01, for encryption: new keys, as GET_KEY
 * @QKDN_AK_DECRYPT: 0x02, for decryption: the peer's keys, by ID
 */
enum qkdn_ak_app_code {
	QKDN_AK_APP_UNSPEC,
	QKDN_AK_ENCRYPT,
	QKDN_AK_DECRYPT,
	__QKDN_AK_APP_LAST
};

#define QKDN_AK_APP_MAX (__QKDN_AK_APP_LAST - 1)

/**
 * enum qkdn_ak_result - Response code of authentication and key deletion
 *	(seed 000 Tables 7-3, 7-7)
 * @QKDN_AK_RESULT_SUCCESS: 0x01: the session is open, or the keys wiped or
 *	the session ended
 * @QKDN_AK_RESULT_FAILURE: 0x02: never in a reply: a failed request gets
 *	an errno (and an extended-ack message) instead
 */
enum qkdn_ak_result {
	QKDN_AK_RESULT_UNSPEC,
	QKDN_AK_RESULT_SUCCESS,
	QKDN_AK_RESULT_FAILURE,
	__QKDN_AK_RESULT_LAST
};

/**
 * enum qkdn_ak_supply_code - Response code of key supply (seed 000
 *	Table 7-5)
 * @QKDN_AK_SUPPLY_SUCCESS: 0x01: the keys asked for are in the reply, and
 *	as many again are available: the same request would succeed again.
 *	DECRYPT answers always this.
 * @QKDN_AK_SUPPLY_SUFFICIENT: 0x02: the keys asked for are in the reply,
 *	but they were just sufficient: fewer than that many remain, so the
 *	same request would now be answered INSUFFICIENT. A hint to slow down
 *	or to ask for fewer keys.
 * @QKDN_AK_SUPPLY_INSUFFICIENT: 0x03: fewer keys are available than asked
 *	for; none was taken and no count ID given. QKDN_A_AK_STATUS says how
 *	many there are. (KEY_GET answers EAGAIN in this case.)
 * @QKDN_AK_SUPPLY_STATUS_TABLE: 0x04: the request asked for status only
 *	(QKDN_A_AK_GET_STATUS); QKDN_A_AK_STATUS carries it
 */
enum qkdn_ak_supply_code {
	QKDN_AK_SUPPLY_UNSPEC,
	QKDN_AK_SUPPLY_SUCCESS,
	QKDN_AK_SUPPLY_SUFFICIENT,
	QKDN_AK_SUPPLY_INSUFFICIENT,
	QKDN_AK_SUPPLY_STATUS_TABLE,
	__QKDN_AK_SUPPLY_LAST
};

/**
 * enum qkdn_ak_status_attr - status of key supply to a session, the items
 *	of ETSI GS QKD 014 Table 9 (its source_KME_ID, target_KME_ID,
 *	master_SAE_ID and slave_SAE_ID are the reply's QKDN_A_NODE_ID,
 *	QKDN_A_PEER_NODE_ID, QKDN_A_SAE_ID and QKDN_A_PEER_SAE_ID)
 * @QKDN_AK_STATUS_A_STORED_KEY_COUNT: NLA_U64, keys one request of the
 *	application code could take now. ENCRYPT: those of the encrypting
 *	half of the link GET_KEY would use (less the key KSA synchronisation
 *	spends on its MAC), or the relayed keys for the peer's node if no link
 *	leads there. DECRYPT: every key waiting to be taken by ID, in links to
 *	the peer's node and relayed from it
 * @QKDN_AK_STATUS_A_MAX_KEY_COUNT: NLA_U64, capacity of the pools counted
 *	(both halves); 0 for relayed keys, which have no fixed bound
 * @QKDN_AK_STATUS_A_MAX_KEY_PER_REQUEST: NLA_U32, keys one request may ask
 *	for: QKDN_KEY_AMOUNT_MAX, or fewer where QKDN_KEY_BYTES_MAX bounds it
 * @QKDN_AK_STATUS_A_KEY_SIZE: NLA_U32, bits of the keys supplied
 * @QKDN_AK_STATUS_A_MAX_KEY_SIZE: NLA_U32, bits: the largest size a
 *	request may ask for (a link supplies its unit only: the key size)
 * @QKDN_AK_STATUS_A_MIN_KEY_SIZE: NLA_U32, bits: the smallest (the same)
 * @QKDN_AK_STATUS_A_PAD: padding for 64-bit attributes
 *
 * Sizes and the per-request bound are 0 while no key source is known.
 */
enum qkdn_ak_status_attr {
	QKDN_AK_STATUS_A_UNSPEC,
	QKDN_AK_STATUS_A_STORED_KEY_COUNT,
	QKDN_AK_STATUS_A_MAX_KEY_COUNT,
	QKDN_AK_STATUS_A_MAX_KEY_PER_REQUEST,
	QKDN_AK_STATUS_A_KEY_SIZE,
	QKDN_AK_STATUS_A_MAX_KEY_SIZE,
	QKDN_AK_STATUS_A_MIN_KEY_SIZE,
	QKDN_AK_STATUS_A_PAD,
	__QKDN_AK_STATUS_A_LAST
};

#define QKDN_AK_STATUS_A_MAX (__QKDN_AK_STATUS_A_LAST - 1)

#endif /* _UAPI_LINUX_QKDN_H */
