#!/bin/bash
# A small QKD network, shown step by step (make demo runs this in the VM).
#
#   netns alice (node 1)          netns bob (node 2)          netns carol (node 3)
#   +------------------+          +------------------+        +------------------+
#   | qkdn.ko          |  QKD 20 km (simulated)       |  QKD 35 km (simulated)   |
#   | qkdn-qkdd   tx ~~~~~~~~~~~~~~~~~ rx  qkdn-qkdd  tx ~~~~~~~~~~~~~~~~~ rx     |
#   | qkdn-kmd  ========= TLS 1.3 ========= qkdn-kmd ======= TLS 1.3 ====== kmd |
#   | app enc-a        |          | trusted node     |        | app dec-c        |
#   +------------------+          +------------------+        +------------------+
#        10.7.12.1 ---- veth ---- 10.7.12.2  10.7.23.2 ---- veth ---- 10.7.23.3
#
# The QKD device drivers fill each link's pools with keys at the rates a
# decoy-state BB84 model gives for the fibre; the key manager daemons carry
# relay frames; alice and carol, who share no link, get the same key
# through bob, one-time-pad encrypted on every hop.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PATH=$repo/build/bin:$PATH
work=$(mktemp -d)
pids=()

cleanup() {
	local pid
	set +e
	for pid in "${pids[@]}"; do
		kill "$pid" 2> /dev/null
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2> /dev/null
	done
	for ns in alice bob carol; do
		ip netns del "$ns" 2> /dev/null
	done
	rm -rf "$work"
	if [[ -d /sys/module/qkdn ]]; then
		rmmod qkdn
	fi
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# run NODE CMD...: show the command, then run it in that node's namespace.
run() {
	local node=$1
	shift
	printf '%s# %s\n' "$node" "$*"
	ip netns exec "$node" "$@"
}
at() { ip netns exec "$@"; }
# wait_for SECONDS CMD...: poll until CMD succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" > /dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			echo "demo: timed out waiting for: $*" >&2
			tail -n 5 "$work"/*.log >&2
			exit 1
		fi
		sleep 0.2
	done
}
counter() {
	at "$1" qkdn link show "$2" |
		awk -v k="$3" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'
}
has_keys() { (($(counter "$1" "$2" enc-available) >= $3)); }
sessions_up() {
	local ns
	for ns in "$@"; do
		grep -q "event=peer-up" "$work/kmd-$ns.log" || return 1
	done
}

step "Three QKD nodes, one per network namespace"
modprobe -a $(modinfo -F depends kernel/qkdn.ko | tr , ' ')
insmod kernel/qkdn.ko
n=1
for ns in alice bob carol; do
	ip netns add "$ns"
	at "$ns" ip link set lo up
	run "$ns" qkdn node set id "$n" name "$ns"
	n=$((n + 1))
done
ip link add veth-bob netns alice type veth peer name veth-alice netns bob
ip link add veth-carol netns bob type veth peer name veth-bob netns carol
at alice ip addr add 10.7.12.1/24 dev veth-bob
at bob ip addr add 10.7.12.2/24 dev veth-alice
at bob ip addr add 10.7.23.2/24 dev veth-carol
at carol ip addr add 10.7.23.3/24 dev veth-bob
at alice ip link set veth-bob up
at bob ip link set veth-alice up
at bob ip link set veth-carol up
at carol ip link set veth-bob up

step "KMA links over the two QKD links"
run alice qkdn link add 12 peer 2 role alice module QKD-A12 peer-module QKD-B12 unit 32
run bob qkdn link add 12 peer 1 role bob module QKD-B12 peer-module QKD-A12 unit 32
run bob qkdn link add 23 peer 3 role alice module QKD-B23 peer-module QKD-C23 unit 32
run carol qkdn link add 23 peer 2 role bob module QKD-C23 peer-module QKD-B23 unit 32

step "QKD device drivers: simulated QKD module pairs (decoy-state BB84)"
# qkdd_conf NODE_ID SECTIONS...: a config for one node's driver.
qkdd_conf() {
	printf '[node]\nid = %s\ncontrol = %s/qkdd-%s.sock\n' "$1" "$work" "$1"
	shift
	printf '%b' "$@"
}
sim_link() {	# ID ROLE MODULE PEER-MODULE where=ADDR KM
	printf '\n[link]\nid = %s\nrole = %s\nmode = sim\nmodule = %s\npeer-module = %s\n' \
		"$1" "$2" "$3" "$4"
	printf '%s\n' "$5"
	# The tx side models the fibre; the rx side takes what it sends.
	if [[ $2 == tx ]]; then
		printf 'length-km = %s\nqkd-key-bytes = 256\npulse-rate-hz = 1e8\n' "$6"
	fi
}
qkdd_conf 1 "$(sim_link 12 tx QKD-A12 QKD-B12 "peer = 10.7.12.2:7100" 20)" > "$work/qkdd-alice.conf"
qkdd_conf 2 "$(sim_link 12 rx QKD-B12 QKD-A12 "listen = 10.7.12.2:7100" 20)" \
	"$(sim_link 23 tx QKD-B23 QKD-C23 "peer = 10.7.23.3:7100" 35)" > "$work/qkdd-bob.conf"
qkdd_conf 3 "$(sim_link 23 rx QKD-C23 QKD-B23 "listen = 10.7.23.3:7100" 35)" > "$work/qkdd-carol.conf"
for ns in carol bob alice; do
	ip netns exec "$ns" qkdn-qkdd --config "$work/qkdd-$ns.conf" > "$work/qkdd-$ns.log" 2>&1 < /dev/null &
	pids+=($!)
done
wait_for 30 has_keys alice 12 80
wait_for 30 has_keys bob 23 80
run alice qkdn qkd show
run bob qkdn qkd show
run bob qkdn link show 23

step "Key manager daemons: TLS 1.3 between neighbours, mutual certificates"
source selftests/pki.sh
qkdn_pki "$work/pki" 1 2 3 > /dev/null
kmd_conf() {	# ID NAME LISTEN PEERS... (as "id address")
	printf '[node]\nid = %s\nname = %s\nlisten = %s\n' "$1" "$2" "$3"
	printf 'cert = %s/pki/node-%s.crt\nkey = %s/pki/node-%s.key\nca = %s/pki/ca.crt\n' \
		"$work" "$1" "$work" "$1" "$work"
	printf 'community = qkdn-demo\n'
	shift 3
	printf '%b' "$@"
}
kmd_conf 1 alice 10.7.12.1:7000 "\n[peer]\nid = 2\naddress = 10.7.12.2:7000\n" \
	"\n[route]\ndest = 3\nvia = 2\n" > "$work/kmd-alice.conf"
kmd_conf 2 bob 0.0.0.0:7000 "\n[peer]\nid = 1\naddress = 10.7.12.1:7000\n" \
	"\n[peer]\nid = 3\naddress = 10.7.23.3:7000\n" > "$work/kmd-bob.conf"
kmd_conf 3 carol 10.7.23.3:7000 "\n[peer]\nid = 2\naddress = 10.7.23.2:7000\n" \
	"\n[route]\ndest = 1\nvia = 2\n" > "$work/kmd-carol.conf"
for ns in alice bob carol; do
	ip netns exec "$ns" qkdn-kmd --config "$work/kmd-$ns.conf" > "$work/kmd-$ns.log" 2>&1 < /dev/null &
	pids+=($!)
done
wait_for 30 sessions_up alice bob carol
grep -h "event=peer-up" "$work"/kmd-*.log | sed 's/^.*msg=/kmd: /' | head -4
run alice qkdn route show

step "Applications: enc-a at alice, dec-c at carol (no link between them)"
run alice qkdn app add enc-a uid 0
run alice qkdn app add dec-c node 3
run carol qkdn app add dec-c uid 0
run carol qkdn app add enc-a node 1

step "alice relays two keys to carol through bob"
run alice qkdn relay dest 3 amount 2
run alice qkdn store show
run bob qkdn node show

step "enc-a takes them; dec-c fetches the same keys by ID at carol"
run alice qkdn -j key get sae enc-a peer dec-c amount 2 | tee "$work/got.json"
mapfile -t ids < <(grep -o '"key_ID": *"[^"]*"' "$work/got.json" | cut -d'"' -f4)
run carol qkdn -j key get-id sae dec-c peer enc-a "${ids[@]}"
echo "(both ends checked the keys with each other first: KSA synchronisation)"

step "And through the kernel keyring at carol: request_key(\"qkdn\", ...)"
run alice qkdn relay dest 3 amount 1 > /dev/null
read -r id bytes < <(at alice qkdn key get sae enc-a peer dec-c)
echo "alice# qkdn key get sae enc-a peer dec-c  ->  $id $bytes"
serial=$(at carol keyctl request2 qkdn "dec-c:enc-a:$id" "" @u)
printf 'carol# keyctl request2 qkdn dec-c:enc-a:%s "" @u; keyctl pipe | od  ->  ' "$id"
at carol keyctl pipe "$serial" | od -An -v -tx1 | tr -d ' \n'
echo
at carol keyctl unlink "$serial" @u > /dev/null

step "An eavesdropper on the alice-bob fibre"
at alice qkdn monitor count 1 > "$work/alarm" &
monitor=$!
sleep 0.5
echo "qkdd# qkdn-qkdd ctl ... set 12 eavesdrop 1"
qkdn-qkdd ctl "$work/qkdd-1.sock" set 12 eavesdrop 1
wait "$monitor" || true
echo "alice# qkdn monitor  ->  $(cat "$work/alarm")"
run alice qkdn qkd show
echo "(no key of link 12 enters either pool while the QBER is above 11%)"
qkdn-qkdd ctl "$work/qkdd-1.sock" set 12 eavesdrop 0 > /dev/null

step "Shut down: every key left is wiped"
cleanup
trap - EXIT
echo "done."
