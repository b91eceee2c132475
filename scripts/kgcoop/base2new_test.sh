#!/usr/bin/env bash
# KgCoOp. Base-to-new: evaluate each seed's base-trained prompt on the new classes (a classifier
# over the new classes only), loading the config's last epoch (the reference hard-codes 100).
# Usage: DATA=/path/to/datasets bash scripts/kgcoop/base2new_test.sh DATASET [WEIGHT] [--force]
# Runs: $OUTPUT/base2new/test_$SUB/DATASET/shots_16_WEIGHT/$TRAINER/$CFG/seed<S>; SUB=base: the base classes.
# WEIGHT (picks the training runs, default 8.0), CFG, SEEDS: scripts/kgcoop/common.sh
source "$(dirname "$0")/common.sh" "$@"
SUB=${SUB:-new}

for SEED in ${SEEDS:-1 2 3}; do
    COMMON_DIR=${DATASET}/shots_${SHOTS}_${WEIGHT}/${TRAINER}/${CFG}/seed${SEED}
    MODEL_DIR=${OUTPUT_ROOT}/base2new/train_base/${COMMON_DIR}
    if [ ! -f "$MODEL_DIR/finished.json" ]; then
        echo "error: no finished training run at $MODEL_DIR; first run: bash ${METHOD_SCRIPTS:-scripts/kgcoop}/base2new_train.sh $DATASET $WEIGHT" >&2
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
        "${PROMPT_OPTS[@]}" \
        DATASET.NUM_SHOTS "$SHOTS" \
        DATASET.SUBSAMPLE_CLASSES "$SUB"
done
