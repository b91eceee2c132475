#!/usr/bin/env bash
# Base-to-new generalisation, step 2: evaluate the base-trained prompt on the new classes
# (a classifier over the new classes only), loading the last epoch of the config.
# Usage: TRAINER=<trainer> bash scripts/lib/base2new_test.sh DATASET SEED [--force]
# CFG as in base2new_train.sh; SUB=base evaluates on the base classes instead.
# Runs: $OUTPUT/base2new/test_$SUB/DATASET/shots_16/$TRAINER/$CFG/seed$SEED (toolkit/protocols/runs.py).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
need_args 2 "DATASET SEED"
protocol base2new_test --trainer "$TRAINER" --dataset "${ARGS[0]}" --seed "${ARGS[1]}" ${CFG:+--cfg "$CFG"} --sub "${SUB:-new}"
