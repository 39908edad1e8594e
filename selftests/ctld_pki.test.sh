#!/bin/bash
# qkdn-ctld as the network's CA: enrolment, the registry, and revocation
# enforced on Ck connections. No kmd and no qkdn.ko: the KMs are
# selftests/ck_client.py.
#
#   netns ctl                               netns km
#   +-------------------------+   veth     +--------------------------+
#   | qkdn-ctld run           |------------| ck_client.py as KM 1, 2, |
#   | listen 10.9.0.1:7400    |  TLS 1.3   | 3; a stranger (other CA) |
#   | state: CA, CRL, registry|            |                          |
#   +-------------------------+            +--------------------------+
#      10.9.0.1/24                             10.9.0.2/24
#
# 1. init, enrol (generated key, and a CSR whose key never leaves the KM),
#    list; bad input refused with its reason and nothing changed.
# 2. KM 1 connects; a certificate of another CA fails the handshake and the
#    controller logs "unknown CA" with the address.
# 3. `qkdn-ctld ctl revoke node 2` while KM 2 is connected: the controller
#    closes it, pushes the CRL (CK_CRL) to KM 1, and KM 2's next handshake
#    fails ("peer certificate revoked" logged).
# 4. `qkdn-ctld revoke --node 3` on the command line, then SIGHUP: the same.
set -e
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pki.sh"
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

dir=$(mktemp -d /tmp/ctld_pki.XXXXXX)
defer rm -rf "$dir"
st=$dir/state out=$dir/out
ctld=qkdn-ctld
client() { # client NODE_CERT_BASENAME ARGS...
	local base=$1
	shift
	ip netns exec km python3 "$QKDN_REPO/selftests/ck_client.py" --addr 10.9.0.1:7400 \
		--cert "$out/$base.crt" --key "$out/$base.key" --ca "$out/ca.crt" "$@"
}

netns_node ctl
netns_node km
netns_connect ctl 10.9.0.1/24 km 10.9.0.2/24

# 1. The CA and the registry
expect_ok "init creates the CA" $ctld init --state "$st" --network selftest
expect_eq "CA key is 0600" "600" "$(stat -c %a "$st/ca.key")"
ca_sum=$(sha256sum < "$st/ca.key")
expect_errno "a second init refused" "already holds a CA" $ctld init --state "$st" --network x
expect_eq "CA key untouched by the refused init" "$ca_sum" "$(sha256sum < "$st/ca.key")"
for n in 1 2 3; do
	$ctld enrol --state "$st" --node $n --name "km$n" --out "$out" >/dev/null
done
$ctld enrol --state "$st" --ctl --out "$out" >/dev/null
expect_eq "node key is 0600" "600" "$(stat -c %a "$out/qkdn-node-1.key")"
expect_eq "certificate CN" "subject=O = selftest, CN = qkdn-node-2" \
	"$(openssl x509 -in "$out/qkdn-node-2.crt" -noout -subject)"
expect_eq "certificate verifies against CA and CRL" "$out/qkdn-node-2.crt: OK" \
	"$(openssl verify -CAfile "$out/ca.crt" -crl_check -CRLfile "$out/crl.pem" "$out/qkdn-node-2.crt")"
expect_eq "serverAuth and clientAuth" "TLS Web Server Authentication, TLS Web Client Authentication" \
	"$(openssl x509 -in "$out/qkdn-node-1.crt" -noout -ext extendedKeyUsage | tail -1 | sed 's/^ *//')"
mkdir -p "$dir/km4"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/km4/k.key" \
	-out "$dir/km4/k.csr" -subj "/CN=whatever" 2>/dev/null
expect_ok "enrol --csr signs a CSR" $ctld enrol --state "$st" --node 4 --csr "$dir/km4/k.csr" --out "$dir/km4"
expect_eq "only the certificate written for a CSR" "k.csr k.key qkdn-node-4.crt" \
	"$(cd "$dir/km4" && echo *)"
expect_eq "the CN is the controller's choice, not the CSR's" "subject=O = selftest, CN = qkdn-node-4" \
	"$(openssl x509 -in "$dir/km4/qkdn-node-4.crt" -noout -subject)"
expect_eq "CSR certificate carries the CSR's key" \
	"$(openssl pkey -in "$dir/km4/k.key" -pubout)" \
	"$(openssl x509 -in "$dir/km4/qkdn-node-4.crt" -noout -pubkey)"
echo garbage > "$dir/bad.csr"
before=$(sha256sum < "$st/registry.json")
expect_errno "a bad CSR refused" "not a PEM certificate request" \
	$ctld enrol --state "$st" --node 5 --csr "$dir/bad.csr" --out "$dir/km4"
