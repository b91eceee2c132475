#!/usr/bin/env bash
# KgCoOp_DePT. Base-to-new: train on the base classes (16 shots) for each seed.
# Usage: DATA=/path/to/datasets bash scripts/kgcoop_dept/base2new_train.sh DATASET [WEIGHT] [--force]
# Details: scripts/kgcoop/base2new_train.sh; WEIGHT, CFG, SEEDS: scripts/kgcoop/common.sh
TRAINER=KgCoOp_DePT METHOD_SCRIPTS=scripts/kgcoop_dept exec bash "$(dirname "$0")/../kgcoop/base2new_train.sh" "$@"
