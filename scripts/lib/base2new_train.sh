#!/usr/bin/env bash
# Base-to-new generalisation, step 1: train on the base classes with 16 shots per class.
# Usage: TRAINER=<trainer> bash scripts/lib/base2new_train.sh DATASET SEED [--force]
# CFG overrides the config (default: the method's, toolkit/protocols/methods.py; CoOp:
# vit_b16_ctxv1, ImageNet vit_b16_ep50_ctxv1, as CoOp was run in the CoCoOp paper).
# Runs: $OUTPUT/base2new/train_base/DATASET/shots_16/$TRAINER/$CFG/seed$SEED (toolkit/protocols/runs.py).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
need_args 2 "DATASET SEED"
protocol base2new_train --trainer "$TRAINER" --dataset "${ARGS[0]}" --seed "${ARGS[1]}" ${CFG:+--cfg "$CFG"}
