#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Mu asynchronous notifications (seed 001 I.7): a user network manager
# follows qkdn-mgrd's event stream (server-sent events over HTTPS, curl -N)
# while a QKD link fails and recovers.
#
#   qkd-1 --Mq--> qkdn-mgrd --Mu, text/event-stream--> curl -N (two of them)
#
# The alarm, its diagnosed cause, the resource's state, the control
# decision and the clear arrive in that order, each once, each already in
# the database; a client that leaves does not disturb the others.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib-mgrd.sh"

work=$(mktemp -d)
curl_pids=()
cleanup() {
	((${#curl_pids[@]})) && kill "${curl_pids[@]}" 2>/dev/null
	mgrd_stop
	if ((checks_failed)); then
		echo "# qkdn-mgrd log:"
		tail -n 30 "$work/mgrd.log" | sed 's/^/# /'
		echo "# stream:"
		sed 's/^/# /' "$work/stream1" | tail -n 30
	fi
	rm -rf "$work"
}
trap cleanup EXIT

mgrd_pki "$work"
mgrd_start "$work"

follow() {	# FILE: a client of the stream, in the background
	curl -sNk --max-time 60 "https://127.0.0.1:$MGRD_HTTP/api/v1/stream" > "$1" &
	curl_pids+=($!)
}
follow "$work/stream1"
follow "$work/stream2"
for _ in $(seq 50); do
	[[ -s $work/stream1 && -s $work/stream2 ]] && break
	sleep 0.1
done
check "stream: the content type" "text/event-stream" \
	"$(curl -sk --max-time 2 -o /dev/null -D - "https://127.0.0.1:$MGRD_HTTP/api/v1/stream" |
		tr -d '\r' | sed -n 's/^Content-Type: //Ip')"
kill "${curl_pids[1]}"	# the second client leaves before anything happens
wait "${curl_pids[1]}" 2>/dev/null || true

# events FILE: "KIND JSON" per event
events() {
	awk '/^event: /{ kind = $2 } /^data: /{ sub(/^data: /, ""); print kind, $0 }' "$1"
}

agent qkd-1 qkdn-qkd-1 qkd 1 --linger > /dev/null <<EOT &
config qkd-link-1-1 resource_kind=3 resource_state=2 link_id=1 qkd_module=A-tx peer_qkd_module=B-rx peer_node_id=2
alarm qkd-link-1-1 alarm_type=1 alarm_id=11 alarm_source=A-tx severity=4 peer_node_id=2 alarm_desc=no-key
EOT
qkd_pid=$!
for _ in $(seq 50); do
	[[ $(events "$work/stream1" | grep -c '^action ') -ge 1 ]] && break
	sleep 0.1
done
check "stream: status, alarm, cause, action, in that order" "status alarm cause action" \
	"$(events "$work/stream1" | awk '{ print $1 }' | tr '\n' ' ' | sed 's/ $//')"
check "stream: the state change" "qkdn-qkd-1 qkd-link-1-1 2" \
	"$(events "$work/stream1" | sed -n 's/^status //p' | jq -r '"\(.agent) \(.resource) \(.resource_state)"')"
check "stream: the alarm raised" "qkd-link-down raised 4 2" \
	"$(events "$work/stream1" | sed -n 's/^alarm //p' | jq -r '"\(.alarm_type) \(.state) \(.severity) \(.peer_node_id)"')"
row=$(api api/v1/alarms | jq -r '.[0].id')
check "stream: the cause, as stored, with the module's diagnosis" \
	"$row $(api api/v1/alarms | jq -r '.[0].cause')" \
	"$(events "$work/stream1" | sed -n 's/^cause //p' | jq -r '"\(.alarm) \(.cause)"')"
check "stream: the decision, queued" "reroute km-link-1-2 queued" \
	"$(events "$work/stream1" | sed -n 's/^action //p' | jq -r '"\(.type) \(.resource) \(.state)"')"
check "stream: ids increase by one" "1 2 3 4" \
	"$(sed -n 's/^id: //p' "$work/stream1" | tr '\n' ' ' | sed 's/ $//')"

kill $(pgrep -P "$qkd_pid") "$qkd_pid" 2>/dev/null || true
wait "$qkd_pid" 2>/dev/null || true
echo "alarm qkd-link-1-1 alarm_type=1 alarm_id=11 alarm_source=A-tx severity=0 peer_node_id=2" |
	agent qkd-1 qkdn-qkd-1 qkd 1 --timeout 10 > /dev/null
for _ in $(seq 50); do
	[[ $(events "$work/stream1" | grep -c '^alarm ') -ge 2 ]] && break
	sleep 0.1
done
check "stream: the clear" "qkd-link-down cleared" \
	"$(events "$work/stream1" | sed -n 's/^alarm //p' | tail -n 1 | jq -r '"\(.alarm_type) \(.state)"')"
check "manager: the alarm cleared in the database" "0" "$(api api/v1/alarms | jq length)"

exit $((checks_failed > 0))
