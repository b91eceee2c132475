#!/usr/bin/env bash
# CoCoOp_DePT. Base-to-new: train on the base classes (16 shots).
# Usage: DATA=/path/to/datasets bash scripts/cocoop_dept/base2new_train.sh DATASET SEED [--force]
# Details: scripts/cocoop/base2new_train.sh; CFG: scripts/cocoop/common.sh
TRAINER=CoCoOp_DePT METHOD_SCRIPTS=scripts/cocoop_dept exec bash "$(dirname "$0")/../cocoop/base2new_train.sh" "$@"
