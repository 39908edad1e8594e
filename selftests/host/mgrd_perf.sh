#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# qkdn-mgrd performance management (seed 001 10.4) on the host: periodic
# reports and the cross-layer degradation rule, with test agents.
#
#   qkd-1, qkd-2 --Mq--+                   +--Mk-- node-1, node-2, node-3
#                      +--> qkdn-mgrd <----+
#                           report-ms 1000       Mc: ctl (later)
#
#   node 1 ==== node 2 ==== node 3
#      QKD 8000 bit/s    QKD 16000 -> 4000 bit/s (falling)
#
# Link 1-2: node 1's KM consumes 1500 B/s from a 100000 B pool that its QKD
# link refills at 1000 B/s: dry in 200 s, within the 900 s horizon, steady
# trends: a finding and a REBALANCE decision. Node 2 consumes 500 B/s:
# nothing. Link 2-3: node 3 consumes 600 -> 900 B/s (rising) from 40000 B
# while the QKD rate falls to 4000 bit/s (500 B/s): dry in 100 s, and the
# falling QKD link is avoided: a REROUTE decision.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib-mgrd.sh"

work=$(mktemp -d)
ctl_pid=
cleanup() {
	# $! of a shell function run in the background is its subshell
	[[ -n $ctl_pid ]] && kill $(pgrep -P "$ctl_pid") "$ctl_pid" 2>/dev/null
	mgrd_stop
	if ((checks_failed)); then
		echo "# qkdn-mgrd log:"
		tail -n 30 "$work/mgrd.log" | sed 's/^/# /'
	fi
	rm -rf "$work"
}
trap cleanup EXIT

mgrd_pki "$work"
mgrd_start "$work" "report-ms = 1000"

agent qkd-1 qkdn-qkd-1 qkd 1 --timeout 10 > /dev/null <<EOT
perf qkd-link-1-1 perf_type=1 perf_target=qkd-link-1-1 perf_value=8000 peer_node_id=2
EOT
agent qkd-2 qkdn-qkd-2 qkd 2 --timeout 10 > /dev/null <<EOT
perf qkd-link-2-2 perf_type=1 perf_target=qkd-link-2-2 perf_value=16000 peer_node_id=3
perf qkd-link-2-2 perf_type=1 perf_target=qkd-link-2-2 perf_value=4000 peer_node_id=3
EOT
agent node-1 qkdn-node-1 km 1 --timeout 10 > /dev/null <<EOT
perf km-link-1-2 perf_type=4 perf_target=km-link-1-2 perf_value=1500 peer_node_id=2
perf km-link-1-2 perf_type=3 perf_target=km-link-1-2 perf_value=100000 peer_node_id=2
EOT
agent node-2 qkdn-node-2 km 2 --timeout 10 > /dev/null <<EOT
perf km-link-2-1 perf_type=4 perf_target=km-link-2-1 perf_value=500 peer_node_id=1
perf km-link-2-1 perf_type=3 perf_target=km-link-2-1 perf_value=100000 peer_node_id=1
EOT
agent node-3 qkdn-node-3 km 3 --timeout 10 > /dev/null <<EOT
perf km-link-3-2 perf_type=4 perf_target=km-link-3-2 perf_value=600 peer_node_id=2
perf km-link-3-2 perf_type=4 perf_target=km-link-3-2 perf_value=900 peer_node_id=2
perf km-link-3-2 perf_type=3 perf_target=km-link-3-2 perf_value=40000 peer_node_id=2
EOT

for _ in $(seq 50); do
	[[ $(api "api/v1/findings?limit=100" | jq '[.[].resource]|unique|length') == 2 ]] && break
	sleep 0.2
done
findings=$(api "api/v1/findings?limit=100")
check "findings: pool exhaustion at node 1 of link 1-2 and node 3 of link 2-3, nothing at node 2" \
	"pool-exhaustion km-link-1-2 1 2 200,pool-exhaustion km-link-2-3 3 2 100" \
	"$(jq -r '[.[]|"\(.rule) \(.resource) \(.node) \(.peer) \(.value)"]|unique|join(",")' <<<"$findings")"
