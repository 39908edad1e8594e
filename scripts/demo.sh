#!/bin/bash
# A small QKD network, shown step by step (make demo runs this in the VM).
#
#   netns alice (node 1)                         netns bob (node 2)
#   +-------------------------+                  +-------------------------+
#   | KM: link 1, role alice  |~~~ QKD link ~~~~~| KM: link 1, role bob    |
#   | app "enc-a" (uid 0)     |  (simulated:     | app "dec-b" (uid 0)     |
#   +-------------------------+  same QKD-keys   +-------------------------+
#                                 at both ends)
set -euo pipefail
cd "$(dirname "$0")/.."
PATH=$PWD/build/bin:$PATH
work=$(mktemp -d)

cleanup() {
	ip netns del alice 2>/dev/null || true
	ip netns del bob 2>/dev/null || true
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

step "Load qkdn.ko: one QKD node per network namespace"
modprobe -a $(modinfo -F depends kernel/qkdn.ko | tr , ' ')
insmod kernel/qkdn.ko
ip netns add alice
ip netns add bob
run alice qkdn node set id 1 name alice
run bob qkdn node set id 2 name bob

step "A KMA link between them; alice's QKD module is the transmitter"
run alice qkdn link add 1 peer 2 role alice module QKD-A1 peer-module QKD-B1 unit 32 capacity 100000
run bob qkdn link add 1 peer 1 role bob module QKD-B1 peer-module QKD-A1 unit 32 capacity 100000

step "The QKD layer delivers the same QKD-keys at both ends (Kq-1)"
for i in 1 2 3 4 5; do
	len=$((i * 61))
	head -c "$len" /dev/urandom > "$work/qkd-$i"
	echo "QKD-key qkd-$i: $len bytes"
	ip netns exec alice qkdn key push link 1 qkd-id "qkd-$i" hash auto < "$work/qkd-$i"
	ip netns exec bob qkdn key push link 1 qkd-id "qkd-$i" hash auto < "$work/qkd-$i"
done
echo "(QKD-keys of 61..305 bytes are cut into 32-byte KMA-keys across their boundaries)"
run alice qkdn link show
run bob qkdn link show

step "Applications: enc-a at alice, dec-b at bob"
run alice qkdn app add enc-a uid 0
run alice qkdn app add dec-b node 2
run bob qkdn app add dec-b uid 0
run bob qkdn app add enc-a node 1
run alice qkdn app show

step "enc-a asks for two keys to share with dec-b (Ak key supply)"
run alice qkdn -j key get sae enc-a peer dec-b amount 2 | tee "$work/got.json"
mapfile -t ids < <(grep -o '"key_ID": *"[^"]*"' "$work/got.json" | cut -d'"' -f4)

step "dec-b fetches the same keys by ID at bob"
run bob qkdn -j key get-id sae dec-b peer enc-a "${ids[@]}"

step "Each key is supplied once per side"
run bob qkdn key get-id sae dec-b peer enc-a "${ids[0]}" || true

step "The same through the kernel keyring: request_key(\"qkdn\", \"enc-a:dec-b\")"
serial=$(ip netns exec alice keyctl request2 qkdn enc-a:dec-b "" @u)
echo "alice# keyctl request2 qkdn enc-a:dec-b \"\" @u  ->  key $serial"
key_id=$(awk -v s="$(printf '%08x' "$serial")" '$1 == s { print $NF }' /proc/keys)
echo "alice# grep /proc/keys  ->  $(awk -v s="$(printf '%08x' "$serial")" '$1 == s { print $(NF-2), $(NF-1), $NF }' /proc/keys)"
printf 'alice# keyctl pipe %s | od  ->  ' "$serial"
ip netns exec alice keyctl pipe "$serial" | od -An -v -tx1 | tr -d ' \n'
echo
run bob qkdn key get-id sae dec-b peer enc-a "$key_id"
echo "(the keyring key at alice and the netlink key at bob are the same 256 bits)"

step "Pools after supply"
run alice qkdn stats
run bob qkdn stats

step "Unload: every key left in the pools is wiped"
ip netns exec alice keyctl unlink "$serial" @u > /dev/null
ip netns del alice
ip netns del bob
echo "objects held by the module: $(cat /sys/module/qkdn/parameters/objects)"
rmmod qkdn
echo "done."
