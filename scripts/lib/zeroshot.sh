#!/usr/bin/env bash
# Zero-shot CLIP with the dataset's hand-written template (TRAINER=ZeroshotCLIP2: ensemble).
# Usage: bash scripts/coop/zeroshot.sh DATASET CFG [--force]   (CFG: rn50, rn101, vit_b32, vit_b16)
# SUB=base|new evaluates on the base or new classes of the base-to-new split.
# Runs: $OUTPUT/$TRAINER/CFG/DATASET; SUB=base|new: $OUTPUT/base2new/test_$SUB/DATASET/shots_16/$TRAINER/CFG/zeroshot.
TRAINER=${TRAINER:-ZeroshotCLIP}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
need_args 2 "DATASET CFG"
protocol zeroshot --trainer "$TRAINER" --dataset "${ARGS[0]}" --cfg "${ARGS[1]}" --sub "${SUB:-all}"
