#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Mx (seed 001 I.8): two qkdn-mgrd of one network, each managing part of
# it, on the host (127.0.0.1):
#
#   qkd-1, node-1 --Mq/Mk--> mgr-a <==Mx==> mgr-b <--Mq/Mk/Mc-- qkd-2, node-2, ctl
#
# 1. each shows the other's alarms, inventory, performance figures and
#    resilience records, with the origin manager; an alarm cleared at one
#    is cleared at the other; the topology at either is the whole network
# 2. nothing is forwarded twice or back (no loops)
# 3. a request across the boundary: mgr-b asks mgr-a for a resource's state
# 4. kill -9 of the receiving manager (mgr-b) during a load forwarded by
#    mgr-a: after its restart it has every record, once
# 5. kill -9 of the forwarding manager (mgr-a) during a load: its outbox
#    is durable: mgr-b ends with every record, once
# 6. Mx from a manager that is not the configured peer, and from a
#    certificate of a foreign CA: refused with a clear log line, nothing
#    recorded
# 7. raw messages: origin attributes from an agent, an Mx notification
#    without origin or with a manager as origin, a manager certificate
#    claiming an agent's kind: refused with the reason, nothing stored
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib-mgrd.sh"

work=$(mktemp -d)
declare -A pid port http
bg_pids=()

cleanup() {
	local n
	kill_bg "${bg_pids[@]}"
	for n in "${!pid[@]}"; do
		[[ -n ${pid[$n]} ]] && kill "${pid[$n]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if ((checks_failed)); then
		for n in a b c r; do
			[[ -f $work/$n/mgrd.log ]] || continue
			echo "# mgr-$n log:"
			tail -n 30 "$work/$n/mgrd.log" | sed 's/^/# /'
		done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

mgrd_pki "$work"
mgrd_cert "$work" mx-a qkdn-mgr-mgr-a
mgrd_cert "$work" mx-b qkdn-mgr-mgr-b
mgrd_cert "$work" mx-c qkdn-mgr-mgr-c
mgrd_cert "$work" mx-rogue qkdn-mgr-mgr-a rogue-ca
for n in a b c r; do
	mkdir -p "$work/$n"
	port[$n]=$(free_port)
	http[$n]=$(free_port)
	pid[$n]=
done

# mx_start N NAME PEER-NAME PEER-N MX-CERT: manager N (its own directory)
mx_start() {
	local n=$1 name=$2 peer=$3 peer_n=$4 cert=$5 i
	cat > "$work/$n/mgrd.conf" <<EOT
[manager]
name = $name
listen = 127.0.0.1:${port[$n]}
cert = $work/mgr.crt
key = $work/mgr.key
ca = $work/ca.crt
db = mgrd.db
synchronous = normal
[http]
listen = 127.0.0.1:${http[$n]}
client-cert = no
[mx]
peer = $peer
address = 127.0.0.1:${port[$peer_n]}
cert = $work/$cert.crt
key = $work/$cert.key
ca = $work/ca.crt
EOT
	"$bin/qkdn-mgrd" -c "$work/$n/mgrd.conf" 2>> "$work/$n/mgrd.log" &
	pid[$n]=$!
	for i in $(seq 100); do
		if python3 -c "import socket; [socket.create_connection(('127.0.0.1',p),0.2).close() for p in (${port[$n]},${http[$n]})]" 2>/dev/null; then
			return 0
		fi
		kill -0 "${pid[$n]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "# mgr-$n did not start:"; sed 's/^/# /' "$work/$n/mgrd.log"
	return 1
}

kill9() {
	kill -9 "${pid[$1]}"
	wait "${pid[$1]}" 2>/dev/null || true
	pid[$1]=
}

# to N CERT CN KIND ID ARGS...: a test agent reporting to manager N
to() {
	local n=$1 name=$2 cn=$3 kind=$4 id=$5
	shift 5
	"$bin/qkdn-mgrd-agent" -m "127.0.0.1:${port[$n]}" -C "$work/$name.crt" \
		-K "$work/$name.key" -A "$work/ca.crt" -n "$cn" -k "$kind" -i "$id" "$@"
}

api_of() {	# N PATH
	curl -sk --max-time 10 "https://127.0.0.1:${http[$1]}/$2"
}

db_of() {	# N SQL
	python3 - "$work/$1/mgrd.db" "$2" <<'PY'
import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for row in c.execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))
PY
}

# wait_for SECONDS SQL-N SQL EXPECTED: polls a database until the answer
wait_for() {
	local t=$1 n=$2 q=$3 want=$4 i
	for ((i = 0; i < t * 10; i++)); do
		[[ $(db_of "$n" "$q" 2>/dev/null || true) == "$want" ]] && return 0
		sleep 0.1
	done
	return 1
}

