#!/usr/bin/env bash
# KgCoOp. Base-to-new: train on the base classes (16 shots) for each seed, as htyao89/KgCoOp's
# script does (seeds looped inside, the penalty weight in the output path).
# Usage: DATA=/path/to/datasets bash scripts/kgcoop/base2new_train.sh DATASET [WEIGHT] [--force]
# WEIGHT: TRAINER.KGCOOP.W, default 8.0 (the reference's run.sh; its config default is 1.0).
# Runs: $OUTPUT/base2new/train_base/DATASET/shots_16_WEIGHT/$TRAINER/$CFG/seed<S>.
# CFG (default vit_b16_ep100_ctxv1), SEEDS (default "1 2 3"); DATA, OUTPUT, OPTS, FORCE, PY: scripts/lib/common.sh
TRAINER=${TRAINER:-KgCoOp}
source "$(dirname "$0")/../lib/common.sh" "$@"
need_args 1 "DATASET [WEIGHT]"
DATASET=${ARGS[0]}
WEIGHT=${ARGS[1]:-8.0}
CFG=${CFG:-vit_b16_ep100_ctxv1}
SHOTS=16
need_file "configs/datasets/${DATASET}.yaml" "dataset config"
need_file "configs/trainers/${TRAINER}/${CFG}.yaml" "trainer config"

for SEED in ${SEEDS:-1 2 3}; do
    run_job "${OUTPUT_ROOT}/base2new/train_base/${DATASET}/shots_${SHOTS}_${WEIGHT}/${TRAINER}/${CFG}/seed${SEED}" \
        --seed "$SEED" \
        --trainer "$TRAINER" \
        --dataset-config-file "configs/datasets/${DATASET}.yaml" \
        --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
        TRAINER.KGCOOP.N_CTX 4 \
        TRAINER.KGCOOP.CSC False \
        TRAINER.KGCOOP.W "$WEIGHT" \
        TRAINER.KGCOOP.CLASS_TOKEN_POSITION end \
        DATASET.NUM_SHOTS "$SHOTS" \
        DATASET.SUBSAMPLE_CLASSES base
done
