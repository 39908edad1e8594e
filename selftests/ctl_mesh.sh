# shellcheck shell=bash
# The six-node mesh of the controller tests (ctl_mesh.test.sh) and of the
# reroute benchmark (scripts/bench-reroute): real qkdn-ctld, real qkdn-kmds,
# qkdn-qkdd simulated QKD links. Source it after lib.sh, with $work set.
#
#   netns n1 (1) ---- n2 (2) ---- n3 (3)     link X-Y: veth 10.0.XY.0/24,
#        |             |           |         Kx (kmd :7000) and a simulated
#        |             |           |         QKD module pair (qkdd :7100,
#   netns n4 (4) ---- n5 (5) ---- n6 (6)     tx at the lower ID), 10 km
#
#   controller: netns ctl, a bridge with a veth to every node (10.9.0.N at
#   node N, the controller at 10.9.0.254:7400)
#
# Certificates come from `qkdn-ctld init` / `enrol`. Every kmd: keepalive-ms
# $mesh_keepalive_ms (a silent Kx path is dead after three of them),
# relay-timeout-ms 4000 (a loaded TCG guest must not time relays out and switch before the test looks), ksa-sync = no (see Documentation/kmd.rst, "Store
# refill": with it on, a key taken between a cut and its detection waits
# for a SYNC_ACK that cannot come), and a [controller]. Sessions ([session],
# set mesh_sessions[N]="dest keep priority tolerance-ms ..." before
# mesh_start) are the test's.

mesh_keepalive_ms=${mesh_keepalive_ms:-1000}
mesh_protection=${mesh_protection:-yes}
mesh_links="12 23 14 25 36 45 56"
declare -A mesh_sessions mesh_kmd_pid mesh_peers mesh_addr mesh_cap

at() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
ctl() { qkdn-ctld ctl --socket "$work/ctld.sock" "$@"; }
# jq_py EXPR: EXPR of the JSON document on stdin, as d.
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# route_via NS DEST: the next hop of NS's module route to DEST, "" if none.
route_via() {
	at "$1" qkdn route show | awk -v dest="$2" '$2 == dest { print $4 }'
}
# path_of SRC DST [protection]: the session's path as seen from SRC.
path_of() {
	ctl sessions | jq_py "' '.join(str(n) for s in d['sessions'] if {s['src'], s['dst']} == {$1, $2}
		for n in (s['${3:-path}'] if s['src'] == $1 else s['${3:-path}'][::-1]))"
}
link_json() {
	ctl links | jq_py "[l for l in d['links'] if (l['a'], l['b']) == ($1, $2)][0]['$3']"
}
# sstat NS REMOTE COUNTER: a counter of NS's store for REMOTE.
sstat() {
	at "$1" qkdn store show | awk -v node="$2:" -v name="$3" '
		$1 == "store" && $2 == "node" && $3 == node {
			for (i = 4; i < NF; i++) if ($i == name) { print $(i + 1); exit } }'
}
qkdd_ctl() { qkdn-qkdd ctl "$work/qkdd-$1.sock" "${@:2}"; }

mesh_pki() {
	qkdn-ctld init --state "$work/ca" --network mesh >/dev/null
	qkdn-ctld enrol --state "$work/ca" --ctl --out "$work/pki" >/dev/null
	for n in 1 2 3 4 5 6; do
		qkdn-ctld enrol --state "$work/ca" --node "$n" --out "$work/pki" >/dev/null
		cp "$work/pki/crl.pem" "$work/crl-$n.pem"
	done
}

