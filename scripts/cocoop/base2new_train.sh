#!/usr/bin/env bash
# CoCoOp. Base-to-new: train on the base classes (16 shots).
# Usage: DATA=/path/to/datasets bash scripts/cocoop/base2new_train.sh DATASET SEED [--force]
# CFG, TRAINER: scripts/cocoop/common.sh; the protocol and the other variables: scripts/lib/base2new_train.sh
source "$(dirname "$0")/common.sh"
exec bash "$(dirname "$0")/../lib/base2new_train.sh" "$@"
