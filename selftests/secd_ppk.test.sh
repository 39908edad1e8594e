#!/bin/bash
# qkdn-secd, PPK: QKD keys as IKEv2 post-quantum preshared keys (RFC 8784)
# of strongSwan, a new IKE SA with a fresh PPK every 3 s.
#
#   netns A (node 1), own mount ns for charon     netns B (node 2), the same
#   +------------------------------------+        +------------------------------------+
#   | charon A (vici $work/a/charon.vici)|        | charon B (vici $work/b/charon.vici)|
#   | secd gw-a, initiator: load-shared, |        | secd gw-b, responder: load-shared  |
#   |   load-conn ppk_id, initiate       |        |   (conn: ppk_required, no ppk_id)  |
#   | dummy0 192.168.1.1/24              |        | dummy0 192.168.2.1/24              |
#   | veth-B 10.0.12.1                   |--veth--| veth-A 10.0.12.2 (tcpdump)         |
#   +------------------------------------+        +------------------------------------+
#          ~~~~~~~~~~~~~~~~~~ QKD link 12, alice at A ~~~~~~~~~~~~~~~~~~
#
#   IKEv2 authenticates with a PSK and ppk_required = yes; the PPK of each
#   IKE SA is a 256-bit link key (fed with `qkdn key push`), its PPK_ID the
#   key ID's UUID. ESP tunnel 192.168.1.0/24 <-> 192.168.2.0/24.
set -e
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pki.sh"
trap cleanup EXIT

work=$(mktemp -d)
defer rm -rf "$work"
dump_logs() {
	local f
	((qkdn_checks_failed > 0)) || [[ $1 != 0 ]] || return 0
	for f in "$work"/*.log; do
		echo "# ---- ${f#"$work"/} (events)"
		grep -E 'event=(rekey|ike-|vici|sa-deleted|started|conn-closed)' "$f" | cut -c1-200 |
			tail -n 60 | sed 's/^/#   /'
	done
	for f in "$work"/*/charon.log; do
		echo "# ---- ${f#"$work"/} (IKE lines, last 40)"
		grep -E 'PPK_ID|IKE_SA .*(established|deleted)|CHILD_SA .*(established|closed)|retransmit|failed|policy|reqid|terminate' "$f" |
			grep -v proposals | tail -n 80 | cut -c1-200 | sed 's/^/#   /'
	done
}
trap 'status=$?; dump_logs $status; (exit $status); cleanup' EXIT

at() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
declare -A secd_pid charon_pid


command -v swanctl > /dev/null && [[ -x /usr/lib/ipsec/charon ]] ||
	skip_all "strongSwan (charon, swanctl) not installed: scripts/install-deps.sh"

modprobe -a xfrm_user esp4 gcm seqiv echainiv dummy 2>/dev/null || true
# The first ESP SA instantiates (and self-tests) seqiv(rfc4106(gcm(aes))),
# which under TCG can outlast an IKE_AUTH retransmission: do it once here,
# with a throwaway all-zero key.
ip xfrm state add src 10.255.0.1 dst 10.255.0.2 proto esp spi 0x1000 mode tunnel \
	aead 'rfc4106(gcm(aes))' "0x$(printf '%072d' 0)" 128
ip xfrm state flush
qkdn_load
netns_node A
netns_node B
netns_connect A 10.0.12.1/24 B 10.0.12.2/24
at A qkdn node set id 1 name A
at B qkdn node set id 2 name B
at A qkdn link add 12 peer 2 role alice module L12-a peer-module L12-b unit 32
at B qkdn link add 12 peer 1 role bob module L12-b peer-module L12-a unit 32
head -c 4096 /dev/urandom > "$work/q"
at A qkdn key push link 12 qkd-id q1 < "$work/q"
at B qkdn key push link 12 qkd-id q1 < "$work/q"
at A qkdn app add gw-a uid 0
at A qkdn app add gw-b node 2
at B qkdn app add gw-b uid 0
at B qkdn app add gw-a node 1

