#!/bin/bash
# Two nodes fed the same QKD-key stream hold the same keys, end to end
# through the qkdn CLI and the keyring.
#
#   netns alpha (node 1)                       netns beta (node 2)
#   +------------------------+                 +------------------------+
#   | link 1: alice, A-tx    |~~~ QKD link ~~~ | link 1: bob, B-rx      |
#   | sa: local, uid 0       |                 | sb: local, uid 0       |
#   | sb: at node 2          |                 | sa: at node 1          |
#   +------------------------+                 +------------------------+
#
# The QKD-keys are 1..250 bytes long, never the 32-byte unit, so KMA-keys
# are cut across QKD-key boundaries.
set -e
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

work=$(mktemp -d)
defer rm -rf "$work"

alpha() { ip netns exec alpha "$@"; }
beta() { ip netns exec beta "$@"; }

# stat NODE COUNTER: one counter of link 1 from `qkdn link show`.
stat() {
	ip netns exec "$1" qkdn link show 1 |
		awk -v name="$2" '{ for (i = 1; i < NF; i++) if ($i == name) print $(i + 1) }'
}

hex() { od -An -v -tx1 | tr -d ' \n'; }

qkdn_load
expect_eq "module objects at load" 0 "$(cat /sys/module/qkdn/parameters/objects)"

netns_node alpha
netns_node beta
alpha qkdn node set id 1 name alpha
beta qkdn node set id 2 name beta
alpha qkdn link add 1 peer 2 role alice module A-tx peer-module B-rx \
	unit 32 capacity 10000 low 2 high 9000
beta qkdn link add 1 peer 1 role bob module B-rx peer-module A-tx \
	unit 32 capacity 10000 low 2 high 9000
alpha qkdn app add sa uid 0
alpha qkdn app add sb node 2
beta qkdn app add sb uid 0
beta qkdn app add sa node 1

# One QKD-key stream, delivered to both ends as a QKD module pair would.
bytes=0
for i in $(seq 1 40); do
	len=$(( (i * 37) % 250 + 1 ))
	head -c "$len" /dev/urandom > "$work/q$i"
	bytes=$((bytes + len))
	alpha qkdn key push link 1 qkd-id "q$i" hash auto < "$work/q$i"
	beta qkdn key push link 1 qkd-id "q$i" < "$work/q$i"
done
generated=$((bytes / 32))
expect_eq "alpha cut $bytes bytes into 32-byte keys" "$generated" "$(stat alpha generated)"
expect_eq "beta cut the same number" "$generated" "$(stat beta generated)"
expect_eq "alpha's encrypting half is beta's decrypting half" \
	"$(stat alpha enc-available)" "$(stat beta dec-stored)"

# Every key alpha hands out, beta finds under the same ID with the same
# bytes; and the other way round, at the same time.
alpha qkdn key get sae sa peer sb amount "$(stat alpha enc-available)" > "$work/a-enc"
beta qkdn key get sae sb peer sa amount "$(stat beta enc-available)" > "$work/b-enc"
# shellcheck disable=SC2046
beta qkdn key get-id sae sb peer sa $(cut -d' ' -f1 "$work/a-enc") > "$work/b-dec"
# shellcheck disable=SC2046
alpha qkdn key get-id sae sa peer sb $(cut -d' ' -f1 "$work/b-enc") > "$work/a-dec"
expect_eq "beta fetched by ID exactly what alpha supplied" \
	"$(cat "$work/a-enc")" "$(cat "$work/b-dec")"
expect_eq "alpha fetched by ID exactly what beta supplied" \
	"$(cat "$work/b-enc")" "$(cat "$work/a-dec")"
expect_eq "every key of the stream was supplied once at each end" \
	"$generated" "$(cat "$work/a-enc" "$work/b-enc" | sort -u | wc -l)"
expect_eq "alpha's keys have even sequence numbers" "" \
	"$(cut -c36 "$work/a-enc" | tr -d '02468ace')"
expect_eq "alpha's pool is empty" 0 "$(stat alpha stored)"
expect_eq "beta's pool is empty" 0 "$(stat beta stored)"

first=$(head -n1 "$work/a-enc" | cut -d' ' -f1)
expect_errno "a key is fetched once per side" "Required key not available" \
	beta qkdn key get-id sae sb peer sa "$first"
expect_errno "an empty pool refuses" "Resource temporarily unavailable" \
	alpha qkdn key get sae sa peer sb

