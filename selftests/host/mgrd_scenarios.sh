#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# qkdn-mgrd on the host: the manager and test agents (qkdn-mgrd-agent, on
# lib/mgmt.c), all on 127.0.0.1.
#
#   qkd-1 --Mq--+                      +--Mk-- node-1
#   qkd-2 --Mq--+---> qkdn-mgrd <------+--Mk-- node-2
#   qkd-3 --Mq--+    (SQLite, HTTPS)   +--Mk-- node-3
#                       ^     |
#                 Mc    |     | Mu: curl, chromium
#                     ctl     v
#
#   node 1 ==== node 2 ==== node 3     (KM links, QKD links under them)
#
# 1. link failure: QKD link 1-2 fails: QLM alarm with the QKD module's
#    diagnostics, KM alarm correlated to it, one reroute decision sent to
#    the controller, which records the reroute
# 2. CDR totals equal the keys supplied per application
# 3. a key traced from generation to deletion across three nodes
# 4. kill -9 under load, restart: nothing lost, unacknowledged resent,
#    none duplicated
# 5. malformed and unauthenticated messages: clear errors, nothing stored
# 6. the web page in headless chromium shows the three nodes
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib-mgrd.sh"

work=$(mktemp -d)
ctl_pid=
qkd1_pid=
cleanup() {
	kill_bg "$ctl_pid" "$qkd1_pid"
	mgrd_stop
	if ((checks_failed)); then
		echo "# qkdn-mgrd log:"
		tail -n 40 "$work/mgrd.log" | sed 's/^/# /'
	fi
	rm -rf "$work"
}
trap cleanup EXIT

mgrd_pki "$work"
mgrd_start "$work"

# Inventory of the three nodes (10.3): QKD links 1-2 and 2-3, KM links.
agent qkd-1 qkdn-qkd-1 qkd 1 --timeout 10 > /dev/null <<EOT
config qkd-link-1-1 resource_kind=3 resource_state=1 link_id=1 qkd_module=A-tx peer_qkd_module=B-rx
EOT
agent qkd-2 qkdn-qkd-2 qkd 2 --timeout 10 > /dev/null <<EOT
config qkd-link-2-1 resource_kind=3 resource_state=1 link_id=1 qkd_module=B-rx peer_qkd_module=A-tx
config qkd-link-2-2 resource_kind=3 resource_state=1 link_id=2 qkd_module=B-tx peer_qkd_module=C-rx
EOT
agent qkd-3 qkdn-qkd-3 qkd 3 --timeout 10 > /dev/null <<EOT
config qkd-link-3-1 resource_kind=3 resource_state=1 link_id=1 qkd_module=C-rx peer_qkd_module=B-tx
EOT
for n in 1 2 3; do
	{
		((n > 1)) && echo "config km-link-$((n - 1))-$n resource_kind=2 resource_state=1 peer_node_id=$((n - 1)) key_amount=$((n * 1000))"
		((n < 3)) && echo "config km-link-$n-$((n + 1)) resource_kind=2 resource_state=1 peer_node_id=$((n + 1)) key_amount=$((n * 1000 + 500))"
		true
	} | agent "node-$n" "qkdn-node-$n" km "$n" --timeout 10 > /dev/null
done
topo=$(api api/v1/topology)
check "topology: 3 nodes, 2 links with QKD under KM, no config error" "3 2 2 0" \
	"$(jq -r '"\(.nodes|length) \(.links|length) \([.links[]|select(.qkd and .km)]|length) \(.errors|length)"' <<<"$topo")"

# 1. Link failure (10.1.1, 10.1.2).
agent ctl qkdn-ctl ctl 1 --linger > "$work/ctl.out" &
ctl_pid=$!
echo "alarm qkd-link-1-1 alarm_type=1 alarm_id=11 alarm_source=A-tx severity=4 peer_node_id=2 alarm_desc=no-key" |
	agent qkd-1 qkdn-qkd-1 qkd 1 --linger > /dev/null &
qkd1_pid=$!
sleep 1
echo "alarm km-link-1-2 alarm_type=4 alarm_id=21 alarm_source=kx severity=3 peer_node_id=2" |
	agent node-1 qkdn-node-1 km 1 --timeout 10 > /dev/null
for _ in $(seq 50); do
	[[ $(db "select count(*) from events where agent='qkdn-ctl'") == 1 ]] && break
	sleep 0.2
done
alarms=$(api api/v1/alarms)
check "link failure: two active alarms" "2" "$(jq length <<<"$alarms")"
check "link failure: QKD alarm diagnosed by the module" "true" \
	"$(jq -r '.[]|select(.type=="qkd-link-down")|.cause|contains("fibre cut suspected")' <<<"$alarms")"
qkd_row=$(jq -r '.[]|select(.type=="qkd-link-down")|.id' <<<"$alarms")
check "link failure: KM alarm correlated to the QKD link failure" "$qkd_row" \
	"$(jq -r '.[]|select(.type=="km-link-down")|.root' <<<"$alarms")"
