#!/usr/bin/env bash
# Base-to-new generalisation, step 2: evaluate the base-trained prompt on the new classes
# (a classifier over the new classes only), loading the last epoch of the config.
# Usage: TRAINER=<trainer> bash scripts/lib/base2new_test.sh DATASET SEED [--force]
# CFG as in base2new_train.sh; SUB=base evaluates on the base classes instead.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
need_args 2 "DATASET SEED"
DATASET=${ARGS[0]}
SEED=${ARGS[1]}
if [ "$DATASET" = imagenet ]; then CFG=${CFG:-vit_b16_ep50_ctxv1}; else CFG=${CFG:-vit_b16_ctxv1}; fi
SHOTS=16
SUB=${SUB:-new}
need_file "configs/datasets/${DATASET}.yaml" "dataset config"
need_file "configs/trainers/${TRAINER}/${CFG}.yaml" "trainer config"

COMMON_DIR=${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}
MODEL_DIR=${OUTPUT_ROOT}/base2new/train_base/${COMMON_DIR}
if [ ! -f "$MODEL_DIR/finished.json" ]; then
    echo "error: no finished training run at $MODEL_DIR; first run: bash ${METHOD_SCRIPTS:-scripts/<method>}/base2new_train.sh $DATASET $SEED" >&2
    exit 2
fi

run_job "${OUTPUT_ROOT}/base2new/test_${SUB}/${COMMON_DIR}" \
    --seed "$SEED" \
    --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    --model-dir "$MODEL_DIR" \
    --load-epoch "$(max_epoch "configs/trainers/${TRAINER}/${CFG}.yaml")" \
    --eval-only \
    DATASET.NUM_SHOTS "$SHOTS" \
    DATASET.SUBSAMPLE_CLASSES "$SUB"