qkdn_pki "$work/pki" 1 > /dev/null
for sae in gw-a gw-b; do
	qkdn_pki_issue "$work/pki" "$sae" "$sae"
done

# The subnets behind the gateways: dummy devices, routed over the veth.
at A ip link add dummy0 type dummy
at A ip addr add 192.168.1.1/24 dev dummy0
at A ip link set dummy0 up
at A ip route add 192.168.2.0/24 via 10.0.12.2 src 192.168.1.1
at B ip link add dummy0 type dummy
at B ip addr add 192.168.2.1/24 dev dummy0
at B ip link set dummy0 up
at B ip route add 192.168.1.0/24 via 10.0.12.1 src 192.168.2.1

# One charon per gateway: its netns, its own mount namespace with a private
# /run (pid file, stroke socket), its strongswan.conf via STRONGSWAN_CONF,
# its VICI socket in $work.
psk=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
charon_start() {	# NS DIR ADDR PEER_ADDR SAE PEER_SAE LOCAL_TS REMOTE_TS
	local d=$work/$2
	mkdir -p "$d"
	cat > "$d/strongswan.conf" <<-EOF
	charon {
		load = random nonce openssl kdf pem pkcs1 x509 pubkey kernel-netlink socket-default vici
		make_before_break = yes
		install_routes = no
		plugins {
			vici {
				socket = unix://$d/charon.vici
			}
		}
		filelog {
			charon {
				path = $d/charon.log
				flush_line = yes
				default = 1
				ike = 2
				cfg = 2
			}
		}
	}
	EOF
	# The initiator's conn is loaded by qkdn-secd; this one, with a
	# PPK_ID nobody has, only shows that nothing comes up without a PPK.
	cat > "$d/swanctl.conf" <<-EOF
	connections {
		qkdn {
			version = 2
			local_addrs = $3
			remote_addrs = $4
			ppk_required = yes
			$([[ $1 == A ]] && echo "ppk_id = no-such-ppk" || true)
			unique = never
			local {
				auth = psk
				id = $5
			}
			remote {
				auth = psk
				id = $6
			}
			children {
				qkdn {
					local_ts = $7
					remote_ts = $8
				}
			}
		}
	}
	secrets {
		ike-gw {
			id-a = gw-a
			id-b = gw-b
			secret = 0x$psk
		}
	}
	EOF
	ip netns exec "$1" unshare -m --propagation private sh -c \
		"mount -t tmpfs tmpfs /run && STRONGSWAN_CONF=$d/strongswan.conf exec /usr/lib/ipsec/charon" \
		> "$d/charon.out" 2>&1 &
	charon_pid[$1]=$!
	defer stop_pid "${charon_pid[$1]}"
	wait_until 20 test -S "$d/charon.vici"
	at "$1" swanctl --load-all --noprompt --file "$d/swanctl.conf" --uri "unix://$d/charon.vici" \
		> "$d/load.out" 2>&1
}
# swanctl's own plugin loader complains of the plugins Debian did not build.
swan() {
	local ns=$1 out status=0
	shift
	out=$(at "$ns" swanctl "$@" --uri "unix://$work/${ns,,}/charon.vici" 2>&1) || status=$?
	grep -v "failed to load" <<< "$out" || true
	return $status
}

charon_start A a 10.0.12.1 10.0.12.2 gw-a gw-b 192.168.1.0/24 192.168.2.0/24
charon_start B b 10.0.12.2 10.0.12.1 gw-b gw-a 192.168.2.0/24 192.168.1.0/24
expect_eq "both charons took their conn" "2" \
	"$(cat "$work"/a/load.out "$work"/b/load.out | grep -c "loaded connection 'qkdn'")"

# Without a PPK: B has none, so it does not answer USE_PPK, and A, which
# requires one, gives up after IKE_SA_INIT.
if swan A --initiate --child qkdn --timeout 10 > "$work/initiate-noppk.out"; then
	fail "an IKE SA came up without any PPK"
