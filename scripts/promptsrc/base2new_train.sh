#!/usr/bin/env bash
# PromptSRC. Base-to-new: train on the base classes (16 shots), as muzairkhattak/PromptSRC's script.
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/base2new_train.sh DATASET SEED [--force]
# Runs: $OUTPUT/base2new/train_base/DATASET/shots_16/$TRAINER/$CFG/seedSEED; the last checkpoint
# holds the GPA-aggregated prompts. CFG default vit_b16_c2_ep20_batch4_4+4ctx; the other
# environment variables (DATA, OUTPUT, OPTS, FORCE, PY): scripts/lib/common.sh
TRAINER=${TRAINER:-PromptSRC} CFG=${CFG:-vit_b16_c2_ep20_batch4_4+4ctx} METHOD_SCRIPTS=${METHOD_SCRIPTS:-scripts/promptsrc} \
    exec bash "$(dirname "$0")/../lib/base2new_train.sh" "$@"
