#!/bin/bash
# qkdn-secd, IPsec: an ESP tunnel between two security gateways that are QKD
# nodes three hops apart, keyed and rekeyed with relayed QKD keys.
#
#  netns hA                                                        netns hD
#  192.168.1.2                                                  192.168.4.2
#      |                                                              |
#  192.168.1.1                                                  192.168.4.1
#  netns A (1)        netns B (2)        netns C (3)        netns D (4)
#  +-----------+      +---------+        +---------+        +-----------+
#  | kmd       |-veth-| kmd     |--veth--| kmd     |-veth---| kmd       |
#  | secd gw-a |      | trusted |  (tcp- | trusted |        | secd gw-d |
#  | initiator |      |         |  dump) |         |        | responder |
#  +-----------+      +---------+        +---------+        +-----------+
#   .12.1 ~~link 12~~ .12.2 .23.2 ~~link 23~~ .23.3 .34.3 ~~link 34~~ .34.4
#           (10.0.XY.0/24 between nodes X and Y; QKD link XY, alice at X)
#
#   A relays 320-bit keys to D (kmds carry the frames); gw-a takes them with
#   KEY_GET, gw-d with KEY_GET_ID by the IDs gw-a sends over TLS. ESP tunnel
#   10.0.12.1 <-> 10.0.34.4 for 192.168.1.0/24 <-> 192.168.4.0/24, rekeyed
#   every 2 s while hA pings hD.
set -e
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pki.sh"
trap cleanup EXIT

work=$(mktemp -d)
defer rm -rf "$work"
# On failure, what the daemons said.
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


# QKD nodes, QKD links with identical keys at both ends, kmd routes.
declare -A id_of kmd_pid secd_pid
for ns in A B C D; do
	netns_node "$ns"
done
qkdn_load
id_of=([A]=1 [B]=2 [C]=3 [D]=4)
for ns in A B C D; do
	at "$ns" qkdn node set id "${id_of[$ns]}" name "$ns"
	at "$ns" sysctl -qw net.ipv4.ip_forward=1
done
qkdn_pki "$work/pki" 1 2 3 4
# Load ESP and the AEAD now: a first state of a kind makes the kernel load
# modules, seconds under TCG, which the rekeys should not wait for.
at A ip xfrm state add src 10.9.9.1 dst 10.9.9.2 proto esp spi 0x100 mode tunnel \
	aead 'rfc4106(gcm(aes))' "0x$(printf '%072d' 0)" 128
