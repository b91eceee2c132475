#!/usr/bin/env bash
# PromptSRC. Base-to-new: evaluate the base-trained prompts on the new classes (SUB=base: the base
# classes), loading the config's last epoch (the reference hard-codes 20, the same).
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/base2new_test.sh DATASET SEED [--force]
# Runs: $OUTPUT/base2new/test_new/DATASET/shots_16/$TRAINER/$CFG/seedSEED; CFG as in base2new_train.sh
TRAINER=${TRAINER:-PromptSRC} CFG=${CFG:-vit_b16_c2_ep20_batch4_4+4ctx} METHOD_SCRIPTS=${METHOD_SCRIPTS:-scripts/promptsrc} \
    exec bash "$(dirname "$0")/../lib/base2new_test.sh" "$@"
