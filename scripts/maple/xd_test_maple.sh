#!/usr/bin/env bash
# MaPLe. Cross-dataset / domain generalisation, step 2: evaluate the ImageNet-trained prompts on DATASET's full test set, last epoch of the config.
# Usage: DATA=/path/to/datasets bash scripts/maple/xd_test_maple.sh DATASET SEED [--force]
# Runs: $OUTPUT/evaluation/$TRAINER/${CFG}_16shots/DATASET/seed<SEED> (the reference's layout).
# CFG (default: toolkit/protocols/methods.py), DATA, OUTPUT, OPTS, FORCE, PY: scripts/lib/common.sh
TRAINER=${TRAINER:-MaPLe} exec bash "$(dirname "$0")/../lib/xd_test.sh" "$@"
