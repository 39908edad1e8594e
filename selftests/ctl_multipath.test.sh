#!/bin/bash
# Multipath key relay (issue 5, seed 004 Req_C-R 1): when no single path
# can carry a session's amount, the controller gives the source KM several
# link-disjoint paths (Ck MULTIPATH_HOPS/_KEYS) and its store refill
# spreads the relays over them (QKDN_CMD_RELAY with a first hop).
#
# The six-node mesh of ctl_mesh.sh; every link's pool holds at most 400
# link keys (about 200 for relays from each end), the session 1 -> 3 wants
# 340 keys (10880 bytes, 350 link keys a hop): one path cannot carry it,
# 1-2-3 and 1-4-5-6-3 together can. Node 3 keeps a store for 1 as well, so
# that links 1-2 and 2-3 are drawn on from both ends alike (a pool whose
# decrypting half is never drawn on fills up with it and takes no more
# encrypting keys).
#
#   n1 ---- n2 ---- n3
#   |       |       |
#   n4 ---- n5 ---- n6
#
# Once the pools are full, `ctl reroute`: the session gets both paths;
# n1's store is drained and refilled; relays left n1 on both links (the
# link counters of 1-2 and 1-4, the refill's per-path counters).
#
# NOT RELIABLE YET, skipped unless QKDN_TEST_MULTIPATH=1: pools this small
# are full most of the time, and a full pool discards new keys at one end
# while the other end may keep them (key-pool.rst, "Capacity and
# discarding"), so relays naming those keys fail (ENOKEY, then ETIMEDOUT
# at the source) and the stores do not fill. One run got the store filled
# and then hit the kernel oops fixed in kernel/pool.c; three runs on a
# heavily loaded host timed out. A way to bound a path's capacity without
# full pools is needed (Documentation/controller.rst, known issues).
set -e
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT
if [[ ${QKDN_TEST_MULTIPATH:-0} != 1 ]]; then
	echo "ok - # SKIP multipath VM check not reliable yet (QKDN_TEST_MULTIPATH=1 runs it)"
	exit 4
fi

work=$(mktemp -d)
defer rm -rf "$work"
# Kx keep-alive: a loaded TCG guest must not see links flap.
mesh_keepalive_ms=3000
source "$(dirname "$0")/ctl_mesh.sh"
# A small pool-low: the pools here are small on purpose, not faulty.
eval "orig_$(declare -f mesh_ctld_config)"
mesh_ctld_config() { orig_mesh_ctld_config | sed 's/^pool-low = .*/pool-low = 64/'; }
# Small pools from the start, before any key arrives.
eval "orig_$(declare -f mesh_net)"
mesh_net() {
	orig_mesh_net
	local lid n
	for lid in $mesh_links; do
		for n in ${lid:0:1} ${lid:1:1}; do
			at "n$n" qkdn link set "$lid" capacity 400 low 1 high 300
		done
	done
}
mesh_sessions[1]="3:340:0"
mesh_sessions[3]="1:340:0"

# mesh_start waits 40 s for the KMs; a loaded guest may need longer.
mesh_start || true
wait_until 60 kms_connected && ok "six KMs authenticated to the controller" ||
	fail "KMs connected: $(ctl kms | jq_py 'sum(1 for k in d["kms"] if k["connected"])') of 6"
sess() {
	ctl sessions | jq_py "json.dumps(([s for s in d['sessions'] if {s['src'], s['dst']} == {1, 3}] or [{}])[0].get('$1'))"
}
# consumed NS LID: link keys of link LID that left NS's pool.
consumed() { at "$1" qkdn -j link show | jq_py "[l['stats']['consumed'] for l in d if l['link'] == $2][0]"; }
full_store() { (($(sstat n1 3 own-available) >= 340)); }
if wait_until 90 full_store; then
	ok "n1's store for 3 filled to 340 keys"
else
	fail "n1's store for 3: $(sstat n1 3 own-available) keys"
	exit 1	# the rest needs it; the logs are printed on the way out
