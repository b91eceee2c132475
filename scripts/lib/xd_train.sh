#!/usr/bin/env bash
# Cross-dataset transfer and domain generalisation, step 1: train on ImageNet, all 1000 classes,
# 16 shots. Usage: TRAINER=<trainer> bash scripts/lib/xd_train.sh SEED [--force]
# CFG overrides the config (default vit_b16_ep50_ctxv1).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
need_args 1 "SEED"
SEED=${ARGS[0]}
CFG=${CFG:-vit_b16_ep50_ctxv1}
SHOTS=16
need_file "configs/trainers/${TRAINER}/${CFG}.yaml" "trainer config"

run_job "${OUTPUT_ROOT}/imagenet/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}" \
    --seed "$SEED" \
    --trainer "$TRAINER" \
    --dataset-config-file configs/datasets/imagenet.yaml \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    DATASET.NUM_SHOTS "$SHOTS"
