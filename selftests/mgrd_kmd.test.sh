#!/bin/bash
# qkdn-kmd reports to qkdn-mgrd (Mk): three key managers in a chain under
# one manager, with simulated QKD links under their KM links.
#
#   netns A (node 1)          netns B (node 2)          netns C (node 3)
#   kmd, SAE sa (014) --Kx-- kmd (trusted node) --Kx-- kmd, SAE sc (014)
#   qkdd tx 12 ~~~~~~~~~~~~~ qkdd rx 12, tx 23 ~~~~~~~~ qkdd rx 23
#   10.0.12.1          10.0.12.2     10.0.23.2          10.0.23.3
#        \ 10.9.1.2            | 10.9.2.2                 / 10.9.3.2
#         +------------ netns M: qkdn-mgrd 0.0.0.0:7500 -+
#                       (Mu https://127.0.0.1:7543, SQLite)
#
# A relays keys to C through B ([session] dest 3 at A keeps a store); sa
# takes them with enc_keys at A, sc fetches them with dec_keys at C. The
# test asserts, through the manager's API: (1) the inventory has the
# three KMs and their KM links; (2) a key ID's trace across the three
# nodes, generation to deletion, in time order; (3) the CDR totals per
# application equal the keys the SAEs received; (5) kill -9 of the manager
# while the KMs report, a restart: nothing they sent is missing, nothing
# twice; (4) B's kmd killed while a relay crosses it: A's relay failure
# alarm with the diagnosed cause (B's Kx session is down).
set -e
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pki.sh"
trap cleanup EXIT

command -v curl > /dev/null || skip_all "curl is not installed (scripts/install-deps.sh)"
command -v jq > /dev/null || skip_all "jq is not installed (scripts/install-deps.sh)"

work=$(mktemp -d)
defer rm -rf "$work"

at() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
api() { at M curl -sk --max-time 20 "https://127.0.0.1:7543/$1"; }
export QKDN_MGR_URL=https://127.0.0.1:7543
# alarms_is FILTER EXPECTED: `qkdn mgr alarms` (type names), filtered
alarms_is() { [[ $(at M qkdn -j mgr alarms | jq -r "$1" 2>/dev/null) == "$2" ]]; }
# jq_is FILTER EXPECTED PATH: the API's answer, filtered, is EXPECTED
jq_is() { [[ $(api "$3" | jq -r "$1" 2>/dev/null) == "$2" ]]; }

declare -A node_of=([A]=1 [B]=2 [C]=3) kmd_pid
pids=()

dump_logs() {
	local f
	((qkdn_checks_failed > 0)) || return 0
	for f in "$work"/*.log; do
		[[ -e $f ]] || continue
		echo "# ---- ${f##*/} (last 25 lines)"
		tail -n 25 "$f" | sed 's/^/#   /'
	done
}

qkdn_load
for ns in A B C M; do
	netns_node "$ns"
done
netns_connect A 10.0.12.1/24 B 10.0.12.2/24
netns_connect B 10.0.23.2/24 C 10.0.23.3/24
netns_connect M 10.9.1.1/24 A 10.9.1.2/24
netns_connect M 10.9.2.1/24 B 10.9.2.2/24
netns_connect M 10.9.3.1/24 C 10.9.3.2/24
for ns in A B C; do
	at "$ns" qkdn node set id "${node_of[$ns]}" name "$ns"
done
at A qkdn link add 12 peer 2 role alice module A12 peer-module B12 unit 32 capacity 100000 \
	low 1 high 90000
at B qkdn link add 12 peer 1 role bob module B12 peer-module A12 unit 32 capacity 100000 \
	low 1 high 90000
at B qkdn link add 23 peer 3 role alice module B23 peer-module C23 unit 32 capacity 100000 \
	low 1 high 90000
at C qkdn link add 23 peer 2 role bob module C23 peer-module B23 unit 32 capacity 100000 \
	low 1 high 90000
