#!/usr/bin/env bash
# CoCoOp_DePT. Base-to-new: evaluate the base-trained prompt on the new classes (SUB=base: the base classes).
# Usage: DATA=/path/to/datasets bash scripts/cocoop_dept/base2new_test.sh DATASET SEED [--force]
# Details: scripts/cocoop/base2new_test.sh; CFG: scripts/cocoop/common.sh
TRAINER=CoCoOp_DePT METHOD_SCRIPTS=scripts/cocoop_dept exec bash "$(dirname "$0")/../cocoop/base2new_test.sh" "$@"