check "finding 1-2: its figures and steady trends" \
	"key pool of km-link-1-2 at node 1 runs dry in 200 s: 100000 B left, consumption 1500 B/s (steady), QKD key rate 8000 bit/s (steady)" \
	"$(jq -r '[.[]|select(.resource=="km-link-1-2")][-1].description' <<<"$findings")"
check "finding 2-3: consumption rising while the QKD key rate falls" \
	"key pool of km-link-2-3 at node 3 runs dry in 100 s: 40000 B left, consumption 900 B/s (rising), QKD key rate 4000 bit/s (falling)" \
	"$(jq -r '[.[]|select(.resource=="km-link-2-3")][-1].description' <<<"$findings")"

# Step 5: one remedy per link (no repeat within the correlation window),
# queued until the controller connects.
check "remedies: rebalance 1-2, reroute around the falling 2-3, queued" \
	"1 km-link-2-3 queued avoid km-link-2-3: its QKD key rate is falling and its pool at node 3 runs dry in 100 s|3 km-link-1-2 queued shift relays away from km-link-1-2: its pool at node 1 runs dry in 200 s" \
	"$(api api/v1/actions | jq -r '[.[]|"\(.type) \(.resource) \(.state) \(.value)"]|sort|join("|")')"
agent ctl qkdn-ctl ctl 1 --linger > "$work/ctl.out" < /dev/null &
ctl_pid=$!
for _ in $(seq 50); do
	[[ $(api api/v1/actions | jq -r '[.[].state]|unique|join(",")') == done ]] && break
	sleep 0.2
done
check "remedies: the controller took both" "done,done" \
	"$(api api/v1/actions | jq -r '[.[].state]|join(",")')"
check "remedies: what the controller got" "2" \
	"$(grep -c 'value="\(shift relays away from km-link-1-2\|avoid km-link-2-3\)' "$work/ctl.out" || true)"

# Step 3: the periodic report of the period holding link 2-3's samples.
for _ in $(seq 30); do
	[[ $(api "api/v1/reports?limit=100" | jq length) -ge 3 ]] && break
	sleep 0.2
done
reports=$(api "api/v1/reports?limit=100")
echo "# reports: $(jq -c '[.[]|{id, end: .body.end_ms, n: (.body.resources|length)}]' <<<"$reports")"
check "reports: periodic, one per report-ms, newest first" "true" \
	"$(jq '(length >= 2) and (.[0].id > .[1].id) and (.[0].body.end_ms - .[1].body.end_ms >= 900)' <<<"$reports")"
check "report: QKD key rate of qkd-link-2-2 (samples min avg max first last)" "2 4000 10000 16000 16000 4000" \
	"$(jq -r '[.[].body.resources[]|select(.resource=="qkd-link-2-2")][-1]|"\(.samples) \(.min) \(.avg) \(.max) \(.first) \(.last)"' <<<"$reports")"
check "report: node 2's key rate total" "10000" \
	"$(jq -r '[.[].body.nodes[]|select(.node==2)][-1].key_rate_bps' <<<"$reports")"
QKDN_MGR_URL=https://127.0.0.1:$MGRD_HTTP "$bin/qkdn" mgr findings > "$work/findings.txt"
check "qkdn mgr findings: one line per finding" "true" \
	"$(grep -q '^finding [0-9]* pool-exhaustion km-link-2-3 at [0-9]*: key pool of km-link-2-3 at node 3 runs dry in 100 s' "$work/findings.txt" && echo true)"
QKDN_MGR_URL=https://127.0.0.1:$MGRD_HTTP "$bin/qkdn" mgr reports > "$work/reports.txt"
check "qkdn mgr reports: the latest report" "true" \
	"$(grep -q '^report [0-9]* from [0-9]* to [0-9]*$' "$work/reports.txt" && echo true)"

exit $((checks_failed > 0))