# The SAEs ETSI 014 serves are registered with kmd's uid (0).
at A qkdn app add sa uid 0
at A qkdn app add sc node 3
at C qkdn app add sc uid 0
at C qkdn app add sa node 1

qkdn_pki "$work/pki" 1 2 3
qkdn_pki_issue "$work/pki" mgr qkdn-mgr
qkdn_pki_issue "$work/pki" app-a app-a
qkdn_pki_issue "$work/pki" app-c app-c

# ---- The manager
cat > "$work/mgrd.conf" <<EOF
[manager]
name = vm-mgr
listen = 0.0.0.0:7500
cert = pki/mgr.crt
key = pki/mgr.key
ca = pki/ca.crt
db = mgrd.db
[http]
listen = 127.0.0.1:7543
client-cert = no
EOF
mgrd_runs=0
mgrd_start() {
	mgrd_runs=$((mgrd_runs + 1))
	ip netns exec M qkdn-mgrd -c "$work/mgrd.conf" 2> "$work/mgrd.$mgrd_runs.log" < /dev/null &
	mgrd_pid=$!
	wait_until 60 at M curl -sk --max-time 20 -o /dev/null https://127.0.0.1:7543/api/v1/agents
}
mgrd_stop() { [[ -z $mgrd_pid ]] || stop_pid "$mgrd_pid"; }
defer mgrd_stop
defer dump_logs
mgrd_start

# ---- Simulated QKD links: tx at the lower node
qkdd_conf() {	# NS LINK... ("tx:ID:MODULE:PEERMOD:PEER" or "rx:ID:MODULE:PEERMOD:LISTEN")
	local ns=$1 l role id mod pmod addr
	shift
	printf '[node]\nid = %s\ncontrol = %s/qkdd-%s.sock\n' "${node_of[$ns]}" "$work" "$ns"
	for l in "$@"; do
		IFS=: read -r role id mod pmod addr <<< "${l//,/:}"
		printf '[link]\nid = %s\nrole = %s\nmode = sim\nmodule = %s\npeer-module = %s\n' \
			"$id" "$role" "$mod" "$pmod"
		if [[ $role == tx ]]; then
			printf 'peer = %s\nlength-km = 5\nqkd-key-bytes = 256\npulse-rate-hz = 2e5\n' \
				"$addr"
		else
			printf 'listen = %s\n' "$addr"
		fi
	done
}
qkdd_conf A "tx:12:A12:B12:10.0.12.2,7100" > "$work/qkdd-A.conf"
qkdd_conf B "rx:12:B12:A12:10.0.12.2,7100" "tx:23:B23:C23:10.0.23.3,7100" > "$work/qkdd-B.conf"
qkdd_conf C "rx:23:C23:B23:10.0.23.3,7100" > "$work/qkdd-C.conf"
for ns in A B C; do
	ip netns exec "$ns" qkdn-qkdd --config "$work/qkdd-$ns.conf" > "$work/qkdd-$ns.log" 2>&1 < /dev/null &
	defer stop_pid $!
done

# ---- The key managers
kmd_conf() {	# NS PEER:ADDR... ; extra sections on stdin
	local ns=$1 id=${node_of[$1]} p
	shift
	printf '[node]\nid = %s\nname = %s\nlisten = 0.0.0.0:7000\n' "$id" "$ns"
	printf 'cert = pki/node-%s.crt\nkey = pki/node-%s.key\nca = pki/ca.crt\n' "$id" "$id"
	printf 'community = qkdn-selftest\nksa-sync = yes\nrelay-timeout-ms = 4000\n'
	for p in "$@"; do
		printf '[peer]\nid = %s\naddress = %s:7000\n' "${p%%:*}" "${p#*:}"
	done
	printf '[manager]\naddress = 10.9.%s.1:7500\ncert = pki/node-%s.crt\n' "$id" "$id"
	printf 'key = pki/node-%s.key\nca = pki/ca.crt\nreport-ms = 1000\n' "$id"
	cat
}
e14_conf() {	# SAE CN
	printf '[etsi014]\nlisten = 0.0.0.0:8443\ncert = pki/node-%s.crt\nkey = pki/node-%s.key\n' \
		"$3" "$3"
	printf 'ca = pki/ca.crt\n[sae]\nid = %s\ncn = %s\n' "$1" "$2"
}
{ e14_conf sa app-a 1; printf '[route]\ndest = 3\nvia = 2\n[session]\ndest = 3\nkeep = 16\n'; } |
	kmd_conf A 2:10.0.12.2 > "$work/kmd-A.conf"
