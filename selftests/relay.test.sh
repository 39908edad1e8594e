#!/bin/bash
# Key relay in the module across five nodes, frames carried by the test
# itself so it can also drop, forge, truncate, replay and reorder them
# (relay_test.c):
#
#   node 1 --- node 2 --- node 3 --- node 4 --- node 5
#   sa         trusted    trusted    trusted    se
set -e
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

qkdn_load
status=0
build/selftests/relay_test || status=$?
expect_eq "relay_test exit status" 0 "$status"
wait_until 30 grep -qx 0 /sys/module/qkdn/parameters/objects || true
expect_eq "module objects after the namespaces are gone" 0 \
	"$(cat /sys/module/qkdn/parameters/objects)"
