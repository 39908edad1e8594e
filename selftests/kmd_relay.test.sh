#!/bin/bash
# Key relay end to end: qkdn.ko in every node, qkdn-kmd carrying the relay
# frames between neighbours over TLS 1.3 (mutual certificates) on veth.
#
# 1. A chain of five nodes, four hops:
#
#   netns A (1)      netns B (2)      netns C (3)      netns D (4)      netns E (5)
#   +---------+      +---------+      +---------+      +---------+      +---------+
#   | kmd     |-veth-| kmd     |-veth-| kmd     |-veth-| kmd     |-veth-| kmd     |
#   | sa uid0 | TLS  | trusted | TLS  | trusted | TLS  | trusted | TLS  | se uid0 |
#   +---------+      +---------+      +---------+      +---------+      +---------+
#    .12.1  ~~link 12~~  .12.2 .23.2 ~~link 23~~ .23.3 .34.3 ~~link 34~~ .34.4 .45.4 ~~link 45~~ .45.5
#                   (10.0.XY.0/24 between nodes X and Y; QKD link XY, alice at X)
#
#   Every kmd listens on 0.0.0.0:7000, has its neighbours as [peer] and a
#   [route] to every other node. A relays to E; the keys arrive at E, the
#   link pools on the way lose exactly what the frames need. Then C's kmd
#   is killed: a relay times out and leaves nothing usable at either end;
#   C's kmd comes back and relaying works again with fresh link keys.
#
# 2. A diamond, two paths between node 1 and node 4:
#
#                  netns dB (2)
#             12 /             \ 24
#   netns dA (1)                 netns dD (4)
#             13 \             / 34
#                  netns dC (3)
#
#   (10.1.XY.0/24, link XY.) Relays from 1 to 4 first go through 2; then
#   1's route to 4 is switched to 3 (ROUTE_ADD replaces), with the answer
#   still coming back through 2; then 4's route back is switched too.
#
# Link key cost, 32-byte units: a RELAY frame of N 32-byte keys takes
# ceil((32 + N * 32) / 32) = N + 1 link keys, an ACK or ABORT takes 1, at
# each end of every hop they cross. With KSA synchronisation (ksa-sync =
# yes, set by every kmd here), a GET_KEY at the source also sends a SYNC to
# the destination and gets a SYNC_ACK back: 1 link key each (the MAC key;
# they carry no key bytes). Every cost is checked as it happens, and at the
# end the totals must be exactly the sum: no link key unaccounted for.
set -e
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pki.sh"
trap cleanup EXIT

work=$(mktemp -d)
defer rm -rf "$work"

at() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
hex() { od -An -v -tx1 | tr -d ' \n'; }

# field NAME: the value after the word NAME on stdin ("... NAME value ...").
field() {
	awk -v name="$1" '{ for (i = 1; i < NF; i++) if ($i == name) { print $(i + 1); exit } }'
}
# lstat NS LINK COUNTER: a counter of one link's pool.
lstat() { at "$1" qkdn link show "$2" | field "$3"; }
# rstat NS COUNTER: a relay counter of the node.
rstat() { at "$1" qkdn node show | field "$2"; }
# sstat NS REMOTE COUNTER: a store counter for the keys shared with node REMOTE.
sstat() {
	at "$1" qkdn store show | awk -v node="$2:" -v name="$3" '
		$1 == "store" && $2 == "node" && $3 == node {
			for (i = 4; i < NF; i++) if ($i == name) { print $(i + 1); exit } }'
}
# cost N: link keys a RELAY frame of N 32-byte keys takes at each end of a hop.
cost() { echo $(((32 + $1 * 32 + 31) / 32)); }

# The topology, filled in by node/link/route below.
declare -A id_of peers_of routes_of addr_of kmd_pid kmd_log kmd_runs
net=0

# node NS ID: a netns holding QKD node ID, named NS like the netns.
node() {
	netns_node "$1"
	id_of[$1]=$2
	at "$1" qkdn node set id "$2" name "$1"
}

