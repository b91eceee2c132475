#!/usr/bin/env bash
# Cross-dataset transfer and domain generalisation, step 1: train on ImageNet, all 1000 classes,
# 16 shots. Usage: TRAINER=<trainer> bash scripts/lib/xd_train.sh SEED [--force]
# CFG overrides the config (default: the method's; CoOp: vit_b16_ep50_ctxv1).
# Runs: $OUTPUT/imagenet/$TRAINER/${CFG}_16shots/seed$SEED (toolkit/protocols/runs.py).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
need_args 1 "SEED"
protocol xd_train --trainer "$TRAINER" --seed "${ARGS[0]}" ${CFG:+--cfg "$CFG"}
