#!/usr/bin/env bash
# PromptSRC. Cross-dataset / domain generalisation: train on ImageNet (all classes, 16 shots).
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/xd_train.sh [imagenet] SEED [--force]
# (the reference's script takes DATASET SEED; its test step reads only ImageNet runs)
# Runs: $OUTPUT/imagenet/$TRAINER/${CFG}_16shots/seedSEED; CFG as in xd_test.sh
POSITIONAL=0
for arg in "$@"; do [ "$arg" = "--force" ] || POSITIONAL=$((POSITIONAL + 1)); done
if [ "$POSITIONAL" -ge 2 ]; then  # the reference's DATASET SEED: drop DATASET, which must be imagenet
    KEPT=()
    for arg in "$@"; do
        if [ "$POSITIONAL" -ge 2 ] && [ "$arg" != "--force" ]; then
            if [ "$arg" != imagenet ]; then
                echo "error: cross-dataset prompts are trained on imagenet (xd_test.sh reads imagenet runs), got $arg; usage: bash $0 [imagenet] SEED [--force]" >&2
                exit 2
            fi
            POSITIONAL=0
        else
            KEPT+=("$arg")
        fi
    done
    set -- "${KEPT[@]}"
fi
TRAINER=${TRAINER:-PromptSRC} CFG=${CFG:-vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets} METHOD_SCRIPTS=${METHOD_SCRIPTS:-scripts/promptsrc} \
    exec bash "$(dirname "$0")/../lib/xd_train.sh" "$@"
