#!/usr/bin/env bash
# Linear-probe CLIP (CoOp's lpclip). Few-shot learning on all classes of DATASET with SHOTS images
# per class, seeds 1 2 3: logistic regression on frozen image features, C searched on the val set.
# Usage: DATA=/path/to/datasets bash scripts/linear_probe/few_shot.sh DATASET SHOTS [--force]
# Runs: $OUTPUT/DATASET/LinearProbeCLIP/${CFG}_SHOTSshots/seed<S>. CFG default vit_b16 (rn50 too).
# SEEDS overrides the seeds; DATA, OUTPUT, OPTS, FORCE, PY: scripts/lib/common.sh
TRAINER=${TRAINER:-LinearProbeCLIP}
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh" "$@"
need_args 2 "DATASET SHOTS"
read -r -a SEED_LIST <<< "${SEEDS:-1 2 3}"
protocol fewshot --trainer "$TRAINER" --dataset "${ARGS[0]}" --shots "${ARGS[1]}" --seeds "${SEED_LIST[@]}" ${CFG:+--cfg "$CFG"}
