#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# qkdn-mgrd on the host: key relay rerouting support (seed 001 10.7,
# M_SUPPORT). The controller asks QCLM about a link or the whole network;
# QCLM answers from XLMO's topology across layers: the advice per link
# (out of service while a QKD link down alarm is active, with its
# diagnosed cause), the key rate; a bad request and a KM's are refused.
#
#   qkd-1, qkd-2 --Mq--> qkdn-mgrd <--Mc-- mgrd_support.py (as qkdn-ctl
#   node 1 ==== node 2 ==== node 3          and as qkdn-node-1)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib-mgrd.sh"

work=$(mktemp -d)
cleanup() {
	mgrd_stop
	if ((checks_failed)); then
		echo "# qkdn-mgrd log:"
		tail -n 40 "$work/mgrd.log" | sed 's/^/# /'
	fi
	rm -rf "$work"
}
trap cleanup EXIT
support() { python3 "$here/mgrd_support.py" "$MGRD_PORT" "$work" "$@"; }

mgrd_pki "$work"
mgrd_start "$work"

# QKD links 1-2 and 2-3 in the inventory, a key rate on 1-2.
agent qkd-1 qkdn-qkd-1 qkd 1 --timeout 10 > /dev/null <<EOT
config qkd-link-1-1 resource_kind=3 resource_state=1 link_id=1 qkd_module=A-tx peer_qkd_module=B-rx peer_node_id=2
perf qkd-link-1-1 perf_type=1 perf_target=qkd-link-1-1 perf_value=73368 peer_node_id=2
EOT
agent qkd-2 qkdn-qkd-2 qkd 2 --timeout 10 > /dev/null <<EOT
config qkd-link-2-1 resource_kind=3 resource_state=1 link_id=1 qkd_module=B-rx peer_qkd_module=A-tx peer_node_id=1
config qkd-link-2-2 resource_kind=3 resource_state=1 link_id=2 qkd_module=B-tx peer_qkd_module=C-rx peer_node_id=3
EOT
agent qkd-3 qkdn-qkd-3 qkd 3 --timeout 10 > /dev/null <<EOT
config qkd-link-3-1 resource_kind=3 resource_state=1 link_id=1 qkd_module=C-rx peer_qkd_module=B-tx peer_node_id=2
EOT

check "no alarm: link 1-2 in service, with its key rate" \
	"link: success: km-link-1-2 state=1 rate=73368" "$(support link)"

# 10.1.1: the QKD link fails; the driver answers M_DIAG while it lingers.
agent qkd-1 qkdn-qkd-1 qkd 1 --linger --diag "no detections: fibre cut" > /dev/null <<EOT &
alarm qkd-link-1-1 alarm_type=1 alarm_id=7 alarm_source=A-tx severity=3 peer_node_id=2 alarm_desc=no-key
EOT
qkd1_pid=$!
for _ in $(seq 100); do
	[[ $(api api/v1/alarms | jq -r '.[0].cause // empty') == *fibre* ]] && break
	sleep 0.1
done
pkill -P "$qkd1_pid" 2>/dev/null || true
wait "$qkd1_pid" 2>/dev/null || true
check "the link's advice: out of service, the alarm type and its diagnosed cause" \
	"link: success: km-link-1-2 state=2 alarm=1 rate=73368 cause=QLM: qkd-link-down, no-key (diagnostics: no detections: fibre cut; state 2)" \
	"$(support link)"
check "every link of the topology, 2-3 in service" \
	"all: success: km-link-1-2 state=2 alarm=1 rate=73368 cause=QLM: qkd-link-down, no-key (diagnostics: no detections: fibre cut; state 2) | km-link-2-3 state=1" \
	"$(support all)"
check "a route: the whole network matches" 2 "$(support route | tr '|' '\n' | grep -c state=)"
check "a resource of no known form refused" \
	"bogus: failure: resource \"link-1-2\" is neither km-link-A-B nor route-S-D" "$(support bogus)"
check "a KM's M_SUPPORT refused" "km: failure: M_SUPPORT is the controller's request" \
	"$(support km)"

# The alarm clears: in service again.
agent qkd-1 qkdn-qkd-1 qkd 1 --timeout 10 > /dev/null <<EOT
alarm qkd-link-1-1 alarm_type=1 alarm_id=7 alarm_source=A-tx severity=0 peer_node_id=2
EOT
check "cleared: link 1-2 in service again" "link: success: km-link-1-2 state=1 rate=73368" \
	"$(support link)"
check "the requests counted in /metrics" "qkdn_mgr_support_requests_total 6" \
	"$(api metrics | grep '^qkdn_mgr_support_requests_total')"
check "nothing of M_SUPPORT stored in the event log" 0 \
	"$(db "SELECT count(*) FROM events WHERE cmd = 24")"
exit $((checks_failed > 0))
