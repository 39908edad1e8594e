#!/bin/bash
# Run the selftests, as root, inside the test VM:
#
#   scripts/vm-run selftests/run-all.sh [TEST...]
#
# TEST is a name like "keypool", "keypool.test.sh" or "selftests/keypool.test.sh";
# with none, every selftests/*.test.sh runs, in sorted order. Each runs as
# `timeout 600 bash TEST` from the repository root (a test that needs longer
# says so in a line "# qkdn-timeout: SECS" in its first 40 lines; the
# environment's QKDN_TEST_TIMEOUT overrides both); loading and unloading
# qkdn.ko is the test's own business (qkdn_load in lib.sh).
#
# Output is kselftest-style TAP: one "ok K name" / "not ok K name" per test
# script, its output before that indented with "# ", and as the very last line
# "N passed, N failed", which counts individual checks by these rules:
#
#   - A line of a test's output that starts with "ok" or "not ok" (then a space
#     or the end of the line) is one check: lib.sh's "ok - what", and the
#     "ok 3 name" lines of a C test built on kselftest_harness.h. An "ok" line
#     with a "# SKIP" directive is a skipped check, counted apart.
#   - A test with no such line is one check: passed if it exits 0.
#   - A test that exits non-zero (set -e, a crash, the timeout) without any
#     "not ok" line adds one failed check.
#   - A test that exits 4 (kselftest's KSFT_SKIP) with no "not ok" line is
#     skipped.
#
# Exit status 0 only if nothing failed and at least one test ran.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
test_timeout=${QKDN_TEST_TIMEOUT:-600}
readonly ksft_skip=4

tests=()
if (($# == 0)); then
	for test in selftests/*.test.sh; do
		[[ -e $test ]] && tests+=("$test")
	done
else
	for name in "$@"; do
		for test in "$name" "selftests/$name" "selftests/$name.test.sh"; do
			[[ -f $test ]] && break
		done
		if [[ ! -f $test ]]; then
			echo "run-all.sh: no test named '$name'" >&2
			exit 2
		fi
		tests+=("$test")
	done
fi

# Tests must start from a clean kernel: a previous test that left namespaces
# or the module behind would change what the next one sees. Only inside the
# VM, where nothing else owns them.
tidy_after() {
	local name=$1 leftover
	[[ ${QKDN_IN_VM:-} == 1 ]] || return 0
	leftover=$(for d in qkdn-kmd qkdn-qkdd qkdn-ctld qkdn-mgrd qkdn-secd; do
		pgrep -x "$d" || true
	done | tr '\n' ' ')
	leftover=${leftover% }
	if [[ -n $leftover ]]; then
		echo "# warning: $name left daemons running: $leftover"
		kill -9 $leftover 2>/dev/null || true
	fi
	leftover=$(ip netns list | cut -d' ' -f1 | tr '\n' ' ')
	if [[ -n $leftover ]]; then
		echo "# warning: $name left network namespaces behind: $leftover"
		for netns in $leftover; do
			ip netns pids "$netns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
			ip netns del "$netns" || true
		done
	fi
	if [[ -d /sys/module/qkdn ]]; then
		echo "# warning: $name left qkdn loaded"
		rmmod qkdn || echo "# warning: cannot unload qkdn after $name"
	fi
}

echo "TAP version 13"
echo "1..${#tests[@]}"

passed=0
failed=0
skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

number=0
for test in "${tests[@]}"; do
	number=$((number + 1))
	name=$(basename "$test")
	echo "# $name"

	# A long test may ask for more with a line "# qkdn-timeout: SECS"
	# near its top; QKDN_TEST_TIMEOUT, when set, still wins.
	this_timeout=$test_timeout
	if [[ -z ${QKDN_TEST_TIMEOUT:-} ]]; then
		asked=$(head -n 40 "$test" | sed -n 's/^# qkdn-timeout: \([0-9][0-9]*\)$/\1/p' | head -n1)
		this_timeout=${asked:-$test_timeout}
	fi
	started=$SECONDS
	set +e
	# The test writes to a file, streamed by tail: a daemon the test left
	# running (its stdout is that file) cannot hold a pipe open and hang
	# the suite after the test ended or timed out.
	: > "$log"
	timeout -k 10 "$this_timeout" bash "$test" </dev/null > "$log" 2>&1 &
	test_pid=$!
	tail -n +1 -f --pid="$test_pid" "$log" | sed -u 's/^/# /' &
	tail_pid=$!
	wait "$test_pid"
	status=$?
	wait "$tail_pid"
	set -e
	tidy_after "$name"
	echo "# $name took $((SECONDS - started)) s"

	check_ok=$(grep -Ec '^ok( |$)' "$log" || true)
	check_skip=$(grep -Ec '^ok( |$).*#[[:space:]]*SKIP' "$log" || true)
	check_fail=$(grep -Ec '^not ok( |$)' "$log" || true)
	check_ok=$((check_ok - check_skip))

	verdict=ok
	directive=
	if ((check_fail > 0)); then
		verdict="not ok"
	elif ((status == ksft_skip)); then
		directive=" # SKIP"
		if ((check_ok + check_skip == 0)); then
			check_skip=1
		fi
	elif ((status != 0)); then
		verdict="not ok"
		check_fail=1
	elif ((check_ok + check_skip == 0)); then
		check_ok=1
	fi
	if ((status == 124 || status == 137)); then
		echo "# $name timed out after ${this_timeout}s"
	elif ((status != 0 && status != ksft_skip)); then
		echo "# $name exited with status $status"
	fi

	passed=$((passed + check_ok))
	failed=$((failed + check_fail))
	skipped=$((skipped + check_skip))
	echo "$verdict $number $name$directive"
done

if ((${#tests[@]} == 0)); then
	echo "# no tests found in selftests/*.test.sh"
fi
echo "# $skipped skipped"
echo "$passed passed, $failed failed"
((failed == 0 && ${#tests[@]} > 0))
