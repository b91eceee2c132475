#!/usr/bin/env bash
# CoOp_DePT (CoOp plus DePT's channel-adjusted head). Base-to-new: train on the base classes (16 shots).
# Usage: DATA=/path/to/datasets bash scripts/coop_dept/base2new_train.sh DATASET SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/base2new_train.sh
TRAINER=CoOp_DePT METHOD_SCRIPTS=scripts/coop_dept exec bash "$(dirname "$0")/../lib/base2new_train.sh" "$@"
