#!/usr/bin/env bash
# Few-shot learning on all classes of one dataset, seeds 1 2 3 (CoOp's main.sh arguments).
# Usage: TRAINER=<trainer> bash scripts/lib/few_shot.sh DATASET CFG CTP NCTX SHOTS CSC [--force]
#   e.g. DATASET=caltech101 CFG=vit_b16 CTP=end NCTX=16 SHOTS=16 CSC=False
# CoOp's epochs by shots: 1 shot -> *_ep50, 2/4 shots -> *_ep100, 8/16 shots -> the 200-epoch
# config; ImageNet uses *_ep50 for every K. SEEDS overrides the seeds ("1 2 3").
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
need_args 6 "DATASET CFG CTP NCTX SHOTS CSC"
DATASET=${ARGS[0]}
CFG=${ARGS[1]}
CTP=${ARGS[2]}
NCTX=${ARGS[3]}
SHOTS=${ARGS[4]}
CSC=${ARGS[5]}
need_file "configs/datasets/${DATASET}.yaml" "dataset config"
need_file "configs/trainers/${TRAINER}/${CFG}.yaml" "trainer config"

for SEED in ${SEEDS:-1 2 3}; do
    run_job "${OUTPUT_ROOT}/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots/nctx${NCTX}_csc${CSC}_ctp${CTP}/seed${SEED}" \
        --seed "$SEED" \
        --trainer "$TRAINER" \
        --dataset-config-file "configs/datasets/${DATASET}.yaml" \
        --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
        TRAINER.COOP.N_CTX "$NCTX" \
        TRAINER.COOP.CSC "$CSC" \
        TRAINER.COOP.CLASS_TOKEN_POSITION "$CTP" \
        DATASET.NUM_SHOTS "$SHOTS"
done