actions=$(api api/v1/actions)
check "link failure: one decision, reroute avoiding km-link-1-2, done by the controller" \
	"1 reroute km-link-1-2 done $qkd_row" \
	"$(jq -r '"\(length) \(.[0].type|if .==1 then "reroute" else . end) \(.[0].resource) \(.[0].state) \(.[0].alarm)"' <<<"$actions")"
check "link failure: the controller got the decision" "1" "$(grep -c 'value="avoid km-link-1-2"' "$work/ctl.out" || true)"
check "link failure: the reroute is recorded" "qkdn-ctl|km-link-1-2|3|3" \
	"$(db "select agent, resource, json_extract(details,'\$.resil_kind'), json_extract(details,'\$.resil_op') from events where agent='qkdn-ctl'")"
kill_bg "$qkd1_pid" "$ctl_pid"
wait "$qkd1_pid" "$ctl_pid" 2>/dev/null || true
qkd1_pid= ctl_pid=

# 2. Accounting (10.2): keys supplied per application.
agent node-1 qkdn-node-1 km 1 --timeout 10 > /dev/null <<EOT
account sae-app-a app_id=app-a key_count=3 key_bits=768 peer_node_id=2
account sae-app-a app_id=app-a key_count=5 key_bits=1280 peer_node_id=2
account sae-app-b app_id=app-b key_count=1 key_bits=256
EOT
agent node-3 qkdn-node-3 km 3 --timeout 10 > /dev/null <<EOT
account sae-app-b app_id=app-b key_count=4 key_bits=1024 peer_node_id=2
EOT
check "CDR totals per application (records keys bits)" "app-a 2 8 2048,app-b 2 5 1280" \
	"$(api api/v1/cdr | jq -r '[.totals.applications[]|"\(.app) \(.records) \(.keys) \(.bits)"]|join(",")')"
check "CDR totals per link" "1-2 8,3-2 4" \
	"$(api api/v1/cdr | jq -r '[.totals.links[]|"\(.node)-\(.peer) \(.keys)"]|join(",")')"

# 3. A key's life across nodes 1, 2, 3.
key=0102030405060708090a0b0c0d0e0f10
agent node-1 qkdn-node-1 km 1 --timeout 10 > /dev/null <<EOT
key km-link-1-2 key_id=$key key_event=1 peer_node_id=2 key_bits=256
key km-link-1-2 key_id=$key key_event=2 source_node_id=1 dest_node_id=3 next_hop_node_id=2
EOT
agent node-2 qkdn-node-2 km 2 --timeout 10 > /dev/null <<EOT
key km-link-2-3 key_id=$key key_event=3 peer_node_id=1 source_node_id=1 dest_node_id=3
key km-link-2-3 key_id=$key key_event=2 source_node_id=1 dest_node_id=3 next_hop_node_id=3
EOT
agent node-3 qkdn-node-3 km 3 --timeout 10 > /dev/null <<EOT
key km-link-2-3 key_id=$key key_event=3 peer_node_id=2 source_node_id=1 dest_node_id=3
key sae-app-b key_id=$key key_event=4 app_id=app-b
key sae-app-b key_id=$key key_event=5
EOT
check "key trace: generated at 1, relayed 1->2->3, supplied to app-b, deleted" \
	"1:generated 1:relayed>2 2:received<1 2:relayed>3 3:received<2 3:supplied@app-b 3:deleted" \
	"$(api api/v1/trace/01020304-0506-0708-090a-0b0c0d0e0f10 | jq -r '[.events[]|"\(.node):\(.event)\(if .next_hop then ">\(.next_hop)" elif .event=="received" then "<\(.peer)" elif .app then "@\(.app)" else "" end)"]|join(" ")')"
check "key trace: bad key ID refused" '{"message":"key ID: want a UUID or 32 hex digits"}' \
	"$(api api/v1/trace/xyz)"

# The CLI (qkdn mgr) on the same API.
mgr_url="url https://127.0.0.1:$MGRD_HTTP"
check "qkdn mgr cdr" "app app-a records 2 keys 8 bits 2048" \
	"$("$bin/qkdn" mgr cdr $mgr_url | head -n 1)"
check "qkdn -j mgr trace: 7 events" "7" "$("$bin/qkdn" -j mgr trace $key $mgr_url | jq '.events|length')"
check "qkdn mgr trace: bad key ID" 'qkdn: mgr trace: KEYID "xyz": want a UUID or 32 hex digits' \
	"$("$bin/qkdn" mgr trace xyz $mgr_url 2>&1)"

# 5. Malformed and unauthenticated messages (before 4, which restarts).
before=$(db "select count(*) from events")
raw=$(python3 "$here/mgrd_raw.py" "$MGRD_PORT" "$work")
check "raw: notification before M_AUTH" "before-auth: failure: not authenticated" \
	"$(grep '^before-auth' <<<"$raw")"
