#!/bin/bash
# qkdn-secd, MACsec: a secure channel each way on one link between two
# hosts that are neighbouring QKD nodes, keyed with link keys, a new
# association number every 2 s.
#
#   netns A (node 1)                              netns B (node 2)
#   +--------------------------+                  +--------------------------+
#   | secd gw-a, initiator     |                  | secd gw-b, responder     |
#   | macsec0 (created by secd)|                  | macsec0 (created by test)|
#   |   192.168.12.1           |                  |   192.168.12.2           |
#   | veth-B 10.0.12.1         |------ veth ------| veth-A 10.0.12.2 (tcpdump)|
#   +--------------------------+                  +--------------------------+
#          ~~~~~~~~~~~~~~~~~~ QKD link 12, alice at A ~~~~~~~~~~~~~~~~~~
#
#   Link keys are fed with `qkdn key push` (256-bit units): one key per
#   direction and generation, GCM-AES-256, the key's 16-byte ID as the SA's
#   key ID. gw-a takes keys with KEY_GET, gw-b the same keys by ID.
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
		echo "# ---- ${f##*/} (last 25 lines)"
		tail -n 25 "$f" | sed 's/^/#   /'
	done
}
trap 'status=$?; dump_logs $status; (exit $status); cleanup' EXIT

at() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
declare -A secd_pid


modprobe -a macsec gcm
qkdn_load
netns_node A
netns_node B
netns_connect A 10.0.12.1/24 B 10.0.12.2/24
at A qkdn node set id 1 name A
at B qkdn node set id 2 name B
at A qkdn link add 12 peer 2 role alice module L12-a peer-module L12-b unit 32
at B qkdn link add 12 peer 1 role bob module L12-b peer-module L12-a unit 32
head -c 8192 /dev/urandom > "$work/q"
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

# B's device exists before the daemon; A's daemon creates its own.
at B ip link add link veth-A macsec0 type macsec encrypt on cipher gcm-aes-256
at B ip addr add 192.168.12.2/24 dev macsec0

# secd_conf FILE SAE PEER_SAE ROLE_LINE LINK [CIPHER]
secd_conf() {
	{
		printf '[secd]\nsae = %s\npeer-sae = %s\n' "$2" "$3"
		printf 'cert = pki/%s.crt\nkey = pki/%s.key\nca = pki/ca.crt\n' "$2" "$2"
		printf '%s\nrekey-seconds = 2\ngrace-ms = 400\n\n' "$4"
		printf '[macsec]\nlink = %s\ndevice = macsec0\ncipher = %s\n' "$5" "${6:-gcm-aes-256}"
	} > "$work/$1"
}
secd_start() {
	ip netns exec "$1" qkdn-secd --config "$work/$2" --log-level debug > "$work/$2.log" 2>&1 &
	secd_pid[$1]=$!
	defer stop_pid "${secd_pid[$1]}"
}
sa_count() { at "$1" ip macsec show macsec0 | grep -c 'PN ' || true; }

# A device of another cipher: refused, nothing programmed.
secd_conf b128.conf gw-b gw-a "listen = 10.0.12.2:7200" veth-A gcm-aes-128
expect_errno "an existing device of another cipher" \
	"macsec device has another cipher" at B qkdn-secd --config "$work/b128.conf"
expect_eq "refused config programmed no SA" 0 "$(sa_count B)"
secd_conf bad.conf gw-b gw-a "listen = 10.0.12.2:7200" veth-A gcm-aes-512
expect_errno "unknown cipher" "cipher = gcm-aes-512: want gcm-aes-128 or gcm-aes-256" \
	at B qkdn-secd --config "$work/bad.conf"

secd_conf b.conf gw-b gw-a "listen = 10.0.12.2:7200" veth-A
secd_conf a.conf gw-a gw-b "peer = 10.0.12.2:7200" veth-B
secd_start B b.conf
wait_until 20 grep -q 'event=started' "$work/b.conf.log"
secd_start A a.conf
wait_until 20 ip netns exec A ip link show macsec0
at A ip addr add 192.168.12.1/24 dev macsec0
rekeys() { grep -c 'event=rekey ' "$work/$1.log" || true; }
rekeyed() { (($(rekeys b.conf) >= 1)); }
if wait_until 30 rekeyed; then
	ok "first association up at both ends"
else
	fail "no association came up"
	exit 1
fi
expect_eq "A's macsec0 was created by the daemon, GCM-AES-256" "1" \
	"$(at A ip macsec show macsec0 | grep -c 'cipher suite: GCM-AES-256')"

at B timeout 30 tcpdump -i veth-A -n -e -c 40 -w "$work/wire.pcap" \
	'ether proto 0x88e5 or icmp' > /dev/null 2>&1 &
tcpdump_pid=$!
sleep 1
before=$(rekeys b.conf)
ping_out=$(at A ping -n -q -i 0.2 -c 100 -W 2 192.168.12.2 || true)
during=$(($(rekeys b.conf) - before))
wait "$tcpdump_pid" || true
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<< "$ping_out")
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<< "$ping_out")
expect_eq "100 pings sent over MACsec" 100 "$sent"
expect_eq "no frame lost across the rotations" "$sent" "$received"
if ((during >= 9)); then
	ok "$during rotations during the 20 s of pings"
else
	fail "expected at least 9 rotations in 20 s, saw $during"
fi
ans=$(grep -o 'event=rekey gen=[0-9]* an=[0-3]' "$work/a.conf.log" | awk '{ print $3 }' | sort -u |
	tr '\n' ' ')
expect_eq "the association number went through 0..3" "an=0 an=1 an=2 an=3 " "$ans"
macsec=$(tcpdump -n -e -r "$work/wire.pcap" 'ether proto 0x88e5' 2>/dev/null | wc -l)
icmp=$(tcpdump -n -r "$work/wire.pcap" icmp 2>/dev/null | wc -l)
if ((macsec > 0 && icmp == 0)); then
	ok "on the wire: $macsec MACsec frames (ethertype 0x88e5), no ICMP in clear"
else
	fail "on the wire: expected MACsec and no clear ICMP, saw $macsec MACsec, $icmp ICMP"
fi

# The SA in use carries the QKD key ID, and B took that key by ID. (Both
# daemons paused, so no rotation runs between the log and the device.)
kill -STOP "${secd_pid[A]}" "${secd_pid[B]}"
last=$(grep 'event=rekey ' "$work/a.conf.log" | tail -n1)
an=$(grep -o ' an=[0-3]' <<< "$last" | cut -d= -f2)
key_out=$(grep -o 'key_out=[0-9a-f-]*' <<< "$last" | cut -d= -f2)
tx_key=$(at A ip macsec show macsec0 | awk -v an="$an:" '
	/TXSC/ { tx = 1 } /RXSC/ { tx = 0 }
	tx && $1 == an { for (i = 1; i < NF; i++) if ($i == "key") print $(i + 1) }')
kill -CONT "${secd_pid[A]}" "${secd_pid[B]}"
expect_eq "A's TX SA $an has the QKD key ID as its key ID" "${key_out//-/}" "$tx_key"
expect_errno "that key was fetched by gw-b already" "Required key not available" \
	at B qkdn key get-id sae gw-b peer gw-a "$key_out"

stop_pid "${secd_pid[A]}"
stop_pid "${secd_pid[B]}"
if at A ip link show macsec0 > /dev/null 2>&1; then
	fail "A's macsec0, created by the daemon, is still there"
else
	ok "A's daemon deleted the device it created"
fi
expect_eq "B's device is left with no SA" 0 "$(sa_count B)"
