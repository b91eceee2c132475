#!/usr/bin/env bash
# CoCoOp_DePT. Cross-dataset / domain generalisation: evaluate the ImageNet prompt on DATASET.
# Usage: DATA=/path/to/datasets bash scripts/cocoop_dept/xd_test.sh DATASET SEED [--force]
# Details: scripts/cocoop/xd_test.sh; CFG: scripts/cocoop/common.sh
TRAINER=CoCoOp_DePT METHOD_SCRIPTS=scripts/cocoop_dept exec bash "$(dirname "$0")/../cocoop/xd_test.sh" "$@"