# Refill both ends for the keyring half.
for i in $(seq 41 50); do
	head -c 100 /dev/urandom > "$work/q$i"
	alpha qkdn key push link 1 qkd-id "q$i" < "$work/q$i"
	beta qkdn key push link 1 qkd-id "q$i" < "$work/q$i"
done

# request_key() at alpha: a new key, its ID in /proc/keys.
serial=$(alpha keyctl request2 qkdn sa:sb "" @u)
key_hex=$(alpha keyctl pipe "$serial" | hex)
key_id=$(alpha awk -v s="$(printf '%08x' "$serial")" \
	'$1 == s { print $NF }' /proc/keys)
expect_eq "keyring key is 32 bytes" 64 "${#key_hex}"
expect_eq "beta's netlink bytes equal alpha's keyring bytes" \
	"$key_id $key_hex" "$(beta qkdn key get-id sae sb peer sa "$key_id")"

# request_key() by ID at alpha for a key beta took over netlink.
read -r id bytes < <(beta qkdn key get sae sb peer sa)
serial=$(alpha keyctl request2 qkdn "sa:sb:$id" "" @u)
expect_eq "alpha's keyring bytes by ID equal beta's netlink bytes" \
	"$bytes" "$(alpha keyctl pipe "$serial" | hex)"
# A second request_key() would find the key already on @u; unlinked, it
# must come from the store again, where it no longer is.
alpha keyctl unlink "$serial" @u > /dev/null
expect_errno "the keyring takes a key once too" "Required key not available" \
	alpha keyctl request2 qkdn "sa:sb:$id" "" @u

expect_errno "keyring: malformed description" "Invalid argument" \
	alpha keyctl request2 qkdn "sa" "" @u
expect_errno "keyring: unknown SAE" "No such file or directory" \
	alpha keyctl request2 qkdn "nobody:sb" "" @u
expect_errno "keyring: another uid may not act as sa" "Permission denied" \
	alpha setpriv --reuid=65534 --regid=65534 --clear-groups \
	keyctl request2 qkdn "sa:sb" "" @u
expect_errno "keyring: beta's namespace has no local sa" "Invalid argument" \
	beta keyctl request2 qkdn "sa:sb" "" @u
expect_errno "keyring: userspace cannot supply the bytes" "Invalid argument" \
	alpha keyctl add qkdn "sa:sb" "0123456789abcdef" @u

# Revoked keys are wiped and unreadable.
serial=$(alpha keyctl request2 qkdn sa:sb "" @u)
alpha keyctl revoke "$serial"
expect_errno "a revoked key cannot be read" "revoked" alpha keyctl pipe "$serial"
alpha keyctl unlink "$serial" @u > /dev/null

# With a keyring TTL, keys expire and can no longer be read.
alpha qkdn node set keyring-ttl 4
serial=$(alpha keyctl request2 qkdn sa:sb "" @u)
expect_ok "a fresh key with a TTL is readable" alpha keyctl pipe "$serial"
sleep 5
expect_errno "an expired key cannot be read" "expired" alpha keyctl pipe "$serial"
alpha qkdn node set keyring-ttl 0

# Privilege: admin and Kq-1 commands need CAP_NET_ADMIN.
nobody() { alpha setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
expect_errno "unprivileged link add" "Operation not permitted" \
	nobody qkdn link add 2 peer 3 role alice module x peer-module y
expect_errno "unprivileged key push" "Operation not permitted" \
	nobody qkdn key push link 1 qkd-id evil < "$work/q1"
expect_errno "unprivileged app add" "Operation not permitted" \
	nobody qkdn app add evil uid 65534
expect_errno "unprivileged key get as sa" "Permission denied" \
	nobody qkdn key get sae sa peer sb
expect_ok "unprivileged link show" nobody qkdn link show

# Unload with keys in both pools and keys on the keyring: all freed.
stored=$(stat alpha stored)
((stored > 0)) && ok "alpha still holds $stored keys before unload" ||
	fail "alpha should still hold keys before unload"
objects=$(cat /sys/module/qkdn/parameters/objects)
((objects > 0)) && ok "module holds $objects objects before unload" ||
	fail "module should hold objects before unload"
dmesg -C
qkdn_unload
expect_eq "no leak reported at unload" "" "$(dmesg | grep -i 'leaked' || true)"
qkdn_load
expect_eq "a fresh load starts empty" "" "$(alpha qkdn link show)"
