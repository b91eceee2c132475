#!/usr/bin/env bash
# PromptSRC_PLPP: PromptSRC plus PLPP, through scripts/promptsrc/xd_test.sh (its arguments and layout).
# Usage: DATA=/path/to/datasets bash scripts/promptsrc_plpp/xd_test.sh DATASET SEED [--force]
TRAINER=PromptSRC_PLPP METHOD_SCRIPTS=scripts/promptsrc_plpp exec bash "$(dirname "$0")/../promptsrc/xd_test.sh" "$@"
