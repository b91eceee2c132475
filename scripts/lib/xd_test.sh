#!/usr/bin/env bash
# Cross-dataset transfer / domain generalisation, step 2: evaluate the ImageNet-trained prompt on
# the full test set of another dataset (or an ImageNet variant), last epoch of the config.
# Usage: TRAINER=<trainer> bash scripts/lib/xd_test.sh DATASET SEED [--force]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
need_args 2 "DATASET SEED"
DATASET=${ARGS[0]}
SEED=${ARGS[1]}
CFG=${CFG:-vit_b16_ep50_ctxv1}
SHOTS=16
need_file "configs/datasets/${DATASET}.yaml" "dataset config"
need_file "configs/trainers/${TRAINER}/${CFG}.yaml" "trainer config"

MODEL_DIR=${OUTPUT_ROOT}/imagenet/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}
if [ ! -f "$MODEL_DIR/finished.json" ]; then
    echo "error: no finished ImageNet run at $MODEL_DIR; first run: bash ${METHOD_SCRIPTS:-scripts/<method>}/xd_train.sh $SEED" >&2
    exit 2
fi

run_job "${OUTPUT_ROOT}/evaluation/${TRAINER}/${CFG}_${SHOTS}shots/${DATASET}/seed${SEED}" \
    --seed "$SEED" \
    --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    --model-dir "$MODEL_DIR" \
    --load-epoch "$(max_epoch "configs/trainers/${TRAINER}/${CFG}.yaml")" \
    --eval-only
