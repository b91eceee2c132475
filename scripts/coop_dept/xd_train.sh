#!/usr/bin/env bash
# CoOp_DePT (CoOp plus DePT's channel-adjusted head). Cross-dataset: train on ImageNet (all classes, 16 shots).
# Usage: DATA=/path/to/datasets bash scripts/coop_dept/xd_train.sh SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/xd_train.sh
TRAINER=CoOp_DePT METHOD_SCRIPTS=scripts/coop_dept exec bash "$(dirname "$0")/../lib/xd_train.sh" "$@"