at A ip xfrm state flush
for pair in A:B B:C C:D; do
	x=${pair%:*} y=${pair#*:}
	ix=${id_of[$x]} iy=${id_of[$y]} lid=${id_of[$x]}${id_of[$y]}
	netns_connect "$x" "10.0.$lid.$ix/24" "$y" "10.0.$lid.$iy/24"
	at "$x" qkdn link add "$lid" peer "$iy" role alice module "L$lid-a" peer-module "L$lid-b" \
		unit 32 capacity 10000 low 1 high 9000
	at "$y" qkdn link add "$lid" peer "$ix" role bob module "L$lid-b" peer-module "L$lid-a" \
		unit 32 capacity 10000 low 1 high 9000
	head -c 8192 /dev/urandom > "$work/q"
	at "$x" qkdn key push link "$lid" qkd-id "q$lid" < "$work/q"
	at "$y" qkdn key push link "$lid" qkd-id "q$lid" < "$work/q"
done
# IP routes between the gateways through B and C.
at A ip route add 10.0.0.0/16 via 10.0.12.2
at B ip route add 10.0.34.0/24 via 10.0.23.3
at C ip route add 10.0.12.0/24 via 10.0.23.2
at D ip route add 10.0.0.0/16 via 10.0.34.3

# kmd_conf NS PEER_ID:PEER_ADDR... ROUTE dest:via...
kmd_conf() {
	local ns=$1 p r id=${id_of[$1]}
	{
		printf '[node]\nid = %s\nname = %s\nlisten = 0.0.0.0:7000\n' "$id" "$ns"
		printf 'cert = pki/node-%s.crt\nkey = pki/node-%s.key\nca = pki/ca.crt\n' "$id" "$id"
		printf 'community = secd-test\nksa-sync = no\n'
		for p in $2; do
			printf '\n[peer]\nid = %s\naddress = %s:7000\n' "${p%%:*}" "${p#*:}"
		done
		for r in $3; do
			printf '\n[route]\ndest = %s\nvia = %s\n' "${r%:*}" "${r#*:}"
		done
	} > "$work/kmd-$ns.conf"
	ip netns exec "$ns" qkdn-kmd --config "$work/kmd-$ns.conf" > "$work/kmd-$ns.log" 2>&1 &
	kmd_pid[$ns]=$!
	defer stop_pid "${kmd_pid[$ns]}"
}
kmd_conf A "2:10.0.12.2" "4:2 3:2"
kmd_conf B "1:10.0.12.1 3:10.0.23.3" "4:3"
kmd_conf C "2:10.0.23.2 4:10.0.34.4" "1:2"
kmd_conf D "3:10.0.34.3" "1:3 2:3"
peers_up() {
	[[ $(grep -c 'event=peer-up' "$work/kmd-A.log") -ge 1 &&
		$(grep -c 'event=peer-up' "$work/kmd-B.log") -ge 2 &&
		$(grep -c 'event=peer-up' "$work/kmd-C.log") -ge 2 &&
		$(grep -c 'event=peer-up' "$work/kmd-D.log") -ge 1 ]]
}
wait_until 60 peers_up
sleep 2 # sessions settle (both ends may dial at once)

# Relayed keys A -> D, 320 bits: one key per IPsec direction (36 bytes).
relayed=0
for try in 1 2 3; do
	if at A qkdn relay dest 4 amount 60 size 320 > /dev/null 2> "$work/relay.err"; then
		relayed=60
		break
	fi
	sleep 2
done
expect_eq "60 keys of 320 bits relayed from A to D" 60 "$relayed"
store() { at "$1" qkdn -j store show | jq ".[] | select(.node == $2) | .stats.$3"; }
expect_eq "D holds the 60 relayed keys" 60 "$(store D 1 peer_stored)"

at A qkdn app add gw-a uid 0
at A qkdn app add gw-d node 4
at D qkdn app add gw-d uid 0
at D qkdn app add gw-a node 1

# The user networks.
netns_node hA
netns_node hD
netns_connect hA 192.168.1.2/24 A 192.168.1.1/24
netns_connect hD 192.168.4.2/24 D 192.168.4.1/24
at hA ip route add default via 192.168.1.1
at hD ip route add default via 192.168.4.1
at A ip route add 192.168.4.0/24 via 10.0.12.2
at D ip route add 192.168.1.0/24 via 10.0.34.3

for sae in gw-a gw-d gw-x; do
	qkdn_pki_issue "$work/pki" "$sae" "$sae"
done

# secd_conf NS FILE SAE PEER_SAE ROLE_LINE [EXTRA]: a config for gateway NS.
secd_conf() {
	local ns=$1 file=$2 sae=$3 peer_sae=$4 role=$5 extra=$6
	local local_ip=10.0.12.1 remote_ip=10.0.34.4 lsub=192.168.1.0/24 rsub=192.168.4.0/24
	if [[ $ns == D ]]; then
		local_ip=10.0.34.4 remote_ip=10.0.12.1 lsub=192.168.4.0/24 rsub=192.168.1.0/24
	fi
	{
		printf '[secd]\nsae = %s\npeer-sae = %s\n' "$sae" "$peer_sae"
		printf 'cert = pki/%s.crt\nkey = pki/%s.key\nca = pki/ca.crt\n' "${cert:-$sae}" "${cert:-$sae}"
		printf '%s\nrekey-seconds = 2\ngrace-ms = 400\n%s\n' "$role" "$extra"
		printf '[ipsec]\nlocal = %s\nremote = %s\n' "$local_ip" "$remote_ip"
		printf 'local-subnet = %s\nremote-subnet = %s\n' "$lsub" "$rsub"
	} > "$work/$file"
}
secd_start() {
	local ns=$1 conf=$2
	ip netns exec "$ns" qkdn-secd --config "$work/$conf" --log-level debug > "$work/$conf.log" 2>&1 &
	secd_pid[$ns]=$!
	defer stop_pid "${secd_pid[$ns]}"
}
xfrm_empty() { [[ -z $(at "$1" ip xfrm state) && -z $(at "$1" ip xfrm policy) ]]; }

# Bad config and unknown SAEs: a clear error, exit 1, nothing programmed.
secd_conf A bad1.conf gw-a gw-d "peer = 10.0.34.4:7100" "grace-ms = 2500"
expect_errno "a key given twice" '"grace-ms" given twice in this [secd] section' \
	at A qkdn-secd --config "$work/bad1.conf"
sed -i '/^grace-ms = 400$/d' "$work/bad1.conf"
expect_errno "grace period not shorter than the rekey interval" \
	"[secd] grace-ms 2500 must be less than rekey-seconds (2 s)" \
	at A qkdn-secd --config "$work/bad1.conf"
secd_conf A bad2.conf gw-a gw-d "listen = 0.0.0.0:7100
peer = 10.0.34.4:7100"
expect_errno "both listen and peer" "needs exactly one of peer" \
	at A qkdn-secd --config "$work/bad2.conf"
secd_conf A bad3.conf gw-a gw-d "peer = 10.0.34.4:7100"
sed -i 's#^local-subnet = .*#local-subnet = 192.168.1.1/24#' "$work/bad3.conf"
expect_errno "subnet with host bits" \
	"local-subnet = 192.168.1.1/24: not ADDRESS/PREFIX with the host bits clear" \
	at A qkdn-secd --config "$work/bad3.conf"
secd_conf A unknown.conf gw-a gw-z "peer = 10.0.34.4:7100"
expect_errno "unknown peer SAE" "peer-sae gw-z is not registered at node 1" \
	at A qkdn-secd --config "$work/unknown.conf"
if xfrm_empty A && xfrm_empty D; then
	ok "refused configs programmed nothing"
else
	fail "refused configs left xfrm states or policies: $(at A ip xfrm state; at A ip xfrm policy)"
fi

# A peer with the certificate of another SAE: refused, nothing programmed,
# no key taken from the store.
secd_conf A a.conf gw-a gw-d "peer = 10.0.34.4:7100"
cert=gw-x secd_conf D dx.conf gw-d gw-a "listen = 0.0.0.0:7100"
secd_start D dx.conf
wait_until 20 grep -q 'event=started' "$work/dx.conf.log"
secd_start A a.conf
if wait_until 15 grep -q 'event=peer-refused reason="peer certificate CN gw-x is not peer-sae gw-d"' \
	"$work/a.conf.log"; then
	ok "gw-a refuses a peer whose certificate names gw-x"
else
	fail "gw-a did not refuse gw-x: $(grep -E 'peer|conn' "$work/a.conf.log" | tail -n 3)"
fi
stop_pid "${secd_pid[A]}"
stop_pid "${secd_pid[D]}"
if xfrm_empty A && xfrm_empty D; then
	ok "wrong peer certificate: nothing programmed"
else
	fail "wrong peer certificate: xfrm states or policies were programmed"
fi
expect_eq "wrong peer certificate: no key taken from A's store" 0 "$(store A 4 consumed)"

# The tunnel.
secd_conf D d.conf gw-d gw-a "listen = 0.0.0.0:7100"
secd_start D d.conf
wait_until 20 grep -q 'event=started' "$work/d.conf.log"
secd_start A a.conf
rekeys() { grep -c 'event=rekey ' "$work/$1.log" || true; }
rekeyed() { (($(rekeys d.conf) >= 1)); }
if wait_until 30 rekeyed; then
	ok "first generation up at both ends"
else
	fail "no generation came up: $(tail -n 5 "$work/a.conf.log") $(tail -n 5 "$work/d.conf.log")"
	exit 1
fi

# ESP on the wire between B and C while hA pings hD for 20 s.
at B timeout 30 tcpdump -i veth-C -n -c 60 -w "$work/bc.pcap" 'esp or icmp' \
	> /dev/null 2>&1 &
tcpdump_pid=$!
sleep 1
rekeys_before=$(rekeys d.conf)
ping_out=$(at hA ping -n -q -i 0.2 -c 100 -W 2 192.168.4.2 || true)
rekeys_during=$(($(rekeys d.conf) - rekeys_before))
wait "$tcpdump_pid" || true
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<< "$ping_out")
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<< "$ping_out")
expect_eq "100 pings sent through the tunnel" 100 "$sent"
expect_eq "no ping lost across the rekeys" "$sent" "$received"
if ((rekeys_during >= 9)); then
	ok "$rekeys_during rekeys during the 20 s of pings"
