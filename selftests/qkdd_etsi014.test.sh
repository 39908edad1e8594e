#!/bin/bash
# qkdn-qkdd as an ETSI GS QKD 014 client of a real device's KME, here a
# stub (kme_stub.py): keys pulled with enc_keys at one end and dec_keys at
# the other are the same in both pools; a KME that answers errors or
# malformed JSON gets a clear error and no key is pushed at either end.
#
#   netns alpha (node 1)                         netns beta (node 2)
#   +------------------------------+             +---------------------------+
#   | kme_stub.py 10.0.0.1:8443    |<--- HTTPS --| qkdn-qkdd  rx, link 1     |
#   |   (both ends' KME, mTLS)     |  (dec_keys) |  SAE sae-b (slave),       |
#   | qkdn-qkdd  tx, link 1        |             |  module B-dev             |
#   |  SAE sae-a (master),  ------ key IDs ----->|  listens 10.0.0.2:7200    |
#   |  module A-dev (enc_keys)     |             |                           |
#   +------------------------------+             +---------------------------+
#             10.0.0.1  veth-beta ------------- veth-alpha  10.0.0.2
set -e
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

work=$(mktemp -d)
defer rm -rf "$work"
source "$(dirname "$0")/pki.sh"

on() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
field() { awk -v name="$1" '{ for (i = 1; i < NF; i++) if ($i == name) { print $(i + 1); exit } }'; }
stat() { on "$1" qkdn link show 1 | field "$2"; }
qkd_is() { [[ $(on "$1" qkdn qkd show 1 | field state) == "$2" ]]; }
grown() { (($(stat "$1" generated) > $2)); }
errors() { grep -c 'event=kme-error' "$work/$1.log" || true; }
errors_above() { (($(errors "$1") > $2)); }

qkdn_load
netns_node alpha
netns_node beta
netns_connect alpha 10.0.0.1/24 beta 10.0.0.2/24
on alpha qkdn node set id 1 name alpha
on beta qkdn node set id 2 name beta
on alpha qkdn link add 1 peer 2 role alice module A-dev peer-module B-dev unit 32
on beta qkdn link add 1 peer 1 role bob module B-dev peer-module A-dev unit 32
on alpha qkdn app add sa uid 0
on alpha qkdn app add sb node 2
on beta qkdn app add sb uid 0
on beta qkdn app add sa node 1

# PKI: the SAEs' client certificates (CN qkdn-node-1/2) and the KME's.
qkdn_pki "$work/pki" 1 2
(
	cd "$work/pki"
	umask 077
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout kme.key \
		-out kme.csr -subj "/O=qkdn test/CN=kme" 2>/dev/null
	openssl x509 -req -in kme.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out kme.crt \
		-days 2 -extfile <(printf '%s\n' "subjectAltName=IP:10.0.0.1" \
			"extendedKeyUsage=serverAuth") 2>/dev/null
)
echo ok > "$work/mode"
ip netns exec alpha python3 "$(dirname "$0")/kme_stub.py" --listen 10.0.0.1:8443 \
	--cert "$work/pki/kme.crt" --key "$work/pki/kme.key" --ca "$work/pki/ca.crt" \
	--sae qkdn-node-1=sae-a --sae qkdn-node-2=sae-b --mode-file "$work/mode" \
	--ready "$work/kme.ready" > "$work/kme.log" 2>&1 < /dev/null &
defer kill $!
wait_until 20 test -s "$work/kme.ready"

conf() { # node, role, module, peer module, address key and value, sae, peer sae, cert
	printf '[node]\nid = %s\ncontrol = %s\n[link]\nid = 1\nrole = %s\nmode = etsi014\n' \
		"$1" "$work/$1.sock" "$2"
	printf 'module = %s\npeer-module = %s\n%s\nkme = https://10.0.0.1:8443\n' "$3" "$4" "$5"
	printf 'sae = %s\npeer-sae = %s\ncert = pki/node-%s.crt\nkey = pki/node-%s.key\n' \
		"$6" "$7" "$1" "$1"
	printf 'ca = pki/ca.crt\nsize-bits = 256\n'
	[[ $2 == rx ]] || printf 'number = 4\ninterval-ms = 200\n'
}
conf 1 tx A-dev B-dev "peer = 10.0.0.2:7200" sae-a sae-b > "$work/alpha.conf"
conf 2 rx B-dev A-dev "listen = 10.0.0.2:7200" sae-b sae-a > "$work/beta.conf"
kill_daemon() {
	kill -TERM "$1" 2>/dev/null || return 0
	wait "$1" 2>/dev/null || true
}
for ns in beta alpha; do
	ip netns exec $ns qkdn-qkdd --config "$work/$ns.conf" > "$work/$ns.log" 2>&1 < /dev/null &
	defer kill_daemon $!