# link NS_X NS_Y: veth with addresses, and a QKD link with identical key
# material at both ends (alice at the lower node ID). Link ID XY.
link() {
	local x=$1 y=$2 ix=${id_of[$1]} iy=${id_of[$2]} i
	local lid=$ix$iy
	netns_connect "$x" "10.$net.$lid.$ix/24" "$y" "10.$net.$lid.$iy/24"
	addr_of[$x,$iy]=10.$net.$lid.$iy
	addr_of[$y,$ix]=10.$net.$lid.$ix
	peers_of[$x]+=" $iy"
	peers_of[$y]+=" $ix"
	at "$x" qkdn link add "$lid" peer "$iy" role alice module "L$lid-a" \
		peer-module "L$lid-b" unit 32 capacity 10000 low 1 high 9000
	at "$y" qkdn link add "$lid" peer "$ix" role bob module "L$lid-b" \
		peer-module "L$lid-a" unit 32 capacity 10000 low 1 high 9000
	# 2 QKD-keys of 1200 bytes: 75 KMA-keys, 37 or 38 in each half.
	# (Few pushes: every process start is slow in the TCG guest.)
	for i in 1 2; do
		head -c 1200 /dev/urandom > "$work/q"
		at "$x" qkdn key push link "$lid" qkd-id "n$net-L$lid-q$i" < "$work/q"
		at "$y" qkdn key push link "$lid" qkd-id "n$net-L$lid-q$i" < "$work/q"
	done
}

# route NS DEST VIA: a [route] in NS's kmd config.
route() { routes_of[$1]+=" $2:$3"; }

kmd_config() {
	local ns=$1 id=${id_of[$1]} p r
	{
		printf '[node]\nid = %s\nname = %s\nlisten = 0.0.0.0:7000\n' "$id" "$ns"
		printf 'cert = %s/pki/node-%s.crt\nkey = %s/pki/node-%s.key\nca = %s/pki/ca.crt\n' \
			"$work" "$id" "$work" "$id" "$work"
		printf 'community = qkdn-selftest\nksa-sync = yes\n'
		for p in ${peers_of[$ns]}; do
			printf '\n[peer]\nid = %s\naddress = %s:7000\n' "$p" "${addr_of[$ns,$p]}"
		done
		for r in ${routes_of[$ns]}; do
			printf '\n[route]\ndest = %s\nvia = %s\n' "${r%:*}" "${r#*:}"
		done
	} > "$work/$ns.conf"
}

kmd_start() {
	local ns=$1
	kmd_runs[$ns]=$((${kmd_runs[$ns]:-0} + 1))
	kmd_log[$ns]=$work/$ns.${kmd_runs[$ns]}.log
	ip netns exec "$ns" qkdn-kmd --config "$work/$ns.conf" --log-level debug \
		> "${kmd_log[$ns]}" 2>&1 &
	kmd_pid[$ns]=$!
	# Before the netns goes and the module is unloaded.
	defer kmd_stop "$ns"
}

# kmd_stop NS [SIGNAL]
kmd_stop() {
	local ns=$1 pid=${kmd_pid[$1]} i
	[[ -n $pid ]] || return 0
	kill "-${2:-TERM}" "$pid" 2>/dev/null || true
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	kmd_pid[$ns]=
}

# last_event NS PEER: peer-up or peer-down, the last one NS's kmd logged
# for neighbour PEER (over all its runs, so a restarted daemon counts).
last_event() {
	local ns=$1 run
	for ((run = 1; run <= ${kmd_runs[$ns]}; run++)); do
		grep -oE "event=peer-(up|down) peer=$2( |\$)" "$work/$ns.$run.log" || true
	done | tail -n1 | sed -E 's/event=(peer-[a-z]+).*/\1/'
}

# sessions_up NS...: every neighbour of every NS has its session up, as
# seen from both ends.
sessions_up() {
	local ns p
	for ns in "$@"; do
		[[ -n ${kmd_pid[$ns]} ]] || return 1
		for p in ${peers_of[$ns]}; do
			[[ $(last_event "$ns" "$p") == peer-up ]] || return 1
		done
	done
}

