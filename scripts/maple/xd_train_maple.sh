#!/usr/bin/env bash
# MaPLe. Cross-dataset / domain generalisation, step 1: train on ImageNet (all classes, 16 shots).
# Usage: DATA=/path/to/datasets bash scripts/maple/xd_train_maple.sh [imagenet] SEED [--force]
# The reference's form names the dataset first (imagenet); SEED alone is the same. Runs: $OUTPUT/imagenet/$TRAINER/${CFG}_16shots/seed<SEED>.
# CFG (default: toolkit/protocols/methods.py), DATA, OUTPUT, OPTS, FORCE, PY: scripts/lib/common.sh
if [ "${1:-}" = imagenet ]; then
    shift
elif [ -n "${2:-}" ] && [ "${2:-}" != --force ]; then
    echo "error: cross-dataset training uses ImageNet: bash $0 imagenet SEED (got dataset $1)" >&2
    exit 2
fi
TRAINER=${TRAINER:-MaPLe} exec bash "$(dirname "$0")/../lib/xd_train.sh" "$@"
