#!/usr/bin/env bash
# PromptSRC_PLPP: PromptSRC plus PLPP, through scripts/promptsrc/few_shot.sh (its arguments and layout).
# Usage: DATA=/path/to/datasets bash scripts/promptsrc_plpp/few_shot.sh DATASET SHOTS [--force]
TRAINER=PromptSRC_PLPP METHOD_SCRIPTS=scripts/promptsrc_plpp exec bash "$(dirname "$0")/../promptsrc/few_shot.sh" "$@"