else
	fail "expected at least 9 rekeys in 20 s, saw $rekeys_during"
fi
esp=$(tcpdump -n -r "$work/bc.pcap" esp 2>/dev/null | wc -l)
icmp=$(tcpdump -n -r "$work/bc.pcap" icmp 2>/dev/null | wc -l)
if ((esp > 0 && icmp == 0)); then
	ok "between B and C: $esp ESP packets, no ICMP in clear"
else
	fail "between B and C: expected ESP and no clear ICMP, saw $esp ESP, $icmp ICMP"
fi
spis=$(tcpdump -n -r "$work/bc.pcap" esp 2>/dev/null | grep -o 'spi=0x[0-9a-f]*' | sort -u | wc -l)
if ((spis >= 4)); then
	ok "the wire saw $spis distinct SPIs"
else
	fail "expected the SPIs to change with the rekeys, saw $spis"
fi

# Both ends hold the same key for the same SPI. (Both daemons paused, so
# no rekey runs between the reads.)
keys() {
	at "$1" ip xfrm state | awk '$1 == "proto" { spi = $4 } $1 == "aead" { print spi, $3 }'
}
kill -STOP "${secd_pid[A]}" "${secd_pid[D]}"
keys A > "$work/keys.A"
keys D > "$work/keys.D"
kill -CONT "${secd_pid[A]}" "${secd_pid[D]}"
read -r common same < <(awk 'NR == FNR { k[$1] = $2; next }
	($1 in k) { common++; if (k[$1] == $2) same++ } END { print common + 0, same + 0 }' \
	"$work/keys.A" "$work/keys.D")
if ((common >= 2 && same == common)); then
	ok "A and D hold the same key for each of $common SPIs"
else
	fail "expected the same keys for the same SPIs, saw $common common SPIs, $same equal" \
		"(SPIs at A: $(cut -d' ' -f1 "$work/keys.A" | tr '\n' ' ')," \
		"at D: $(cut -d' ' -f1 "$work/keys.D" | tr '\n' ' '))"
fi
algs=$(at A ip xfrm state | awk '$1 == "aead" { print $2, length($3) - 2, $4 }' | sort -u)
expect_eq "AEAD rfc4106(gcm(aes)), 256-bit key + 32-bit salt, 128-bit ICV" \
	"rfc4106(gcm(aes)) 72 128" "$algs"
spi_out=$(awk '/event=rekey /' "$work/a.conf.log" | tail -n1 | grep -o 'spi_out=0x[0-9a-f]*')
spi_in=$(awk '/event=rekey /' "$work/a.conf.log" | tail -n1 | grep -o 'spi_in=0x[0-9a-f]*')
if [[ -n $spi_out && ${spi_out#*=} != "${spi_in#*=}" ]] &&
	[[ -z $(awk '{ print $2 }' "$work/keys.A" | sort | uniq -d) ]]; then
	ok "each direction has its own SPI and key"
else
	fail "a key or SPI is shared by both directions"
fi

# The key IDs came from the store: gw-d fetched by ID exactly the keys gw-a
# took, and they are gone from D's store.
key_out=$(awk '/event=rekey /' "$work/a.conf.log" | tail -n1 | grep -o 'key_out=[0-9a-f-]*')
expect_errno "gw-a's last key ID was fetched by gw-d already" "Required key not available" \
	at D qkdn key get-id sae gw-d peer gw-a "${key_out#*=}"
# The daemons go on rekeying every 2 s: read both stores between two
# rekeys, when they agree (a rekey moves both within milliseconds).
stores_agree() { [[ $(store A 4 consumed) == "$(store D 1 consumed)" ]]; }
wait_until 10 stores_agree || true
expect_eq "D's store gave out what A's store gave out" "$(store A 4 consumed)" \
	"$(store D 1 consumed)"

# Stop: every state and policy goes; the daemon's last counters say how
# many keys it took, which must be what A's store gave out.
stop_pid "${secd_pid[A]}"
stop_pid "${secd_pid[D]}"
fetched=$(grep 'why=shutdown' "$work/a.conf.log" | grep -o 'keys_fetched=[0-9]*')
expect_eq "gw-a's keys are the ones A's store handed out" "keys_fetched=$(store A 4 consumed)" \
	"$fetched"
if xfrm_empty A && xfrm_empty D; then
	ok "stopped daemons left no state or policy"
else
	fail "stopped daemons left: $(at A ip xfrm state; at D ip xfrm policy)"
fi
