#!/bin/bash
# Key relay over a diamond with qkdn-kmd, routes switched between the two
# paths; the topology and the checks are in kmd_relay.test.sh:
#
#                  netns dB (2)
#             12 /             \ 24
#   netns dA (1)                 netns dD (4)
#             13 \             / 34
#                  netns dC (3)
#
# (A script of its own so that each stays within run-all.sh's time limit
# under TCG.)
set -e
exec bash "$(dirname "$0")/kmd_relay.test.sh" diamond
