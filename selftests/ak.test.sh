#!/bin/bash
# Ak key supply sessions (seed 000 clause 7.2.1): the netlink contract
# (ak_test.c), the qkdn CLI and an application built on libqkdn.
#
#   netns alpha (node 1)                       netns beta (node 2)
#   +------------------------+                 +------------------------+
#   | link 1: alice, A-tx    |~~~ QKD link ~~~ | link 1: bob, B-rx      |
#   | sa: local, uid 0       |                 | sb: local, uid 0       |
#   | sb: at node 2          |                 | sa: at node 1          |
#   | app: qkdn-ak-example   |                 | app: qkdn-ak-example   |
#   +------------------------+                 +------------------------+
set -e
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

qkdn_load
status=0
build/selftests/ak_test || status=$?
expect_eq "ak_test exit status" 0 "$status"
# The tests' namespaces go away asynchronously; then every session, pool,
# link and application they made must be gone.
wait_until 30 grep -qx 0 /sys/module/qkdn/parameters/objects || true
expect_eq "module objects after the namespaces are gone" 0 \
	"$(cat /sys/module/qkdn/parameters/objects)"

# The CLI and libqkdn, on two nodes fed the same QKD-key stream.
work=$(mktemp -d)
defer rm -rf "$work"
alpha() { ip netns exec alpha "$@"; }
beta() { ip netns exec beta "$@"; }
nobody() { alpha setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
example=$QKDN_REPO/build/lib/qkdn-ak-example

# stat NODE COUNTER: one counter of link 1 from `qkdn link show`.
stat() {
	ip netns exec "$1" qkdn link show 1 |
		awk -v name="$2" '{ for (i = 1; i < NF; i++) if ($i == name) print $(i + 1) }'
}

# Link 1's pool without the per-second rates, which move with the clock.
pools() {
	ip netns exec "$1" qkdn link show 1 | sed -E 's# (gen|cons)-rate [0-9]+/s##g'
}

objects() { cat /sys/module/qkdn/parameters/objects; }

netns_node alpha
netns_node beta
alpha qkdn node set id 1 name alpha
beta qkdn node set id 2 name beta
alpha qkdn link add 1 peer 2 role alice module A-tx peer-module B-rx \
	unit 32 capacity 1000 low 2 high 900
beta qkdn link add 1 peer 1 role bob module B-rx peer-module A-tx \
	unit 32 capacity 1000 low 2 high 900
alpha qkdn app add sa uid 0
alpha qkdn app add sb node 2
beta qkdn app add sb uid 0
beta qkdn app add sa node 1
for i in $(seq 1 8); do
	head -c 128 /dev/urandom > "$work/q$i"
	alpha qkdn key push link 1 qkd-id "q$i" < "$work/q$i"
	beta qkdn key push link 1 qkd-id "q$i" < "$work/q$i"
done
expect_eq "alpha has 16 keys to encrypt with" 16 "$(stat alpha enc-available)"

# Authentication.
line=$(alpha qkdn ak auth sae sa peer sb)
if [[ $line =~ ^session\ [0-9a-f]{16}\ sae\ sa\ peer\ sb\ node\ 1\ peer-node\ 2$ ]]; then
	ok "ak auth prints the session"
else
	fail "ak auth prints the session: saw '$line'"
fi
expect_errno "ak auth: unknown SAE" "No such file or directory" \
	alpha qkdn ak auth sae nobody peer sb
expect_errno "ak auth: SAE of another node" "Invalid argument" \
	alpha qkdn ak auth sae sb peer sa
expect_errno "ak auth: another uid may not act as sa" "Permission denied" \
	nobody qkdn ak auth sae sa peer sb
expect_errno "ak get: another uid may not act as sa" "Permission denied" \
	nobody qkdn ak get sae sa peer sb

# Status, as ETSI GS QKD 014 names it.
expect_eq "ak status" \
	'{"key_size":256,"master_SAE_ID":"sa","max_SAE_ID_count":0,"max_key_count":1000,"max_key_per_request":1024,"max_key_size":256,"min_key_size":256,"slave_SAE_ID":"sb","source_KME_ID":"1","stored_key_count":16,"target_KME_ID":"2"}' \
	"$(alpha qkdn -j ak status sae sa peer sb | jq -cS .)"
expect_eq "ak status for decryption at beta" \
	"node 2 peer-node 1 key-size 256 stored 16 max-count 1000 max-per-request 1024 min-key-size 256 max-key-size 256" \
	"$(beta qkdn ak status sae sb peer sa app-code decrypt)"

# Three sub-sessions of one session: count IDs 1, 2, 3.
alpha qkdn -j ak get sae sa peer sb amount 2 requests 3 > "$work/a.json"
expect_eq "ak get: count IDs of the sub-sessions" "1 2 3" \
	"$(jq -r '[.sub_sessions[].count_ID] | join(" ")' "$work/a.json")"
expect_eq "ak get: responses" "success success success" \
	"$(jq -r '[.sub_sessions[].response] | join(" ")' "$work/a.json")"
expect_eq "ak get: six keys of 32 bytes (44 in base64)" "6 44" \
	"$(jq -r '[.sub_sessions[].keys[]] | "\(length) \(.[0].key | length)"' \
		"$work/a.json")"

# Encrypt at alpha, decrypt at beta: the same bytes, whatever the command.
alpha qkdn ak get sae sa peer sb amount 3 > "$work/a-enc"
# shellcheck disable=SC2046
beta qkdn ak get-id sae sb peer sa $(cut -d' ' -f1 "$work/a-enc" | head -n2) > "$work/b-dec"
expect_eq "ak get-id at beta: alpha's bytes" "$(head -n2 "$work/a-enc")" \
	"$(cat "$work/b-dec")"
expect_eq "key get-id at beta takes a key ak get supplied" \
	"$(tail -n1 "$work/a-enc")" \
	"$(beta qkdn key get-id sae sb peer sa "$(tail -n1 "$work/a-enc" | cut -d' ' -f1)")"
expect_errno "ak get-id: a key is taken once" "Required key not available" \
	beta qkdn ak get-id sae sb peer sa "$(head -n1 "$work/a-enc" | cut -d' ' -f1)"
expect_eq "the JSON keys decrypt at beta too" \
	"$(jq -r '.sub_sessions[0].keys[0].key' "$work/a.json")" \
	"$(beta qkdn -j ak get-id sae sb peer sa \
		"$(jq -r '.sub_sessions[0].keys[0].key_ID' "$work/a.json")" |
		jq -r '.sub_sessions[0].keys[0].key')"

