#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Runs unit test binaries under ASan/UBSan, passing their TAP through.
# Usage: run.sh DIR TEST...
#
# LeakSanitizer cannot run under ptrace (strace, gdb, some sandboxes and
# CI runners): probe it once, and only if it fails for that reason run
# with detect_leaks=0, saying so.
set -u
dir=$1
shift

UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export UBSAN_OPTIONS
leaks=1
if [ $# -gt 0 ]; then
	probe_err=$(ASAN_OPTIONS=detect_leaks=1 "$dir/$1" 2>&1 >/dev/null)
	if printf '%s' "$probe_err" | grep -q 'LeakSanitizer does not work under ptrace\|LeakSanitizer has encountered a fatal error'; then
		leaks=0
		echo "# LeakSanitizer does not work here (ptrace or sandbox): running with detect_leaks=0"
	fi
fi
ASAN_OPTIONS=detect_leaks=$leaks
export ASAN_OPTIONS

failed=0
passed=0
for t in "$@"; do
	echo "# $t"
	"$dir/$t"
	status=$?
	if [ $status -eq 0 ]; then
		passed=$((passed + 1))
	else
		echo "# $t: FAILED (exit status $status)"
		failed=$((failed + 1))
	fi
done
echo "# unit tests: $passed passed, $failed failed"
[ $failed -eq 0 ]