else
	ok "no IKE SA without a PPK (ppk_required)"
fi
expect_eq "A's charon: PPK required but peer does not support PPK" 1 \
	"$(grep -c 'PPK required but peer does not support PPK' "$work/a/charon.log")"
expect_eq "no IKE SA at B" "" "$(swan B --list-sas | grep 'qkdn: #' || true)"

secd_conf() {	# FILE SAE PEER_SAE ROLE_LINE VICI [PPK LINES]
	{
		printf '[secd]\nsae = %s\npeer-sae = %s\n' "$2" "$3"
		printf 'cert = pki/%s.crt\nkey = pki/%s.key\nca = pki/ca.crt\n' "$2" "$2"
		printf '%s\nrekey-seconds = 3\ngrace-ms = 1000\n\n' "$4"
		printf '[ppk]\nvici = %s\n%s' "$5" "$6"
	} > "$work/$1"
}
secd_start() {
	ip netns exec "$1" qkdn-secd --config "$work/$2" --log-level debug > "$work/$2.log" 2>&1 &
	secd_pid[$1]=$!
	defer stop_pid "${secd_pid[$1]}"
}

# The initiator needs what to build its conn from.
secd_conf bad.conf gw-a gw-b "peer = 10.0.12.2:7300" "$work/a/charon.vici" $'conn = qkdn\n'
expect_errno "an initiator without addresses" \
	"[ppk] the initiator (peer =) needs local-addrs, remote-addrs, local-ts and remote-ts" \
	at A qkdn-secd --config "$work/bad.conf"
secd_conf bad2.conf gw-a gw-b "peer = 10.0.12.2:7300" "$work/a/no-such.vici" \
	$'local-addrs = 10.0.12.1\nremote-addrs = 10.0.12.2\nlocal-ts = 192.168.1.0/24\nremote-ts = 192.168.2.0/24\n'
expect_errno "no charon at the vici path" "cannot reach charon" \
	at A qkdn-secd --config "$work/bad2.conf"

secd_conf b.conf gw-b gw-a "listen = 10.0.12.2:7300" "$work/b/charon.vici" ""
secd_conf a.conf gw-a gw-b "peer = 10.0.12.2:7300" "$work/a/charon.vici" \
	"$(printf '%s\n' "conn = qkdn" "local-addrs = 10.0.12.1" "remote-addrs = 10.0.12.2" \
		"local-id = gw-a" "remote-id = gw-b" "local-ts = 192.168.1.0/24" \
		"remote-ts = 192.168.2.0/24" "esp-proposals = aes256gcm16")"
secd_start B b.conf
wait_until 20 grep -q 'event=started' "$work/b.conf.log"
secd_start A a.conf
rekeys() { grep -c 'event=rekey ' "$work/$1.log" || true; }
rekeyed() { (($(rekeys a.conf) >= 1)); }
if wait_until 40 rekeyed; then
	ok "first IKE SA with a QKD PPK up"
else
	fail "no IKE SA came up"
	exit 1
fi
first=$(grep -m1 'event=rekey ' "$work/a.conf.log" | grep -o 'ppk_id=[0-9a-f-]*' | cut -d= -f2)
expect_eq "A's charon used the PPK of the first generation" 1 \
	"$(grep -c "using PPK for PPK_ID '$first'" "$work/a/charon.log")"
sas=$(swan A --list-sas)
if grep -q 'qkdn: #[0-9]*, ESTABLISHED, IKEv2' <<< "$sas" &&
   grep -q 'qkdn: #[0-9]*, reqid [0-9]*, INSTALLED, TUNNEL, ESP:AES_GCM_16-256' <<< "$sas"; then
	ok "swanctl --list-sas: IKE SA established, CHILD_SA installed"
else
	fail "swanctl --list-sas shows no established SA: $sas"
fi

# Outbound only, at each end: inbound, the decrypted inner packets pass the
# capture too (xfrm re-injects them on the device they came in on).
at A timeout 40 tcpdump -i veth-B -Q out -n -c 30 -w "$work/wire-a.pcap" 'esp or icmp' \
	> /dev/null 2>&1 &
