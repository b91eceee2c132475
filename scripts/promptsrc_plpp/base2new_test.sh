#!/usr/bin/env bash
# PromptSRC_PLPP: PromptSRC plus PLPP, through scripts/promptsrc/base2new_test.sh (its arguments and layout).
# Usage: DATA=/path/to/datasets bash scripts/promptsrc_plpp/base2new_test.sh DATASET SEED [--force]
TRAINER=PromptSRC_PLPP METHOD_SCRIPTS=scripts/promptsrc_plpp exec bash "$(dirname "$0")/../promptsrc/base2new_test.sh" "$@"