expect_errno "an application CN posing as a KM refused" "bad application CN" \
	$ctld enrol --state "$st" --app qkdn-node-9 --out "$out"
expect_errno "revoking an unknown entity refused" "qkdn-node-9 is not registered" \
	$ctld revoke --state "$st" --node 9
expect_eq "registry unchanged by refused commands" "$before" "$(sha256sum < "$st/registry.json")"
expect_eq "list shows the registry" "node  qkdn-node-2              registered name=km2 serials=[3]" \
	"$($ctld list --state "$st" | grep qkdn-node-2)"

# 2. Serving
cat > "$dir/ctld.conf" <<CONF
[controller]
listen = 10.9.0.1:7400
state = state
cert = out/qkdn-ctl.crt
key = out/qkdn-ctl.key
control = $dir/ctld.sock

[policy]
status-period-ms = 300

[node]
id = 1
name = km1
[node]
id = 2
name = km2
[node]
id = 3
name = km3
[link]
a = 1
b = 2
CONF
ip netns exec ctl $ctld run --config "$dir/ctld.conf" > "$dir/ctld.log" 2>&1 &
ctld_pid=$!
defer stop $ctld_pid
wait_until 20 test -S "$dir/ctld.sock"

expect_eq "KM 1 authenticates" "connected" "$(client qkdn-node-1 handshake)"
qkdn_pki "$dir/stranger" 1 >/dev/null
saw=$(ip netns exec km python3 "$QKDN_REPO/selftests/ck_client.py" --addr 10.9.0.1:7400 \
	--cert "$dir/stranger/node-1.crt" --key "$dir/stranger/node-1.key" \
	--ca "$out/ca.crt" handshake) || true
expect_eq "a certificate of another CA is refused" "handshake failed" "${saw%%:*}"
wait_until 5 grep -q 'reason="unknown CA"' "$dir/ctld.log" || show_logs
expect_eq "unknown CA logged with the address" "1" \
	"$(grep -c 'event=tls-refused remote=10.9.0.2:[0-9]* reason="unknown CA"' "$dir/ctld.log")"

# 3. Revocation through the control socket, KMs connected
client qkdn-node-1 km --node 1 --link 2:up:100000 --hold 30 > "$dir/km1.out" &
km1=$!
client qkdn-node-2 km --node 2 --link 1:up:100000 --hold 30 > "$dir/km2.out" &
km2=$!
wait_until 30 sh -c "$ctld ctl --socket $dir/ctld.sock kms | grep -c '\"connected\": true' | grep -qx 2" || show_logs
ok "KM 1 and KM 2 connected"
expect_ok "ctl revoke node 2" $ctld ctl --socket "$dir/ctld.sock" revoke node 2
wait $km2 || true
kill $km1 2>/dev/null || true
expect_eq "KM 2 disconnected by the controller" '{"closed": true}' "$(tail -1 "$dir/km2.out")"
wait $km1 || true
expect_eq "KM 1 received the new CRL" "1" "$(grep -c '"crl":' "$dir/km1.out")"
saw=$(client qkdn-node-2 handshake) || true
expect_eq "KM 2's certificate now fails the handshake" "handshake failed" "${saw%%:*}"
wait_until 5 grep -q 'reason="peer certificate revoked"' "$dir/ctld.log" || show_logs
ok "revoked certificate logged"
expect_eq "registry marks it deleted" "node  qkdn-node-2              deleted    name=km2 serials=[]" \
	"$($ctld list --state "$st" | grep qkdn-node-2)"
expect_eq "CRL lists the serial" "1" \
	"$(openssl crl -in "$st/crl.pem" -noout -text | grep -c 'Serial Number: 03')"
expect_eq "KM 1 still authenticates" "connected" "$(client qkdn-node-1 handshake)"

# 4. Revocation on the command line, then SIGHUP
expect_eq "KM 3 authenticates before" "connected" "$(client qkdn-node-3 handshake)"
$ctld revoke --state "$st" --node 3 >/dev/null
kill -HUP $ctld_pid
wait_until 5 sh -c "grep -c event=crl-loaded '$dir/ctld.log' | grep -qx 3" || show_logs
saw=$(client qkdn-node-3 handshake) || true
expect_eq "KM 3 refused after revoke + SIGHUP" "handshake failed" "${saw%%:*}"
crl_number=$(openssl crl -in "$st/crl.pem" -noout -crlnumber | sed 's/crlNumber=0x//')
expect_eq "CRL number counts the updates" "3" "$((16#$crl_number))"