# sessions_settled NS...: no session came up or went down for 2 s. (Two
# neighbours that dial each other at once may see a session come up on one
# connection, then be replaced by the other's; frames in between are lost.)
sessions_settled() {
	local before now i
	before=$(cat "$work"/*.log | grep -cE 'event=peer-(up|down)')
	for i in 1 2 3 4 5 6 7 8 9 10; do
		sleep 2
		now=$(cat "$work"/*.log | grep -cE 'event=peer-(up|down)')
		if ((now == before)) && sessions_up "$@"; then
			return 0
		fi
		before=$now
	done
	return 1
}

session_down() { [[ $(last_event "$1" "$2") == peer-down ]]; }

# On failure, what the daemons said.
dump_logs() {
	local f
	((qkdn_checks_failed > 0)) || return 0
	for f in "$work"/*.log; do
		[[ -e $f ]] || continue
		echo "# ---- ${f##*/} (last 40 lines)"
		tail -n 40 "$f" | sed 's/^/#   /'
	done
}

# read_links ARRAY: "consumed stored" of every link end, as ARRAY[ns,link];
# one `qkdn link show` per node.
declare -A before after total
# shellcheck disable=SC2034,SC2004
read_links() {
	local -n into=$1
	local ns lid c st
	into=()
	for ns in "${!id_of[@]}"; do
		while read -r lid c st; do
			into[$ns,$lid]="$c $st"
		done < <(at "$ns" qkdn link show | awk '
			$1 == "link" { if (lid != "") print lid, c, s; lid = $2; sub(":", "", lid) }
			{ for (i = 1; i < NF; i++) {
				if ($i == "consumed") c = $(i + 1)
				if ($i == "stored") s = $(i + 1) } }
			END { if (lid != "") print lid, c, s }')
	done
}
snapshot() { read_links before; }

# spent WHAT HOP...: since the snapshot, each HOP "LINK:X:Y:N" lost exactly N
# link keys at both ends X and Y ("LINK:X:Y:NX:NY": NX at X, NY at Y):
# consumed up by that much, stored down by that much. Adds to total[].
spent() {
	local what=$1 hop lid x y nx ny ns n b a
	shift
	read_links after
	for hop in "$@"; do
		IFS=: read -r lid x y nx ny <<< "$hop"
		for ns in "$x" "$y"; do
			n=$nx
			[[ $ns == "$y" && -n $ny ]] && n=$ny
			read -r -a b <<< "${before[$ns,$lid]}"
			read -r -a a <<< "${after[$ns,$lid]}"
			expect_eq "$what: link $lid at $ns: $n link keys consumed" \
				"$n" "$((a[0] - b[0]))"
			expect_eq "$what: link $lid at $ns: $n fewer stored" \
				"$n" "$((b[1] - a[1]))"
			total[$ns,$lid]=$((${total[$ns,$lid]:-0} + n))
		done
	done
}

# consumed NS LINK / stored NS LINK: now.
consumed() { lstat "$1" "$2" consumed; }
stored() { lstat "$1" "$2" stored; }

# start_all NS...: a kmd in each, and wait for every session.
start_all() {
	local ns
	for ns in "$@"; do
		kmd_config "$ns"
		kmd_start "$ns"
	done
	if wait_until 60 sessions_up "$@" && sessions_settled "$@"; then
		ok "every neighbour session is up at both ends"
	else
		fail "neighbour sessions did not come up in 60 s"
		exit 1
	fi
}

# relay NS DEST N: relay N keys, check the reply; the key IDs into $ids.
relay() {
	local out
	out=$(at "$1" qkdn relay dest "$2" amount "$3")
	ok "relay of $3 keys from $1 to node $2 acknowledged"
	expect_eq "the reply names node $2 and $3 keys" "to node $2: $3 keys" \
		"$(head -n1 <<< "$out" | sed -E 's/^relay [0-9a-f]{16} //')"
	ids=$(tail -n +2 <<< "$out")
	expect_eq "the reply lists $3 key IDs" "$3" \
		"$(grep -cE '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' <<< "$ids")"
}

# same_keys WHAT SRC SAE DST PEER_SAE N HOP...: SAE at SRC takes N new keys
# (the ones just relayed, $ids), which costs the HOPs their KSA sync (see
# spent); PEER_SAE at DST takes them by ID: same bytes.
same_keys() {
	local what=$1 src=$2 sae=$3 dst=$4 peer=$5 n=$6
	shift 6
	snapshot
	at "$src" qkdn key get sae "$sae" peer "$peer" amount "$n" > "$work/src-keys"
	spent "$what: KSA sync" "$@"
	expect_eq "$what: $sae at $src gets the relayed keys" "$ids" \
		"$(cut -d' ' -f1 "$work/src-keys")"
	# shellcheck disable=SC2046
	at "$dst" qkdn key get-id sae "$peer" peer "$sae" $(cut -d' ' -f1 "$work/src-keys") \
		> "$work/dst-keys"
	expect_eq "$what: $peer at $dst gets the same bytes by ID" \
		"$(cat "$work/src-keys")" "$(cat "$work/dst-keys")"
}

chain_test() {
	local i j via all_ids relayed_in dropped started elapsed serial a_id a_hex
	local hop lid x y nx
	local -a hops
	node A 1
	node B 2
	node C 3
	node D 4
	node E 5
	link A B
	link B C
	link C D
	link D E
	hops=(12:A:B 23:B:C 34:C:D 45:D:E)
	local chain=(A B C D E)
	for ((i = 0; i < 5; i++)); do
		for ((j = 0; j < 5; j++)); do
			((i != j)) || continue
			if ((j > i)); then via=$((i + 2)); else via=$i; fi
			route "${chain[i]}" $((j + 1)) "$via"
		done
	done
	at A qkdn app add sa uid 0
	at A qkdn app add se node 5
	at E qkdn app add se uid 0
	at E qkdn app add sa node 1
	start_all A B C D E
	expect_eq "A's kmd programmed its routes" \
		"$(printf 'route %s\n' "2 via 2" "3 via 2" "4 via 2" "5 via 2")" \
		"$(at A qkdn route show)"
	expect_eq "C's kmd programmed its routes" \
		"$(printf 'route %s\n' "1 via 2" "2 via 2" "4 via 4" "5 via 4")" \
		"$(at C qkdn route show)"

	# -- four keys from A to E: RELAY and ACK cross every hop
	snapshot
	relay A 5 4
	spent "relay of 4" "${hops[@]/%/:$(($(cost 4) + 1))}"
	expect_eq "A: 1 relay started" 1 "$(rstat A started)"
	expect_eq "A: 1 relay completed" 1 "$(rstat A completed)"
	expect_eq "E: 1 relay received" 1 "$(rstat E received)"
	for ns in B C D; do
		expect_eq "$ns forwarded the RELAY and the ACK" 2 "$(rstat "$ns" forwarded)"
	done
	same_keys "relay of 4" A sa E se 4 "${hops[@]/%/:2}"
	all_ids=$ids
	expect_eq "the keys are 32 bytes" 64 "$(head -n1 "$work/src-keys" | cut -d' ' -f2 | tr -d '\n' | wc -c)"
	expect_errno "A's relayed keys are used up" "Resource temporarily unavailable" \
		at A qkdn key get sae sa peer se

	# -- one more, through the keyring at E
	snapshot
	relay A 5 1
	spent "relay of 1" "${hops[@]/%/:$(($(cost 1) + 1))}"
	all_ids+=$'\n'$ids
	snapshot
	read -r a_id a_hex < <(at A qkdn key get sae sa peer se)
	spent "key get: KSA sync" "${hops[@]/%/:2}"
	expect_eq "A's SAE gets the key relayed second" "$ids" "$a_id"
	serial=$(at E keyctl request2 qkdn "se:sa:$a_id" "" @u)
	expect_eq "E's keyring bytes by ID equal A's netlink bytes" "$a_hex" \
		"$(at E keyctl pipe "$serial" | hex)"
	at E keyctl unlink "$serial" @u > /dev/null
	expect_eq "A: 2 relays completed" 2 "$(rstat A completed)"
	expect_eq "E: 2 relays received" 2 "$(rstat E received)"
	relayed_in=$(sstat E 1 relayed-in)
	expect_eq "E's store counts 5 keys relayed in from A" 5 "$relayed_in"
	expect_eq "E's store has no key left for A" 0 "$(sstat E 1 peer-stored)"

	# -- C's kmd dies: the relay times out and leaves nothing behind
	kmd_stop C KILL
	if wait_until 10 session_down B 3 && wait_until 10 session_down D 3; then
		ok "B and D saw C's kmd go"
	else
		fail "B and D did not notice that C's kmd was killed"
	fi
	dropped=$(grep -c 'event=frame-dropped peer=3 ' "${kmd_log[B]}" || true)
	snapshot
	at A qkdn node set relay-timeout 2000
	expect_eq "A's relay timeout is 2000 ms" 2000 "$(at A qkdn node show | field relay-timeout)"
	started=$SECONDS
	expect_errno "relay through C without its kmd times out" "Connection timed out" \
		at A qkdn relay dest 5
	elapsed=$((SECONDS - started))
	if ((elapsed <= 5)); then
		ok "it gave up after ~2 s ($elapsed s)"
	else
		fail "relay timeout: expected ~2 s, saw $elapsed s"
	fi
	expect_eq "A: the relay is counted failed" 1 "$(rstat A failed)"
	expect_errno "no key of the failed relay is usable at A" \
		"Resource temporarily unavailable" at A qkdn key get sae sa peer se
	# The RELAY frame (2 link keys) and the ABORT (1) went A -> B and B
	# sent them on; C never got them, D and E saw nothing. The ABORT may
	# still be on its way: wait for B's kmd to drop it.
	# shellcheck disable=SC2016
	wait_until 10 eval '(($(grep -c "event=frame-dropped peer=3 " "${kmd_log[B]}") >= dropped + 2))' || true
	expect_eq "B's kmd dropped the RELAY and the ABORT for C (no session)" 2 \
		$(($(grep -c 'event=frame-dropped peer=3 ' "${kmd_log[B]}" || true) - dropped))
	spent "lost relay" "12:A:B:$(($(cost 1) + 1))" "23:B:C:$(($(cost 1) + 1)):0" \
		34:C:D:0 45:D:E:0
	expect_eq "E received no relay" 2 "$(rstat E received)"
	expect_eq "E's store holds nothing from A" 0 "$(sstat E 1 peer-stored)"
	expect_eq "E's store got no new key" "$relayed_in" "$(sstat E 1 relayed-in)"

	# -- C's kmd is back: relaying works again with fresh keys
	kmd_start C
	if wait_until 60 sessions_up B C D && sessions_settled B C D; then
		ok "C's kmd restarted: sessions with B and D up again"
	else
		fail "C's sessions did not come back in 60 s"
		exit 1
	fi
	at A qkdn node set relay-timeout 5000
	snapshot
	relay A 5 2
	expect_eq "the new key IDs differ from every earlier one" "" \
		"$(sort <(sort -u <<< "$all_ids") <(sort -u <<< "$ids") | uniq -d)"
	spent "relay after restart" "${hops[@]/%/:$(($(cost 2) + 1))}"
	same_keys "after restart" A sa E se 2 "${hops[@]/%/:2}"
	expect_eq "A: 3 relays completed, 1 failed, of 4" "4 3 1" \
		"$(at A qkdn node show | awk '{ for (i = 1; i < NF; i++) {
			if ($i == "started") s = $(i + 1); if ($i == "completed") c = $(i + 1)
			if ($i == "failed") f = $(i + 1) } } END { print s, c, f }')"

	# The whole run: every link key consumed is one of those counted above
	# (relays and KSA syncs); the two ends of a hop spent the same on the
	# same frames, except B's end of link 23, which alone spent the lost
	# RELAY and ABORT: C still holds its copies of those 3 keys, unused.
	local lost=$(($(cost 1) + 1))
	read_links after
	for hop in 12:A:B:0 23:B:C:$lost 34:C:D:0 45:D:E:0; do
		IFS=: read -r lid x y nx <<< "$hop"
		expect_eq "link $lid: consumed at $x and $y, in all, as counted" \
			"${total[$x,$lid]} ${total[$y,$lid]}" "${after[$x,$lid]% *} ${after[$y,$lid]% *}"
		expect_eq "link $lid: $x consumed $nx more than $y" "$nx" \
			"$((${after[$x,$lid]% *} - ${after[$y,$lid]% *}))"
		expect_eq "link $lid: $y stores $nx more than $x" "$nx" \
			"$((${after[$y,$lid]#* } - ${after[$x,$lid]#* }))"
	done
	expect_eq "A: KSA sync confirmed the 7 keys supplied" 7 "$(rstat A sync-ok)"
	expect_eq "no frame refused anywhere (replay, unknown key, bad MAC or frame)" "" \
		"$(for ns in A B C D E; do
			at "$ns" qkdn node show | awk -v ns="$ns" '{ for (i = 1; i < NF; i++)
				if ($i ~ /^(replayed|unknown-key|bad-mac|bad-frame|unknown-link|unroutable)$/ &&
				    $(i + 1) != 0)
					print ns, $i, $(i + 1) }'
		done)"
}