mx_start a mgr-a mgr-b b mx-a
mx_start b mgr-b mgr-a a mx-b

# 1. Each manager's own agents.
to a qkd-1 qkdn-qkd-1 qkd 1 --timeout 20 > /dev/null <<EOT
config qkd-link-1-1 resource_kind=3 resource_state=1 link_id=1 qkd_module=A-tx peer_qkd_module=B-rx
perf qkd-link-1-1 perf_type=2 perf_target=A-tx perf_value=21000 peer_node_id=2
alarm qkd-link-1-1 alarm_type=1 alarm_id=11 alarm_source=A-tx severity=4 peer_node_id=2 alarm_desc=no-key
EOT
to a node-1 qkdn-node-1 km 1 --timeout 20 > /dev/null <<EOT
config km-link-1-2 resource_kind=2 resource_state=1 peer_node_id=2 key_amount=1000
account sae-app-a app_id=app-a key_count=3 key_bits=768 peer_node_id=2
EOT
to b qkd-2 qkdn-qkd-2 qkd 2 --timeout 20 > /dev/null <<EOT
config qkd-link-2-1 resource_kind=3 resource_state=1 link_id=1 qkd_module=B-rx peer_qkd_module=A-tx
EOT
to b node-2 qkdn-node-2 km 2 --timeout 20 > /dev/null <<EOT
config km-link-2-1 resource_kind=2 resource_state=1 peer_node_id=1 key_amount=2000
alarm km-link-2-1 alarm_type=4 alarm_id=21 alarm_source=kx severity=3 peer_node_id=1
EOT
to b ctl qkdn-ctl ctl 1 --timeout 20 > /dev/null <<EOT
resilience route-1-2 resil_kind=3 resil_op=1 working=route-1-2-via-x protection=route-1-2-via-y dest_node_id=2
EOT
# a forwards 4 (2 config, perf, alarm; not the CDR), b 4 (2 config, alarm,
# resilience).
wait_for 20 b "select count(*) from events where origin='mgr-a'" 4 || true
# b's reroute decision for link 1-2 (on the KM link alarm) reaches the
# controller agent only if it is still connected then, and its outcome
# (km-link-1-2, "rerouted") is forwarded too: not one of the four sent.
b_sent="origin='mgr-b' and resource <> 'km-link-1-2'"
wait_for 20 a "select count(*) from events where $b_sent" 4 || true
check "b learned a's 4 records (config x2, perf, alarm; the CDR stays)" "4" \
	"$(db_of b "select count(*) from events where origin='mgr-a'")"
check "a learned b's 4 records (config x2, alarm, resilience)" "4" \
	"$(db_of a "select count(*) from events where $b_sent")"

alarms_b=$(api_of b api/v1/alarms)
check "b shows a's alarm with its origin, agent and node" "qkd-link-down qkdn-qkd-1 1 mgr-a" \
	"$(jq -r '.[]|select(.resource=="qkd-link-1-1")|"\(.type) \(.agent) \(.node) \(.origin)"' <<<"$alarms_b")"
check "b's own alarm has no origin" "null" \
	"$(jq -r '.[]|select(.resource=="km-link-2-1")|.origin' <<<"$alarms_b")"
check "a shows b's alarm with its origin" "km-link-down qkdn-node-2 2 mgr-b" \
	"$(api_of a api/v1/alarms | jq -r '.[]|select(.resource=="km-link-2-1")|"\(.type) \(.agent) \(.node) \(.origin)"')"
