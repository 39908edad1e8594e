#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# qkdn-mgrd on PostgreSQL ([store] backend = postgresql, store_pg.c), on
# the host: a private cluster (initdb in a temporary directory, run as an
# unprivileged user when we are root, a unix socket there, no TCP), the
# manager on it, test agents. The SQLite scenarios that matter, again:
#
# 1. records stored: inventory and topology, a link failure (alarms, the
#    QKD module's diagnosis, correlation, the decision the controller
#    takes), a resilience record
# 2. CDR totals per application and per link
# 3. a key traced across three nodes
# 4. the periodic performance report
# 5. kill -9 under load, restart: every acknowledged notification stored,
#    none twice
# 6. Mx with an SQLite peer manager (mgr-b): the records of each at the
#    other with their origin; the load of step 5 forwarded through the
#    PostgreSQL outbox across the kill -9, each record once
# 7. the server restarted under the manager: it reconnects, nothing lost
#
# PostgreSQL missing or not starting is a failure, not a skip
# (scripts/install-deps.sh installs it).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib-mgrd.sh"

work=$(mktemp -d)
pgdir=
pg_started=
bg=()
as_pg() {
	if ((EUID == 0)); then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}
cleanup() {
	kill_bg "${bg[@]}"
	mgrd_stop
	[[ -z ${peer_pid:-} ]] || kill "$peer_pid" 2>/dev/null || true
	if [[ -n $pg_started ]]; then
		as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop > /dev/null 2>&1 || true
	fi
	if ((checks_failed)); then
		echo "# qkdn-mgrd log:"
		tail -n 30 "$work/mgrd.log" 2>/dev/null | sed 's/^/# /'
		echo "# postgres log:"
		tail -n 20 "$pgdir/log" 2>/dev/null | sed 's/^/# /'
	fi
	rm -rf "$work" ${pgdir:+"$pgdir"}
}
trap cleanup EXIT

# The server: Debian's postgresql (/usr/lib/postgresql/N/bin).
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -z $pgbin || ! -x $pgbin/initdb || ! -x $pgbin/pg_ctl ]] || ! command -v psql > /dev/null; then
	not_ok "postgresql: initdb, pg_ctl or psql not installed (scripts/install-deps.sh: postgresql)"
	exit 1
fi
pgdir=$(mktemp -d /tmp/qkdn-pg.XXXXXX)
chmod 0755 "$pgdir"
((EUID != 0)) || chown nobody: "$pgdir"
pgport=$(free_port)
if ! as_pg "$pgbin/initdb" -D "$pgdir/data" -U qkdn -A trust --no-sync -E UTF8 \
	> "$pgdir/initdb.log" 2>&1; then
	not_ok "postgresql: initdb failed: $(tail -n 3 "$pgdir/initdb.log" | tr '\n' ' ')"
	exit 1
fi
if ! as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -t 60 \
	-o "-k $pgdir -p $pgport -c listen_addresses= -c fsync=on" start > /dev/null 2>&1; then
	not_ok "postgresql: the server did not start: $(tail -n 3 "$pgdir/log" | tr '\n' ' ')"
	exit 1
fi
pg_started=yes
conninfo="host=$pgdir port=$pgport user=qkdn dbname=postgres"
ok "postgresql: a private cluster on $pgdir port $pgport"

# sql QUERY: on the manager's database
sql() {
	psql "$conninfo" -XAtq -c "$1"
}

mgrd_pki "$work"
mgrd_cert "$work" mx-t qkdn-mgr-test-mgr
mgrd_cert "$work" mx-b qkdn-mgr-mgr-b
# The peer manager (Mx), on SQLite.
MGRD_PORT=$(free_port)
peer_port=$(free_port)
peer_http=$(free_port)
mkdir "$work/b"
cat > "$work/b/mgrd.conf" <<EOT
[manager]
name = mgr-b
listen = 127.0.0.1:$peer_port
cert = $work/mgr.crt
key = $work/mgr.key
ca = $work/ca.crt
db = mgrd.db
[http]
listen = 127.0.0.1:$peer_http
client-cert = no
[mx]
peer = test-mgr
address = 127.0.0.1:$MGRD_PORT
cert = $work/mx-b.crt
key = $work/mx-b.key
ca = $work/ca.crt
EOT
"$bin/qkdn-mgrd" -c "$work/b/mgrd.conf" 2>> "$work/b/mgrd.log" &
peer_pid=$!
conf=("report-ms = 1000" "[store]" "backend = postgresql" "conninfo = $conninfo" "[mx]"
      "peer = mgr-b" "address = 127.0.0.1:$peer_port" "cert = mx-t.crt" "key = mx-t.key"
      "ca = ca.crt")
