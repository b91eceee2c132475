#!/usr/bin/env bash
# Few-shot learning on all classes of one dataset, seeds 1 2 3 (CoOp's main.sh arguments).
# Usage: TRAINER=<trainer> bash scripts/lib/few_shot.sh DATASET CFG CTP NCTX SHOTS CSC [--force]
#   e.g. DATASET=caltech101 CFG=vit_b16 CTP=end NCTX=16 SHOTS=16 CSC=False
# CoOp's epochs by shots: 1 shot -> *_ep50, 2/4 shots -> *_ep100, 8/16 shots -> the 200-epoch
# config; ImageNet uses *_ep50 for every K. SEEDS overrides the seeds ("1 2 3").
# Runs: $OUTPUT/DATASET/$TRAINER/CFG_SHOTSshots/nctxNCTX_cscCSC_ctpCTP/seed<S> (toolkit/protocols/runs.py).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
need_args 6 "DATASET CFG CTP NCTX SHOTS CSC"
read -r -a SEED_LIST <<< "${SEEDS:-1 2 3}"
protocol fewshot --trainer "$TRAINER" --dataset "${ARGS[0]}" --cfg "${ARGS[1]}" --prompt "${ARGS[2]}" "${ARGS[3]}" "${ARGS[5]}" \
    --shots "${ARGS[4]}" --seeds "${SEED_LIST[@]}"