fi
# Computed when the pools were (nearly) empty: one path, or already two.
echo "# before the reroute: path $(path_of 1 3), multipath $(sess multipath)"
full_pools() {
	ctl links | jq_py 'all(l["key_amount"] >= 5600 for l in d["links"] if (l["a"], l["b"]) in ((1, 2), (2, 3), (1, 4), (4, 5), (5, 6), (3, 6)))' |
		grep -q True
}
if wait_until 40 full_pools; then
	ok "the pools of both paths are full"
else
	fail "link key amounts: $(ctl links | jq_py '[(l["a"], l["b"], l["key_amount"]) for l in d["links"]]')"
	exit 1
fi

echo "# reroute at ${SECONDS} s; link key amounts: $(ctl links | jq_py '[(l["a"], l["b"], l["key_amount"]) for l in d["links"]]')"
expect_ok "reroute asked" ctl reroute
expect_eq "the session has two paths" "[[1, 2, 3], [1, 4, 5, 6, 3]]" \
	"$(ctl sessions | jq_py '[m["path"] for s in d["sessions"] if s["src"] == 1 for m in s["multipath"]]')"
echo "# shares: $(sess multipath)"
expect_eq "their shares add up to the 340 keys" "340" \
	"$(ctl sessions | jq_py 'sum(m["keys"] for s in d["sessions"] if s["src"] == 1 for m in s["multipath"])')"
expect_eq "n1's entry toward 3 carries both first hops" "[2, 4]" \
	"$(ctl routes | jq_py '[r.get("multipath_hops") for r in d["routes"] if (r["node"], r["dest"]) == (1, 3)][0]')"
expect_eq "n4 (second path) routes toward 3 via 5" "5" "$(route_via n4 3)"
paths_set() { grep -q 'event=supply-paths dest=3 paths=2 via=2:[0-9]*,4:[0-9]*' "$work/kmd-1.log"; }
wait_until 10 paths_set && ok "n1's refill relays over 2 and 4 ($(grep -o 'event=supply-paths dest=3 paths=2 [^ ]*' "$work/kmd-1.log" | tail -n1))" ||
	fail "n1: no event=supply-paths dest=3 paths=2"

c12=$(consumed n1 12) c14=$(consumed n1 14)
for _ in 1 2 3 4; do
	at n1 qkdn key get sae sa1 peer sa3 amount 64 >/dev/null
done
wait_until 60 full_store && ok "n1's store refilled after 256 keys were taken" ||
	fail "n1's store for 3 after the drain: $(sstat n1 3 own-available) keys"
d12=$(($(consumed n1 12) - c12)) d14=$(($(consumed n1 14) - c14))
echo "# link keys consumed at n1 during the refill: link 1-2 $d12, link 1-4 $d14"
((d12 >= 65 && d14 >= 65)) &&
	ok "relays toward 3 left n1 over both first hops (link keys: 1-2 $d12, 1-4 $d14)" ||
	fail "link keys consumed at n1: 1-2 $d12, 1-4 $d14 (want at least a 64-key relay on each)"
kill -USR1 "${mesh_kmd_pid[1]}"
counted() { grep -q 'event=stats why=[a-z0-9]* dest=3 via=4 ' "$work/kmd-1.log"; }
wait_until 10 counted || true
v2=$(grep -o 'event=stats why=[a-z0-9]* dest=3 via=2 share=[0-9]* keys=[0-9]*' "$work/kmd-1.log" | tail -n1 | sed 's/.*keys=//')
v4=$(grep -o 'event=stats why=[a-z0-9]* dest=3 via=4 share=[0-9]* keys=[0-9]*' "$work/kmd-1.log" | tail -n1 | sed 's/.*keys=//')
((${v2:-0} >= 64 && ${v4:-0} >= 64)) &&
	ok "the refill's path counters: via 2 ${v2} keys, via 4 ${v4} keys" ||
	fail "path counters: via 2 '${v2}', via 4 '${v4}'"
