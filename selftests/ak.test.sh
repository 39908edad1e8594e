#!/bin/bash
# Ak key supply sessions (seed 000 clause 7.2.1): the netlink contract
# (ak_test.c), the qkdn CLI and an application built on libqkdn.
#
#   netns alpha (node 1)                       netns beta (node 2)
#   +------------------------+                 +------------------------+
#   | link 1: alice, A-tx    |~~~ QKD link ~~~ | link 1: bob, B-rx      |
#   | sa: local, uid 0       |                 | sb: local, uid 0       |
#   | sb: at node 2          |                 | sa: at node 1          |
#   | app: qkdn-ak-example   |                 | app: qkdn-ak-example   |
#   +------------------------+                 +------------------------+
set -e
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

qkdn_load
status=0
build/selftests/ak_test || status=$?
expect_eq "ak_test exit status" 0 "$status"
# The tests' namespaces go away asynchronously; then every session, pool,
# link and application they made must be gone.
wait_until 30 grep -qx 0 /sys/module/qkdn/parameters/objects || true
expect_eq "module objects after the namespaces are gone" 0 \
	"$(cat /sys/module/qkdn/parameters/objects)"
