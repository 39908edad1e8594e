#!/bin/bash
# qkdn-qkdd reports to qkdn-mgrd (Mq): inventory, key rate and QBER, an
# eavesdropper's alarm with the driver's diagnosis and the isolation the
# manager decides, a fibre cut, and the clears.
#
#        netns alpha (node 1)                    netns beta (node 2)
#   qkdn-mgrd  10.0.1.1:7500 <------Mq-------  qkdn-qkdd: rx 12 (B12)
#      ^  Mu 127.0.0.1:7543                         |
#      | Mq                                          |
#   qkdn-qkdd: tx 12 (A12) ~~~~~~~~ 10 km ~~~~~~~~~~~+ 10.0.1.2:7100
#   10.0.1.1
#
# "~~~~" is the simulated QKD module pair of link 12. Both drivers report
# every 300 ms; the manager's database lives in the test's directory.
set -e
source "$(dirname "$0")/host/lib-mgrd.sh"
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

work=$(mktemp -d)
defer rm -rf "$work"

on() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ctl() { qkdn-qkdd ctl "$work/$1.sock" "${@:2}"; }
field() { awk -v name="$1" '{ for (i = 1; i < NF; i++) if ($i == name) { print $(i + 1); exit } }'; }
qkd_is() { [[ $(on "$1" qkdn qkd show "$2" | field state) == "$3" ]]; }
mgr() { on alpha qkdn -j mgr "$@"; }
api_get() { on alpha curl -sk --max-time 20 "https://127.0.0.1:7543/$1"; }
# jq_is FILTER EXPECTED PATH: the API's answer, filtered, is EXPECTED
jq_is() { [[ $(api_get "$3" | jq -r "$1" 2>/dev/null) == "$2" ]]; }
alarms_is() { [[ $(mgr alarms | jq -r "$1" 2>/dev/null) == "$2" ]]; }

qkdn_load
netns_node alpha
netns_node beta
netns_connect alpha 10.0.1.1/24 beta 10.0.1.2/24
on alpha qkdn node set id 1 name alpha
on beta qkdn node set id 2 name beta
on alpha qkdn link add 12 peer 2 role alice module A12 peer-module B12 unit 32 capacity 100000
on beta qkdn link add 12 peer 1 role bob module B12 peer-module A12 unit 32 capacity 100000

mgrd_pki "$work" > /dev/null
cat > "$work/mgrd.conf" <<EOF
[manager]
name = vm-mgr
listen = 10.0.1.1:7500
cert = mgr.crt
key = mgr.key
ca = ca.crt
db = mgrd.db
[http]
listen = 127.0.0.1:7543
client-cert = no
EOF
kill_daemon() {
	kill -TERM "$1" 2>/dev/null || echo "# $2 had exited"
	wait "$1" 2>/dev/null || true
	echo "# $2, last lines:"
	tail -n 8 "$work/$2.log" | sed 's/^/#   /'
}
ip netns exec alpha qkdn-mgrd -c "$work/mgrd.conf" 2> "$work/mgrd.log" < /dev/null &
defer kill_daemon $! mgrd
manager() {
	printf '[manager]\naddress = 10.0.1.1:7500\ncert = qkd-%s.crt\nkey = qkd-%s.key\n' "$1" "$1"
	printf 'ca = ca.crt\nreport-ms = 300\n'
}
{
	printf '[node]\nid = 1\ncontrol = %s\n' "$work/alpha.sock"
	printf '[link]\nid = 12\nrole = tx\nmode = sim\nmodule = A12\npeer-module = B12\n'
	printf 'peer = 10.0.1.2:7100\nlength-km = 10\nqkd-key-bytes = 64\npulse-rate-hz = 1e6\n'
	manager 1
} > "$work/alpha.conf"
{
	printf '[node]\nid = 2\ncontrol = %s\n' "$work/beta.sock"
	printf '[link]\nid = 12\nrole = rx\nmode = sim\nmodule = B12\npeer-module = A12\n'
	printf 'listen = 10.0.1.2:7100\n'
	manager 2
} > "$work/beta.conf"
wait_until 60 on alpha curl -sk --max-time 20 -o /dev/null https://127.0.0.1:7543/api/v1/agents
for ns in alpha beta; do
	ip netns exec $ns qkdn-qkdd --config "$work/$ns.conf" > "$work/$ns.log" 2>&1 < /dev/null &
	defer kill_daemon $! "$ns"
done
export QKDN_MGR_URL=https://127.0.0.1:7543

expect_ok "link 12 up at beta" wait_until 30 qkd_is beta 12 up
expect_ok "both QKD drivers connected to the manager" wait_until 10 \
	jq_is '[.[].cn]|sort|join(",")' "qkdn-qkd-1,qkdn-qkd-2" api/v1/agents

