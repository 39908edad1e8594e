#!/bin/bash
# The Ck server of qkdn-ctld against hand-built messages (ck_client.py):
# authentication order, malformed messages, routing with protection,
# session reuse, rerouting on a fault and on an admin state change. No kmd
# and no qkdn.ko: what the KMs report is scripted.
#
#   netns ctl                         netns km (KMs 1, 2, 3, 4 as processes)
#   +--------------------+   veth    +---------------------------------+
#   | qkdn-ctld run      |-----------| ck_client.py                    |
#   | 10.9.1.1:7400      |  TLS 1.3  |                                 |
#   +--------------------+           +---------------------------------+
#
# The topology the controller is given (links as the KMs report them):
#
#          2
#        /   \          1-2, 2-3: plenty of keys
#       1 --- 3         1-3: nearly empty (100 bytes)
#        \   /          1-4, 4-3: plenty
#          4
set -e
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

# Background processes may be gone already (closed by the controller).
stop() { kill "$@" 2>/dev/null || true; }
# What the KMs and the controller said, when a wait fails.
show_logs() {
	local f
	for f in "$dir"/*.out "$dir/ctld.log"; do
		[[ -e $f ]] && tail -n 15 "$f" | sed "s|^|# ${f##*/}: |"
	done
	return 1
}

dir=$(mktemp -d /tmp/ctld_ck.XXXXXX)
defer rm -rf "$dir"
st=$dir/state out=$dir/out
ctld=qkdn-ctld
ctl() { $ctld ctl --socket "$dir/ctld.sock" "$@"; }
client() { # client NODE ARGS...
	local n=$1
	shift
	ip netns exec km python3 "$QKDN_REPO/selftests/ck_client.py" --addr 10.9.1.1:7400 \
		--cert "$out/qkdn-node-$n.crt" --key "$out/qkdn-node-$n.key" --ca "$out/ca.crt" "$@"
}
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

netns_node ctl
netns_node km
netns_connect ctl 10.9.1.1/24 km 10.9.1.2/24

$ctld init --state "$st" --network selftest >/dev/null
for n in 1 2 3 4; do
	$ctld enrol --state "$st" --node $n --out "$out" >/dev/null
done
$ctld enrol --state "$st" --ctl --out "$out" >/dev/null
{
	printf '[controller]\nlisten = 10.9.1.1:7400\nstate = state\ncert = out/qkdn-ctl.crt\n'
	printf 'key = out/qkdn-ctl.key\ncontrol = %s/ctld.sock\n' "$dir"
	printf '[policy]\nstatus-period-ms = 300\npool-low = 50\nprotection = yes\n'
	for n in 1 2 3 4; do printf '[node]\nid = %s\nname = km%s\n' $n $n; done
	for l in 1:2 2:3 1:3 1:4 4:3; do printf '[link]\na = %s\nb = %s\n' "${l%:*}" "${l#*:}"; done
} > "$dir/ctld.conf"
ip netns exec ctl $ctld run --config "$dir/ctld.conf" > "$dir/ctld.log" 2>&1 &
defer stop $!
wait_until 20 test -S "$dir/ctld.sock"

# 1. Malformed and out-of-order messages from KM 1, while KM 2 is served.
client 2 km --node 2 --link 1:up:1000000 --link 3:up:1000000 --hold 60 > "$dir/km2.out" &
defer stop $!
wait_until 30 sh -c "$ctld ctl --socket $dir/ctld.sock kms | grep -q '\"connected\": true'" || show_logs
client 1 misbehave --node 1
before=$(ctl kms | jq_py '[k for k in d["kms"] if k["id"] == 2][0]["status_reports"]')
sleep 1
after=$(ctl kms | jq_py '[k for k in d["kms"] if k["id"] == 2][0]["status_reports"]')
expect_eq "KM 2 still connected" "True" \
	"$(ctl kms | jq_py '[k for k in d["kms"] if k["id"] == 2][0]["connected"]')"