done

expect_ok "the link comes up at alpha" wait_until 30 qkd_is alpha up
expect_ok "and at beta" wait_until 30 qkd_is beta up
expect_ok "keys from the KME fill alpha's pool" wait_until 30 grown alpha 15
sleep 0.5
ga=$(stat alpha generated)
gb=$(stat beta generated)
echo "# generated: alpha $ga, beta $gb"

same_keys() { # taker node, its SAE, fetcher node, its SAE
	local got ids fetched
	got=$(on "$1" qkdn key get sae "$2" peer "$4" amount 4)
	ids=$(cut -d' ' -f1 <<< "$got" | tr '\n' ' ')
	# shellcheck disable=SC2086
	fetched=$(on "$3" qkdn key get-id sae "$4" peer "$2" $ids)
	if [[ -n $got && $got == "$fetched" ]]; then
		ok "$1 and $3 hold the same 4 keys under the same IDs"
	else
		fail "keys differ: expected '${got:0:80}...', saw '${fetched:0:80}...'"
	fi
}
same_keys alpha sa beta sb
same_keys beta sb alpha sa
same_stream() { [[ $(stat alpha qkd-bytes) == "$(stat beta qkd-bytes)" ]]; }
# Keys flow all the time and a batch lands at beta before alpha: hold the
# stream (the KME answers 503) so the two ends can be compared once the
# last batch has landed at both, then let it flow again.
echo enc-503 > "$work/mode"
expect_ok "both ends received the same QKD-key bytes" wait_until 30 same_stream
echo ok > "$work/mode"
expect_ok "the stream flows again" wait_until 30 qkd_is alpha up

# fault MODE NODE_WITH_ERRORS TEXT: the KME misbehaves; the driver that
# talks to it says TEXT in an event=kme-error line, and no key enters
# either pool while it lasts.
fault() {
	local mode=$1 node=$2 text=$3 before ga gb
	before=$(errors "$node")
	echo "$mode" > "$work/mode"
	if ! wait_until 20 errors_above "$node" "$before"; then
		fail "$mode: expected an event=kme-error line at $node, saw none"
		return
	fi
	# Batches served before the fault may still land: wait for the next error.
	before=$(errors "$node")
	wait_until 20 errors_above "$node" "$before"
	ga=$(stat alpha generated)
	gb=$(stat beta generated)
	before=$(errors "$node")
	wait_until 20 errors_above "$node" $((before + 1)) ||
		fail "$mode: expected errors to go on at $node"
	if grep 'event=kme-error' "$work/$node.log" | tail -n 1 | grep -qF -- "$text"; then
		ok "$mode: $node logs a clear error: $(grep 'event=kme-error' "$work/$node.log" |
			tail -n 1 | grep -o 'op=.*')"
	else
		fail "$mode: expected '$text' in the error, saw '$(grep 'event=kme-error' \
			"$work/$node.log" | tail -n 1)'"
	fi
	expect_eq "$mode: nothing pushed at alpha" "$ga" "$(stat alpha generated)"
	expect_eq "$mode: nothing pushed at beta" "$gb" "$(stat beta generated)"
	expect_eq "$mode: both ends hold the same number of keys" "$ga" "$gb"
}
fault enc-503 alpha 'http=503 err="HTTP 503: key stream exhausted'
expect_ok "enc-503: alpha reports the link down" wait_until 10 qkd_is alpha down
expect_ok "enc-503: so does beta" wait_until 10 qkd_is beta down
fault enc-malformed alpha 'malformed JSON'
fault enc-short alpha '31 bytes, asked for 32'
fault enc-missing alpha 'no \"key\" string'
fault dec-503 beta 'http=503 err="HTTP 503: KME busy"'
fault dec-malformed beta 'malformed JSON'
fault dec-short beta '31 bytes, asked for 32'
fault dec-missing beta 'no \"key\" string'

echo ok > "$work/mode"
ga=$(stat alpha generated)
expect_ok "with the KME healthy again, alpha's link is up" wait_until 20 qkd_is alpha up
expect_ok "keys flow again" wait_until 20 grown beta "$ga"
sleep 1
same_keys alpha sa beta sb
same_keys beta sb alpha sa
