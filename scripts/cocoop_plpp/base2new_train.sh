#!/usr/bin/env bash
# CoCoOp_PLPP. Base-to-new: train on the base classes (16 shots).
# Usage: DATA=/path/to/datasets bash scripts/cocoop_plpp/base2new_train.sh DATASET SEED [--force]
# Details: scripts/cocoop/base2new_train.sh; CFG: scripts/cocoop/common.sh
TRAINER=CoCoOp_PLPP METHOD_SCRIPTS=scripts/cocoop_plpp exec bash "$(dirname "$0")/../cocoop/base2new_train.sh" "$@"
