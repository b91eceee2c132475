#!/usr/bin/env bash
# CoOp. Base-to-new: train on the base classes (16 shots).
# Usage: DATA=/path/to/datasets bash scripts/coop/base2new_train.sh DATASET SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/base2new_train.sh
TRAINER=CoOp METHOD_SCRIPTS=scripts/coop exec bash "$(dirname "$0")/../lib/base2new_train.sh" "$@"
