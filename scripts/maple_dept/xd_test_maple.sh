#!/usr/bin/env bash
# MaPLe_DePT: MaPLe plus DePT's channel-adjusted head; arguments, configs and layout as scripts/maple/xd_test_maple.sh.
TRAINER=MaPLe_DePT exec bash "$(dirname "$0")/../maple/xd_test_maple.sh" "$@"
