#!/bin/bash
# ETSI GS QKD 014 in qkdn-kmd: applications get keys over HTTPS with their
# client certificates, the master at alpha with enc_keys, the slave at beta
# with dec_keys, and every refusal has its HTTP code and JSON error and
# takes nothing from the pools.
#
#   netns alpha (node 1)                              netns beta (node 2)
#   +-----------------------------+                   +-----------------------------+
#   | kmd :7000 (peer 2)          |--veth, kmd TLS----| kmd :7000 (peer 1)          |
#   | 014 https :8443             |                   | 014 https :8443             |
#   |   sa <- cert CN app-a       |                   |   sb <- cert CN app-b       |
#   |   sc <- cert CN app-c       |                   |                             |
#   | link 12 alice  ~~~~~~~~~~~~~~~~~~~ QKD ~~~~~~~~~~~~~~~~~~~~~ link 12 bob     |
#   | sa uid 0, sc uid 65534      |                   | sb uid 0                    |
#   +-----------------------------+                   +-----------------------------+
#    10.0.12.1                                          10.0.12.2
#
#   curl, in each namespace, plays the SAEs against 127.0.0.1:8443 (the
#   server certificate is the node's, qkdn-node-N, hence --resolve).
#   Certificates: the nodes' and app-a, app-b, app-c, app-x (no [sae]) from
#   one test CA; app-rogue from a CA the KMEs do not know. Both kmds run
#   with ksa-sync = yes, so every enc_keys is confirmed with beta first.
set -e
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pki.sh"
source "$(dirname "$0")/etsi014.sh"
trap cleanup EXIT

e14_init

at() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# lstat NS COUNTER: a counter of link 12's pool at NS.
lstat() {
	at "$1" qkdn link show 12 |
		awk -v name="$2" '{ for (i = 1; i < NF; i++) if ($i == name) { print $(i + 1); exit } }'
}
# pools: consumed and stored of link 12 at both ends, in one line.
pools() {
	echo "alpha $(lstat alpha consumed) $(lstat alpha stored)" \
		"beta $(lstat beta consumed) $(lstat beta stored)"
}
# What a refused request must leave alone: every pool and store, both ends
# (the rates aside: they are samples of time).
e14_snapshot() {
	local ns
	for ns in alpha beta; do
		echo "\"$ns\""
		at "$ns" sh -c 'qkdn -j link show; qkdn -j store show'
	done | jq -c 'if type == "array" then map(del(.stats.gen_rate, .stats.cons_rate)) else . end'
}

qkdn_pki "$work/pki" 1 2
e14_app_cert app-a app-a
e14_app_cert app-b app-b
e14_app_cert app-c app-c
e14_app_cert app-x app-x
qkdn_pki "$work/rogue" 99
e14_app_cert app-rogue app-a "$work/rogue"

qkdn_load
netns_node alpha
netns_node beta
netns_connect alpha 10.0.12.1/24 beta 10.0.12.2/24
at alpha qkdn node set id 1 name alpha
at beta qkdn node set id 2 name beta
at alpha qkdn link add 12 peer 2 role alice module L12-a peer-module L12-b \
	unit 32 capacity 10000 low 1 high 9000
at beta qkdn link add 12 peer 1 role bob module L12-b peer-module L12-a \
	unit 32 capacity 10000 low 1 high 9000
# 014-served SAEs are registered with kmd's uid (0 here); sc with another.
at alpha qkdn app add sa uid 0
at alpha qkdn app add sc uid 65534
at alpha qkdn app add sb node 2
at beta qkdn app add sb uid 0
at beta qkdn app add sa node 1
at beta qkdn app add sc node 1
# 2 QKD-keys of 1200 bytes: 75 KMA-keys, 38 in alpha's encrypting half.
for i in 1 2; do
	head -c 1200 /dev/urandom > "$work/q"
	at alpha qkdn key push link 12 qkd-id "q$i" < "$work/q"
	at beta qkdn key push link 12 qkd-id "q$i" < "$work/q"
done

defer e14_dump_logs
e14_kmd alpha 1 peer:2:10.0.12.2 sae:sa:app-a sae:sc:app-c
e14_kmd beta 2 peer:1:10.0.12.1 sae:sb:app-b
wait_until 30 e14_logged alpha event=etsi014-listening
wait_until 30 e14_logged beta event=etsi014-listening
wait_until 30 e14_logged alpha "event=peer-up peer=2"
wait_until 30 e14_logged beta "event=peer-up peer=1"

status_json='{"source_KME_ID":"1","target_KME_ID":"2","master_SAE_ID":"sa","slave_SAE_ID":"sb","key_size":256,"stored_key_count":STORED,"max_key_count":10000,"max_key_per_request":64,"max_key_size":256,"min_key_size":256,"max_SAE_ID_count":15}'

