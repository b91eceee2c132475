#!/usr/bin/env bash
# MaPLe. Base-to-new, step 1: train on the base classes (16 shots), as the reference's script of this name.
# Usage: DATA=/path/to/datasets bash scripts/maple/base2new_train_maple.sh DATASET SEED [--force]
# Runs: $OUTPUT/base2new/train_base/DATASET/shots_16/$TRAINER/$CFG/seed<SEED> (the reference's layout).
# CFG (default: toolkit/protocols/methods.py), DATA, OUTPUT, OPTS, FORCE, PY: scripts/lib/common.sh
TRAINER=${TRAINER:-MaPLe} exec bash "$(dirname "$0")/../lib/base2new_train.sh" "$@"
