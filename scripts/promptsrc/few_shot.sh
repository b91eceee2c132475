#!/usr/bin/env bash
# PromptSRC. Few-shot learning on all classes of DATASET with SHOTS images per class, seeds 1 2 3.
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/few_shot.sh DATASET SHOTS [--force]
# Runs: $OUTPUT/DATASET/$TRAINER/${CFG}_SHOTSshots/seed<S> (the reference's layout).
# CFG default vit_b16_c2_ep50_batch4_4+4ctx_few_shot. GPA as the reference's config says per
# dataset: GPA_MEAN 45 and GPA_STD 5 on stanford_cars, oxford_flowers, fgvc_aircraft, dtd and
# eurosat, the config's 30 and 30 elsewhere (the reference's script leaves that edit to you).
# SEEDS overrides the seeds; DATA, OUTPUT, OPTS, FORCE, PY: scripts/lib/common.sh
TRAINER=${TRAINER:-PromptSRC}
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh" "$@"
need_args 2 "DATASET SHOTS"
DATASET=${ARGS[0]}
SHOTS=${ARGS[1]}
CFG=${CFG:-vit_b16_c2_ep50_batch4_4+4ctx_few_shot}
need_file "configs/datasets/${DATASET}.yaml" "dataset config"
need_file "configs/trainers/${TRAINER}/${CFG}.yaml" "trainer config"
case "$DATASET" in
    stanford_cars|oxford_flowers|fgvc_aircraft|dtd|eurosat) GPA_OPTS=(TRAINER.PROMPTSRC.GPA_MEAN 45 TRAINER.PROMPTSRC.GPA_STD 5) ;;
    *) GPA_OPTS=() ;;
esac

for SEED in ${SEEDS:-1 2 3}; do
    run_job "${OUTPUT_ROOT}/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}" \
        --seed "$SEED" \
        --trainer "$TRAINER" \
        --dataset-config-file "configs/datasets/${DATASET}.yaml" \
        --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
        "${GPA_OPTS[@]+"${GPA_OPTS[@]}"}" \
        DATASET.NUM_SHOTS "$SHOTS"
done