kmd_conf B 1:10.0.12.1 3:10.0.23.3 < /dev/null > "$work/kmd-B.conf"
{ e14_conf sc app-c 3; printf '[route]\ndest = 1\nvia = 2\n'; } |
	kmd_conf C 2:10.0.23.2 > "$work/kmd-C.conf"
kmd_start() {
	# Not through at(): $! must be the daemon (ip netns exec execs it).
	ip netns exec "$1" qkdn-kmd --config "$work/kmd-$1.conf" --log-level info \
		>> "$work/kmd-$1.log" 2>&1 < /dev/null &
	kmd_pid[$1]=$!
}
kmd_stop() { [[ -z ${kmd_pid[$1]} ]] || stop_pid "${kmd_pid[$1]}"; }
for ns in A B C; do
	kmd_start "$ns"
	defer kmd_stop "$ns"
done

# e14 NS CERT METHOD PATH [BODY]: "CODE BODY" of one ETSI 014 request
e14() {
	local ns=$1 id=${node_of[$1]} args
	args=(-sS --max-time 30 --cert "$work/pki/$2.crt" --key "$work/pki/$2.key"
		--cacert "$work/pki/ca.crt" --resolve "qkdn-node-$id:8443:127.0.0.1"
		-o "$work/out" -w '%{http_code}' -X "$3")
	[[ -z ${5:-} ]] || args+=(-H 'Content-Type: application/json' --data-binary "$5")
	rm -f "$work/out"
	code=$(at "$ns" curl "${args[@]}" "https://qkdn-node-$id:8443$4" 2>/dev/null) || true
	echo "${code:-000} $(cat "$work/out" 2>/dev/null)"
}
supplied_a=0 supplied_c=0
# supply N FILE: sa takes N keys at A, sc fetches them at C; their IDs
# are appended to FILE. Counts them in supplied_a, supplied_c.
supply() {
	local reply ids
	reply=$(e14 A app-a GET "/api/v1/keys/sc/enc_keys?number=$1")
	[[ ${reply%% *} == 200 ]] || { echo "enc_keys: $reply" >&2; return 1; }
	ids=$(jq -c '{key_IDs: [.keys[] | {key_ID}]}' <<< "${reply#* }")
	supplied_a=$((supplied_a + $(jq '.key_IDs | length' <<< "$ids")))
	reply=$(e14 C app-c POST /api/v1/keys/sa/dec_keys "$ids")
	[[ ${reply%% *} == 200 ]] || { echo "dec_keys: $reply" >&2; return 1; }
	supplied_c=$((supplied_c + $(jq '.keys | length' <<< "${reply#* }")))
	jq -r '.key_IDs[].key_ID' <<< "$ids" >> "$2"
}
store_has() { [[ $(at A qkdn store show | awk '$3 == "3:" { for (i = 4; i < NF; i++)
	if ($i == "own-available") print $(i + 1) }') -ge $1 ]]; }

expect_ok "the three KMs connected to the manager" wait_until 60 \
	jq_is '[.[].cn]|sort|join(",")' "qkdn-node-1,qkdn-node-2,qkdn-node-3" api/v1/agents
# (1) Inventory (10.3): each KM and each end of each KM link, in service
# once the Kx sessions are up, with the module's link under it.
expect_ok "inventory: three KMs, four KM link ends in service with their KMA links" \
	wait_until 60 jq_is \
	'[.[]|select(.resource|test("^(node|km-link)-"))|"\(.resource) \(.kind) \(.node) \(.peer) \(.state) \(.link_id)"]|sort|join(",")' \
	"km-link-1-2 2 1 2 1 12,km-link-2-1 2 2 1 1 12,km-link-2-3 2 2 3 1 23,km-link-3-2 2 3 2 1 23,node-1 1 1 null 1 null,node-2 1 2 null 1 null,node-3 1 3 null 1 null" \
	api/v1/inventory
expect_ok "topology: KM links 1-2 and 2-3" wait_until 5 \
	jq_is '[.links[]|select(.km)|"\(.a)-\(.b)"]|sort|join(",")' "1-2,2-3" api/v1/topology

# (2) A key's life cycle across the three nodes.
expect_ok "A's store of keys for C filled by relays through B" wait_until 60 store_has 4
supply 2 "$work/ids"
ids=$(< "$work/ids")
expect_eq "sa got 2 keys at A, sc fetched them at C" "2 2" "$supplied_a $supplied_c"
key=$(head -n1 <<< "$ids")
chain="generated@1 1>3,relayed@1 1>3 next 2,relayed@2 1>3 from 1 next 3,received@3 1>3 from 2,supplied@1 1>3 sa,supplied@3 1>3 sc,deleted@3 1>3"
trace_is() {
	jq_is '[.events[]|"\(.event)@\(.node) \(.source)>\(.dest)" + (if .peer then " from \(.peer)" else "" end) + (if .next_hop then " next \(.next_hop)" else "" end) + (if .app then " \(.app)" else "" end)]|join(",")' \
		"$chain" "api/v1/trace/$1"
}
expect_ok "trace of $key: generated and relayed at A, relayed through B, received at C, supplied to sa at A and sc at C, deleted at C" \
	wait_until 20 trace_is "$key"
expect_ok "the trace is in time order, each event by its node's KM" jq_is \
	'[.events[].time_ms] == ([.events[].time_ms]|sort) and ([.events[]|.agent]|join(",")) == "qkdn-node-1,qkdn-node-1,qkdn-node-2,qkdn-node-3,qkdn-node-1,qkdn-node-3,qkdn-node-3"' \
	true "api/v1/trace/$key"

# (3) Accounting: more supply, then the CDR totals per application.
for n in 3 5; do
	supply "$n" "$work/more-ids"
done
cdr_is() {
	jq_is '[.totals.applications[]|"\(.app) \(.keys) \(.bits)"]|join(",")' \
		"sa $supplied_a $((supplied_a * 256)),sc $supplied_c $((supplied_c * 256))" api/v1/cdr
}
expect_ok "CDR totals: sa $supplied_a keys at A, sc $supplied_c at C, 256 bits each" \
	wait_until 20 cdr_is
expect_ok "a CDR record per request served, with the peer SAE's node" jq_is \
	'[.records[]|select(.app=="sa")|"\(.node)>\(.dest)"]|unique|join(",")' "1>3" api/v1/cdr
expect_ok "performance: A's KM link, store and relay figures" wait_until 10 jq_is \
	'[.[]|select(.node==1)|"\(.resource) \(.type)"]|map(select(test("^(km-link-1-2 [134]|store-1-3 [134]|node-1 (8|9|10))$")))|unique|length' \
	9 api/v1/performance

# (5) kill -9 of the manager while the KMs report: they resend.
mgr_stats() {	# NS: "next_seq acked_seq queued" from its kmd's counters
	kill -USR1 "${kmd_pid[$1]}"
	sleep 0.5
	grep 'api=manager' "$work/kmd-$1.log" | tail -n1 |
		sed -E 's/.* next_seq=([0-9]+) acked_seq=([0-9]+) .* queued=([0-9]+) .*/\1 \2 \3/'
}
echo "# (5) supply under way, the manager killed and restarted"
(for n in 2 2 2; do supply "$n" "$work/load-ids" || exit 1; done
 echo "$supplied_a $supplied_c" > "$work/load-counts") &
load=$!
sleep 1
kill -KILL "$mgrd_pid"
wait "$mgrd_pid" 2>/dev/null || true
mgrd_pid=
sleep 2
mgrd_start
load_status=0
wait "$load" || load_status=$?
expect_eq "the supply went on while the manager was away" 0 "$load_status"
read -r supplied_a supplied_c < "$work/load-counts"
expect_ok "CDR totals after the restart: sa $supplied_a, sc $supplied_c (nothing lost, nothing twice)" \
	wait_until 30 cdr_is
# agent_complete NS CN: the manager holds the kmd's notifications 1..N,
# each once, N at least what the kmd counts as acknowledged (it keeps
# reporting meanwhile, so N may be more).
agent_complete() {
	local st
	read -r -a st <<< "$(mgr_stats "$1")"
	[[ -n ${st[1]} ]] || return 1
	jq_is "[.[]|select(.agent==\"$2\")|.seq]|(length == max) and (unique|length == max) and (max >= ${st[1]})" \
		true "api/v1/events?limit=100000"
}
for ns in A C; do
	expect_ok "kmd $ns: every notification of this run stored once, none missing" \
		wait_until 30 agent_complete "$ns" "qkdn-node-${node_of[$ns]}"
done
echo "# kmd A's agent counters: $(grep 'api=manager' "$work/kmd-A.log" | tail -n1 |
	grep -oE '(next_seq|acked_seq|sent|resent|queued|connects)=[0-9]+' | tr '\n' ' ')"
expect_ok "kmd A reconnected to the restarted manager" \
	grep -qE 'api=manager .* connects=([2-9]|[1-9][0-9])' "$work/kmd-A.log"
last=$(tail -n1 "$work/load-ids")
expect_ok "the trace of a key supplied during the outage is whole" wait_until 10 \
	jq_is '[.events[].event]|join(",")' \
	"generated,relayed,relayed,received,supplied,supplied,deleted" "api/v1/trace/$last"

# (4) B's kmd dies while a relay crosses it.
echo "# (4) B's kmd stopped, a relay from A, B's kmd killed"
kill -STOP "${kmd_pid[B]}"
ip netns exec A qkdn relay dest 3 amount 2 > "$work/relay.out" 2>&1 &
relay=$!
sleep 1
kill -KILL "${kmd_pid[B]}"
kill -CONT "${kmd_pid[B]}" 2>/dev/null || true
wait "${kmd_pid[B]}" 2>/dev/null || true
kmd_pid[B]=
wait "$relay" || true
expect_ok "the relay from A failed" grep -q "ETIMEDOUT\|timed out" "$work/relay.out"
alarm_q='.[]|select(.type=="relay-failed" and .node==1)'
expect_ok "a relay-failed alarm from A, route-1-3, dest 3" wait_until 20 alarms_is \
	"$alarm_q|\"\(.resource) \(.dest) \(.agent)\"" "route-1-3 3 qkdn-node-1"
expect_ok "its diagnosed cause: B's Kx session is down" wait_until 10 alarms_is \
	"$alarm_q|.cause|startswith(\"KMLM: relay-failed, relay \") and contains(\" to node 3 abandoned\") and contains(\"diagnostics: next hop 2 (working), the first hop fails: Kx session to node 2 (10.0.12.2:7000) down for \")" \
	true
expect_ok "a re-route decision for route-1-3 queued" wait_until 10 \
	jq_is '[.[]|select(.resource=="route-1-3")|.type]|length > 0' true api/v1/actions
expect_ok "km-link-down alarms at A and C for their links to B" wait_until 20 alarms_is \
	'[.[]|select(.type=="km-link-down")|.resource]|sort|join(",")' "km-link-1-2,km-link-3-2"
expect_ok "inventory: km-link-1-2 out of service" wait_until 10 \
	jq_is '.[]|select(.resource=="km-link-1-2")|.state' 2 api/v1/inventory
kmd_start B
expect_ok "B back: the km-link-down alarms cleared" wait_until 60 alarms_is \
	'[.[]|select(.type=="km-link-down")]|length' 0