# ---- Status
# With KSA synchronisation a request also takes the SYNC frame's MAC key.
stored=$(($(lstat alpha enc-available) - 1))
before=$(pools)
reply=$(e14 alpha app-a GET /api/v1/keys/sb/status)
expect_eq "status GET" "200 $(jq -cS . <<< "${status_json/STORED/$stored}")" \
	"${reply%% *} $(jq -cS . <<< "${reply#* }")"
reply=$(e14 alpha app-a POST /api/v1/keys/sb/status)
expect_eq "status POST" "200 $(jq -cS . <<< "${status_json/STORED/$stored}")" \
	"${reply%% *} $(jq -cS . <<< "${reply#* }")"
expect_eq "status takes nothing" "$before" "$(pools)"

# ---- Keys: alpha's master gets them, beta's slave fetches them by ID
reply=$(e14 alpha app-a GET '/api/v1/keys/sb/enc_keys?number=2&size=256')
expect_eq "enc_keys GET: 200" 200 "${reply%% *}"
get_keys=$(jq -c .keys <<< "${reply#* }")
expect_eq "enc_keys GET: 2 keys of 32 bytes" "2 44 44" \
	"$(jq -r '"\(length) \(.[0].key | length) \(.[1].key | length)"' <<< "$get_keys")"
reply=$(e14 alpha app-a POST /api/v1/keys/sb/enc_keys \
	'{"number":3,"size":256,"additional_slave_SAE_IDs":[]}')
expect_eq "enc_keys POST: 200" 200 "${reply%% *}"
post_keys=$(jq -c .keys <<< "${reply#* }")
expect_eq "enc_keys POST: 3 keys" 3 "$(jq length <<< "$post_keys")"
reply=$(e14 alpha app-a POST /api/v1/keys/sb/enc_keys '{}')
expect_eq "enc_keys POST without members: 1 key" "200 1" \
	"${reply%% *} $(jq '.keys | length' <<< "${reply#* }")"
one_key=$(jq -c .keys <<< "${reply#* }")

id0=$(jq -r '.[0].key_ID' <<< "$get_keys")
reply=$(e14 beta app-b GET "/api/v1/keys/sa/dec_keys?key_ID=$id0")
expect_eq "dec_keys GET at beta: the key alpha got, byte for byte" \
	"200 $(jq -c '[.[0]]' <<< "$get_keys")" "${reply%% *} $(jq -c .keys <<< "${reply#* }")"
want=$(jq -nc --argjson g "$get_keys" --argjson p "$post_keys" '[$g[1]] + $p')
ids=$(jq -c '{key_IDs: [.[] | {key_ID}]}' <<< "$want")
e14_refused "dec_keys POST: a key ID repeated" 400 "bad request" \
	beta app-b POST /api/v1/keys/sa/dec_keys \
	"$(jq -c '.key_IDs += [.key_IDs[0]]' <<< "$ids")"
reply=$(e14 beta app-b POST /api/v1/keys/sa/dec_keys "$ids")
expect_eq "dec_keys POST at beta: 4 keys, the same bytes, in the order asked" \
	"200 $want" "${reply%% *} $(jq -c .keys <<< "${reply#* }")"

e14_refused "dec_keys GET: a key is fetched once" 400 \
	"key ID not found: unknown or already fetched" \
	beta app-b GET "/api/v1/keys/sa/dec_keys?key_ID=$id0"
e14_refused "dec_keys POST: all or nothing, one ID already fetched" 400 \
	"key ID not found: unknown or already fetched" \
	beta app-b POST /api/v1/keys/sa/dec_keys \
	"{\"key_IDs\":[{\"key_ID\":\"$(jq -r '.[0].key_ID' <<< "$one_key")\"},{\"key_ID\":\"$id0\"}]}"
e14_refused "dec_keys: unknown key ID" 400 "key ID not found: unknown or already fetched" \
	beta app-b GET /api/v1/keys/sa/dec_keys?key_ID=00000000-0000-8000-8000-000000000000
e14_refused "dec_keys: key_ID not a UUID" 400 "key_ID must be a UUID" \
	beta app-b GET /api/v1/keys/sa/dec_keys?key_ID=nope
reply=$(e14 beta app-b GET "/api/v1/keys/sa/dec_keys?key_ID=$(jq -r '.[0].key_ID' <<< "$one_key")")
expect_eq "the refused POST left the other key: fetched now" \
	"200 $one_key" "${reply%% *} $(jq -c .keys <<< "${reply#* }")"

# ---- Who may ask
e14_refused "unknown slave SAE, status" 400 "unknown SAE ID" \
	alpha app-a GET /api/v1/keys/nobody/status
e14_refused "unknown slave SAE, enc_keys" 400 "unknown SAE ID" \
	alpha app-a GET /api/v1/keys/nobody/enc_keys
e14_refused "unknown master SAE, dec_keys" 400 "unknown SAE ID" \
	beta app-b GET "/api/v1/keys/nobody/dec_keys?key_ID=$id0"
e14_refused "certificate of the CA, CN in no [sae]" 401 "client certificate not accepted" \
	alpha app-x GET /api/v1/keys/sb/enc_keys
e14_refused "SAE registered to another uid than kmd's" 401 \
	"the SAE is not registered to this KME" alpha app-c GET /api/v1/keys/sb/enc_keys
e14_refused "status for an SAE of another uid" 401 \
	"the SAE is not registered to this KME" alpha app-c GET /api/v1/keys/sb/status
e14_refused "app-b's certificate at alpha: no [sae] there" 401 "client certificate not accepted" \
	alpha app-b GET /api/v1/keys/sa/dec_keys?key_ID=$id0
before=$(pools)
reply=$(e14 alpha app-rogue GET /api/v1/keys/sb/enc_keys)
expect_eq "certificate of an unknown CA: TLS refused, no HTTP answer" "000" "${reply%% *}"
reply=$(at alpha curl -sS --max-time 20 --cacert "$work/pki/ca.crt" \
	--resolve qkdn-node-1:8443:127.0.0.1 -o /dev/null -w '%{http_code}' \
	https://qkdn-node-1:8443/api/v1/keys/sb/status 2>/dev/null) || true
expect_eq "no client certificate: TLS refused" "000" "${reply:-000}"
expect_eq "refused handshakes took nothing" "$before" "$(pools)"

# ---- Bad requests
e14_refused "size not a multiple of 8" 400 "size must be a multiple of 8" \
	alpha app-a GET '/api/v1/keys/sb/enc_keys?number=1&size=100'
e14_refused "size not the link's unit" 400 "bad request" \
	alpha app-a POST /api/v1/keys/sb/enc_keys '{"number":1,"size":512}'
e14_refused "too many keys (max_key_per_request 64)" 400 \
	"number must be an integer from 1 to max_key_per_request" \
	alpha app-a GET /api/v1/keys/sb/enc_keys?number=65
e14_refused "number 0" 400 "number must be an integer from 1 to max_key_per_request" \
	alpha app-a POST /api/v1/keys/sb/enc_keys '{"number":0}'
e14_refused "the master as an additional slave SAE" 400 \
	"the master SAE cannot be one of its slave SAEs" \
	alpha app-a POST /api/v1/keys/sb/enc_keys '{"number":1,"additional_slave_SAE_IDs":["sa"]}'
e14_refused "malformed JSON" 400 "malformed JSON request" \
	alpha app-a POST /api/v1/keys/sb/enc_keys '{"number":'
e14_refused "not an API path" 404 "not an ETSI GS QKD 014 resource" \
	alpha app-a GET /api/v1/keys/sb/keys
e14_refused "method other than GET or POST" 405 "method not allowed: GET or POST" \
	alpha app-a DELETE /api/v1/keys/sb/enc_keys

# ---- Insufficient keys
available=$(lstat alpha enc-available)
e14_refused "more keys than the pool holds ($available)" 503 "not enough keys available" \
	alpha app-a GET "/api/v1/keys/sb/enc_keys?number=$available"
reply=$(e14 alpha app-a GET "/api/v1/keys/sb/enc_keys?number=$((available - 1))")
expect_eq "exactly what status promised" "200 $((available - 1))" \
	"${reply%% *} $(jq '.keys | length' <<< "${reply#* }")"
e14_refused "an empty pool" 503 "not enough keys available" \
	alpha app-a GET /api/v1/keys/sb/enc_keys

# ---- Keep-alive: two requests, one connection
conns=$(at alpha curl -sS --max-time 20 --cert "$work/pki/app-a.crt" --key "$work/pki/app-a.key" \
	--cacert "$work/pki/ca.crt" --resolve qkdn-node-1:8443:127.0.0.1 \
	-w '%{http_code}:%{num_connects} ' -o /dev/null https://qkdn-node-1:8443/api/v1/keys/sb/status \
	-o /dev/null https://qkdn-node-1:8443/api/v1/keys/sb/status)
expect_eq "keep-alive: the second request reuses the connection" "200:1 200:0 " "$conns"

expect_eq "no key bytes in the logs" "" \
	"$(grep -hoF -e "$(jq -r '.[0].key' <<< "$get_keys")" -e "$(jq -r '.[0].key' <<< "$post_keys")" \
		"$work"/*.log || true)"

e14_kmd_stop alpha
expect_eq "alpha's kmd stopped on TERM, 014 counters logged" "1 1" \
	"$(grep -c 'event=stats api=etsi014' "$work/alpha.log") $(grep -c 'event=stopped' "$work/alpha.log")"
# Key requests run on the loop unless the module would wait: only the
# first enc_keys found no key checked with beta yet (its KSA batch checked
# the whole pool), and went to a worker thread to wait for it.
stats=$(grep -h 'event=stats api=etsi014' "$work/alpha.log")
expect_eq "alpha: one key request waited for KSA synchronisation on a worker" \
	"to_workers=1" "$(grep -o 'to_workers=[0-9]*' <<< "$stats")"
inline=$(grep -o ' inline=[0-9]*' <<< "$stats" | cut -d= -f2)
expect_eq "alpha: the other key requests were answered on the loop" yes \
	"$( ((${inline:-0} >= 5)) && echo yes || echo "no: $stats")"
