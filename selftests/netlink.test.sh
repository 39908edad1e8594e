#!/bin/bash
# The netlink contract of qkdn.ko, command by command (netlink_test.c).
#
#   [ node 1 "alpha" ] ~~~ link 1 (QKD) ~~~ [ node 2 "beta" ]
#     alice, A-tx                             bob, B-rx
#     sa (uid 0)                              sb (uid 0)
#
# Each C test builds both nodes in namespaces of its own, sends good and bad
# requests, and checks exact errnos and that refused requests lose nothing.
set -e
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

qkdn_load
status=0
build/selftests/netlink_test || status=$?
expect_eq "netlink_test exit status" 0 "$status"
# The tests' namespaces go away asynchronously; then every pool, link,
# application and key they made must be gone.
wait_until 30 grep -qx 0 /sys/module/qkdn/parameters/objects || true
expect_eq "module objects after the namespaces are gone" 0 \
	"$(cat /sys/module/qkdn/parameters/objects)"