check "b's inventory: the whole network, a's with origin" \
	"km-link-1-2:mgr-a km-link-2-1:- qkd-link-1-1:mgr-a qkd-link-2-1:-" \
	"$(api_of b api/v1/inventory | jq -r '[.[]|"\(.resource):\(.origin // "-")"]|sort|join(" ")')"
check "a's inventory: the whole network, b's with origin" \
	"km-link-1-2:- km-link-2-1:mgr-b qkd-link-1-1:- qkd-link-2-1:mgr-b" \
	"$(api_of a api/v1/inventory | jq -r '[.[]|"\(.resource):\(.origin // "-")"]|sort|join(" ")')"
check "b shows a's QBER figure with origin" "21000 mgr-a" \
	"$(api_of b api/v1/performance | jq -r '.[]|select(.resource=="qkd-link-1-1")|"\(.value) \(.origin)"')"
check "a shows b's resilience record (controller's matchup) with origin" \
	"qkdn-ctl route-1-2 mgr-b route-1-2-via-y" \
	"$(api_of a 'api/v1/events?limit=100' | jq -r '.[]|select(.details.resil_kind and .resource == "route-1-2")|"\(.agent) \(.resource) \(.origin) \(.details.protection)"')"
check "a's topology: nodes 1 and 2, the link with QKD under KM" "1,2 1" \
	"$(api_of a api/v1/topology | jq -r '"\([.nodes[]|.id // .node]|sort|map(tostring)|join(",")) \([.links[]|select(.qkd and .km)]|length)"')"
check "qkdn mgr alarms at b names the origin" "1" \
	"$("$bin/qkdn" mgr alarms url "https://127.0.0.1:${http[b]}" | grep -c 'qkd-link-1-1.*origin mgr-a' || true)"
check "qkdn mgr mx at b: peer mgr-a, both directions up" "peer mgr-a out up in up" \
	"$("$bin/qkdn" mgr mx url "https://127.0.0.1:${http[b]}" | head -n 1)"

# An alarm cleared at a is cleared at b.
to a qkd-1 qkdn-qkd-1 qkd 1 --timeout 20 > /dev/null <<EOT
alarm qkd-link-1-1 alarm_type=1 alarm_id=11 alarm_source=A-tx severity=0 peer_node_id=2
EOT
wait_for 20 b "select count(*) from alarms where origin='mgr-a' and cleared_ms is not null" 1 || true
check "a's clear reaches b: no active alarm of a's left at b" "0" \
	"$(api_of b api/v1/alarms | jq '[.[]|select(.origin=="mgr-a")]|length')"

# 2. No loops: nothing comes back, nothing twice.
sleep 0.5
check "no loop: a holds nothing with its own name as origin, b neither" "0 0" \
	"$(db_of a "select count(*) from events where origin='mgr-a'") $(db_of b "select count(*) from events where origin='mgr-b'")"
check "each record of a at b once (by a's event ID)" "5 5" \
	"$(db_of b "select count(*), count(distinct json_extract(details,'\$.origin_event')) from events where origin='mgr-a'" | tr '|' ' ')"

# 3. A request across the boundary (I.8.1).
check "b asks a for qkd-link-1-1: its state from a's inventory" "200 1 mgr-a" \
	"$(curl -sk -w ' %{http_code}' "https://127.0.0.1:${http[b]}/api/v1/mx/status/qkd-link-1-1" | sed 's/^\(.*\) \([0-9]*\)$/\2 \1/' | { read -r code body; echo "$code $(jq -r '"\(.state) \(.peer)"' <<<"$body")"; })"
check "b asks a for a resource a does not manage" '404 unknown resource' \
	"$(curl -sk -w ' %{http_code}' "https://127.0.0.1:${http[b]}/api/v1/mx/status/qkd-link-2-1" | sed 's/^\(.*\) \([0-9]*\)$/\2 \1/' | { read -r code body; echo "$code $(jq -r .message <<<"$body")"; })"

# 4. kill -9 of the receiving manager while a forwards a load.
n=50000
to a qkd-1 qkdn-qkd-1 qkd 1 --load $n --timeout 120 > "$work/load1.out" &
load_pid=$!
bg_pids+=("$load_pid")
q1="select count(*) from events where origin='mgr-a' and agent='qkdn-qkd-1' and resource='qkd-link-load'"
# Until b holds some of it (a deadline, not a count of polls: a loaded
# machine makes each poll slow and the load slower to start).
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
	[[ $(db_of b "$q1" 2>/dev/null || echo 0) -gt 2000 ]] && break
	sleep 0.02
done
at_kill=$(db_of b "$q1")
kill9 b
sleep 1
mx_start b mgr-b mgr-a a mx-b
wait "$load_pid" && load_ok=yes || load_ok=no
check "kill -9 of b: a acknowledged the whole load to its agent" "yes" "$load_ok"
wait_for 60 b "$q1" "$n" || true
check "kill -9 of b: b had part of it when killed" "yes" \
	"$( ((at_kill > 0 && at_kill < n)) && echo yes || echo no)"
check "kill -9 of b: b has all $n, each once (count, distinct values)" "$n $n" \
	"$(db_of b "select count(*), count(distinct json_extract(details,'\$.perf_value')) from events where origin='mgr-a' and agent='qkdn-qkd-1' and resource='qkd-link-load'" | tr '|' ' ')"

# 5. kill -9 of the forwarding manager while its agent loads it.
to a node-1 qkdn-node-1 km 1 --load $n --timeout 120 > "$work/load2.out" &
load_pid=$!
bg_pids+=("$load_pid")
q2="select count(*) from events where agent='qkdn-node-1' and resource='qkd-link-load'"
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
	[[ $(db_of a "$q2" 2>/dev/null || echo 0) -gt 2000 ]] && break
	sleep 0.02
done
kill9 a
at_kill_a=$(db_of a "$q2")
at_kill_b=$(db_of b "$q2")
sleep 0.5
mx_start a mgr-a mgr-b b mx-a
wait "$load_pid" && load_ok=yes || load_ok=no
check "kill -9 of a: its agent saw everything acknowledged (after resending)" "yes" "$load_ok"
wait_for 60 b "$q2 and origin='mgr-a'" "$n" || true
check "kill -9 of a: a was killed part way (a had $at_kill_a, b $at_kill_b)" "yes" \
	"$( ((at_kill_a < n && at_kill_b < n)) && echo yes || echo no)"
check "kill -9 of a: b has all $n, each once" "$n $n" \
	"$(db_of b "select count(*), count(distinct json_extract(details,'\$.perf_value')) from events where origin='mgr-a' and agent='qkdn-node-1' and resource='qkd-link-load'" | tr '|' ' ')"
check "kill -9 of a: a resumed its outbox in the same epoch" "1" \
	"$(db_of b "select count(distinct epoch) from agents where agent='qkdn-mgr-mgr-a'")"

# 6. Refused: a manager that is not the peer (mgr-c, a certificate of the
#    network CA), and one with the peer's name from a foreign CA.
mx_start c mgr-c mgr-b b mx-c
mx_start r mgr-a mgr-b b mx-rogue
to c qkd-3 qkdn-qkd-3 qkd 3 --timeout 20 > /dev/null <<EOT
alarm qkd-link-3-1 alarm_type=1 alarm_id=31 alarm_source=C-tx severity=4 peer_node_id=2
EOT
to r qkd-3 qkdn-qkd-3 qkd 3 --timeout 20 > /dev/null <<EOT
alarm qkd-link-3-9 alarm_type=1 alarm_id=39 alarm_source=C-tx severity=4 peer_node_id=2
EOT
for _ in $(seq 100); do
	grep -q 'is not the Mx peer' "$work/b/mgrd.log" && break
	sleep 0.1
done
sleep 1
check "not the peer: refused, logged with the reason" "yes" \
	"$(grep -q 'event=agent-down agent=qkdn-mgr-mgr-c .*reason="certificate CN "qkdn-mgr-mgr-c" is not the Mx peer'"'"'s (qkdn-mgr-mgr-a)"' "$work/b/mgrd.log" && echo yes || echo no)"
check "foreign CA: the TLS handshake refused, logged" "yes" \
	"$(grep -q 'event=agent-down agent=? .*reason="unknown CA"' "$work/b/mgrd.log" && echo yes || echo no)"
check "nothing of mgr-c or the rogue recorded at b" "0 0" \
	"$(db_of b "select count(*) from events where resource like 'qkd-link-3-%'") $(db_of b "select count(*) from alarms where resource like 'qkd-link-3-%'")"
check "the rogue and mgr-c stored their own alarm (they only failed to forward)" "1 1" \
	"$(db_of c "select count(*) from alarms") $(db_of r "select count(*) from alarms")"

# 7. Raw: what neither lib/mgmt.c nor mx.c sends, refused, nothing stored.
before=$(db_of b "select count(*) from events")
raw=$(python3 "$here/mgrd_mx_raw.py" "${port[b]}" "$work")
check "raw: an agent sending M_ORIGIN_AGENT" \
	"origin-from-agent: failure: M_ORIGIN_AGENT, M_ORIGIN_EVENT: Mx (a manager) only" \
	"$(grep '^origin-from-agent' <<<"$raw")"
check "raw: Mx notification without M_ORIGIN_AGENT" "mx-without-origin: failure: Mx: M_ORIGIN_AGENT missing" \
	"$(grep '^mx-without-origin' <<<"$raw")"
check "raw: Mx notification whose origin is a manager (two hops)" \
	'mx-origin-manager: failure: Mx: M_ORIGIN_AGENT "qkdn-mgr-mgr-x" is no agent'"'"'s CN' \
	"$(grep '^mx-origin-manager' <<<"$raw")"
check "raw: a manager's certificate claiming an agent's kind" \
	'mx-kind-mismatch: failure: agent kind 1 does not match the certificate "qkdn-mgr-mgr-a"' \
	"$(grep '^mx-kind-mismatch' <<<"$raw")"
check "raw: nothing stored" "$before" "$(db_of b "select count(*) from events")"
exit $((checks_failed ? 1 : 0))