tcpdump_a=$!
at B timeout 40 tcpdump -i veth-A -Q out -n -c 30 -w "$work/wire-b.pcap" 'esp or icmp' \
	> /dev/null 2>&1 &
tcpdump_b=$!
sleep 1
before=$(rekeys a.conf)
ping_out=$(at A ping -n -q -i 0.2 -c 75 -W 2 -I 192.168.1.1 192.168.2.1 || true)
during=$(($(rekeys a.conf) - before))
wait "$tcpdump_a" "$tcpdump_b" || true
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<< "$ping_out")
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<< "$ping_out")
expect_eq "75 pings sent through the tunnel" 75 "$sent"
expect_eq "no ping lost across the reauthentications" "$sent" "$received"
if ((during >= 4)); then
	ok "$during new IKE SAs, each with a new PPK, during the 15 s of pings"
else
	fail "expected at least 4 new IKE SAs in 15 s, saw $during"
fi
esp=$(cat <(tcpdump -n -r "$work/wire-a.pcap" esp 2>/dev/null) \
	<(tcpdump -n -r "$work/wire-b.pcap" esp 2>/dev/null) | wc -l)
icmp=$(cat <(tcpdump -n -r "$work/wire-a.pcap" icmp 2>/dev/null) \
	<(tcpdump -n -r "$work/wire-b.pcap" icmp 2>/dev/null) | wc -l)
if ((esp > 0 && icmp == 0)); then
	ok "sent on the wire by A and B: $esp ESP packets, no ICMP in clear"
else
	fail "on the wire: expected ESP and no clear ICMP, saw $esp ESP, $icmp ICMP"
fi

# Every generation had its own PPK_ID, and every one was used by charon.
kill -STOP "${secd_pid[A]}"
ids=$(grep -o 'event=rekey gen=[0-9]* ppk_id=[0-9a-f-]*' "$work/a.conf.log" | cut -d= -f4)
n_ids=$(wc -l <<< "$ids")
expect_eq "a distinct PPK_ID per generation" "$n_ids" "$(sort -u <<< "$ids" | wc -l)"
used=0
for id in $ids; do
	grep -q "using PPK for PPK_ID '$id'" "$work/a/charon.log" && used=$((used + 1))
done
expect_eq "charon A used each generation's PPK" "$n_ids" "$used"
expect_eq "B's daemon logged the same PPK_IDs" "$ids" \
	"$(grep -o 'event=rekey gen=[0-9]* ppk_id=[0-9a-f-]*' "$work/b.conf.log" | cut -d= -f4 |
		head -n "$n_ids")"
last=$(tail -n1 <<< "$ids")
expect_errno "B took that key by ID already" "Required key not available" \
	at B qkdn key get-id sae gw-b peer gw-a "$last"
kill -CONT "${secd_pid[A]}"
terminated=$(grep -c 'event=ike-terminated ike_sa=[1-9]' "$work/a.conf.log" || true)
if ((terminated >= n_ids - 2)); then
	ok "old IKE SAs terminated after the grace period ($terminated of $n_ids)"
else
	fail "expected at least $((n_ids - 2)) old IKE SAs terminated, saw $terminated"
fi

# No key bytes in any log: no run of 64 hex digits (a PPK or the PSK).
if grep -lE '[0-9a-fA-F]{64}' "$work"/*.log "$work"/*/charon.log "$work"/*/charon.out; then
	fail "a log holds a 256-bit hex string"
else
	ok "no key bytes in the daemons' or charons' logs"
fi

# Stopping the initiator takes its IKE SAs (and CHILD_SAs) and PPKs along.
stop_pid "${secd_pid[A]}"
expect_eq "no IKE SA left at A after its daemon stopped" "" \
	"$(swan A --list-sas | grep 'qkdn: #' || true)"
expect_eq "A's conn unloaded" "" "$(swan A --list-conns | grep '^qkdn:' || true)"