mgrd_start "$work" "${conf[@]}"
check "the manager runs on postgresql" "1" \
	"$(grep -c 'event=started .*store=postgresql' "$work/mgrd.log" || true)"

# 1. Inventory of three nodes, a link failure, a resilience record.
agent qkd-1 qkdn-qkd-1 qkd 1 --timeout 20 > /dev/null <<EOT
config qkd-link-1-1 resource_kind=3 resource_state=1 link_id=1 qkd_module=A-tx peer_qkd_module=B-rx
perf qkd-link-1-1 perf_type=1 perf_target=A-tx perf_value=4000 peer_node_id=2
EOT
agent qkd-2 qkdn-qkd-2 qkd 2 --timeout 20 > /dev/null <<EOT
config qkd-link-2-1 resource_kind=3 resource_state=1 link_id=1 qkd_module=B-rx peer_qkd_module=A-tx
config qkd-link-2-2 resource_kind=3 resource_state=1 link_id=2 qkd_module=B-tx peer_qkd_module=C-rx
EOT
agent qkd-3 qkdn-qkd-3 qkd 3 --timeout 20 > /dev/null <<EOT
config qkd-link-3-1 resource_kind=3 resource_state=1 link_id=1 qkd_module=C-rx peer_qkd_module=B-tx
EOT
for n in 1 2 3; do
	{
		((n > 1)) && echo "config km-link-$((n - 1))-$n resource_kind=2 resource_state=1 peer_node_id=$((n - 1)) key_amount=$((n * 1000))"
		((n < 3)) && echo "config km-link-$n-$((n + 1)) resource_kind=2 resource_state=1 peer_node_id=$((n + 1)) key_amount=$((n * 1000 + 500))"
		true
	} | agent "node-$n" "qkdn-node-$n" km "$n" --timeout 20 > /dev/null
done
check "inventory stored: 4 QKD links, 2 KM links" "2 2,3 4" \
	"$(sql "select kind, count(*) from inventory group by kind order by kind" | tr '|\n' ' ,' | sed 's/,$//')"
check "topology: 3 nodes, 2 links with QKD under KM, no config error" "3 2 2 0" \
	"$(api api/v1/topology | jq -r '"\(.nodes|length) \(.links|length) \([.links[]|select(.qkd and .km)]|length) \(.errors|length)"')"

agent ctl qkdn-ctl ctl 1 --linger > "$work/ctl.out" &
bg+=($!)
echo "alarm qkd-link-1-1 alarm_type=1 alarm_id=11 alarm_source=A-tx severity=4 peer_node_id=2 alarm_desc=no-key" |
	agent qkd-1 qkdn-qkd-1 qkd 1 --linger > /dev/null &
bg+=($!)
sleep 1
echo "alarm km-link-1-2 alarm_type=4 alarm_id=21 alarm_source=kx severity=3 peer_node_id=2" |
	agent node-1 qkdn-node-1 km 1 --timeout 20 > /dev/null
for _ in $(seq 100); do
	[[ $(sql "select count(*) from events where agent='qkdn-ctl'") == 1 ]] && break
	sleep 0.2
done
alarms=$(api api/v1/alarms)
check "link failure: two active alarms" "2" "$(jq length <<<"$alarms")"
check "link failure: QKD alarm diagnosed by the module" "true" \
	"$(jq -r '.[]|select(.type=="qkd-link-down")|.cause|contains("fibre cut suspected")' <<<"$alarms")"
qkd_row=$(jq -r '.[]|select(.type=="qkd-link-down")|.id' <<<"$alarms")
check "link failure: KM alarm correlated to the QKD link failure" "$qkd_row" \
	"$(jq -r '.[]|select(.type=="km-link-down")|.root' <<<"$alarms")"
check "link failure: one reroute decision, done by the controller" "1 km-link-1-2 done $qkd_row" \
	"$(api api/v1/actions | jq -r '"\(length) \(.[0].resource) \(.[0].state) \(.[0].alarm)"')"
check "link failure: the controller's reroute record stored" "qkdn-ctl|km-link-1-2" \
	"$(sql "select agent, resource from events where agent='qkdn-ctl'")"
kill_bg "${bg[@]}"
wait "${bg[@]}" 2>/dev/null || true
bg=()

