/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The TLV wire codec of qkdn daemons (Kx between key managers, Ck between
 * key managers and the controller; Mk, ... later), carried over TLS 1.3
 * with mutual authentication.
 *
 * Framing
 * =======
 *
 * A message is a u32 big-endian length of its body, then the body: at most
 * QKDN_WIRE_BODY_MAX bytes of attributes laid out as netlink attributes
 * (struct nlattr: u16 nla_len, u16 nla_type, payload padded to 4 bytes,
 * exactly what libmnl builds and parses). The attribute header and integer
 * payloads are little endian: that is netlink's host order on every
 * platform qkdn supports, and wire.c refuses to build on a big-endian host
 * rather than speak a different protocol. Strings are NUL-terminated and
 * not empty. The
 * only flag bit used is NLA_F_NESTED, set on nests and nowhere else.
 *
 * Parsing is strict: every attribute must be one the command's policy
 * allows, of the right type and length, present at most once; required
 * attributes must be there; the length prefix must match the body exactly.
 * Anything else fails the whole message, with a message naming the cause.
 *
 * Common items (seed 000 Tables 7-2, 7-3), in every message:
 *     QKDN_W_MSG_ID: u64, chosen by the sender, unique per sender process
 *     QKDN_W_CMD: u16, enum qkdn_wire_cmd
 *     QKDN_W_SENDER_ID: u32, the sender's node ID (1..QKDN_NODE_ID_MAX;
 *         the controller's on Ck, see there)
 *   and in responses, which carry the command code of what they answer:
 *     QKDN_W_ORIG_MSG_ID: u64, the QKDN_W_MSG_ID answered
 *     QKDN_W_RESPONSE_CODE: u16, enum qkdn_wire_response
 *     QKDN_W_REASON: string, at most QKDN_W_REASON_MAX bytes with the NUL,
 *         optional, why a response is not a success
 *   A message with QKDN_W_ORIG_MSG_ID is a response; it must then carry
 *   QKDN_W_RESPONSE_CODE too, and a command must carry neither.
 *
 * Key manager to key manager (Kx, seed 000 clause 7.2.2)
 * ------------------------------------------------------
 *
 * QKDN_W_CMD_HELLO (Table 7-8), sent by both ends once TLS is up:
 *     QKDN_W_SENDER_IP: string, the sender's address on this connection
 *     QKDN_W_SENDER_HOSTNAME: string, the sender KM's name (Table 7-8
 *         "Sender ID: hostname of sender KM"; the common QKDN_W_SENDER_ID
 *         is the node ID)
 *     QKDN_W_COMMUNITY_ID: string, the community name; both ends must
 *         have the same
 *     QKDN_W_AUTH_INFO: string, "qkdn-node-<ID>", the subject CN of the
 *         sender's certificate; the receiver checks it against the
 *         certificate TLS verified, and QKDN_W_SENDER_ID against the ID
 *         the CN names
 *   All four required. Response: the common items only (QKDN_W_REASON on
 *   failure); a failed HELLO closes the connection.
 *
 * QKDN_W_CMD_SESSION (Table 7-9), proposed by the end with the lower node
 * ID once both HELLOs succeeded:
 *     QKDN_W_SESSION_ID: u64, random, not 0, required
 *     QKDN_W_TIMER: u32, lifetime of the KMA-key IDs of the session in
 *         seconds, 1..QKDN_W_TIMER_MAX, required
 *     QKDN_W_KEY_ID_HASH: binary, exactly 32 bytes, SHA-256 of a KMA-key
 *         ID, optional (qkdn-kmd sends none: relay frames name their
 *         link keys themselves)
 *   Response: QKDN_W_SESSION_ID and QKDN_W_TIMER, echoing the accepted
 *   proposal, on success.
 *
 * QKDN_W_CMD_UPDATE (Table 7-10): a route advertisement, "destination
 * QKDN_W_DEST_NODE_ID is reachable through the sender".
 *     QKDN_W_SENDER_IP: string, required
 *     QKDN_W_RECEIVER_IP: string, the receiver's address on this
 *         connection, required
 *     QKDN_W_DEST_NODE_ID: u32, the destination advertised, required
 *     QKDN_W_QOS: u32, hop count from the sender to the destination,
 *         required; QKDN_W_QOS_UNREACHABLE withdraws it instead: the
 *         sender lost its route toward it (a fault further along a
 *         controller session's path), and a receiver whose route to it
 *         goes through the sender switches to protection or withdraws it
 *         in turn (qkdn-kmd routes.c, Documentation/kmd.rst)
 *     QKDN_W_KEY_ID: binary, exactly QKDN_KEY_ID_LEN bytes, a KMA-key ID,
 *         optional (not sent yet)
 *   No response.
 *
 * QKDN_W_CMD_KX: one relay frame for the receiver's kernel module.
 *     QKDN_W_KX_FRAME: binary, 1..QKDN_KX_FRAME_MAX bytes, required:
 *         opaque, already encrypted and authenticated by the sender's
 *         module (see "Key relay (Kx)" in <linux/qkdn.h>)
 *   No response: the modules acknowledge relays end to end.
 *
 * QKDN_W_CMD_KEEPALIVE: the common items only, sent after a quiet
 *   interval so the receiver knows the connection is alive. No response.
 *
 * Key manager to controller (Ck, seed 000 clause 8.1)
 * ---------------------------------------------------
 *
 * The KM (qkdn-kmd) dials the controller (qkdn-ctld) over TLS 1.3 with
 * mutual authentication; policy qkdn_wire_ck_policy. The controller is not
 * a node: it sends with QKDN_W_SENDER_ID = QKDN_W_CONTROLLER_ID
 * (0xffffffff, one above QKDN_NODE_ID_MAX, so never a node's ID), which
 * only the Ck policy accepts. KMs send with their node ID, which must be
 * the one their certificate names. Integers marked with a range are
 * refused outside it; node IDs are 1..QKDN_NODE_ID_MAX.
 *
 * Tables hold repeated nests: QKDN_W_STATUS_TABLE and QKDN_W_ROUTE_TABLE
 * are nests whose members, unlike anywhere else, may repeat (one per link,
 * store or route), each checked against its own nest policy
 * (qkdn_wire_ck_link_status_nest, _store_status_nest, _route_nest); an
 * empty table is valid. Read them with mnl_attr_for_each_nested() and
 * qkdn_wire_parse_nested().
 *
 * QKDN_W_CMD_CK_AUTH (Tables 7-2/7-3), KM -> controller, the first message:
 *     QKDN_W_AUTH_INFO: string, "qkdn-node-<ID>", must equal the TLS peer
 *         CN and name QKDN_W_SENDER_ID, required
 *     QKDN_W_SENDER_HOSTNAME: string, the KM's name, required
 *   Response: common items (QKDN_W_REASON on failure). Any other command
 *   before a successful CK_AUTH is answered with failure "not
 *   authenticated"; the controller closes after repeated violations.
 *
 * QKDN_W_CMD_CK_STATUS (Table 8-1), controller -> KM:
 *     QKDN_W_PERIOD: u32, ms between responses, 0 = answer once,
 *         0..QKDN_W_PERIOD_MAX, required
 *     QKDN_W_STATUS_PARAMS: u32, QKDN_W_STATUS_* bits asked for, no other
 *         bit, required
 *   Response (Table 8-2), sent at once and then every PERIOD ms with the
 *   same QKDN_W_ORIG_MSG_ID until a new CK_STATUS replaces it; on success:
 *     QKDN_W_KM_STATE: u8, enum qkdn_wire_config_state
 *     QKDN_W_STATUS_TABLE: table of
 *       QKDN_W_LINK_STATUS: nest, one per KM link (neighbour):
 *         QKDN_W_PEER_NODE_ID: u32, the neighbour, required
 *         QKDN_W_LINK_STATE: u8, enum qkdn_wire_config_state, required
 *         QKDN_W_PEER_UP: u8, 0..1, the Kx connection is up, required
 *         QKDN_W_KEY_AMOUNT: u64, bytes available in the encrypting half
 *         QKDN_W_CONSUMPTION_RATE: u64, bytes/s
 *         QKDN_W_GENERATION_RATE: u64, bytes/s
 *         QKDN_W_QKD_STATE: u8, enum qkdn_qkd_state
 *         QKDN_W_QBER: u32, parts per million, 0..1000000
 *       QKDN_W_STORE_STATUS: nest, one per relayed-key store:
 *         QKDN_W_DEST_NODE_ID: u32, the remote node, required
 *         QKDN_W_KEY_AMOUNT: u64, bytes available, required
 *   The optional members are there when STATUS_PARAMS asked for them.
 *
 * QKDN_W_CMD_CK_NOTIFY, KM -> controller, proactive status supply:
 *     QKDN_W_EVENT: u16, enum qkdn_wire_event, required
 *     QKDN_W_PEER_NODE_ID: u32, the link's neighbour, for link and QKD
 *         events
 *     QKDN_W_DEST_NODE_ID: u32, the destination, for relay, protection
 *         and route events
 *     QKDN_W_KM_STATE: u8, optional
 *     QKDN_W_STATUS_TABLE: as in CK_STATUS responses, every field, required
 *     QKDN_W_ROUTE_TABLE: the KM's current routes (below), with
 *         QKDN_W_EVENT_SYNC, sent right after CK_AUTH so that a restarted
 *         controller rebuilds its sessions
 *   Response: common items.
 *
 * QKDN_W_CMD_CK_ROUTE (Table 8-3), KM -> controller:
 *     QKDN_W_SOURCE_NODE_ID: u32, required
 *     QKDN_W_DEST_NODE_ID: u32, required, not the source
 *     QKDN_W_KEY_AMOUNT: u64, bytes of key wanted, required
 *     QKDN_W_PRIORITY: u8, 0 (highest)..QKDN_W_PRIORITY_MAX, optional
 *     QKDN_W_TOLERANCE_MS: u32, how long the application tolerates an
 *         interruption (recovery deadline, seed 004 Req_C-R 2), optional
 *   Response (Table 8-4), sent once every other KM of the working and
 *   protection paths acknowledged its CK_ROUTE_PUSH; on success:
 *     QKDN_W_SESSION_ID: u64
 *     QKDN_W_ROUTE_TABLE: the requester's entries
 *   Failure reasons: "no route", "unknown node", ...
 *
 * QKDN_W_CMD_CK_ROUTE_PUSH, controller -> KM, proactive route supply:
 *     QKDN_W_ROUTE_TABLE: required
 *   Response: common items.
 *
 * QKDN_W_ROUTE_TABLE: table of
 *   QKDN_W_ROUTE: nest, one hop-by-hop entry "toward DEST_NODE_ID, send to
 *   NEXT_HOP_NODE_ID" (the module's QKDN_CMD_ROUTE_ADD/DEL):
 *     QKDN_W_SESSION_ID: u64, the session the entry serves, required
 *     QKDN_W_SOURCE_NODE_ID: u32, the session's source, required
 *     QKDN_W_DEST_NODE_ID: u32, where this entry forwards to, required
 *     QKDN_W_NEXT_HOP_NODE_ID: u32, required
 *     QKDN_W_PROTECTION_NEXT_HOP: u32, where to send instead when the
 *         working next hop fails, optional
 *     QKDN_W_ROUTE_OP: u8, enum qkdn_wire_route_op, required
 *     QKDN_W_PATH, QKDN_W_PROTECTION_PATH: binary, arrays of u32 node IDs
 *         (2..QKDN_W_PATH_MAX of them), source first, optional,
 *         informational
 *     QKDN_W_ROUTE_REASON: u8, enum qkdn_wire_route_reason, optional, on a
 *         DELETE only: why the controller withdrew the entry
 *     QKDN_W_MULTIPATH_HOPS: binary, an array of 2..QKDN_W_MULTIPATH_MAX
 *         u32 node IDs, optional, on an INSTALL at the session's source
 *         toward its destination only: the session's key is to be relayed
 *         over several paths (seed 004 Req_C-R 1), one relay at a time, the
 *         relay's first hop naming the path (QKDN_CMD_RELAY with
 *         QKDN_A_NEXT_HOP_NODE_ID). The first is NEXT_HOP_NODE_ID, every one
 *         a neighbour, none twice
 *     QKDN_W_MULTIPATH_KEYS: binary, u32 array as long as MULTIPATH_HOPS,
 *         required with it: each path's share of the session's amount, in
 *         keys; relays are spread in proportion
 *
 * QKDN_W_CMD_CK_CRL, controller -> KM:
 *     QKDN_W_CRL: binary, the CA's CRL in DER, 1..QKDN_W_CRL_MAX bytes,
 *         required
 *   Response: common items.
 *
 * QKDN_W_CMD_KEEPALIVE: as on Kx, both ways.
 *
 * Security gateways (qkdn-secd, Documentation/ipsec-macsec.rst)
 * -------------------------------------------------------------
 *
 * Two qkdn-secd daemons, each an application (SAE) of its own node, set up
 * IPsec or MACsec security associations keyed from QKD keys. Only key IDs
 * travel: each end takes the bytes from its own node (the initiator with
 * KEY_GET, the responder with KEY_GET_ID). TLS certificates name SAEs
 * (subject CN = SAE ID); QKDN_W_SENDER_ID is the sender's node ID. The
 * initiator (the end that dials) sends every command; the responder only
 * answers. A rekey is one generation, numbered by the initiator:
 *
 * QKDN_W_CMD_SA_PROPOSE, initiator -> responder: new keys for generation
 * QKDN_W_SA_GENERATION; the responder fetches them and installs its
 * inbound SA (it does not send with it yet).
 *     QKDN_W_SA_KIND: u8, enum qkdn_wire_sa_kind, must be the responder's,
 *         required
 *     QKDN_W_SA_GENERATION: u32, 1.., required
 *     QKDN_W_SA_KEY_IDS_FWD: binary, 1..QKDN_W_SA_KEYS_MAX KMA-key IDs of
 *         QKDN_KEY_ID_LEN bytes each, concatenated: the key of the
 *         initiator -> responder direction, required
 *     QKDN_W_SA_KEY_IDS_REV: the same for responder -> initiator, required
 *         for IPsec and MACsec, absent for PPK (one key, both ends); never
 *         an ID of _FWD (one key for two directions would reuse GCM nonces)
 *     QKDN_W_SA_LIFETIME: u32, seconds the SAs may live (hard limit),
 *         1..QKDN_W_TIMER_MAX, required
 *     QKDN_W_SA_AN: u8, MACsec association number, 0..3, required for
 *         MACsec
 *     QKDN_W_SA_SCI: u64, MACsec: the initiator's SCI, required for MACsec
 *   Response, on success: QKDN_W_SA_GENERATION, and QKDN_W_SA_SPI (u32,
 *   IPsec: the SPI of the responder's new inbound SA, 256..) or
 *   QKDN_W_SA_SCI (MACsec: the responder's SCI); PPK: nothing more (the
 *   responder loaded the key into its charon as the PPK whose PPK_ID is
 *   the key ID's UUID text).
 *
 * QKDN_W_CMD_SA_INSTALLED, initiator -> responder: the initiator has
 * installed its inbound SA of that generation and sends with its new
 * outbound SA; the responder switches its outbound SA too.
 *     QKDN_W_SA_KIND, QKDN_W_SA_GENERATION: required
 *     QKDN_W_SA_SPI: u32, IPsec: the initiator's new inbound SPI, required
 *         for IPsec
 *   Response: QKDN_W_SA_GENERATION on success.
 *
 * QKDN_W_CMD_SA_DELETE, initiator -> responder, a grace period after
 * SA_INSTALLED: the SAs of an older generation go, at both ends.
 *     QKDN_W_SA_KIND, QKDN_W_SA_GENERATION: required
 *   Response: common items.
 *
 * A refused command is answered with QKDN_W_RESP_FAILURE and a reason;
 * the responder's SAs are then as before the command.
 *
 * Management: agents and the manager (Mk, Mq, Mc; seed 001 Appendix I)
 * --------------------------------------------------------------------
 *
 * The agents (qkdn-kmd: Mk, qkdn-qkdd: Mq, qkdn-ctld: Mc) dial the
 * manager (qkdn-mgrd) over TLS 1.3 with mutual authentication and report
 * to it; policy qkdn_wire_mgmt_policy, both ways. Certificates name the
 * agents: "qkdn-node-<ID>" for a KM, "qkdn-qkd-<ID>" for the QKD driver of
 * node ID, "qkdn-ctl" for the controller; the manager is "qkdn-mgr". KMs and
 * QKD drivers send with their node ID, the controller with
 * QKDN_W_CONTROLLER_ID; the manager with its own ID (mgrd.conf, by
 * default QKDN_NODE_ID_MAX), which agents do not check: the certificate
 * says who the manager is. lib/mgmt.h is the agent side.
 *
 * Appendix I items and the attributes that carry them:
 *     Table I.1 user identifier              the TLS peer's CN (and AUTH_INFO)
 *     Table I.1 request session identifier   QKDN_W_M_SESSION
 *     Table I.1 requestor identifier         QKDN_W_M_REQUESTOR
 *     Table I.1 request priority             QKDN_W_PRIORITY
 *     Table I.1 request result               QKDN_W_RESPONSE_CODE, _REASON
 *     Table I.1 EventNotify                  the notification commands below
 *     Tables I.3, I.4 resource ID            QKDN_W_M_RESOURCE_ID
 *     Tables I.3, I.4 resource description   QKDN_W_M_RESOURCE_DESC
 *     performance type / target / value      QKDN_W_M_PERF_TYPE, _TARGET, _VALUE
 *     performance description                QKDN_W_M_PERF_DESC
 *     alarm type / ID / source / value       QKDN_W_M_ALARM_TYPE, _ID, _SOURCE,
 *                                            _VALUE
 *     alarm description                      QKDN_W_M_ALARM_DESC
 *     Table I.2 (Mc) control orchestration   QKDN_W_M_ACTION_TYPE, QKDN_W_PRIORITY,
 *         action type / priority / value     QKDN_W_M_ACTION_VALUE
 *     I.3.1 (Mc) requesting management       QKDN_W_CMD_M_SUPPORT (10.7)
 *         decision, status of operations
 *
 * Reliable delivery (I.1.2). Every notification carries QKDN_W_M_SEQ, the
 * agent's sequence number: 1, 2, 3, ... within one run of the agent (its
 * QKDN_W_M_EPOCH, random at start). The manager answers a notification only
 * once it is durably stored, echoing QKDN_W_M_SEQ. It takes sequence
 * numbers in order: one already stored is answered with success again
 * and not stored twice (the manager de-duplicates by CN, epoch and
 * sequence); one beyond the next expected is refused as busy, so what the
 * manager holds of an agent is always 1..N without holes. The M_AUTH
 * response gives N (QKDN_W_M_ACK_SEQ): after a reconnect the agent drops
 * what is at or below it and resends the rest, in order.
 *
 * Overload control (I.1.1). A manager that cannot take more answers
 * QKDN_W_RESP_FAILURE with reason "busy" and QKDN_W_M_RETRY_MS: the agent
 * sends nothing more on that connection for that long, then resends from
 * the refused notification on. Agents keep a bounded queue of
 * unacknowledged notifications and drop the oldest (counted) when full.
 *
 * QKDN_W_CMD_M_AUTH, agent -> manager, the first message:
 *     QKDN_W_AUTH_INFO: string, the agent's CN, must equal the TLS peer CN,
 *         required
 *     QKDN_W_SENDER_HOSTNAME: string, the host or node name, required
 *     QKDN_W_M_AGENT_KIND: u8, enum qkdn_wire_agent_kind, required; must
 *         match the CN
 *     QKDN_W_M_EPOCH: u64, not 0, this run of the agent, required
 *     QKDN_W_M_REQUESTOR: string, the layer function speaking ("KM",
 *         "QKD module", "controller"), optional
 *   Response: QKDN_W_M_SESSION (u64, the management session) and
 *   QKDN_W_M_ACK_SEQ (u64, notifications of this epoch already stored) on
 *   success; QKDN_W_REASON on failure. Anything else before a successful
 *   M_AUTH is refused with "not authenticated".
 *
 * Notifications (EventNotify), agent -> manager; all carry
 *     QKDN_W_M_SEQ: u64, 1.., required
 *     QKDN_W_M_TIME_MS: u64, when it happened, ms since the epoch, required
 *     QKDN_W_M_RESOURCE_ID: string, the managed resource, required:
 *         "node-<ID>", "km-link-<ID>-<PEER>", "qkd-link-<ID>-<LINK>",
 *         "qkd-module-<MODULE>", "sae-<SAE>", "route-<SRC>-<DST>",
 *         "store-<ID>-<REMOTE>" (a KM's relayed keys shared with REMOTE),
 *         "ctl"; the controller's view of the topology: "ctl-node-<ID>",
 *         "ctl-link-<A>-<B>" (A < B)
 *     QKDN_W_M_RESOURCE_DESC: string, optional
 *     QKDN_W_PRIORITY: u8, 0 (highest)..QKDN_W_PRIORITY_MAX, optional
 *     QKDN_W_M_ORIGIN_AGENT: string, Mx only (below), required there
 *     QKDN_W_M_ORIGIN_EVENT: u64, Mx only, the origin manager's event ID
 *   and their response: QKDN_W_M_SEQ echoed; on failure QKDN_W_REASON, and
 *   QKDN_W_M_RETRY_MS (u32, 1..QKDN_W_M_RETRY_MAX) when busy.
 *
 * Mx (seed 001 I.8): two managers of one network. A manager forwards the
 * notifications its own agents sent (alarms, inventory, performance,
 * security and resilience records) to its peer manager as an agent of
 * kind QKDN_W_AGENT_MGR: certificate CN "qkdn-mgr-<NAME>" (NAME: the
 * sending manager's name), the same M_AUTH, sequence numbers and
 * acknowledgement after durable storage. Each forwarded notification is
 * the original command with its attributes, plus QKDN_W_M_ORIGIN_AGENT
 * (the CN of the agent that reported it to the sending manager) and
 * QKDN_W_M_ORIGIN_EVENT. Its epoch is the sending manager's, kept in its
 * database across restarts, and its sequence numbers those of its
 * durable outbox, so nothing is lost whichever manager restarts. A
 * manager never forwards what it learned over Mx. The receiving manager
 * may send M_DIAG back on the connection: the sending manager answers
 * with the resource's state in its inventory (I.8.1 requests across the
 * boundary).
 *
 * QKDN_W_CMD_M_ALARM (fault management, 10.1):
 *     QKDN_W_M_ALARM_TYPE: u16, enum qkdn_wire_alarm_type, required
 *     QKDN_W_M_ALARM_ID: u64, the agent's ID of this alarm; the alarm that
 *         clears it carries the same ID, required
 *     QKDN_W_M_ALARM_SOURCE: string, what raised it (a function or
 *         device), required
 *     QKDN_W_M_SEVERITY: u8, enum qkdn_wire_severity, 0 = cleared, required
 *     QKDN_W_M_ALARM_VALUE: u64, what was measured (QBER ppm, bytes, ...)
 *     QKDN_W_M_ALARM_DESC: string
 *     QKDN_W_PEER_NODE_ID: u32, the other end of the link concerned
 *     QKDN_W_DEST_NODE_ID: u32, the destination of a relay concerned
 *
 * QKDN_W_CMD_M_PERF (performance management, 10.4):
 *     QKDN_W_M_PERF_TYPE: u16, enum qkdn_wire_perf_type, required
 *     QKDN_W_M_PERF_TARGET: string, the target managed object, required
 *     QKDN_W_M_PERF_VALUE: u64, in the type's unit, required
 *     QKDN_W_M_PERF_DESC: string
 *     QKDN_W_PEER_NODE_ID: u32, for link figures
 *
 * QKDN_W_CMD_M_CONFIG (configuration management, 10.3: discovery and
 * inventory; sent at start, after M_AUTH, and on every change):
 *     QKDN_W_M_RESOURCE_KIND: u8, enum qkdn_wire_resource_kind, required
 *     QKDN_W_M_RESOURCE_STATE: u8, enum qkdn_wire_config_state, required
 *     QKDN_W_PEER_NODE_ID: u32, the other end of a link
 *     QKDN_W_M_LINK_ID: u32, the KMA link's ID in the node's module
 *     QKDN_W_M_QKD_MODULE, QKDN_W_M_PEER_QKD_MODULE: string, a QKD link's
 *         module IDs (this end's, the other end's)
 *     QKDN_W_KEY_AMOUNT: u64, bytes of key available (a link's pool)
 *
 * QKDN_W_CMD_M_ACCOUNT (accounting, 10.2: keys supplied, metered):
 *     QKDN_W_M_APP_ID: string, the application (SAE ID), required
 *     QKDN_W_M_KEY_COUNT: u64, keys supplied since the previous record,
 *         required
 *     QKDN_W_M_KEY_BITS: u64, their bits, required
 *     QKDN_W_PEER_NODE_ID: u32, the link they came from, for link metering
 *     QKDN_W_DEST_NODE_ID: u32, the node of the application's peer
 *
 * QKDN_W_CMD_M_SECURITY (security management, 10.5: event log, audit):
 *     QKDN_W_M_SEC_EVENT: u16, enum qkdn_wire_sec_event, required
 *     QKDN_W_M_ALARM_VALUE: u64, a measured value (QBER ppm, ...)
 *     QKDN_W_M_ALARM_DESC: string, what happened
 *     QKDN_W_PEER_NODE_ID: u32
 *
 * QKDN_W_CMD_M_KEY_EVENT (key life-cycle traceability, 9.1 Req_M 9):
 *     QKDN_W_KEY_ID: binary, QKDN_KEY_ID_LEN bytes, required
 *     QKDN_W_M_KEY_EVENT: u8, enum qkdn_wire_key_event, required
 *     QKDN_W_SOURCE_NODE_ID, QKDN_W_DEST_NODE_ID: u32, a relayed key's ends
 *     QKDN_W_NEXT_HOP_NODE_ID: u32, where a relay hop sent it
 *     QKDN_W_PEER_NODE_ID: u32, where it came from
 *     QKDN_W_M_APP_ID: string, whom it was supplied to
 *     QKDN_W_M_KEY_BITS: u64
 *   Key bytes never travel: only IDs.
 *
 * QKDN_W_CMD_M_RESILIENCE (seed 004 7.4, Req_M-P 1, 2):
 *     QKDN_W_M_RESIL_KIND: u8, enum qkdn_wire_resil_kind, required
 *     QKDN_W_M_RESIL_OP: u8, enum qkdn_wire_resil_op, required
 *     QKDN_W_M_WORKING: string, the working module, link or route, required
 *     QKDN_W_M_PROTECTION: string, its protection (or the new route)
 *     QKDN_W_DEST_NODE_ID: u32, QKDN_W_SESSION_ID: u64, for routes
 *
 * QKDN_W_CMD_M_DIAG, manager -> agent (10.1.1 step 3, 10.1.2 step 3):
 *     QKDN_W_M_RESOURCE_ID: string, required
 *   Response: QKDN_W_M_RESOURCE_STATE (u8), QKDN_W_M_DIAG_INFO (string) on
 *   success; QKDN_W_REASON on failure ("unknown resource").
 *
 * QKDN_W_CMD_M_CONTROL, manager -> controller (Mc, Table I.2; the control
 * decision of 10.1 step 8, the remedy of 10.4 step 5 and 10.5 step 5):
 *     QKDN_W_M_ACTION_TYPE: u8, enum qkdn_wire_action_type, required
 *     QKDN_W_PRIORITY: u8, required
 *     QKDN_W_M_ACTION_VALUE: string, what to do in the type's terms
 *         ("avoid km-link-1-2"), required
 *     QKDN_W_M_RESOURCE_ID: string, the resource acted on, required
 *     QKDN_W_M_ACTION_ID: u64, the manager's ID of the decision, required
 *   Response: common items; QKDN_W_REASON says what the controller did
 *   (success: "link 1-2 out of service, 1 session rerouted") or why not.
 *
 * QKDN_W_CMD_M_SUPPORT, controller -> manager (Mc; seed 001 10.7 steps 1
 * and 4: key relay routing and rerouting support information). A request,
 * not a notification: no QKDN_W_M_SEQ, nothing stored.
 *     QKDN_W_M_RESOURCE_ID: string, what the rerouting concerns, optional:
 *         "km-link-<A>-<B>" (that link), "route-<SRC>-<DST>" or none (every
 *         KM link of the network's topology)
 *   Response: QKDN_W_REASON on failure; on success QKDN_W_M_SUPPORT_TABLE,
 *   one QKDN_W_M_SUPPORT_LINK nest per KM link of the manager's topology
 *   across layers (XLMO, 10.3 step 7) that matches:
 *     QKDN_W_M_RESOURCE_ID: string, "km-link-<A>-<B>", A < B, required
 *     QKDN_W_SOURCE_NODE_ID, QKDN_W_PEER_NODE_ID: u32, A and B, required
 *     QKDN_W_M_RESOURCE_STATE: u8, the manager's advice, required:
 *         OUT_OF_SERVICE while an alarm of the link that takes it out
 *         (QKD link down, QKD module fault, KM link down, QBER high) is
 *         active at either end, STANDBY while only its key pool is low,
 *         IN_SERVICE otherwise
 *     QKDN_W_M_ALARM_TYPE: u16, the type of that alarm (the root cause)
 *     QKDN_W_M_ALARM_DESC: string, its diagnosed cause
 *     QKDN_W_M_SEVERITY: u8, its severity
 *     QKDN_W_GENERATION_RATE: u64, the QKD key rate, bit/s (Mq)
 *     QKDN_W_QBER: u32, ppm (Mq)
 *     QKDN_W_KEY_AMOUNT: u64, key bytes of the link's pool (Mk)
 *
 * QKDN_W_CMD_KEEPALIVE: both ways.
 *
 * Usage
 * =====
 *
 *   struct qkdn_wire_msg *m = qkdn_wire_msg_new(QKDN_W_CMD_KX, my_id);
 *   qkdn_wire_put_bin(m, QKDN_W_KX_FRAME, frame, frame_len);
 *   const void *bytes; size_t len;
 *   if (qkdn_wire_msg_finish(m, &bytes, &len) == 0)
 *           ... send bytes ...
 *   qkdn_wire_msg_free(m);
 *
 *   const struct nlattr *tb[QKDN_W_MAX + 1];
 *   struct qkdn_wire_hdr hdr;
 *   if (qkdn_wire_parse(buf, len, &qkdn_wire_kx_policy, tb, &hdr) < 0)
 *           ... hdr.error says why ...
 */
#ifndef QKDN_WIRE_H
#define QKDN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#define QKDN_WIRE_LEN_SIZE	4		/* the length prefix */
#define QKDN_WIRE_BODY_MAX	(1U << 20)	/* 1 MiB of attributes */
#define QKDN_W_STR_MAX		64		/* strings, with the NUL */
#define QKDN_W_REASON_MAX	256
#define QKDN_W_KEY_ID_HASH_LEN	32
#define QKDN_W_TIMER_MAX	(7U * 24 * 3600)
#define QKDN_W_CONTROLLER_ID	0xffffffffU	/* Ck sender ID of the controller */
#define QKDN_W_QOS_UNREACHABLE	0xffffffffU	/* UPDATE: a withdrawal */
#define QKDN_W_PERIOD_MAX	3600000U	/* ms */
#define QKDN_W_PRIORITY_MAX	7
#define QKDN_W_PATH_MAX		64		/* nodes in a path */
#define QKDN_W_MULTIPATH_MAX	8		/* paths of a multipath entry */
#define QKDN_W_CRL_MAX		61440
#define QKDN_W_QBER_MAX		1000000U

enum qkdn_wire_cmd {
	QKDN_W_CMD_UNSPEC,
	QKDN_W_CMD_HELLO,
	QKDN_W_CMD_SESSION,
	QKDN_W_CMD_UPDATE,
	QKDN_W_CMD_KX,
	QKDN_W_CMD_KEEPALIVE,
	/* Ck: key manager and controller */
	QKDN_W_CMD_CK_AUTH,
	QKDN_W_CMD_CK_STATUS,
	QKDN_W_CMD_CK_NOTIFY,
	QKDN_W_CMD_CK_ROUTE,
	QKDN_W_CMD_CK_ROUTE_PUSH,
	QKDN_W_CMD_CK_CRL,
	/* qkdn-secd: security associations between gateways */
	QKDN_W_CMD_SA_PROPOSE,
	QKDN_W_CMD_SA_INSTALLED,
	QKDN_W_CMD_SA_DELETE,
	/* Mk, Mq, Mc: agents and the manager (qkdn-mgrd) */
	QKDN_W_CMD_M_AUTH,
	QKDN_W_CMD_M_ALARM,
	QKDN_W_CMD_M_PERF,
	QKDN_W_CMD_M_CONFIG,
	QKDN_W_CMD_M_ACCOUNT,
	QKDN_W_CMD_M_SECURITY,
	QKDN_W_CMD_M_KEY_EVENT,
	QKDN_W_CMD_M_RESILIENCE,
	QKDN_W_CMD_M_DIAG,
	QKDN_W_CMD_M_CONTROL,
	QKDN_W_CMD_M_SUPPORT,
	/* qkdn-mgrd end */
	__QKDN_W_CMD_LAST
};

#define QKDN_W_CMD_MAX (__QKDN_W_CMD_LAST - 1)

enum qkdn_wire_attr {
	QKDN_W_UNSPEC,
	QKDN_W_MSG_ID,
	QKDN_W_CMD,
	QKDN_W_SENDER_ID,
	QKDN_W_ORIG_MSG_ID,
	QKDN_W_RESPONSE_CODE,
	QKDN_W_REASON,
	QKDN_W_SENDER_IP,
	QKDN_W_SENDER_HOSTNAME,
	QKDN_W_COMMUNITY_ID,
	QKDN_W_AUTH_INFO,
	QKDN_W_SESSION_ID,
	QKDN_W_TIMER,
	QKDN_W_KEY_ID_HASH,
	QKDN_W_RECEIVER_IP,
	QKDN_W_DEST_NODE_ID,
	QKDN_W_QOS,
	QKDN_W_KEY_ID,
	QKDN_W_KX_FRAME,
	/* Ck */
	QKDN_W_PERIOD,
	QKDN_W_STATUS_PARAMS,
	QKDN_W_KM_STATE,
	QKDN_W_STATUS_TABLE,
	QKDN_W_LINK_STATUS,
	QKDN_W_PEER_NODE_ID,
	QKDN_W_LINK_STATE,
	QKDN_W_PEER_UP,
	QKDN_W_KEY_AMOUNT,
	QKDN_W_CONSUMPTION_RATE,
	QKDN_W_GENERATION_RATE,
	QKDN_W_QKD_STATE,
	QKDN_W_QBER,
	QKDN_W_STORE_STATUS,
	QKDN_W_EVENT,
	QKDN_W_SOURCE_NODE_ID,
	QKDN_W_PRIORITY,
	QKDN_W_TOLERANCE_MS,
	QKDN_W_ROUTE_TABLE,
	QKDN_W_ROUTE,
	QKDN_W_NEXT_HOP_NODE_ID,
	QKDN_W_PROTECTION_NEXT_HOP,
	QKDN_W_ROUTE_OP,
	QKDN_W_PATH,
	QKDN_W_PROTECTION_PATH,
	QKDN_W_CRL,
	/* qkdn-secd */
	QKDN_W_SA_KIND,
	QKDN_W_SA_GENERATION,
	QKDN_W_SA_KEY_IDS_FWD,
	QKDN_W_SA_KEY_IDS_REV,
	QKDN_W_SA_LIFETIME,
	QKDN_W_SA_SPI,
	QKDN_W_SA_AN,
	QKDN_W_SA_SCI,
	/* Mk, Mq, Mc (qkdn-mgrd) */
	QKDN_W_M_AGENT_KIND,
	QKDN_W_M_EPOCH,
	QKDN_W_M_SESSION,
	QKDN_W_M_REQUESTOR,
	QKDN_W_M_SEQ,
	QKDN_W_M_ACK_SEQ,
	QKDN_W_M_RETRY_MS,
	QKDN_W_M_TIME_MS,
	QKDN_W_M_RESOURCE_ID,
	QKDN_W_M_RESOURCE_DESC,
	QKDN_W_M_RESOURCE_KIND,
	QKDN_W_M_RESOURCE_STATE,
	QKDN_W_M_ALARM_TYPE,
	QKDN_W_M_ALARM_ID,
	QKDN_W_M_ALARM_SOURCE,
	QKDN_W_M_ALARM_VALUE,
	QKDN_W_M_ALARM_DESC,
	QKDN_W_M_SEVERITY,
	QKDN_W_M_PERF_TYPE,
	QKDN_W_M_PERF_TARGET,
	QKDN_W_M_PERF_VALUE,
	QKDN_W_M_PERF_DESC,
	QKDN_W_M_LINK_ID,
	QKDN_W_M_QKD_MODULE,
	QKDN_W_M_PEER_QKD_MODULE,
	QKDN_W_M_APP_ID,
	QKDN_W_M_KEY_COUNT,
	QKDN_W_M_KEY_BITS,
	QKDN_W_M_SEC_EVENT,
	QKDN_W_M_KEY_EVENT,
	QKDN_W_M_RESIL_KIND,
	QKDN_W_M_RESIL_OP,
	QKDN_W_M_WORKING,
	QKDN_W_M_PROTECTION,
	QKDN_W_M_DIAG_INFO,
	QKDN_W_M_ACTION_TYPE,
	QKDN_W_M_ACTION_VALUE,
	QKDN_W_M_ACTION_ID,
	QKDN_W_M_ORIGIN_AGENT,
	QKDN_W_M_ORIGIN_EVENT,
	QKDN_W_M_SUPPORT_TABLE,
	QKDN_W_M_SUPPORT_LINK,
	/* qkdn-mgrd end */
	/* Ck, later additions (route entries) */
	QKDN_W_ROUTE_REASON,
	QKDN_W_MULTIPATH_HOPS,
	QKDN_W_MULTIPATH_KEYS,
	__QKDN_W_LAST
};

#define QKDN_W_MAX (__QKDN_W_LAST - 1)

/**
 * enum qkdn_wire_response - QKDN_W_RESPONSE_CODE (seed 000 Table 7-3)
 * @QKDN_W_RESP_SUCCESS: the command was accepted
 * @QKDN_W_RESP_FAILURE: it was refused; QKDN_W_REASON may say why
 */
enum qkdn_wire_response {
	QKDN_W_RESP_UNSPEC,
	QKDN_W_RESP_SUCCESS,
	QKDN_W_RESP_FAILURE,
	__QKDN_W_RESP_LAST
};

#define QKDN_W_RESP_MAX (__QKDN_W_RESP_LAST - 1)

/**
 * enum qkdn_wire_config_state - configuration state of a KM or KM link
 *   (seed 001 clause 8.2): QKDN_W_KM_STATE, QKDN_W_LINK_STATE
 * @QKDN_W_STATE_IN_SERVICE: in use
 * @QKDN_W_STATE_OUT_OF_SERVICE: faulty or de-activated: no route uses it
 * @QKDN_W_STATE_STANDBY: working, not used by new routes unless no other
 * @QKDN_W_STATE_RESERVED: kept for protection routes only
 */
enum qkdn_wire_config_state {
	QKDN_W_STATE_UNSPEC,
	QKDN_W_STATE_IN_SERVICE,
	QKDN_W_STATE_OUT_OF_SERVICE,
	QKDN_W_STATE_STANDBY,
	QKDN_W_STATE_RESERVED,
	__QKDN_W_STATE_LAST
};

#define QKDN_W_STATE_MAX (__QKDN_W_STATE_LAST - 1)

/* QKDN_W_STATUS_PARAMS bits: what a CK_STATUS asks for. */
enum {
	QKDN_W_STATUS_KEY_AMOUNT = 1 << 0,
	QKDN_W_STATUS_CONSUMPTION_RATE = 1 << 1,
	QKDN_W_STATUS_GENERATION_RATE = 1 << 2,
	QKDN_W_STATUS_LINK_STATE = 1 << 3,
	QKDN_W_STATUS_KM_STATE = 1 << 4,
	QKDN_W_STATUS_QKD_STATE = 1 << 5,	/* QKD_STATE and QBER */
	QKDN_W_STATUS_STORES = 1 << 6,
	__QKDN_W_STATUS_ALL = (1 << 7) - 1
};

/**
 * enum qkdn_wire_event - QKDN_W_EVENT of a CK_NOTIFY
 * @QKDN_W_EVENT_SYNC: after CK_AUTH: full status and route table
 * @QKDN_W_EVENT_LINK_DOWN: the Kx connection to PEER_NODE_ID went down
 * @QKDN_W_EVENT_LINK_UP: it came (back) up
 * @QKDN_W_EVENT_POOL_LOW: PEER_NODE_ID's link pool fell below its threshold
 * @QKDN_W_EVENT_POOL_CLEARED: the link pool was emptied (keys discarded)
 * @QKDN_W_EVENT_QBER_HIGH: QBER above threshold or eavesdropping on the QKD
 *   link to PEER_NODE_ID
 * @QKDN_W_EVENT_QKD_DOWN: the QKD module of that link stopped producing
 * @QKDN_W_EVENT_QKD_UP: it produces again
 * @QKDN_W_EVENT_RELAY_FAILED: a relay to DEST_NODE_ID failed
 * @QKDN_W_EVENT_PROTECTION_SWITCHED: the KM switched DEST_NODE_ID's entry to
 *   its protection next hop
 * @QKDN_W_EVENT_ROUTE_WITHDRAWN: DEST_NODE_ID is unreachable and there is
 *   no protection entry: the controller must recover
 */
enum qkdn_wire_event {
	QKDN_W_EVENT_UNSPEC,
	QKDN_W_EVENT_SYNC,
	QKDN_W_EVENT_LINK_DOWN,
	QKDN_W_EVENT_LINK_UP,
	QKDN_W_EVENT_POOL_LOW,
	QKDN_W_EVENT_POOL_CLEARED,
	QKDN_W_EVENT_QBER_HIGH,
	QKDN_W_EVENT_QKD_DOWN,
	QKDN_W_EVENT_QKD_UP,
	QKDN_W_EVENT_RELAY_FAILED,
	QKDN_W_EVENT_PROTECTION_SWITCHED,
	QKDN_W_EVENT_ROUTE_WITHDRAWN,
	__QKDN_W_EVENT_LAST
};

#define QKDN_W_EVENT_MAX (__QKDN_W_EVENT_LAST - 1)

/* QKDN_W_ROUTE_OP */
enum qkdn_wire_route_op {
	QKDN_W_ROUTE_OP_UNSPEC,
	QKDN_W_ROUTE_OP_INSTALL,	/* add, or replace the entry for DEST */
	QKDN_W_ROUTE_OP_DELETE,
	__QKDN_W_ROUTE_OP_LAST
};

#define QKDN_W_ROUTE_OP_MAX (__QKDN_W_ROUTE_OP_LAST - 1)

/**
 * enum qkdn_wire_route_reason - QKDN_W_ROUTE_REASON of a route entry
 *   deleted (withdrawn) by the controller
 * @QKDN_W_ROUTE_REASON_RECOVERY_FAILED: the session lost its route and
 *   no new one was found within its tolerance time (seed 004 Req_C-R 2):
 *   the controller gives up on it for now (it keeps searching, and pushes
 *   a route when one appears)
 */
enum qkdn_wire_route_reason {
	QKDN_W_ROUTE_REASON_UNSPEC,
	QKDN_W_ROUTE_REASON_RECOVERY_FAILED,
	__QKDN_W_ROUTE_REASON_LAST
};

#define QKDN_W_ROUTE_REASON_MAX (__QKDN_W_ROUTE_REASON_LAST - 1)

/* Attribute types a policy can ask for. */
enum qkdn_wire_type {
	QKDN_WT_UNSPEC,		/* not allowed: the zero entry of a policy */
	QKDN_WT_U8,
	QKDN_WT_U16,
	QKDN_WT_U32,
	QKDN_WT_U64,
	QKDN_WT_STRING,		/* not empty, NUL-terminated, no NUL before the
				 * end, at most max_len bytes with the NUL */
	QKDN_WT_BINARY,		/* min_len..max_len bytes */
	QKDN_WT_NESTED,		/* members checked against .nested */
	QKDN_WT_TABLE,		/* a nest whose members may repeat: each is
				 * checked against .nested's entry for its
				 * type (itself a nest); none required */
	QKDN_WT_U32_ARRAY,	/* binary of u32s: min_len..max_len bytes, a
				 * multiple of 4 */
};

struct qkdn_wire_nest_policy;

/* One attribute's rule. An all-zero entry means "not allowed". */
struct qkdn_wire_attr_policy {
	enum qkdn_wire_type type;
	bool required;
	uint16_t min_len;	/* BINARY */
	uint16_t max_len;	/* STRING, BINARY (0: 65531, what fits) */
	const struct qkdn_wire_nest_policy *nested;	/* NESTED, TABLE */
	/* Integers: when either is set, the value must be in
	 * [min_val, max_val]. */
	uint64_t min_val, max_val;
};

struct qkdn_wire_nest_policy {
	const struct qkdn_wire_attr_policy *attrs;	/* [0..max] */
	unsigned int max;
};

/* The attributes a command may carry besides the common items, as a
 * command and as a response. attrs arrays are indexed by attribute type
 * and have QKDN_W_MAX + 1 entries; the common items' entries are ignored
 * (the parser checks those itself). A NULL response table means the
 * command has no response. */
struct qkdn_wire_cmd_policy {
	const struct qkdn_wire_attr_policy *command;
	const struct qkdn_wire_attr_policy *response;
};

/* A protocol: the commands one kind of connection may carry, indexed by
 * command code (0..max_cmd). Commands with a NULL .command are refused. */
struct qkdn_wire_policy {
	const char *name;
	const struct qkdn_wire_cmd_policy *cmds;
	unsigned int max_cmd;
	/* A sender ID accepted besides 1..QKDN_NODE_ID_MAX, 0 for none. */
	uint32_t extra_sender_id;
};

/* Kx between key managers: HELLO, SESSION, UPDATE, KX, KEEPALIVE. */
extern const struct qkdn_wire_policy qkdn_wire_kx_policy;
/* Ck between a key manager and the controller: CK_AUTH, CK_STATUS,
 * CK_NOTIFY, CK_ROUTE, CK_ROUTE_PUSH, CK_CRL, KEEPALIVE. */
extern const struct qkdn_wire_policy qkdn_wire_ck_policy;
/* The members of Ck tables, for qkdn_wire_parse_nested(). */
extern const struct qkdn_wire_nest_policy qkdn_wire_ck_link_status_nest;
extern const struct qkdn_wire_nest_policy qkdn_wire_ck_store_status_nest;
extern const struct qkdn_wire_nest_policy qkdn_wire_ck_route_nest;

/* qkdn-secd: the control channel between two security gateways. */
#define QKDN_W_SA_KEYS_MAX	4	/* KMA-key IDs per direction */
#define QKDN_W_SA_SPI_MIN	256	/* SPIs below are reserved (RFC 4303) */

/**
 * enum qkdn_wire_sa_kind - QKDN_W_SA_KIND, what the SAs protect
 * @QKDN_W_SA_IPSEC: ESP tunnel between two gateways
 * @QKDN_W_SA_MACSEC: a MACsec secure channel on one link
 * @QKDN_W_SA_PPK: IKEv2 post-quantum preshared keys (RFC 8784) for the
 *	gateways' strongSwan; the initiator's charon reauthenticates with
 *	each generation's PPK
 */
enum qkdn_wire_sa_kind {
	QKDN_W_SA_UNSPEC,
	QKDN_W_SA_IPSEC,
	QKDN_W_SA_MACSEC,
	QKDN_W_SA_PPK,
	__QKDN_W_SA_LAST
};

#define QKDN_W_SA_KIND_MAX (__QKDN_W_SA_LAST - 1)

/* SA_PROPOSE, SA_INSTALLED, SA_DELETE. */
extern const struct qkdn_wire_policy qkdn_wire_sa_policy;
/* qkdn-secd end */

/* qkdn-mgrd: Mk, Mq, Mc (see "Management" above) */
#define QKDN_W_M_DESC_MAX	QKDN_W_REASON_MAX	/* descriptions, with the NUL */
#define QKDN_W_M_RETRY_MAX	600000U			/* ms */
#define QKDN_W_MGR_CN		"qkdn-mgr"
#define QKDN_W_QKD_CN_PREFIX	"qkdn-qkd-"
#define QKDN_W_MX_CN_PREFIX	"qkdn-mgr-"	/* a manager on Mx: qkdn-mgr-<NAME> */

/* QKDN_W_M_AGENT_KIND: who reports, and on which reference point. */
enum qkdn_wire_agent_kind {
	QKDN_W_AGENT_UNSPEC,
	QKDN_W_AGENT_KM,		/* Mk, qkdn-kmd, CN qkdn-node-<ID> */
	QKDN_W_AGENT_QKD,		/* Mq, qkdn-qkdd, CN qkdn-qkd-<ID> */
	QKDN_W_AGENT_CTL,		/* Mc, qkdn-ctld, CN qkdn-ctl */
	QKDN_W_AGENT_MGR,		/* Mx, a peer qkdn-mgrd, CN qkdn-mgr-<NAME> */
	__QKDN_W_AGENT_LAST
};
#define QKDN_W_AGENT_MAX (__QKDN_W_AGENT_LAST - 1)

/* QKDN_W_M_ALARM_TYPE */
enum qkdn_wire_alarm_type {
	QKDN_W_ALARM_UNSPEC,
	QKDN_W_ALARM_QKD_LINK_DOWN,	/* Mq: the QKD link produces no key */
	QKDN_W_ALARM_QBER_HIGH,		/* Mq: QBER over threshold: eavesdropping? */
	QKDN_W_ALARM_QKD_MODULE_FAULT,	/* Mq: the device (KME) failed */
	QKDN_W_ALARM_KM_LINK_DOWN,	/* Mk: the Kx connection to a neighbour */
	QKDN_W_ALARM_POOL_LOW,		/* Mk: a link's key pool below threshold */
	QKDN_W_ALARM_RELAY_FAILED,	/* Mk: key relay failure (10.1.2) */
	QKDN_W_ALARM_KEY_GEN_FAILURE,	/* Mk: key generation failure (I.4.1) */
	QKDN_W_ALARM_ROUTE_DOWN,	/* Mk, Mc: no route to a destination */
	QKDN_W_ALARM_CONTROL_FAULT,	/* Mc: a control function failed */
	__QKDN_W_ALARM_LAST
};
#define QKDN_W_ALARM_MAX (__QKDN_W_ALARM_LAST - 1)

/* QKDN_W_M_SEVERITY (ITU-T X.733 perceived severity) */
enum qkdn_wire_severity {
	QKDN_W_SEV_CLEARED,
	QKDN_W_SEV_WARNING,
	QKDN_W_SEV_MINOR,
	QKDN_W_SEV_MAJOR,
	QKDN_W_SEV_CRITICAL,
	__QKDN_W_SEV_LAST
};
#define QKDN_W_SEV_MAX (__QKDN_W_SEV_LAST - 1)

/* QKDN_W_M_PERF_TYPE, with the unit of QKDN_W_M_PERF_VALUE */
enum qkdn_wire_perf_type {
	QKDN_W_PERF_UNSPEC,
	QKDN_W_PERF_KEY_RATE,		/* secret key rate, bit/s */
	QKDN_W_PERF_QBER,		/* parts per million */
	QKDN_W_PERF_KEY_AMOUNT,		/* bytes in a pool or store */
	QKDN_W_PERF_CONSUMPTION,	/* bytes/s taken from a pool */
	QKDN_W_PERF_RELAY_DELAY,	/* key relaying delay, microseconds */
	QKDN_W_PERF_KEY_LOSS,		/* keys lost (data loss), count */
	QKDN_W_PERF_ROUTES,		/* routes served (controller), count */
	QKDN_W_PERF_RELAYS_STARTED,	/* relays a KM started, count since its start */
	QKDN_W_PERF_RELAYS_COMPLETED,	/* of those, acknowledged, count */
	QKDN_W_PERF_RELAYS_FAILED,	/* of those, abandoned, count */
	__QKDN_W_PERF_LAST
};
#define QKDN_W_PERF_MAX (__QKDN_W_PERF_LAST - 1)

/* QKDN_W_M_RESOURCE_KIND */
enum qkdn_wire_resource_kind {
	QKDN_W_RES_UNSPEC,
	QKDN_W_RES_NODE,		/* a KM (trusted node) */
	QKDN_W_RES_KM_LINK,		/* a KMA link between two KMs */
	QKDN_W_RES_QKD_LINK,		/* a QKD link under a KMA link */
	QKDN_W_RES_QKD_MODULE,
	QKDN_W_RES_APP,			/* an application (SAE) */
	QKDN_W_RES_ROUTE,		/* a key relay route */
	QKDN_W_RES_CONTROLLER,
	__QKDN_W_RES_LAST
};
#define QKDN_W_RES_MAX (__QKDN_W_RES_LAST - 1)

/* QKDN_W_M_SEC_EVENT */
enum qkdn_wire_sec_event {
	QKDN_W_SEC_UNSPEC,
	QKDN_W_SEC_EAVESDROPPING,	/* QBER surge on a quantum channel */
	QKDN_W_SEC_AUTH_FAILURE,	/* a peer or application failed authentication */
	QKDN_W_SEC_CERT_REVOKED,	/* a revoked certificate was presented */
	QKDN_W_SEC_ACCESS_DENIED,	/* a request for keys not its own */
	QKDN_W_SEC_MAC_FAILURE,		/* a relay frame failed its MAC */
	QKDN_W_SEC_KEYS_DISCARDED,	/* keys wiped as compromised */
	QKDN_W_SEC_CONFIG_CHANGE,	/* audit: an operator changed something */
	__QKDN_W_SEC_LAST
};
#define QKDN_W_SEC_MAX (__QKDN_W_SEC_LAST - 1)

/* QKDN_W_M_KEY_EVENT: the key life cycle (seed 000 clause 7.1) */
enum qkdn_wire_key_event {
	QKDN_W_KEY_UNSPEC,
	QKDN_W_KEY_GENERATED,		/* a QKD-key became a KMA-key here */
	QKDN_W_KEY_RELAYED,		/* sent on, OTP-encrypted, to NEXT_HOP */
	QKDN_W_KEY_RECEIVED,		/* arrived by relay from PEER */
	QKDN_W_KEY_SUPPLIED,		/* handed to APP_ID */
	QKDN_W_KEY_DELETED,		/* wiped */
	__QKDN_W_KEY_LAST
};
#define QKDN_W_KEY_EVENT_MAX (__QKDN_W_KEY_LAST - 1)

/* QKDN_W_M_RESIL_KIND and QKDN_W_M_RESIL_OP (seed 004 7.4) */
enum qkdn_wire_resil_kind {
	QKDN_W_RESIL_UNSPEC,
	QKDN_W_RESIL_MODULE,
	QKDN_W_RESIL_LINK,
	QKDN_W_RESIL_ROUTE,
	__QKDN_W_RESIL_LAST
};
#define QKDN_W_RESIL_KIND_MAX (__QKDN_W_RESIL_LAST - 1)

enum qkdn_wire_resil_op {
	QKDN_W_RESIL_OP_UNSPEC,
	QKDN_W_RESIL_OP_MATCHUP,	/* WORKING is protected by PROTECTION */
	QKDN_W_RESIL_OP_SWITCHOVER,	/* protection took over from WORKING */
	QKDN_W_RESIL_OP_REROUTE,	/* recovery: WORKING replaced by PROTECTION */
	QKDN_W_RESIL_OP_RESTORE,	/* WORKING is back in service */
	__QKDN_W_RESIL_OP_LAST
};
#define QKDN_W_RESIL_OP_MAX (__QKDN_W_RESIL_OP_LAST - 1)

/* QKDN_W_M_ACTION_TYPE (Table I.2 control orchestration action type) */
enum qkdn_wire_action_type {
	QKDN_W_ACTION_UNSPEC,
	QKDN_W_ACTION_REROUTE,		/* re-provision routes avoiding a resource */
	QKDN_W_ACTION_ISOLATE,		/* take a link out of service (eavesdropping) */
	QKDN_W_ACTION_REBALANCE,	/* path modification for load balancing */
	QKDN_W_ACTION_RESTORE,		/* put a resource back in service */
	__QKDN_W_ACTION_LAST
};
#define QKDN_W_ACTION_MAX (__QKDN_W_ACTION_LAST - 1)

/* Mk, Mq, Mc, both ways. */
extern const struct qkdn_wire_policy qkdn_wire_mgmt_policy;
/* The members of M_SUPPORT_TABLE (M_SUPPORT_LINK), for qkdn_wire_parse_nested(). */
extern const struct qkdn_wire_nest_policy qkdn_wire_m_support_link_nest;
/* qkdn-mgrd end */

/* The common items of a parsed message. */
struct qkdn_wire_hdr {
	uint64_t msg_id;
	uint16_t cmd;
	uint32_t sender_id;
	bool is_response;
	uint64_t orig_msg_id;		/* responses only */
	uint16_t response_code;		/* responses only */
	char error[160];		/* why parsing failed, "" otherwise */
};

struct qkdn_wire_msg;

/* A new command (or, with _response_new, a response) carrying the common
 * items. The message ID comes from qkdn_wire_next_msg_id(). NULL on ENOMEM. */
struct qkdn_wire_msg *qkdn_wire_msg_new(uint16_t cmd, uint32_t sender);
struct qkdn_wire_msg *qkdn_wire_response_new(uint16_t cmd, uint32_t sender,
					     uint64_t orig_msg_id, uint16_t code);
void qkdn_wire_msg_free(struct qkdn_wire_msg *m);
uint64_t qkdn_wire_msg_id(const struct qkdn_wire_msg *m);

/* Process-wide message IDs: a counter that starts at a random value. */
uint64_t qkdn_wire_next_msg_id(void);

/* Puts never fail on their own: a put that does not fit (attribute over
 * 64 KiB, body over QKDN_WIRE_BODY_MAX, no memory) marks the message and
 * qkdn_wire_msg_finish() then fails. */
void qkdn_wire_put_u8(struct qkdn_wire_msg *m, uint16_t type, uint8_t v);
void qkdn_wire_put_u16(struct qkdn_wire_msg *m, uint16_t type, uint16_t v);
void qkdn_wire_put_u32(struct qkdn_wire_msg *m, uint16_t type, uint32_t v);
void qkdn_wire_put_u64(struct qkdn_wire_msg *m, uint16_t type, uint64_t v);
void qkdn_wire_put_str(struct qkdn_wire_msg *m, uint16_t type, const char *s);
void qkdn_wire_put_bin(struct qkdn_wire_msg *m, uint16_t type, const void *p, size_t len);
/* A nest: returns a handle for _nest_end (negative if the put failed,
 * which _nest_end accepts). Nests may hold nests. */
long qkdn_wire_nest_start(struct qkdn_wire_msg *m, uint16_t type);
void qkdn_wire_nest_end(struct qkdn_wire_msg *m, long nest);

/* Writes the length prefix and hands out the framed message (prefix and
 * body), valid until the message is freed. 0, -EMSGSIZE (something did
 * not fit) or -ENOMEM. */
int qkdn_wire_msg_finish(struct qkdn_wire_msg *m, const void **bytes, size_t *len);

/* The body length a 4-byte prefix announces: 0 or -EMSGSIZE when it is
 * over QKDN_WIRE_BODY_MAX. */
int qkdn_wire_frame_body_len(const void *prefix, uint32_t *body_len);

/* Parses a framed message (prefix and body, exactly len bytes; buf 4-byte
 * aligned, as malloc() returns) against policy. Fills tb[0..QKDN_W_MAX]
 * with the attributes (common items included) and hdr with the common
 * items. Returns 0, or -EMSGSIZE (over QKDN_WIRE_BODY_MAX), -EBADMSG
 * (truncated, trailing bytes, malformed TLV), -EPROTO (a policy was
 * violated), -EOPNOTSUPP (command not in the policy), -EINVAL (misaligned
 * buffer); hdr->error says which attribute and why. tb entries point into
 * buf. */
int qkdn_wire_parse(const void *buf, size_t len, const struct qkdn_wire_policy *policy,
		    const struct nlattr *tb[QKDN_W_MAX + 1], struct qkdn_wire_hdr *hdr);

/* Only the common items of a framed message, whatever else it holds
 * (the TLV layout is still checked): to answer a message the policy
 * refused. 0 or -EMSGSIZE/-EBADMSG/-EPROTO/-EINVAL with hdr->error. */
int qkdn_wire_parse_common(const void *buf, size_t len, struct qkdn_wire_hdr *hdr);

/* Parses a nest tb_out[0..nested->max] with the same strict rules, for a
 * nest qkdn_wire_parse() already validated. 0 or -EPROTO/-EBADMSG with
 * err filled. */
int qkdn_wire_parse_nested(const struct nlattr *nest, const struct qkdn_wire_nest_policy *nested,
			   const struct nlattr **tb_out, char *err, size_t err_len);

/* Names for logs: "HELLO", "attr 7 (SENDER_IP)" style, never NULL. */
const char *qkdn_wire_cmd_name(uint16_t cmd);
const char *qkdn_wire_attr_name(uint16_t type);

/* Typed reads of attributes the parser validated. */
static inline uint8_t qkdn_wire_get_u8(const struct nlattr *a) { return mnl_attr_get_u8(a); }
static inline uint16_t qkdn_wire_get_u16(const struct nlattr *a) { return mnl_attr_get_u16(a); }
static inline uint32_t qkdn_wire_get_u32(const struct nlattr *a) { return mnl_attr_get_u32(a); }
static inline uint64_t qkdn_wire_get_u64(const struct nlattr *a) { return mnl_attr_get_u64(a); }
static inline const char *qkdn_wire_get_str(const struct nlattr *a) { return mnl_attr_get_str(a); }
static inline const void *qkdn_wire_get_bin(const struct nlattr *a) { return mnl_attr_get_payload(a); }
static inline size_t qkdn_wire_get_len(const struct nlattr *a) { return mnl_attr_get_payload_len(a); }

#endif
