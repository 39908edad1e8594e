#!/bin/bash
# ETSI GS QKD 014 multicast in qkdn-kmd: an enc_keys request with
# additional_slave_SAE_IDs returns keys that every slave SAE, wherever it
# is attached, fetches once by the same IDs, byte for byte; refusals take
# nothing anywhere; a multicast whose relay fails leaves no key at any
# slave. Also a unicast key relayed three hops: fetched by ID at delta,
# equal to alpha's, once.
#
#   alpha (1) ======== beta (2) ======== gamma (3) ======== delta (4)
#   10.0.12.1   10.0.12.2   10.0.23.2   10.0.23.3   10.0.34.3   10.0.34.4
#      link 12 (unit 32)       link 23 (unit 32)       link 34 (unit 32)
#
#   alpha: master sa (cert CN app-a); local slaves sl (CN app-s), sm
#   beta:  slave sb (CN app-s), a neighbour of alpha: a one-hop leg
#   gamma: trusted node only
#   delta: slave sd (CN app-s), three hops: a leg relayed by beta, gamma
#
#   Routes: alpha 3, 4 via 2; beta 4 via 3; gamma 1 via 2; delta 1, 2 via 3.
#   Every node runs qkdn-kmd (TLS to its neighbours, the 014 API on :8443,
#   ksa-sync = yes, relay timeout 4 s); curl plays the SAEs.
set -e
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pki.sh"
source "$(dirname "$0")/etsi014.sh"
trap cleanup EXIT

e14_init
nodes=(alpha beta gamma delta)

at() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# Every process is dear under TCG: one netns exec, one qkdn, one jq.
# get NS OBJECT EXPR: jq EXPR over `qkdn -j OBJECT show` at NS, with
# store(N), the counters of the store for node N (zeros if none), and
# enc(L), enc-available of link L.
get() {
	at "$1" qkdn -j "$2" show | jq -r 'def store(n): [.[] | select(.node == n) | .stats] |
		first // {peer_stored: 0, relayed_in: 0, deleted: 0};
		def enc(l): .[] | select(.link == l) | .stats.enc_available; '"$3"
}
# all_nodes: the pools, stores and relay counters of every node (the rates
# aside: they are samples of time). Refused
# requests are checked in blocks: these numbers only move one way while
# no QKD-key is pushed (keys leave pools and stores, counters grow), so a
# block that leaves them all as they were had no request take anything.
all_nodes() {
	local ns
	for ns in "${nodes[@]}"; do
		at "$ns" sh -c 'qkdn -j link show; qkdn -j store show; qkdn -j node show'
	done | jq -c 'if type == "array" then map(del(.stats.gen_rate, .stats.cons_rate)) else . end'
}
# refused WHAT CODE MESSAGE NS CERT METHOD PATH [BODY]: the exact code and
# Error message (the pools are checked around the whole block).
refused() {
	local what=$1 code=$2 message=$3 reply
	shift 3
	reply=$(e14 "$@")
	expect_eq "$what" "$code $message array" \
		"${reply%% *} $(jq -r '"\(.message) \(.details | type)"' <<< "${reply#* }" 2>&1)"
}
# keys_of REPLY: the Key container's keys, compact JSON.
keys_of() { jq -c .keys <<< "${1#* }"; }
ids_of() { jq -c '{key_IDs: [.[] | {key_ID}]}' <<< "$1"; }

qkdn_pki "$work/pki" 1 2 3 4
# app-a: the master sa; app-s: every slave (sl at alpha, sb at beta, sd at
# delta: a CN names an SAE per KME).
e14_app_cert app-a app-a
e14_app_cert app-s app-s

qkdn_load
for ns in "${nodes[@]}"; do
	netns_node "$ns"
done
netns_connect alpha 10.0.12.1/24 beta 10.0.12.2/24
netns_connect beta 10.0.23.2/24 gamma 10.0.23.3/24
netns_connect gamma 10.0.34.3/24 delta 10.0.34.4/24
# Link LM between nodes L and M, L alice, unit 32: both ends get the same
# 2 QKD-keys of 1200 bytes, 75 KMA-keys, 38 in L's encrypting half and 37
# in M's.
for l in 12 23 34; do
	for i in 1 2; do
		head -c 1200 /dev/urandom > "$work/q$l-$i"
	done
done
# setup I: node I's ID, its ends of links, and every SAE (the 014 ones
# registered with kmd's uid, 0), in one shell.
setup() {
	local i=$1 l peer role sae node
	echo "qkdn node set id $i name ${nodes[i - 1]}"
	for l in 12 23 34; do
		if [[ ${l:0:1} == "$i" ]]; then
			peer=${l:1:1} role=alice
		elif [[ ${l:1:1} == "$i" ]]; then
			peer=${l:0:1} role=bob
		else
			continue
		fi
		echo "qkdn link add $l peer $peer role $role module L$l-$role" \
			"peer-module L$l-$([[ $role == alice ]] && echo bob || echo alice)" \
			"unit 32 capacity 10000 low 1 high 9000"
		echo "qkdn key push link $l qkd-id q1 < $work/q$l-1"
		echo "qkdn key push link $l qkd-id q2 < $work/q$l-2"
	done
	for sae in sa:1 sl:1 sm:1 sb:2 sd:4; do
		node=${sae#*:}
		if ((node == i)); then
			echo "qkdn app add ${sae%:*} uid 0"
		else
			echo "qkdn app add ${sae%:*} node $node"
		fi
	done
}
for i in 1 2 3 4; do
	at "${nodes[i - 1]}" bash -e -c "$(setup $i)"
done

defer e14_dump_logs
E14_MAX_KEYS=128
e14_kmd alpha 1 timeout:4000 peer:2:10.0.12.2 route:3:2 route:4:2 sae:sa:app-a sae:sl:app-s
e14_kmd beta 2 timeout:4000 peer:1:10.0.12.1 peer:3:10.0.23.3 route:4:3 sae:sb:app-s
e14_kmd gamma 3 timeout:4000 peer:2:10.0.23.2 peer:4:10.0.34.4 route:1:2
e14_kmd delta 4 timeout:4000 peer:3:10.0.34.3 route:1:3 route:2:3 sae:sd:app-s
for ns in "${nodes[@]}"; do
	wait_until 30 e14_logged "$ns" event=etsi014-listening
done
wait_until 30 e14_logged alpha "event=peer-up peer=2"
wait_until 30 e14_logged beta "event=peer-up peer=3"
wait_until 30 e14_logged gamma "event=peer-up peer=4"
wait_until 30 e14_logged delta "event=peer-up peer=3"

# ---- Unicast over three hops: relayed keys, fetched by ID at delta
echo "# ${SECONDS}s: unicast"
expect_ok "relay 2 keys from alpha to delta" at alpha qkdn relay dest 4 amount 2
reply=$(e14 alpha app-a GET /api/v1/keys/sd/enc_keys?number=2)
expect_eq "enc_keys for sd (3 hops): 200, 2 keys of 32 bytes" "200 2 44" \
	"${reply%% *} $(jq -r '"\(.keys | length) \(.keys[0].key | length)"' <<< "${reply#* }")"
uni=$(keys_of "$reply")
reply=$(e14 delta app-s POST /api/v1/keys/sa/dec_keys "$(ids_of "$uni")")
expect_eq "dec_keys at delta: alpha's keys, byte for byte" "200 $uni" "${reply%% *} $(keys_of "$reply")"
refused "dec_keys at delta: a relayed key is fetched once" 400 \
	"key ID not found: unknown or already fetched" \
	delta app-s GET "/api/v1/keys/sa/dec_keys?key_ID=$(jq -r '.[1].key_ID' <<< "$uni")"

# ---- Status
echo "# ${SECONDS}s: status"
reply=$(e14 alpha app-a POST /api/v1/keys/sb/status)
expect_eq "status: max_SAE_ID_count 15" "200 15" \
	"${reply%% *} $(jq .max_SAE_ID_count <<< "${reply#* }")"

# ---- Multicast: sd (3 hops), sb (neighbour), sl (alpha itself)
echo "# ${SECONDS}s: multicast"
# held: keys waiting for sd at delta, sb at beta, sl at alpha.
held() {
	echo "$(get delta store 'store(1).peer_stored') $(get beta store 'store(1).peer_stored')" \
		"$(get alpha store 'store(1).peer_stored')"
}
enc12=$(get alpha link 'enc(12)')
read -r held_d held_b _ <<< "$(held)"
reply=$(e14 alpha app-a POST /api/v1/keys/sd/enc_keys \
	'{"number":3,"additional_slave_SAE_IDs":["sb","sl"]}')
expect_eq "multicast enc_keys: 200, 3 keys of 256 bits" "200 3 44" \
	"${reply%% *} $(jq -r '"\(.keys | length) \(.keys[0].key | length)"' <<< "${reply#* }")"
multi=$(keys_of "$reply")
# Two legs leave on link 12, ceil((32 + 3 * 32) / 32) = 4 link keys each.
expect_eq "two legs of 4 link keys each left alpha on link 12" $((enc12 - 8)) \
	"$(get alpha link 'enc(12)')"
expect_eq "stored for sd at delta, sb at beta, sl at alpha: 3 keys each" \
	"$((held_d + 3)) $((held_b + 3)) 3" "$(held)"
reply=$(e14 delta app-s POST /api/v1/keys/sa/dec_keys "$(ids_of "$multi")")
expect_eq "sd at delta fetches the master's keys, byte for byte" \
	"200 $multi" "${reply%% *} $(keys_of "$reply")"
reply=$(e14 beta app-s GET "/api/v1/keys/sa/dec_keys?key_ID=$(jq -r '.[0].key_ID' <<< "$multi")")
expect_eq "sb at beta fetches key 0 (GET)" "200 $(jq -c '[.[0]]' <<< "$multi")" \
	"${reply%% *} $(keys_of "$reply")"
reply=$(e14 beta app-s POST /api/v1/keys/sa/dec_keys "$(ids_of "$(jq -c '.[1:]' <<< "$multi")")")
expect_eq "sb at beta fetches keys 1 and 2 (POST)" "200 $(jq -c '.[1:]' <<< "$multi")" \
	"${reply%% *} $(keys_of "$reply")"
reply=$(e14 alpha app-s POST /api/v1/keys/sa/dec_keys "$(ids_of "$multi")")
expect_eq "sl at alpha fetches the master's keys, byte for byte" \
	"200 $multi" "${reply%% *} $(keys_of "$reply")"
last=$(jq -r '.[2].key_ID' <<< "$multi")
for ns in delta beta alpha; do
	refused "a second fetch at $ns is refused" 400 \
		"key ID not found: unknown or already fetched" \
		$ns app-s GET "/api/v1/keys/sa/dec_keys?key_ID=$last"
done
expect_eq "every store is empty again" "$held_d $held_b 0" "$(held)"

# ---- Refused multicast requests take nothing anywhere
echo "# ${SECONDS}s: refusals"
everywhere=$(all_nodes)
sixteen=$(jq -nc '[range(16) | "s\(.)"]')
# WHAT | CODE | MESSAGE | METHOD PATH [BODY], all made at alpha as sa, on
# one connection.
refusals=$(cat << EOF
16 additional slave SAEs|400|too many additional_slave_SAE_IDs (max_SAE_ID_count is 15)|POST /api/v1/keys/sd/enc_keys {"additional_slave_SAE_IDs":$sixteen}
an unknown additional slave SAE|400|unknown SAE ID|POST /api/v1/keys/sd/enc_keys {"additional_slave_SAE_IDs":["sb","nobody"]}
an unknown slave SAE with additional ones|400|unknown SAE ID|POST /api/v1/keys/nobody/enc_keys {"additional_slave_SAE_IDs":["sb"]}
an additional slave SAE named twice|400|a slave SAE is named twice|POST /api/v1/keys/sd/enc_keys {"additional_slave_SAE_IDs":["sb","sb"]}
the slave SAE again as an additional one|400|a slave SAE is named twice|POST /api/v1/keys/sd/enc_keys {"additional_slave_SAE_IDs":["sb","sd"]}
the master SAE as a slave|400|the master SAE cannot be one of its slave SAEs|POST /api/v1/keys/sd/enc_keys {"additional_slave_SAE_IDs":["sa"]}
additional_slave_SAE_IDs not an array|400|additional_slave_SAE_IDs must be an array of SAE IDs|POST /api/v1/keys/sd/enc_keys {"additional_slave_SAE_IDs":"sb"}
an additional slave SAE ID that is not an ID|400|additional_slave_SAE_IDs must be an array of SAE IDs|POST /api/v1/keys/sd/enc_keys {"additional_slave_SAE_IDs":["s b"]}
additional_slave_SAE_IDs in a GET query|400|additional_slave_SAE_IDs only in a POST Key request|GET /api/v1/keys/sd/enc_keys?additional_slave_SAE_IDs=sb
65 keys with additional slaves|400|number must be at most 64 with additional_slave_SAE_IDs|POST /api/v1/keys/sd/enc_keys {"number":65,"additional_slave_SAE_IDs":["sb"]}
a size a relay cannot carry (200 bits)|400|bad request|POST /api/v1/keys/sd/enc_keys {"size":200,"additional_slave_SAE_IDs":["sb"]}
every slave at alpha: no link to draw keys from|400|bad request|POST /api/v1/keys/sl/enc_keys {"additional_slave_SAE_IDs":["sm"]}
EOF
)
mapfile -t replies < <(cut -d'|' -f4 <<< "$refusals" | e14_many alpha app-a)
mapfile -t messages < <(for r in "${replies[@]}"; do echo "${r#* }"; done |
	jq -r '"\(.message) \(.details | type)"' 2>&1)
i=0
while IFS='|' read -r what code message _; do
	expect_eq "$what" "$code $message array" "${replies[i]%% *} ${messages[i]}"
	i=$((i + 1))
done <<< "$refusals"
expect_eq "the refusals took nothing from any pool or store of any node" \
	"$everywhere" "$(all_nodes)"

# ---- A multicast whose relay fails: no key usable at any slave
echo "# ${SECONDS}s: failure"
e14_kmd_stop gamma
failed=$(get alpha node .relay.failed)
read -r in_b del_b <<< "$(get beta store '"\(store(1).relayed_in) \(store(1).deleted)"')"
reply=$(e14 alpha app-a POST /api/v1/keys/sd/enc_keys '{"additional_slave_SAE_IDs":["sb","sl"]}')
expect_eq "gamma's kmd down: 503 after the relay timeout" \
	"503 a slave SAE's KME did not acknowledge the keys in time; none were delivered" \
	"${reply%% *} $(jq -r .message <<< "${reply#* }")"
expect_eq "both legs abandoned at alpha" $((failed + 2)) "$(get alpha node .relay.failed)"
# beta stored its copy and acknowledged it; the ABORT that follows the
# timeout wipes it.
aborted_at_beta() {
	[[ $(get beta store '"\(store(1).relayed_in) \(store(1).deleted)"') == \
		"$((in_b + 1)) $((del_b + 1))" ]]
}
expect_ok "beta's copy arrived, then the ABORT wiped it" wait_until 20 aborted_at_beta
expect_eq "no key left for sd at delta, sb at beta, sl at alpha" "$held_d $held_b 0" "$(held)"

# ---- Too few link keys for every leg, though enough for one
e=$(get alpha link 'enc(12)')
((e >= 3 && e <= 65)) || fail "alpha's link 12 holds $e keys: the test wants 3..65"
everywhere=$(all_nodes)
refused "$((e - 1)) keys: one leg fits link 12 ($e keys), two do not" 503 \
	"not enough keys available" \
	alpha app-a POST /api/v1/keys/sd/enc_keys "{\"number\":$((e - 1)),\"additional_slave_SAE_IDs\":[\"sb\"]}"
expect_eq "the refusal took nothing from any pool or store" "$everywhere" "$(all_nodes)"

expect_eq "no key bytes in the logs" "" \
	"$(grep -hoF -e "$(jq -r '.[0].key' <<< "$multi")" -e "$(jq -r '.[0].key' <<< "$uni")" \
		"$work"/*.log || true)"
