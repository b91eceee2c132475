#!/usr/bin/env bash
# Cross-dataset transfer / domain generalisation, step 2: evaluate the ImageNet-trained prompt on
# the full test set of another dataset (or an ImageNet variant), last epoch of the config.
# Usage: TRAINER=<trainer> bash scripts/lib/xd_test.sh DATASET SEED [--force]
# Runs: $OUTPUT/evaluation/$TRAINER/${CFG}_16shots/DATASET/seed$SEED (toolkit/protocols/runs.py).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
need_args 2 "DATASET SEED"
protocol xd_test --trainer "$TRAINER" --dataset "${ARGS[0]}" --seed "${ARGS[1]}" ${CFG:+--cfg "$CFG"}
