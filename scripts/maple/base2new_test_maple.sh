#!/usr/bin/env bash
# MaPLe. Base-to-new, step 2: evaluate the base-trained prompts on the new classes (SUB=base: the base classes), last epoch of the config.
# Usage: DATA=/path/to/datasets bash scripts/maple/base2new_test_maple.sh DATASET SEED [--force]
# Runs: $OUTPUT/base2new/test_$SUB/DATASET/shots_16/$TRAINER/$CFG/seed<SEED> (the reference's layout).
# CFG (default: toolkit/protocols/methods.py), DATA, OUTPUT, OPTS, FORCE, PY: scripts/lib/common.sh
TRAINER=${TRAINER:-MaPLe} exec bash "$(dirname "$0")/../lib/base2new_test.sh" "$@"