# 2. Accounting.
agent node-1 qkdn-node-1 km 1 --timeout 20 > /dev/null <<EOT
account sae-app-a app_id=app-a key_count=3 key_bits=768 peer_node_id=2
account sae-app-a app_id=app-a key_count=5 key_bits=1280 peer_node_id=2
account sae-app-b app_id=app-b key_count=1 key_bits=256
EOT
agent node-3 qkdn-node-3 km 3 --timeout 20 > /dev/null <<EOT
account sae-app-b app_id=app-b key_count=4 key_bits=1024 peer_node_id=2
EOT
check "CDR totals per application (records keys bits)" "app-a 2 8 2048,app-b 2 5 1280" \
	"$(api api/v1/cdr | jq -r '[.totals.applications[]|"\(.app) \(.records) \(.keys) \(.bits)"]|join(",")')"
check "CDR totals per link" "1-2 8,3-2 4" \
	"$(api api/v1/cdr | jq -r '[.totals.links[]|"\(.node)-\(.peer) \(.keys)"]|join(",")')"

# 3. A key's life across nodes 1, 2, 3.
key=0102030405060708090a0b0c0d0e0f10
agent node-1 qkdn-node-1 km 1 --timeout 20 > /dev/null <<EOT
key km-link-1-2 key_id=$key key_event=1 peer_node_id=2 key_bits=256
key km-link-1-2 key_id=$key key_event=2 source_node_id=1 dest_node_id=3 next_hop_node_id=2
EOT
agent node-2 qkdn-node-2 km 2 --timeout 20 > /dev/null <<EOT
key km-link-2-3 key_id=$key key_event=3 peer_node_id=1 source_node_id=1 dest_node_id=3
key km-link-2-3 key_id=$key key_event=2 source_node_id=1 dest_node_id=3 next_hop_node_id=3
EOT
agent node-3 qkdn-node-3 km 3 --timeout 20 > /dev/null <<EOT
key km-link-2-3 key_id=$key key_event=3 peer_node_id=2 source_node_id=1 dest_node_id=3
key sae-app-b key_id=$key key_event=4 app_id=app-b
key sae-app-b key_id=$key key_event=5
EOT
check "key trace: generated at 1, relayed 1->2->3, supplied to app-b, deleted" \
	"1:generated 1:relayed>2 2:received<1 2:relayed>3 3:received<2 3:supplied@app-b 3:deleted" \
	"$(api api/v1/trace/01020304-0506-0708-090a-0b0c0d0e0f10 | jq -r '[.events[]|"\(.node):\(.event)\(if .next_hop then ">\(.next_hop)" elif .event=="received" then "<\(.peer)" elif .app then "@\(.app)" else "" end)"]|join(" ")')"
check "qkdn -j mgr trace: 7 events" "7" \
	"$("$bin/qkdn" -j mgr trace $key url "https://127.0.0.1:$MGRD_HTTP" | jq '.events|length')"

# 4. The periodic report (report-ms 1000) over the performance database.
for _ in $(seq 50); do
	[[ $(sql "select count(*) from reports") -gt 0 ]] && break
	sleep 0.2
done
check "periodic reports written" "yes" "$( (($(sql "select count(*) from reports") > 0)) && echo yes || echo no)"
check "performance: latest key rate of qkd-link-1-1" "4000" \
	"$(api api/v1/performance | jq -r '.[]|select(.resource=="qkd-link-1-1")|.value')"

# 5. kill -9 during a load, then restart.
n=6000
agent node-2 qkdn-node-2 km 2 --load $n --timeout 120 > "$work/load.out" &
load_pid=$!
bg+=($load_pid)
q="select count(*) from events where agent='qkdn-node-2' and resource='qkd-link-load'"
for _ in $(seq 300); do
	[[ $(sql "$q" 2>/dev/null || echo 0) -gt 1000 ]] && break
	sleep 0.05
done
at_kill=$(sql "$q")
kill -9 "$MGRD_PID"
wait "$MGRD_PID" 2> /dev/null || true
MGRD_PID=
sleep 0.5
mgrd_start "$work" "${conf[@]}"
wait "$load_pid" && load_ok=yes || load_ok=no
check "kill -9: the agent saw every notification acknowledged" "yes" "$load_ok"
check "kill -9: stored when killed was partial" "yes" "$( ((at_kill > 0 && at_kill < n)) && echo yes || echo no)"
check "kill -9: all $n stored, none twice, none lost (count distinct max)" "$n $n $n" \
	"$(sql "select count(*), count(distinct seq), max(seq) from events where agent='qkdn-node-2' and resource='qkd-link-load'" | tr '|' ' ')"
