#!/usr/bin/env bash
# KgCoOp. Base-to-new: train on the base classes (16 shots) for each seed, as htyao89/KgCoOp's
# script does (seeds looped inside, the penalty weight in the output path).
# Usage: DATA=/path/to/datasets bash scripts/kgcoop/base2new_train.sh DATASET [WEIGHT] [--force]
# Runs: $OUTPUT/base2new/train_base/DATASET/shots_16_WEIGHT/$TRAINER/$CFG/seed<S>.
# WEIGHT (default 8.0), CFG, SEEDS: scripts/kgcoop/common.sh; DATA, OUTPUT, OPTS, FORCE, PY: scripts/lib/common.sh
source "$(dirname "$0")/common.sh" "$@"

for SEED in ${SEEDS:-1 2 3}; do
    run_job "${OUTPUT_ROOT}/base2new/train_base/${DATASET}/shots_${SHOTS}_${WEIGHT}/${TRAINER}/${CFG}/seed${SEED}" \
        --seed "$SEED" \
        --trainer "$TRAINER" \
        --dataset-config-file "configs/datasets/${DATASET}.yaml" \
        --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
        "${PROMPT_OPTS[@]}" \
        TRAINER.KGCOOP.W "$WEIGHT" \
        DATASET.NUM_SHOTS "$SHOTS" \
        DATASET.SUBSAMPLE_CLASSES base
done
