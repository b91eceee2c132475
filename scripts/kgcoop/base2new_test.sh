#!/usr/bin/env bash
# KgCoOp. Base-to-new: evaluate each seed's base-trained prompt on the new classes (a classifier
# over the new classes only), loading the config's last epoch (the reference hard-codes 100).
# Usage: DATA=/path/to/datasets bash scripts/kgcoop/base2new_test.sh DATASET [WEIGHT] [--force]
# Runs: $OUTPUT/base2new/test_$SUB/DATASET/shots_16_WEIGHT/$TRAINER/$CFG/seed<S>; SUB=base: the base classes.
# WEIGHT picks the training runs (default the method row's: KgCoOp 8.0, KgCoOp_DePT 2.0).
source "$(dirname "$0")/common.sh" "$@"
protocol base2new_test --trainer "$TRAINER" --dataset "$DATASET" --seeds "${SEED_LIST[@]}" ${WEIGHT:+--param WEIGHT="$WEIGHT"} \
    --sub "${SUB:-new}" ${CFG:+--cfg "$CFG"}
