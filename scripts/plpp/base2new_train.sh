#!/usr/bin/env bash
# PLPP. Base-to-new: train on the base classes (16 shots).
# Usage: DATA=/path/to/datasets bash scripts/plpp/base2new_train.sh DATASET SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/base2new_train.sh
TRAINER=PLPP METHOD_SCRIPTS=scripts/plpp exec bash "$(dirname "$0")/../lib/base2new_train.sh" "$@"