resent=$(grep -o 'resent=[0-9]*' "$work/load.out" | cut -d= -f2)
if [[ -n $resent ]] && ((resent > 0)); then
	ok "kill -9: the agent resent $resent unacknowledged notifications"
else
	not_ok "kill -9: expected resent notifications, saw '$(cat "$work/load.out")'"
fi

# 6. Mx with the SQLite peer.
peer_db() {
	python3 - "$work/b/mgrd.db" "$1" <<'PY'
import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for row in c.execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))
PY
}
"$bin/qkdn-mgrd-agent" -m "127.0.0.1:$peer_port" -C "$work/qkd-3.crt" -K "$work/qkd-3.key" \
	-A "$work/ca.crt" -n qkdn-qkd-3 -k qkd -i 3 --timeout 20 > /dev/null <<EOT
alarm qkd-link-3-7 alarm_type=3 alarm_id=37 alarm_source=C-rx severity=3
EOT
qp="select count(*), count(distinct json_extract(details,'\$.perf_value')) from events where origin='test-mgr' and agent='qkdn-node-2' and resource='qkd-link-load'"
for _ in $(seq 300); do
	[[ $(peer_db "$qp") == "$n|$n" && $(sql "select count(*) from alarms where origin='mgr-b'") == 1 ]] && break
	sleep 0.1
done
check "Mx: the peer shows our alarms with origin (QKD down, KM down)" "km-link-down,qkd-link-down" \
	"$(curl -sk "https://127.0.0.1:$peer_http/api/v1/alarms?all=1" | jq -r '[.[]|select(.origin=="test-mgr")|.type]|sort|join(",")')"
check "Mx: we show the peer's alarm with origin" "qkd-module-fault qkdn-qkd-3 mgr-b" \
	"$(api api/v1/alarms | jq -r '.[]|select(.origin)|"\(.type) \(.agent) \(.origin)"')"
check "Mx: the load through the PostgreSQL outbox, across the kill -9, each once" "$n $n" \
	"$(peer_db "$qp" | tr '|' ' ')"

# 7. The server restarts under the manager (immediate: a crash): the
#    transaction in flight fails, the agent is told busy and resends, the
#    manager reconnects; nothing lost.
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -t 60 -m immediate restart > /dev/null 2>&1 ||
	not_ok "postgresql: restart failed"
agent node-3 qkdn-node-3 km 3 --timeout 60 > /dev/null <<EOT && sent=yes || sent=no
alarm km-link-2-3 alarm_type=5 alarm_id=51 alarm_source=pool severity=2 peer_node_id=2
perf km-link-2-3 perf_type=3 perf_target=pool perf_value=77 peer_node_id=2
EOT
check "server restarted: the agent's notifications acknowledged" "yes" "$sent"
check "server restarted: both stored (alarm, figure)" "1 1" \
	"$(sql "select count(*) from alarms where alarm_id=51") $(sql "select count(*) from perf where resource='km-link-2-3' and value=77")"
check "server restarted: the manager logged the reconnection" "yes" \
	"$(grep -q 'event=db-reconnected backend=postgresql' "$work/mgrd.log" && echo yes || echo no)"

# Bad configuration: a clear error.
printf '[manager]\nname = x\nlisten = 127.0.0.1:1\ncert = a\nkey = b\nca = c\n[store]\nbackend = postgresql\n' > "$work/bad.conf"
out=$("$bin/qkdn-mgrd" -c "$work/bad.conf" 2>&1 || true)
check "config: postgresql without conninfo refused" "yes" \
	"$(grep -qF "$work/bad.conf:7: [store] backend postgresql lacks \"conninfo\"" <<<"$out" && echo yes || echo no)"
printf '[manager]\nname = x\nlisten = 127.0.0.1:1\ncert = %s\nkey = %s\nca = %s\n[store]\nbackend = postgresql\nconninfo = host=%s port=1 user=qkdn dbname=postgres\n' \
	"$work/mgr.crt" "$work/mgr.key" "$work/ca.crt" "$pgdir" > "$work/bad2.conf"
out=$("$bin/qkdn-mgrd" -c "$work/bad2.conf" 2>&1 || true)
check "a server that is not there: the manager exits with libpq's reason" "yes" \
	"$(grep -q 'database: postgresql: connection to server on socket.*failed' <<<"$out" && echo yes || echo no)"
exit $((checks_failed ? 1 : 0))