# Insufficient: an error, and nothing taken.
left=$(stat alpha enc-available)
before=$(pools alpha)
expect_errno "ak get: insufficient" "insufficient keys: $left available, 50 asked" \
	alpha qkdn ak get sae sa peer sb amount 50
expect_eq "insufficient took nothing" "$before" "$(pools alpha)"

# Deletion at beta of a key alpha took.
id=$(alpha qkdn ak get sae sa peer sb | cut -d' ' -f1)
deleted=$(stat beta deleted)
expect_ok "ak delete" beta qkdn ak delete sae sb peer sa "$id"
expect_eq "beta counted the deletion" $((deleted + 1)) "$(stat beta deleted)"
expect_errno "a deleted key cannot be taken" "Required key not available" \
	beta qkdn ak get-id sae sb peer sa "$id"
expect_errno "ak delete: malformed ID" "invalid key ID" \
	beta qkdn ak delete sae sb peer sa not-a-uuid

# Two applications on libqkdn share a one-time pad.
read -r id cipher < <(alpha "$example" send sa sb "attack at dawn")
expect_eq "the ciphertext is the message's length" 28 "${#cipher}"
expect_eq "libqkdn: beta decrypts what alpha encrypted" "attack at dawn" \
	"$(beta "$example" receive sb sa "$id" "$cipher")"
expect_errno "libqkdn: the key is gone once received" "Required key not available" \
	beta "$example" receive sb sa "$id" "$cipher"
# uid 65534 runs a copy that sits beside its library: the checkout (under
# /root, say) need not be searchable by that uid.
cp "$example" "$QKDN_REPO/build/lib/libqkdn.so.0" "$work/"
chmod 755 "$work"
expect_errno "libqkdn: another uid is refused" "Permission denied" \
	nobody "$work/qkdn-ak-example" send sa sb hello

# A session lives as long as its socket, and no longer.
# hold_session: `qkdn ak auth ... hold` in the background, its session
# open once this returns; release_session ends it by closing its stdin.
hold_session() {
	coproc holder { alpha qkdn ak auth sae sa peer sb hold; }
	holder_out=${holder[0]} holder_in=${holder[1]} holder_pid=$holder_PID
	read -r -u "$holder_out" line
}
release_session() {
	exec {holder_in}>&-
	wait "$holder_pid"
}

base=$(objects)
hold_session
expect_eq "a held session is one more object" $((base + 1)) "$(objects)"
release_session
expect_eq "the session ended with its process" "$base" "$(objects)"

# Unloading the module with a session open frees it.
hold_session
dmesg -C
qkdn_unload
expect_eq "no leak reported at unload with a session open" "" \
	"$(dmesg | grep -i 'leaked' || true)"
release_session
