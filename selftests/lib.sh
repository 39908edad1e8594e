# shellcheck shell=bash
# Helpers shared by selftests/*.test.sh. A test script starts like this:
#
#   #!/bin/bash
#   # <ASCII diagram of the topology>
#   set -e
#   source "$(dirname "$0")/lib.sh"
#   trap cleanup EXIT
#
#   netns_node alice
#   netns_node bob
#   netns_connect alice 10.0.0.1/24 bob 10.0.0.2/24
#   qkdn_load
#   expect_eq "alice has no links yet" "" "$(ip netns exec alice qkdn link show)"
#   expect_errno "unknown link refused" "No such device" \
#           ip netns exec alice qkdn link del 99
#
# Contract with run-all.sh: every check prints one line "ok - what" or
# "not ok - what: expected X, saw Y" at the start of a line, and run-all counts
# those lines. Anything else the script prints is just log. The script fails if
# any check failed or if it exits non-zero (set -e): cleanup turns a failed check
# into exit status 1 and keeps a non-zero status it finds. Exit status 4 (see
# skip_all) means the whole script was skipped.

QKDN_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QKDN_KO=${QKDN_KO:-$QKDN_REPO/kernel/qkdn.ko}
PATH=$QKDN_REPO/build/bin:$PATH

qkdn_checks_failed=0
qkdn_cleanups=()

# defer CMD [ARGS...]: run CMD at cleanup, in reverse order of registration.
defer() {
	qkdn_cleanups+=("$(printf '%q ' "$@")")
}

# Use as `trap cleanup EXIT`. Undoes everything deferred even after a failure,
# then exits non-zero if the script or any check failed.
cleanup() {
	local status=$? i
	set +e
	trap - ERR
	for ((i = ${#qkdn_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${qkdn_cleanups[i]}" || echo "# cleanup: '${qkdn_cleanups[i]% }' failed"
	done
	qkdn_cleanups=()
	if ((status == 0 && qkdn_checks_failed > 0)); then
		status=1
	fi
	exit "$status"
}

# Say where a `set -e` script died: the command and its line, also when it
# failed inside a helper (errtrace).
set -E
trap 'echo "# ${BASH_SOURCE[0]##*/}:$LINENO: \"$BASH_COMMAND\" exited with status $?" >&2' ERR

ok() {
	echo "ok - $*"
}

# One line whatever the message holds: run-all reads results line by line.
fail() {
	local message=$*
	echo "not ok - ${message//$'\n'/\\n}"
	qkdn_checks_failed=$((qkdn_checks_failed + 1))
}

skip() {
	echo "ok - $* # SKIP"
}

# skip_all REASON: the whole script cannot run here (kselftest's KSFT_SKIP).
skip_all() {
	echo "# SKIP: $*"
	exit 4
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
	if [[ $3 == "$2" ]]; then
		ok "$1"
	else
		fail "$1: expected '$2', saw '$3'"
	fi
}

# expect_ok WHAT CMD [ARGS...]: CMD must succeed.
expect_ok() {
	local what=$1 output status=0
	shift
	output=$("$@" 2>&1) || status=$?
	if ((status == 0)); then
		ok "$what"
	else
		fail "$what: expected success, saw exit status $status: $output"
	fi
}

# expect_errno WHAT TEXT CMD [ARGS...]: CMD must fail and say TEXT on stderr
# (e.g. the strerror of the errno the kernel returned).
expect_errno() {
	local what=$1 text=$2 errors status=0
	shift 2
	errors=$("$@" 2>&1 >/dev/null) || status=$?
	if ((status == 0)); then
		fail "$what: expected failure with '$text', saw success"
	elif [[ $errors != *"$text"* ]]; then
		fail "$what: expected '$text', saw '$errors' (exit status $status)"
	else
		ok "$what"
	fi
}

# stop_pid PID: TERM, up to 5 s to go, then KILL; reaps it if it is ours.
# Quiet when it is gone already.
stop_pid() {
	local i
	kill "$1" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# wait_until SECONDS CMD [ARGS...]: poll CMD until it succeeds (daemons take a
# moment to come up, slower still under TCG); fails after SECONDS.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			echo "# wait_until: '$*' still failing" >&2
			return 1
		fi
		sleep 0.1
	done
}

# Load the freshly built module, unless it is loaded already; it is unloaded
# at cleanup. Any modules it depends on come from /lib/modules via modprobe.
qkdn_load() {
	local deps
	if [[ -d /sys/module/qkdn ]]; then
		return 0
	fi
	if [[ ! -f $QKDN_KO ]]; then
		echo "qkdn_load: $QKDN_KO is not built (make module)" >&2
		return 1
	fi
	deps=$(modinfo -F depends "$QKDN_KO")
	if [[ -n $deps ]]; then
		modprobe -a ${deps//,/ }
	fi
	insmod "$QKDN_KO" "$@"
	defer qkdn_unload
}

qkdn_unload() {
	if [[ -d /sys/module/qkdn ]]; then
		rmmod qkdn
	fi
}

# netns_node NAME: a network namespace for one QKD node, with lo up; deleted
# at cleanup.
netns_node() {
	ip netns add "$1"
	defer ip netns del "$1"
	ip -n "$1" link set lo up
}

# netns_connect NODE_A ADDR_A NODE_B ADDR_B: a veth pair between two nodes,
# named after the peer ("veth-bob" in alice), with addresses like 10.0.0.1/24.
netns_connect() {
	local a=$1 addr_a=$2 b=$3 addr_b=$4
	ip link add "veth-$b" netns "$a" type veth peer name "veth-$a" netns "$b"
	ip -n "$a" addr add "$addr_a" dev "veth-$b"
	ip -n "$b" addr add "$addr_b" dev "veth-$a"
	ip -n "$a" link set "veth-$b" up
	ip -n "$b" link set "veth-$a" up
}
