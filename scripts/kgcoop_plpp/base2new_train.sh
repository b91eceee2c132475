#!/usr/bin/env bash
# KgCoOp_PLPP. Base-to-new: train on the base classes (16 shots) for each seed.
# Usage: DATA=/path/to/datasets bash scripts/kgcoop_plpp/base2new_train.sh DATASET [WEIGHT] [--force]
# Details: scripts/kgcoop/base2new_train.sh; WEIGHT, CFG, SEEDS: scripts/kgcoop/common.sh
TRAINER=KgCoOp_PLPP METHOD_SCRIPTS=scripts/kgcoop_plpp exec bash "$(dirname "$0")/../kgcoop/base2new_train.sh" "$@"