diamond_test() {
	net=1
	node dA 1
	node dB 2
	node dC 3
	node dD 4
	link dA dB
	link dA dC
	link dB dD
	link dC dD
	route dA 2 2; route dA 3 3; route dA 4 2
	route dB 1 1; route dB 4 4; route dB 3 1
	route dC 1 1; route dC 4 4; route dC 2 1
	route dD 2 2; route dD 3 3; route dD 1 2
	at dA qkdn app add s1 uid 0
	at dA qkdn app add s4 node 4
	at dD qkdn app add s4 uid 0
	at dD qkdn app add s1 node 1
	start_all dA dB dC dD

	snapshot
	relay dA 4 3
	spent "via 2" "12:dA:dB:$(($(cost 3) + 1))" "24:dB:dD:$(($(cost 3) + 1))" \
		13:dA:dC:0 34:dC:dD:0
	same_keys "via 2" dA s1 dD s4 3 12:dA:dB:2 24:dB:dD:2 13:dA:dC:0 34:dC:dD:0

	at dA qkdn route add 4 via 3
	expect_eq "node 1's route to 4 replaced: now via 3" \
		"$(printf 'route %s\n' "2 via 2" "3 via 3" "4 via 3")" "$(at dA qkdn route show)"

	# The RELAY goes 1 -> 3 -> 4, its ACK follows 4's route back: 4 -> 2 -> 1.
	snapshot
	relay dA 4 2
	spent "out via 3, back via 2" "13:dA:dC:$(cost 2)" "34:dC:dD:$(cost 2)" \
		12:dA:dB:1 24:dB:dD:1
	same_keys "out via 3, back via 2" dA s1 dD s4 2 12:dA:dB:1 24:dB:dD:1 13:dA:dC:1 34:dC:dD:1

	at dD qkdn route add 1 via 3
	snapshot
	relay dA 4 1
	spent "via 3 both ways" "13:dA:dC:$(($(cost 1) + 1))" "34:dC:dD:$(($(cost 1) + 1))" \
		12:dA:dB:0 24:dB:dD:0
	same_keys "via 3 both ways" dA s1 dD s4 1 12:dA:dB:0 24:dB:dD:0 13:dA:dC:2 34:dC:dD:2
	expect_eq "node 1: 3 relays completed" 3 "$(rstat dA completed)"
	# RELAY and ACK, then SYNC and SYNC_ACK, of each of the three rounds.
	expect_eq "node 2 forwarded 2+2, 1+1, 0+0 frames" 6 "$(rstat dB forwarded)"
	expect_eq "node 3 forwarded 0+0, 1+1, 2+2 frames" 6 "$(rstat dC forwarded)"
	expect_eq "node 4 received 3 relays" 3 "$(rstat dD received)"
}

topology=${1:-chain}
[[ $topology == chain || $topology == diamond ]] || {
	echo "usage: $0 [chain|diamond]" >&2
	exit 2
}
qkdn_load
defer dump_logs
qkdn_pki "$work/pki" 1 2 3 4 5
"${topology}_test"