check "raw: missing attribute" "missing-attr: failure: M_ALARM: required attribute 70 (M_SEVERITY) missing" \
	"$(grep '^missing-attr' <<<"$raw" | sed 's/attribute [0-9]* (M_SEVERITY)/attribute 70 (M_SEVERITY)/')"
check "raw: bad attribute length" "bad-length: failure: attribute at offset 0 claims 65535 bytes, 108 left" \
	"$(grep '^bad-length' <<<"$raw")"
check "raw: M_AUTH naming another CN" 'wrong-cn-claim: failure: AUTH_INFO "qkdn-node-2" is not the certificate'"'"'s CN "qkdn-node-1"' \
	"$(grep '^wrong-cn-claim' <<<"$raw")"
check "raw: sender ID not the certificate's" "wrong-sender: failure: sender ID 2, the certificate names 1" \
	"$(grep '^wrong-sender' <<<"$raw")"
check "raw: certificate of no agent: connection closed" "no-agent-cn: closed" "$(grep '^no-agent-cn' <<<"$raw")"
check "raw: certificate of a foreign CA: handshake refused" "foreign-ca: SSLEOFError" \
	"$(grep '^foreign-ca' <<<"$raw" | sed 's/SSLError$/SSLEOFError/')"
check "raw: oversize frame: connection closed" "oversize: closed" "$(grep '^oversize' <<<"$raw")"
check "raw: nothing stored" "$before" "$(db "select count(*) from events")"
check "raw: refusals logged with the reason" "1" \
	"$(grep -c 'reason="M_ALARM: required attribute' "$work/mgrd.log")"

# 6. The web page.
if command -v chromium > /dev/null; then
	url="https://127.0.0.1:$MGRD_HTTP/"
	copts=(--headless --no-sandbox --disable-gpu --ignore-certificate-errors --user-data-dir="$work/chromium" --virtual-time-budget=3000)
	dom=$(timeout 60 chromium "${copts[@]}" --dump-dom "$url" 2> /dev/null || true)
	check "web page: the three nodes drawn" "node 1,node 2,node 3" \
		"$(grep -o 'class="node"[^>]*>node [0-9][0-9]*' <<<"$dom" | sed 's/.*>//' | sort -u | paste -sd,)"
	check "web page: the active alarms listed" "2" "$(grep -o '<td>qkd-link-down</td>\|<td>km-link-down</td>' <<<"$dom" | wc -l)"
	timeout 60 chromium "${copts[@]}" --window-size=800,700 --screenshot="$work/page.png" "$url" > /dev/null 2>&1 || true
	size=$(stat -c %s "$work/page.png" 2> /dev/null || echo 0)
	magic=$(head -c 8 "$work/page.png" 2> /dev/null | od -An -tx1 | tr -d ' \n')
	if [[ $magic == 89504e470d0a1a0a ]] && ((size > 10000)); then
		ok "web page: screenshot is a PNG of $size bytes"
	else
		not_ok "web page: screenshot: expected a PNG over 10000 bytes, saw magic '$magic' size $size"
	fi
else
	echo "ok - web page # SKIP chromium not installed (scripts/install-deps.sh)"
fi
check "metrics: CDR keys of app-a" 'qkdn_cdr_keys_total{app="app-a"} 8' \
	"$(api metrics | grep 'qkdn_cdr_keys_total{app="app-a"}')"

# 4. kill -9 during a load of notifications, then restart. Enough of them
#    that the manager (group commit: over 100000 a second) is still busy
#    with them when killed.
n=300000
agent node-2 qkdn-node-2 km 2 --load $n --timeout 120 > "$work/load.out" &
load_pid=$!
for _ in $(seq 200); do
	[[ $(db "select count(*) from events where agent='qkdn-node-2' and resource='qkd-link-load'" 2>/dev/null || echo 0) -gt 2000 ]] && break
	sleep 0.05
done
at_kill=$(db "select count(*) from events where agent='qkdn-node-2' and resource='qkd-link-load'")
kill -9 "$MGRD_PID"
wait "$MGRD_PID" 2> /dev/null || true
MGRD_PID=
sleep 0.5
mgrd_start "$work"
wait "$load_pid" && load_ok=yes || load_ok=no
check "kill -9: the agent saw every notification acknowledged" "yes" "$load_ok"
check "kill -9: stored when killed was partial" "yes" "$( ((at_kill > 0 && at_kill < n)) && echo yes || echo no)"
check "kill -9: all $n stored, none twice, none lost (count distinct max)" "$n $n $n" \
	"$(db "select count(*), count(distinct seq), max(seq) from events where agent='qkdn-node-2' and resource='qkd-link-load'" | tr '|' ' ')"
resent=$(grep -o 'resent=[0-9]*' "$work/load.out" | cut -d= -f2)
if [[ -n $resent ]] && ((resent > 0)); then
	ok "kill -9: the agent resent $resent unacknowledged notifications"
else
	not_ok "kill -9: expected resent notifications, saw '$(cat "$work/load.out")'"
fi
exit $((checks_failed ? 1 : 0))