if ((after > before)); then ok "KM 2 kept reporting status ($before, then $after)"
else fail "KM 2 kept reporting status: expected more than $before, saw $after"; fi
expect_eq "violations logged with their reason" "1" \
	"$(grep -c 'reason="not authenticated" violations=1' "$dir/ctld.log")"

# 2. A route avoiding the nearly empty link, with a node-disjoint protection.
client 3 km --node 3 --link 2:up:1000000 --link 1:up:100 --link 4:up:1000000 --hold 60 > "$dir/km3.out" &
defer stop $!
client 4 km --node 4 --link 1:up:1000000 --link 3:up:1000000 --hold 60 > "$dir/km4.out" &
defer stop $!
wait_until 30 sh -c "$ctld ctl --socket $dir/ctld.sock kms | grep -c '\"connected\": true' | grep -qx 3" || show_logs
client 1 km --node 1 --link 2:up:1000000 --link 3:up:100 --link 4:up:1000000 \
	--route 3:4096:1 --route-delay 1 --hold 60 > "$dir/km1.out" &
defer stop $!
wait_until 30 grep -q '"route":' "$dir/km1.out" || show_logs
resp=$(grep '"route":' "$dir/km1.out")
expect_eq "route granted" "1" "$(echo "$resp" | jq_py 'd["route"]')"
expect_eq "KM 1's entry: toward 3 via 2, protection via 4" "3 2 4" \
	"$(echo "$resp" | jq_py '" ".join(str(r[k]) for r in d["routes"] for k in ("dest", "next_hop", "protection_next_hop"))')"
session=$(echo "$resp" | jq_py 'd["session"]')
expect_eq "controller's session: 1-2-3 protected by 1-4-3" "[1, 2, 3] [1, 4, 3] node-disjoint" \
	"$(ctl sessions | jq_py '" ".join(str(x) for s in d["sessions"] for x in (s["path"], s["protection"], s["protection_kind"]))')"
expect_eq "KM 2 got its entries before KM 1's answer" "1 1 3 3" \
	"$(grep '"push"' "$dir/km2.out" | head -1 | jq_py '" ".join(str(r[k]) for r in d["push"] for k in ("dest", "next_hop"))')"
expect_eq "KM 3 toward 1 via 2, protection via 4" "1 2 4" \
	"$(grep '"push"' "$dir/km3.out" | head -1 | jq_py '" ".join(str(r[k]) for r in d["push"] for k in ("dest", "next_hop", "protection_next_hop"))')"

# 3. Session reuse: KM 3 asks for the same pair (on a new connection, which
#    replaces its first).
client 3 km --node 3 --link 2:up:1000000 --link 1:up:100 --link 4:up:1000000 \
	--route 1:64 --hold 60 > "$dir/km3b.out" &
defer stop $!
wait_until 30 grep -q '"route":' "$dir/km3b.out" || show_logs
expect_eq "the other end gets the same session" "$session" \
	"$(grep '"route":' "$dir/km3b.out" | jq_py 'd["session"]')"
expect_eq "still one session" "1" "$(ctl sessions | jq_py 'len(d["sessions"])')"

# 4. Admin state: link 2-3 out of service reroutes the session.
expect_errno "unknown link refused" "no link 2-4" ctl link-state 2 4 out-of-service
expect_errno "unknown state refused" "usage: link-state" ctl link-state 2 3 broken
expect_ok "link 2-3 out of service" ctl link-state 2 3 out-of-service
expect_eq "rerouted onto 1-4-3" "[1, 4, 3]" "$(ctl sessions | jq_py 'd["sessions"][0]["path"]')"
expect_eq "reroute recorded" "1" "$(ctl events | jq_py 'sum(1 for e in d["events"] if e["type"] == "reroute")')"
expect_eq "link state shown" "out-of-service" \
	"$(ctl links | jq_py '[l["state"] for l in d["links"] if (l["a"], l["b"]) == (2, 3)][0]')"
