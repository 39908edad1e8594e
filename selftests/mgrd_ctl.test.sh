#!/bin/bash
# The manager and the controller together (issue 6): qkdn-ctld reports to
# qkdn-mgrd on Mc and acts on its decisions; real qkdn-kmds, simulated QKD
# links (qkdn-qkdd, reporting on Mq), one manager.
#
#   netns n1 (1) ---- n2 (2)      link X-Y: veth 10.0.XY.0/24, Kx and a
#        |             |          simulated QKD module pair (tx at the
#        |             |          lower ID), 10 km
#   netns n4 (4) ---- n3 (3)      session A: 1 -> 3, keep 16, priority 0
#
#   netns ctl: a bridge to every node; qkdn-ctld at 10.9.0.254:7400 (Ck),
#   qkdn-mgrd at 10.9.0.254:7500 (Mq from the four qkdds, Mc from the
#   controller), its API at 127.0.0.1:7543 in ctl.
#
# In order:
#   1. Mc up: the controller's inventory and A's working/protection
#      matchup are in the manager
#   2. link failure (a fibre cut on A's working route, qkdd outage): the
#      manager records the alarm with the cause diagnosed by the module
#      (M_DIAG), decides "reroute" and sends it to the controller, which
#      holds the link out of service (its state asserted) with A off it;
#      the reroute is in the manager's event log (M_RESILIENCE); the
#      controller asks the manager for rerouting support (10.7) and keeps
#      the hold while the manager advises out of service
#   3. the cut repaired: the manager's support information says in
#      service, the controller releases the link (M_RESILIENCE restore)
#   4. an eavesdropper on A's route: the manager's security decision
#      (isolate) taken by the controller: admin state out of service,
#      kept after the eavesdropper stops; A rerouted, recorded
#   5. the operator restores the link; a Kx cut (veth down) on A's
#      working route: the KMs switch to protection, the switchover is
#      in the manager's event log
set -e
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

work=$(mktemp -d)
defer rm -rf "$work"
# A dead Kx path after 3 x 3 s: a loaded TCG guest must not flap; the
# cuts here are seen at once anyway (carrier events, qkdd state).
mesh_keepalive_ms=3000
source "$(dirname "$0")/ctl_mesh.sh"
mesh_links="12 14 23 34"
mesh_sessions[1]="3:16:0"
nodes="1 2 3 4"

