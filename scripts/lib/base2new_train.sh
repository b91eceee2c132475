#!/usr/bin/env bash
# Base-to-new generalisation, step 1: train on the base classes with 16 shots per class.
# Usage: TRAINER=<trainer> bash scripts/lib/base2new_train.sh DATASET SEED [--force]
# CFG overrides the config (default vit_b16_ctxv1; ImageNet: vit_b16_ep50_ctxv1, as CoOp was run
# in the CoCoOp paper).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
need_args 2 "DATASET SEED"
DATASET=${ARGS[0]}
SEED=${ARGS[1]}
if [ "$DATASET" = imagenet ]; then CFG=${CFG:-vit_b16_ep50_ctxv1}; else CFG=${CFG:-vit_b16_ctxv1}; fi
SHOTS=16
need_file "configs/datasets/${DATASET}.yaml" "dataset config"
need_file "configs/trainers/${TRAINER}/${CFG}.yaml" "trainer config"

run_job "${OUTPUT_ROOT}/base2new/train_base/${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}" \
    --seed "$SEED" \
    --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    DATASET.NUM_SHOTS "$SHOTS" \
    DATASET.SUBSAMPLE_CLASSES base
