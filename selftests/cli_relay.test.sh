#!/bin/bash
# The relay commands of the qkdn CLI: routes, the store, the relay timeout,
# the relay counters and refused or unanswered relays. No qkdn-kmd runs, so
# no relay frame ever reaches beta and no relay can complete.
#
#   netns alpha (node 1)                       netns beta (node 2)
#   +------------------------+                 +------------------------+
#   | link 1: alice, A-tx    |~~~ QKD link ~~~ | link 1: bob, B-rx      |
#   | route 5 via 2          |                 |                        |
#   +------------------------+                 +------------------------+
#
#   node 5 and node 7 exist only as route entries; node 9 not even that.
set -e
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

work=$(mktemp -d)
defer rm -rf "$work"

alpha() { ip netns exec alpha "$@"; }
beta() { ip netns exec beta "$@"; }

# alpha's pools as `qkdn link show` prints them, without the per-second
# rates: those move as the clock passes a second boundary, not as keys do.
alpha_pools() {
	alpha qkdn link show | sed -E 's# (gen|cons)-rate [0-9]+/s##g'
}

# The counters of the relay line of `qkdn node show`, by name.
relay_counter() {
	alpha qkdn node show |
		awk -v name="$1" '$1 == "relay" { for (i = 2; i < NF; i++) if ($i == name) print $(i + 1) }'
}

now_ms() { date +%s%3N; }

qkdn_load
netns_node alpha
netns_node beta
alpha qkdn node set id 1 name alpha
beta qkdn node set id 2 name beta
alpha qkdn link add 1 peer 2 role alice module A-tx peer-module B-rx unit 32
beta qkdn link add 1 peer 1 role bob module B-rx peer-module A-tx unit 32
# 10 KMA-keys: 5 in alpha's encrypting half.
head -c 320 /dev/urandom > "$work/q1"
alpha qkdn key push link 1 qkd-id q1 < "$work/q1"
beta qkdn key push link 1 qkd-id q1 < "$work/q1"

# Arguments the CLI refuses before asking the kernel.
expect_errno "route add without arguments" "qkdn: route add: missing destination node ID" \
	alpha qkdn route add
expect_errno "route add without a next hop" "qkdn: route add: missing 'via'" \
	alpha qkdn route add 5
expect_errno "route add to node 0" \
	"qkdn: number '0' out of range for 'dest' (1..4294967294)" alpha qkdn route add 0 via 2
expect_errno "route add via node 2^32-1" \
	"qkdn: number '4294967295' out of range for 'via' (1..4294967294)" \
	alpha qkdn route add 5 via 4294967295
expect_errno "route del without arguments" "qkdn: route del: missing destination node ID" \
	alpha qkdn route del
expect_errno "relay without a destination" "qkdn: relay: missing 'dest'" alpha qkdn relay
expect_errno "relay with an unknown argument" "qkdn: relay: unknown argument 'to'" \
	alpha qkdn relay dest 5 to 6

# Routes.
expect_eq "no routes at first" "" "$(alpha qkdn route show)"
expect_eq "no routes at first (JSON)" "[]" "$(alpha qkdn -j route show)"
alpha qkdn route add 5 via 2
alpha qkdn route add 3 via 2
alpha qkdn route add 5 via 7
expect_eq "routes in destination order, 5 replaced" $'route 3 via 2\nroute 5 via 7' \
	"$(alpha qkdn route show)"
expect_eq "routes as JSON" '[{"dest":3,"via":2},{"dest":5,"via":7}]' \
	"$(alpha qkdn -j route show)"
alpha qkdn route del 3
expect_errno "deleting a missing route" \
	"qkdn: route del: No such file or directory: no route to that node" \
	alpha qkdn route del 3
expect_errno "a route to this node" \
	"qkdn: route add: Invalid argument: a route cannot lead to this node" \
	alpha qkdn route add 1 via 2
expect_eq "only route 5 is left" "route 5 via 7" "$(alpha qkdn route show)"

# The store is empty: nothing was ever relayed.
expect_eq "no stores" "" "$(alpha qkdn store show)"
expect_eq "no stores (JSON)" "[]" "$(alpha qkdn -j store show)"

# The relay timeout.
expect_eq "default relay timeout" 5000 "$(alpha qkdn -j node show | jq .relay_timeout_ms)"
expect_eq "no relay started yet" 0 "$(relay_counter started)"
expect_errno "relay timeout 0" \
	"qkdn: node set: Numerical result out of range: integer out of range [QKDN_A_RELAY_TIMEOUT]" \
	alpha qkdn node set relay-timeout 0
expect_errno "relay-timeout above a minute" "Numerical result out of range" \
	alpha qkdn node set relay-timeout 60001
alpha qkdn node set relay-timeout 300
expect_eq "relay timeout set" "node 1 name alpha keyring-ttl 0 relay-timeout 300 ksa-sync off links 1 apps 0" \
	"$(alpha qkdn node show | head -n1)"

# Refused relays take nothing from the link.
pools=$(alpha_pools)
expect_errno "relay without a route" \
	"qkdn: relay: No route to host: no route to the destination" alpha qkdn relay dest 9
expect_errno "relay to this node" \
	"qkdn: relay: Invalid argument: cannot relay to this node" alpha qkdn relay dest 1
expect_errno "relay via a node without a link" \
	"qkdn: relay: No route to host: no link to the next hop" alpha qkdn relay dest 5
