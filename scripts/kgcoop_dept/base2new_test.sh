#!/usr/bin/env bash
# KgCoOp_DePT. Base-to-new: evaluate each seed's trained prompt on the new classes (SUB=base: base classes).
# Usage: DATA=/path/to/datasets bash scripts/kgcoop_dept/base2new_test.sh DATASET [WEIGHT] [--force]
# Details: scripts/kgcoop/base2new_test.sh; WEIGHT, CFG, SEEDS: scripts/kgcoop/common.sh
TRAINER=KgCoOp_DePT METHOD_SCRIPTS=scripts/kgcoop_dept exec bash "$(dirname "$0")/../kgcoop/base2new_test.sh" "$@"