# Inventory (10.3): each end's QKD link and module, the peer from the module.
expect_ok "inventory: both ends' QKD links and modules, in service" wait_until 10 jq_is \
	'[.[]|select(.resource|test("^qkd-"))|"\(.resource) \(.kind) \(.node) \(.peer) \(.state) \(.module)"]|join(",")' \
	"qkd-link-1-12 3 1 2 1 A12,qkd-link-2-12 3 2 1 1 B12,qkd-module-A12 4 1 2 1 A12,qkd-module-B12 4 2 1 1 B12" \
	api/v1/inventory
topo=$(api_get api/v1/topology)
expect_eq "topology: link 1-2 has its QKD link, no configuration error" "1 2 true 0" \
	"$(jq -r '"\(.links[0].a) \(.links[0].b) \(.links[0].qkd) \(.errors|length)"' <<< "$topo")"

# Performance (10.4): the tx driver's model rate, exactly.
rate=$(ctl alpha show | grep '^link 12 ' | field model-rate)
expect_ok "performance: key rate of qkd-link-1-12 is the model's $rate bit/s" wait_until 5 \
	jq_is '.[]|select(.resource=="qkd-link-1-12" and .type==1)|.value' "$rate" api/v1/performance
qber_ppm=$(api_get api/v1/performance | jq -r '.[]|select(.resource=="qkd-link-1-12" and .type==2)|.value')
qber=$(on alpha qkdn qkd show 12 | field qber)
expect_eq "performance: QBER in ppm is the module's QBER" "$(printf %.4f "$qber")" \
	"$(printf %.4f "$(echo "$qber_ppm / 1000000" | bc -l)")"
expect_ok "report: min/avg/max of the key rate from several samples" \
	jq_is '.performance[]|select(.resource=="qkd-link-2-12" and .type==1)|.samples > 1' true api/v1/report

# An eavesdropper on every pulse: both ends alarm, diagnosed by the module.
ctl alpha set 12 eavesdrop 1
expect_ok "two active qber-high alarms, one per end" wait_until 10 \
	alarms_is '[.[]|select(.type=="qber-high")|.resource]|sort|join(",")' "qkd-link-1-12,qkd-link-2-12"
expect_ok "the alarm's cause has the module's diagnosis (M_DIAG)" wait_until 5 alarms_is \
	'.[]|select(.resource=="qkd-link-1-12")|.cause|test("diagnostics: eavesdropping: QBER [0-9.]+% over the 11% abort threshold, [0-9.]+% expected at 10.0 km; the excess is an intercept-resend attack on about 100% of the pulses; state 2")' \
	true
qber_ppm=$(api_get api/v1/performance | jq -r '.[]|select(.resource=="qkd-link-1-12" and .type==2)|.value')
expect_eq "the alarm: critical, source A12, peer 2, value the QBER reported" \
	"4 A12 2 $qber_ppm QBER $(printf %.2f "$(echo "$qber_ppm / 10000" | bc -l)")% over the abort threshold" \
	"$(mgr alarms | jq -r '.[]|select(.resource=="qkd-link-1-12")|"\(.severity) \(.source) \(.peer) \(.value) \(.description)"')"
expect_ok "one decision: isolate km-link-1-2, queued for the controller" wait_until 5 \
	jq_is '[.[]|"\(.type) \(.resource) \(.state)"]|join(",")' "2 km-link-1-2 queued" api/v1/actions
expect_ok "the eavesdropping is in the audit trail" \
	jq_is '[.[]|select(.agent=="qkdn-qkd-1")|.details.sec_event]|join(",")' 1 "api/v1/events?cmd=20"	# M_SECURITY
ctl alpha set 12 eavesdrop 0
expect_ok "both qber-high alarms cleared" wait_until 10 alarms_is 'length' 0
expect_ok "inventory: the link back in service" wait_until 5 \
	jq_is '.[]|select(.resource=="qkd-link-2-12")|.state' 1 api/v1/inventory

# A fibre cut: the tx driver diagnoses it.
ctl alpha set 12 outage on
expect_ok "qkd-link-down alarm at alpha" wait_until 10 \
	alarms_is '.[]|select(.resource=="qkd-link-1-12")|.type' qkd-link-down
expect_ok "its cause: no detections, fibre cut" wait_until 5 alarms_is \
	'.[]|select(.resource=="qkd-link-1-12")|.cause|contains("diagnostics: no detections on the quantum channel: fibre cut or optical path lost")' \
	true
expect_ok "inventory: qkd-link-1-12 out of service" \
	jq_is '.[]|select(.resource=="qkd-link-1-12")|.state' 2 api/v1/inventory
ctl alpha set 12 outage off
expect_ok "the link-down alarms cleared" wait_until 10 alarms_is 'length' 0
expect_eq "all alarms, raised and cleared" "qber-high,qber-high,qkd-link-down,qkd-link-down" \
	"$(mgr alarms all | jq -r '[.[].type]|sort|join(",")')"