api() { at ctl curl -sk --max-time 20 "https://127.0.0.1:7543/$1"; }
# apiq FILTER PATH: the API's answer through jq
apiq() { api "$2" | jq -r "$1"; }
# wait_eq WHAT EXPECTED SECONDS CMD...: CMD prints EXPECTED within SECONDS.
# wait_like: the same with a glob pattern. Both say what they saw last.
wait_cmp() {
	local how=$1 what=$2 want=$3 deadline=$((SECONDS + $4)) seen
	shift 4
	while :; do
		seen=$("$@" 2>/dev/null) || true
		if [[ $how == eq && $seen == "$want" ]] || [[ $how == like && $seen == $want ]]; then
			ok "$what"
			return 0
		fi
		((SECONDS < deadline)) || break
		sleep 0.3
	done
	fail "$what: expected '$want', saw '${seen//$'\n'/ | }'"
}
wait_eq() { wait_cmp eq "$@"; }
wait_like() { wait_cmp like "$@"; }
# The controller's views, through jq (lighter than ctl_mesh.sh's python
# on a loaded TCG guest).
path_of() {	# SRC DST [protection]: the session's path as seen from SRC
	ctl sessions | jq -r ".sessions[]|select([.src,.dst]|sort == ([$1,$2]|sort))|
		(.${3:-path})|if .[0] == $1 then . else reverse end|map(tostring)|join(\" \")"
}
# A's working and protection paths from one snapshot: "1-2-3 1-4-3"
pair() {
	ctl sessions | jq -r '.sessions[]|select([.src,.dst]|sort == [1,3])|
		[.path, .protection]|map(map(tostring)|join("-"))|join(" ")'
}
link_json() { ctl links | jq -r ".links[]|select(.a == $1 and .b == $2)|.$3"; }
mgr_link() { ctl mgr | jq -r ".mgr.links[]|select(.a == $1 and .b == $2)|.$3"; }
mgr_json() { ctl mgr | jq -r ".mgr$1"; }
resil() {	# the manager's M_RESILIENCE records, oldest first, one line each
	api "api/v1/events?cmd=22&limit=1000" | jq -r \
		'reverse|.[]|"\(.resource) \(["?","matchup","switchover","reroute","restore"][.details.resil_op]) \(.details.working) \(.details.protection // "-") \(.details.resource_desc // "")"'
}
has_resil() { resil | grep -F -- "$1" | head -n1; }
# reroute_seen A B: the manager's last reroute of A left a path over link
# A-B for the one the controller holds now ("ok"), or what it saw.
reroute_seen() {
	local last from to now
	last=$(resil | grep -F "route-1-3 reroute" | tail -n1)
	read -r _ _ from to _ <<<"$last"
	now=$(path_of 1 3)
	if [[ -n $now && $to == "${now// /-}" && ( -$from- == *-$1-$2-* || -$from- == *-$2-$1-* ) ]]; then
		echo ok
	else
		echo "last reroute '$last', controller '$now'"
	fi
}
lid_of() { echo $(($1 < $2 ? $1 * 10 + $2 : $2 * 10 + $1)); }
lo_of() { echo $(($1 < $2 ? $1 : $2)); }
hi_of() { echo $(($1 < $2 ? $2 : $1)); }

echo "# start at ${SECONDS} s"
# PKI: the controller's CA signs everyone, the manager included.
qkdn-ctld init --state "$work/ca" --network square >/dev/null
qkdn-ctld enrol --state "$work/ca" --ctl --out "$work/pki" >/dev/null
qkdn-ctld enrol --state "$work/ca" --mgr --out "$work/pki" >/dev/null
for n in $nodes; do
	qkdn-ctld enrol --state "$work/ca" --node "$n" --out "$work/pki" >/dev/null
	qkdn-ctld enrol --state "$work/ca" --qkd "$n" --out "$work/pki" >/dev/null
	cp "$work/pki/crl.pem" "$work/crl-$n.pem"
done

echo "# PKI done at ${SECONDS} s"
# The network.
qkdn_load
netns_node ctl
ip -n ctl link add br0 type bridge
ip -n ctl addr add 10.9.0.254/24 dev br0
ip -n ctl link set br0 up
for n in $nodes; do
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
defer mesh_dump_logs

echo "# network done at ${SECONDS} s"
# The manager.
cat > "$work/mgrd.conf" <<EOF
[manager]
name = square-mgr
listen = 10.9.0.254:7500
cert = pki/qkdn-mgr.crt
key = pki/qkdn-mgr.key
ca = pki/ca.crt
db = mgrd.db
[http]
listen = 127.0.0.1:7543
client-cert = no
EOF
at ctl qkdn-mgrd -c "$work/mgrd.conf" 2> "$work/mgrd.log" < /dev/null &
defer stop_pid $!
wait_until 30 api api/v1/agents
manager_section() {	# CN
	printf '\n[manager]\naddress = 10.9.0.254:7500\ncert = %s/pki/%s.crt\n' "$work" "$1"
	printf 'key = %s/pki/%s.key\nca = %s/pki/ca.crt\nreport-ms = 500\n' "$work" "$1" "$work"
}

for n in $nodes; do
	{ mesh_qkdd_config "$n"; manager_section "qkdn-qkd-$n"; } > "$work/qkdd-$n.conf"
	at "n$n" qkdn-qkdd --config "$work/qkdd-$n.conf" > "$work/qkdd-$n.log" 2>&1 < /dev/null &
	defer stop_pid $!
done
{
	printf '[controller]\nlisten = 10.9.0.254:7400\nstate = %s/ca\n' "$work"
	printf 'cert = %s/pki/qkdn-ctl.crt\nkey = %s/pki/qkdn-ctl.key\ncontrol = %s/ctld.sock\n' \
		"$work" "$work" "$work"
	printf '[policy]\nstatus-period-ms = 500\npool-low = 4096\nprotection = yes\n'
	printf 'push-timeout-ms = 3000\n'
	for n in $nodes; do
		printf '[node]\nid = %s\nname = n%s\naddress = 10.9.0.%s:7000\n' "$n" "$n" "$n"
	done
	for lid in $mesh_links; do
		printf '[link]\na = %s\nb = %s\n' "${lid:0:1}" "${lid:1:1}"
	done
	manager_section qkdn-ctl
} > "$work/ctld.conf"
ctld_start
defer ctld_kill
for n in $nodes; do
	mesh_kmd_config "$n" > "$work/kmd-$n.conf"
	at "n$n" qkdn-kmd --config "$work/kmd-$n.conf" > "$work/kmd-$n.log" 2>&1 < /dev/null &
	mesh_kmd_pid[$n]=$!
	defer kmd_stop "$n"
done
kms_up() { ctl kms | jq '[.kms[]|select(.connected)]|length'; }
wait_eq "four KMs authenticated to the controller" 4 60 kms_up

echo "# section 1 at ${SECONDS} s"
# 1. Mc up: agents, the controller's inventory, A's matchup.
wait_eq "the controller and four QKD drivers connected to the manager" \
	"qkdn-ctl,qkdn-qkd-1,qkdn-qkd-2,qkdn-qkd-3,qkdn-qkd-4" 60 \
	apiq '[.[].cn]|sort|join(",")' api/v1/agents
routed() { pair; }
wait_like "session A routed with a protection route" "1-*-3 1-*-3" 60 routed
echo "# A: working and protection $(pair)"
wait_eq "inventory: the controller's four links, in service" \
	"ctl-link-1-2 1,ctl-link-1-4 1,ctl-link-2-3 1,ctl-link-3-4 1" 60 apiq \
	'[.[]|select(.resource|test("^ctl-link-"))|"\(.resource) \(.state)"]|sort|join(",")' \
	api/v1/inventory
wait_eq "inventory: the controller, its four KMs connected" \
	"ctl 1,ctl-node-1 1,ctl-node-2 1,ctl-node-3 1,ctl-node-4 1" 60 apiq \
	'[.[]|select(.resource=="ctl" or (.resource|test("^ctl-node-")))|"\(.resource) \(.state)"]|sort|join(",")' \
	api/v1/inventory
# The manager's last matchup of A is what the controller holds now.
matchup_now() {
	local last now
	last=$(resil | grep -F "route-1-3 matchup" | tail -n1 | cut -d' ' -f3,4)
	now=$(pair)
	[[ -n $now && $last == "$now" ]] && echo same || echo "manager '$last', controller '$now'"
}
wait_eq "M_RESILIENCE: A's working/protection matchup, as the controller holds it" same 60 \
	matchup_now
work_path=$(path_of 1 3)
wait_eq "topology: the controller's state of each link (XLMO)" 4 60 \
	apiq '[.links[]|select(.controller_state==1)]|length' api/v1/topology
wait_eq "no alarm active" 0 60 apiq 'length' api/v1/alarms

echo "# section 2 at ${SECONDS} s"
# 2. A fibre cut on the first link of A's working route.
read -r c1 c2 _ <<<"$work_path"
cl=$(lid_of "$c1" "$c2") clo=$(lo_of "$c1" "$c2") chi=$(hi_of "$c1" "$c2")
qkdd_ctl "$clo" set "$cl" outage on >/dev/null
alarm_cause() {
	at ctl env QKDN_MGR_URL=https://127.0.0.1:7543 qkdn -j mgr alarms |
		jq -r ".[]|select(.resource==\"qkd-link-$clo-$cl\")|\"\(.type): \(.cause)\""
}
wait_like "the manager records qkd-link-$clo-$cl's alarm, its cause the module's diagnosis (M_DIAG)" \
	"qkd-link-down: QLM: *diagnostics: no detections on the quantum channel: fibre cut or optical path lost*" \
	60 alarm_cause
echo "# cause: $(alarm_cause)"
action() {	# TYPE RESOURCE: the action's state and result
	apiq ".[]|select(.type==$1 and .resource==\"$2\")|\"\(.state): \(.result)\"" api/v1/actions |
		head -n1
}
wait_like "decision reroute avoiding km-link-$clo-$chi sent to the controller and done" \
	"done: link $clo-$chi out of service (held for the manager)*" 60 action 1 "km-link-$clo-$chi"
echo "# action: $(action 1 "km-link-$clo-$chi")"
wait_eq "the controller holds link $clo-$chi for the manager, out of service" \
	"true out-of-service" 60 eval 'echo "$(mgr_link "$clo" "$chi" hold) $(link_json "$clo" "$chi" state)"'
off_cut() { [[ " $(path_of 1 3) " == *" $c1 $c2 "* ]] && echo on || path_of 1 3; }
wait_like "A rerouted off $c1-$c2" "[1-4] *" 60 off_cut
new_path=$(path_of 1 3)
echo "# A now: $new_path"
wait_eq "the manager records A's reroute off $c1-$c2 to the path the controller holds" ok 60 \
	reroute_seen "$c1" "$c2"
echo "# $(resil | grep -F "route-1-3 reroute" | tail -n1)"
wait_like "10.7: the manager's support information: link $clo-$chi out of service, its cause" \
	"out-of-service QLM: qkd-link-down*" 60 \
	eval 'echo "$(mgr_link "$clo" "$chi" advice) $(mgr_link "$clo" "$chi" cause)"'
expect_ok "the manager answered the controller's support requests" \
	test "$(mgr_json .support_answered)" -ge 1
wait_eq "the controller's inventory in the manager: ctl-link-$clo-$chi out of service" 2 60 \
	apiq ".[]|select(.resource==\"ctl-link-$clo-$chi\")|.state" api/v1/inventory

echo "# section 3 at ${SECONDS} s"
# 3. Repaired: the manager's alarm clears, its advice follows, the hold goes.
qkdd_ctl "$clo" set "$cl" outage off >/dev/null
wait_eq "the controller released link $clo-$chi on the manager's advice" "false 1" 60 \
	eval 'echo "$(mgr_link "$clo" "$chi" hold) $(($(mgr_json .released) >= 1))"'
wait_eq "link $clo-$chi back in service at the controller" in-service 60 \
	link_json "$clo" "$chi" state
wait_like "the manager records the restore of km-link-$clo-$chi" \
	"km-link-$clo-$chi restore km-link-$clo-$chi *" 60 \
	has_resil "km-link-$clo-$chi restore km-link-$clo-$chi"
wait_like "A protected again" "1-*-3 1-*-3" 60 routed

echo "# section 4 at ${SECONDS} s"
# 4. An eavesdropper on the first link of A's route now.
work_path=$(path_of 1 3)
read -r e1 e2 _ <<<"$work_path"
el=$(lid_of "$e1" "$e2") elo=$(lo_of "$e1" "$e2") ehi=$(hi_of "$e1" "$e2")
qkdd_ctl "$elo" set "$el" eavesdrop 1 >/dev/null
wait_like "security decision: isolate km-link-$elo-$ehi, done by the controller" \
	"done: link $elo-$ehi isolated*" 60 action 2 "km-link-$elo-$ehi"
echo "# action: $(action 2 "km-link-$elo-$ehi")"
admin() { echo "$(link_json "$elo" "$ehi" state) $(link_json "$elo" "$ehi" admin_state) $(mgr_link "$elo" "$ehi" isolated)"; }
wait_eq "the controller's link $elo-$ehi: isolated, admin state out of service" \
	"out-of-service out-of-service true" 60 admin
off_eve() { [[ " $(path_of 1 3) " == *" $e1 $e2 "* ]] && echo on || path_of 1 3; }
wait_like "A rerouted off $e1-$e2" "[1-4] *" 60 off_eve
new_path=$(path_of 1 3)
wait_eq "the manager records that reroute too" ok 60 reroute_seen "$e1" "$e2"
qkdd_ctl "$elo" set "$el" eavesdrop 0 >/dev/null
wait_eq "the eavesdropper gone: the manager's qber-high alarms cleared" 0 60 \
	apiq '[.[]|select(.type=="qber-high")]|length' api/v1/alarms
expect_eq "the isolation stands: link $elo-$ehi still out of service (admin)" \
	"out-of-service out-of-service true" "$(admin)"
expect_eq "no decision failed" 0 "$(apiq '[.[]|select(.state=="failed")]|length' api/v1/actions)"

echo "# section 5 at ${SECONDS} s"
# 5. The operator puts the link back; a Kx cut on A's working route: the
#    KMs switch to protection, the switchover is recorded.
ctl link-state "$elo" "$ehi" in-service >/dev/null
wait_like "A protected again after the operator's restore" "1-*-3 1-*-3" 60 routed
wait_like "the manager records the end of the isolation" \
	"km-link-$elo-$ehi restore km-link-$elo-$ehi - isolation ended by the operator*" 60 \
	eval 'resil | grep -F "km-link-$elo-$ehi restore" | tail -n1'
work_path=$(path_of 1 3)
read -r k1 k2 _ <<<"$work_path"
ip -n "n$k1" link set "veth-n$k2" down
wait_like "the manager records A's switchover at KM $k1 or $k2" \
	"route-1-3 switchover * KM [$k1$k2] switched its entry toward *" 60 \
	has_resil "route-1-3 switchover"
echo "# $(has_resil "route-1-3 switchover")"
echo "# M_RESILIENCE records:"
resil | sed 's/^/#   /'
echo "# done at ${SECONDS} s"
