#!/usr/bin/env bash
# KgCoOp. Base-to-new: train on the base classes (16 shots) for each seed, as htyao89/KgCoOp's
# script does (seeds looped inside, the penalty weight in the output path).
# Usage: DATA=/path/to/datasets bash scripts/kgcoop/base2new_train.sh DATASET [WEIGHT] [--force]
# Runs: $OUTPUT/base2new/train_base/DATASET/shots_16_WEIGHT/$TRAINER/$CFG/seed<S>.
source "$(dirname "$0")/common.sh" "$@"
protocol base2new_train --trainer "$TRAINER" --dataset "$DATASET" --seeds "${SEED_LIST[@]}" ${WEIGHT:+--param WEIGHT="$WEIGHT"} ${CFG:+--cfg "$CFG"}