mesh_net() {
	local n lid x y
	netns_node ctl
	ip -n ctl link add br0 type bridge
	ip -n ctl addr add 10.9.0.254/24 dev br0
	ip -n ctl link set br0 up
	for n in 1 2 3 4 5 6; do
		netns_node "n$n"
		at "n$n" qkdn node set id "$n" name "n$n"
		ip link add "ck$n" netns ctl type veth peer name ck netns "n$n"
		ip -n ctl link set "ck$n" master br0 up
		ip -n "n$n" addr add "10.9.0.$n/24" dev ck
		ip -n "n$n" link set ck up
	done
	for lid in $mesh_links; do
		x=${lid:0:1} y=${lid:1:1}
		netns_connect "n$x" "10.0.$lid.$x/24" "n$y" "10.0.$lid.$y/24"
		mesh_addr[$x,$y]=10.0.$lid.$y
		mesh_addr[$y,$x]=10.0.$lid.$x
		mesh_peers[$x]+=" $y"
		mesh_peers[$y]+=" $x"
		at "n$x" qkdn link add "$lid" peer "$y" role alice module "L$lid-a" \
			peer-module "L$lid-b" unit 32 capacity 100000 low 1 high 90000
		at "n$y" qkdn link add "$lid" peer "$x" role bob module "L$lid-b" \
			peer-module "L$lid-a" unit 32 capacity 100000 low 1 high 90000
	done
	# Applications: sa1 at node 1 and sa3 at node 3.
	for n in 1 2 3 4 5 6; do
		for s in sa1:1 sa3:3; do
			if [[ ${s#*:} == "$n" ]]; then
				at "n$n" qkdn app add "${s%:*}" uid 0
			else
				at "n$n" qkdn app add "${s%:*}" node "${s#*:}"
			fi
		done
	done
}

# qkdd config of node n: tx of its links to higher IDs, rx of the others.
# 10 km at 10 MHz: 73 kbit/s a link, unless mesh_cap[LID] caps it.
mesh_qkdd_config() {
	local n=$1 lid x y
	printf '[node]\nid = %s\ncontrol = %s/qkdd-%s.sock\n' "$n" "$work" "$n"
	for lid in $mesh_links; do
		x=${lid:0:1} y=${lid:1:1}
		if [[ $x == "$n" ]]; then
			printf '[link]\nid = %s\nrole = tx\nmode = sim\nmodule = L%s-a\n' "$lid" "$lid"
			printf 'peer-module = L%s-b\npeer = 10.0.%s.%s:7100\nlength-km = 10\n' \
				"$lid" "$lid" "$y"
			printf 'qkd-key-bytes = 256\npulse-rate-hz = 1e7\n'
			[[ -z ${mesh_cap[$lid]:-} ]] || printf 'rate-cap-bps = %s\n' "${mesh_cap[$lid]}"
		elif [[ $y == "$n" ]]; then
			printf '[link]\nid = %s\nrole = rx\nmode = sim\nmodule = L%s-b\n' "$lid" "$lid"
			printf 'peer-module = L%s-a\nlisten = 10.0.%s.%s:7100\n' "$lid" "$lid" "$y"
		fi
	done
}

mesh_ctld_config() {
	local n lid
	printf '[controller]\nlisten = 10.9.0.254:7400\nstate = %s/ca\n' "$work"
	printf 'cert = %s/pki/qkdn-ctl.crt\nkey = %s/pki/qkdn-ctl.key\ncontrol = %s/ctld.sock\n' \
		"$work" "$work" "$work"
	printf '[policy]\nstatus-period-ms = 500\npool-low = 4096\nprotection = %s\n' \
		"$mesh_protection"
	printf 'push-timeout-ms = 3000\n'
	for n in 1 2 3 4 5 6; do
		printf '[node]\nid = %s\nname = n%s\naddress = 10.9.0.%s:7000\n' "$n" "$n" "$n"
	done
	for lid in $mesh_links; do
		printf '[link]\na = %s\nb = %s\n' "${lid:0:1}" "${lid:1:1}"
	done
}

mesh_kmd_config() {
	local n=$1 p s
	printf '[node]\nid = %s\nname = n%s\nlisten = 0.0.0.0:7000\n' "$n" "$n"
	printf 'cert = %s/pki/qkdn-node-%s.crt\nkey = %s/pki/qkdn-node-%s.key\n' \
		"$work" "$n" "$work" "$n"
	printf 'ca = %s/pki/ca.crt\ncrl = %s/crl-%s.pem\ncommunity = mesh\n' "$work" "$work" "$n"
	printf 'ksa-sync = no\nkeepalive-ms = %s\nrelay-timeout-ms = 4000\n' "$mesh_keepalive_ms"
	for p in ${mesh_peers[$n]}; do
		printf '\n[peer]\nid = %s\naddress = %s:7000\n' "$p" "${mesh_addr[$n,$p]}"
	done
	printf '\n[controller]\naddress = 10.9.0.254:7400\n'
	for s in ${mesh_sessions[$n]:-}; do
		IFS=: read -r dest keep prio tol <<<"$s"
		printf '\n[session]\ndest = %s\nkeep = %s\npriority = %s\n' "$dest" "$keep" "$prio"
		[[ -z $tol ]] || printf 'tolerance-ms = %s\n' "$tol"
	done
}

ctld_pid=
ctld_start() {
	ip netns exec ctl qkdn-ctld run --config "$work/ctld.conf" >> "$work/ctld.log" 2>&1 &
	ctld_pid=$!
	wait_until 20 test -S "$work/ctld.sock"
}
ctld_kill() {
	[[ -n $ctld_pid ]] || return 0
	kill -"${1:-TERM}" "$ctld_pid" 2>/dev/null || true
	wait "$ctld_pid" 2>/dev/null || true
	ctld_pid=
	rm -f "$work/ctld.sock"
}
kmd_stop() {
	local pid=${mesh_kmd_pid[$1]:-}
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	mesh_kmd_pid[$1]=
}
mesh_dump_logs() {
	local f
	# QKDN_MESH_LOGS=1: every daemon's whole log, passed or failed, as one
	# base64 tar.gz between "# mesh-logs-begin" and "# mesh-logs-end"
	# (the guest's /tmp does not outlive the VM).
	if [[ ${QKDN_MESH_LOGS:-} == 1 ]]; then
		echo "# mesh-logs-begin"
		tar -C "$work" -czf - --exclude='pki' --exclude='ca' . 2>/dev/null | base64 -w 0
		echo
		echo "# mesh-logs-end"
	fi
	((qkdn_checks_failed > 0)) || return 0
	for f in "$work"/kmd-*.log; do
		echo "# ---- ${f##*/}: neighbour and route events (last 40)"
		grep -E 'event=(peer-(down|up)|carrier-[a-z]+|protection-switched|route-(withdrawn|restored|installed|deleted)|withdrawal-(rx|tx|ignored)|relay-failed|ctl-(up|down))' "$f" |
			sed -e 's/^ts=[0-9-]*T//' -e 's/ level=[a-z]* / /' | cut -c1-200 | tail -n 40 | sed 's/^/#   /'
		echo "#   refill failures: $(grep -o 'event=refill-failed .*errno=[A-Z]*' "$f" | grep -o 'errno=[A-Z]*' | sort | uniq -c | tr -s ' \n' ' ')"
	done
	for f in "$work"/kmd-*.log "$work"/ctld.log "$work"/qkdd-*.log; do
		[[ -e $f ]] || continue
		echo "# ---- ${f##*/} (last 25 lines)"
		grep -v 'level=debug' "$f" | tail -n 25 | sed 's/^/#   /'
	done
}
kms_connected() {
	(($(ctl kms | jq_py 'sum(1 for k in d["kms"] if k["connected"])') == 6))
}

# Everything up: the module loaded, the network, qkdd, the controller and
# the kmds, every KM connected to the controller.
mesh_start() {
	local n
	qkdn_load
	mesh_pki
	mesh_net
	defer mesh_dump_logs
	for n in 1 2 3 4 5 6; do
		mesh_qkdd_config "$n" > "$work/qkdd-$n.conf"
		ip netns exec "n$n" qkdn-qkdd --config "$work/qkdd-$n.conf" \
			> "$work/qkdd-$n.log" 2>&1 < /dev/null &
		defer kill "$!"
	done
	mesh_ctld_config > "$work/ctld.conf"
	ctld_start
	defer ctld_kill
	for n in 1 2 3 4 5 6; do
		mesh_kmd_config "$n" > "$work/kmd-$n.conf"
		ip netns exec "n$n" qkdn-kmd --config "$work/kmd-$n.conf" \
			> "$work/kmd-$n.log" 2>&1 < /dev/null &
		mesh_kmd_pid[$n]=$!
		defer kmd_stop "$n"
	done
	# A loaded TCG guest takes its time: six TLS handshakes with the
	# controller and seven pairs of Kx handshakes, each a few signatures.
	wait_until 300 kms_connected
}

# log_ts_ms: the ts= of the first log line on stdin, in ms since the epoch.
log_ts_ms() {
	local ts
	ts=$(sed -n 's/^ts=\([^ ]*\) .*/\1/p' | head -n1)
	[[ -z $ts ]] || date -d "$ts" +%s%3N
}
# since FILE LINE PATTERN [last|MIN_MS]: the ts (ms) of the first (or
# last) line after line LINE of FILE that matches PATTERN (grep -E); with
# MIN_MS, of the first such line stamped MIN_MS or later (an entry a
# controller's reroute installed just before a cut is not its recovery);
# "" if none.
since() {
	local t line
	if [[ ${4:-} =~ ^[0-9]+$ ]]; then
		while IFS= read -r line; do
			t=$(log_ts_ms <<<"$line")
			if [[ -n $t ]] && ((t >= $4)); then
				echo "$t"
				return
			fi
		done < <(tail -n +$(($2 + 1)) "$1" | grep -E -- "$3" | head -n 20)
		return
	fi
	tail -n +$(($2 + 1)) "$1" | grep -E -- "$3" | if [[ ${4:-} == last ]]; then tail -n1; else head -n1; fi |
		log_ts_ms
}
