#!/usr/bin/env bash
# PromptSRC. Few-shot learning on all classes of DATASET with SHOTS images per class, seeds 1 2 3.
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/few_shot.sh DATASET SHOTS [--force]
# Runs: $OUTPUT/DATASET/$TRAINER/${CFG}_SHOTSshots/seed<S> (the reference's layout).
# CFG default vit_b16_c2_ep50_batch4_4+4ctx_few_shot. GPA as the reference's config says per
# dataset: GPA_MEAN 45 and GPA_STD 5 on stanford_cars, oxford_flowers, fgvc_aircraft, dtd and
# eurosat, the config's 30 and 30 elsewhere (the reference's script leaves that edit to you);
# both are PromptSRC's row in toolkit/protocols/methods.py.
# SEEDS overrides the seeds; DATA, OUTPUT, OPTS, FORCE, PY: scripts/lib/common.sh
TRAINER=${TRAINER:-PromptSRC}
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh" "$@"
need_args 2 "DATASET SHOTS"
read -r -a SEED_LIST <<< "${SEEDS:-1 2 3}"
protocol fewshot --trainer "$TRAINER" --dataset "${ARGS[0]}" --shots "${ARGS[1]}" --seeds "${SEED_LIST[@]}" ${CFG:+--cfg "$CFG"}
