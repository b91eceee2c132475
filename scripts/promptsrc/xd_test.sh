#!/usr/bin/env bash
# PromptSRC. Cross-dataset / domain generalisation: evaluate the ImageNet-trained prompts on
# DATASET's full test set, loading the config's last epoch.
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/xd_test.sh DATASET SEED [--force]
# Runs: $OUTPUT/evaluation/$TRAINER/${CFG}_16shots/DATASET/seedSEED, from $OUTPUT/imagenet/$TRAINER/${CFG}_16shots/seedSEED.
# CFG default vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets: the config the reference ships (its
# xd scripts name a vit_b16_c2_ep5_batch4_4+4ctx_cross_datasets it does not have).
TRAINER=${TRAINER:-PromptSRC} CFG=${CFG:-vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets} METHOD_SCRIPTS=${METHOD_SCRIPTS:-scripts/promptsrc} \
    exec bash "$(dirname "$0")/../lib/xd_test.sh" "$@"
