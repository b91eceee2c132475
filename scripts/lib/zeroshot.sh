#!/usr/bin/env bash
# Zero-shot CLIP with the dataset's hand-written template (TRAINER=ZeroshotCLIP2: ensemble).
# Usage: bash scripts/coop/zeroshot.sh DATASET CFG [--force]   (CFG: rn50, rn101, vit_b32, vit_b16)
# SUB=base|new evaluates on the base or new classes of the base-to-new split.
TRAINER=${TRAINER:-ZeroshotCLIP}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
need_args 2 "DATASET CFG"
DATASET=${ARGS[0]}
CFG=${ARGS[1]}
SUB=${SUB:-all}
need_file "configs/datasets/${DATASET}.yaml" "dataset config"
need_file "configs/trainers/CoOp/${CFG}.yaml" "config"

DIR=${OUTPUT_ROOT}/${TRAINER}/${CFG}/${DATASET}
if [ "$SUB" != all ]; then DIR=${OUTPUT_ROOT}/base2new/test_${SUB}/${DATASET}/shots_16/${TRAINER}/${CFG}/zeroshot; fi
run_job "$DIR" \
    --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/CoOp/${CFG}.yaml" \
    --eval-only \
    DATASET.SUBSAMPLE_CLASSES "$SUB"
