#!/usr/bin/env bash
# CoCoOp_DePT. Cross-dataset / domain generalisation: train on ImageNet (all classes, 16 shots).
# Usage: DATA=/path/to/datasets bash scripts/cocoop_dept/xd_train.sh SEED [--force]
# Details: scripts/cocoop/xd_train.sh; CFG: scripts/cocoop/common.sh
TRAINER=CoCoOp_DePT METHOD_SCRIPTS=scripts/cocoop_dept exec bash "$(dirname "$0")/../cocoop/xd_train.sh" "$@"