alpha qkdn route add 5 via 2
expect_errno "relay of more keys than the link holds" \
	"qkdn: relay: Resource temporarily unavailable: not enough keys on the link to the next hop" \
	alpha qkdn relay dest 5 amount 64
expect_errno "relay of a bad key size" \
	"qkdn: relay: Invalid argument: key size: a multiple of 64 bits, 128..8192 [QKDN_A_KEY_SIZE]" \
	alpha qkdn relay dest 5 size 100
expect_eq "refused relays left alpha's pool as it was" "$pools" "$(alpha_pools)"
expect_eq "refused relays were not started" 0 "$(relay_counter started)"

# A relay nobody carries times out after the node's relay timeout, and the
# monitor reports it.
timeout 10 ip netns exec alpha qkdn monitor count 1 > "$work/alarm" &
monitor=$!
timeout 10 ip netns exec alpha qkdn -j monitor count 1 > "$work/alarm.json" &
monitor_json=$!
sleep 1 # both monitors have joined the alarm group
start=$(now_ms)
expect_errno "an unanswered relay times out" \
	"qkdn: relay: Connection timed out: no acknowledgment in time; relay abandoned" \
	alpha qkdn relay dest 5
elapsed=$(($(now_ms) - start))
if ((elapsed >= 300 && elapsed < 5000)); then
	ok "the relay waited the 300 ms timeout (${elapsed} ms)"
else
	fail "the relay should wait 300 ms, not the default 5 s: waited ${elapsed} ms"
fi
wait "$monitor" "$monitor_json" || true
alarm=$(cat "$work/alarm")
if [[ $alarm =~ ^alarm\ relay-failed\ node\ 1\ dest\ 5\ relay\ [0-9a-f]{16}$ ]]; then
	ok "monitor: $alarm"
else
	fail "monitor: expected 'alarm relay-failed node 1 dest 5 relay <16 hex digits>', saw '$alarm'"
fi
expect_eq "monitor -j names the same relay" \
	"{\"alarm\":\"relay-failed\",\"node\":1,\"dest\":5,\"relay_id\":\"${alarm##* }\"}" \
	"$(cat "$work/alarm.json")"
expect_eq "relay counted as started" 1 "$(relay_counter started)"
expect_eq "relay counted as failed" 1 "$(relay_counter failed)"
expect_eq "stats ends with the relay counters" \
	"$(alpha qkdn node show | sed -n 's/^relay /  /p')" "$(alpha qkdn stats | tail -n1)"
expect_eq "stats -j: the links, then the relay counters" "links relay 1 1" \
	"$(alpha qkdn -j stats | jq -r '[keys[], .relay.started, .relay.failed] | join(" ")')"

# A relay in flight is abandoned as soon as its route is changed to
# another next hop or deleted (ECONNABORTED), not at its timeout (60 s
# here: a loaded guest takes seconds to start one).
alpha qkdn node set relay-timeout 60000
head -c 320 /dev/urandom > "$work/q2"
alpha qkdn key push link 1 qkd-id q2 < "$work/q2"
beta qkdn key push link 1 qkd-id q2 < "$work/q2"
started_more() { (($(relay_counter started) > $1)); }
for how in "add 5 via 7" "del 5"; do
	alpha qkdn route add 5 via 2
	n=$(relay_counter started)
	alpha qkdn relay dest 5 > "$work/rerouted" 2>&1 &
	relay=$!
	wait_until 40 started_more "$n" || true
	start=$(now_ms)
	alpha qkdn route $how
	status=0
	wait "$relay" || status=$?
	elapsed=$(($(now_ms) - start))
	if ((status != 0)) &&
	   [[ $(head -n1 "$work/rerouted") == "qkdn: relay: Software caused connection abort: the route changed; relay abandoned" ]]; then
		ok "route $how: the relay in flight abandoned (${elapsed} ms after the change)"
	else
		fail "route $how: expected the relay abandoned (ECONNABORTED), saw status $status ${elapsed} ms after the change: $(head -n1 "$work/rerouted")"
	fi
done
expect_eq "abandoned relays counted as failed" 3 "$(relay_counter failed)"
# The route set again to the same next hop: the relay goes on (and, with
# nobody to carry it, times out).
alpha qkdn node set relay-timeout 3000
alpha qkdn route add 5 via 2
n=$(relay_counter started)
alpha qkdn relay dest 5 > "$work/rerouted" 2>&1 &
relay=$!
wait_until 40 started_more "$n" || true
alpha qkdn route add 5 via 2
wait "$relay" || true
expect_eq "the same next hop again: the relay not abandoned" \
	"qkdn: relay: Connection timed out: no acknowledgment in time; relay abandoned" \
	"$(head -n1 "$work/rerouted")"

# KSA synchronisation is a node setting, off until the daemon turns it on.
expect_eq "ksa-sync starts off" "off" \
	"$(alpha qkdn node show | sed -n 's/.* ksa-sync \([a-z]*\).*/\1/p')"
alpha qkdn node set ksa-sync on
expect_eq "ksa-sync on" "true" "$(alpha qkdn -j node show | jq -r .ksa_sync)"
expect_errno "ksa-sync takes on or off" "ksa-sync takes on or off, not 'maybe'" \
	alpha qkdn node set ksa-sync maybe
