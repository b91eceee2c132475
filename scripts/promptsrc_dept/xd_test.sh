#!/usr/bin/env bash
# PromptSRC_DePT: PromptSRC plus DePT, through scripts/promptsrc/xd_test.sh (its arguments and layout).
# Usage: DATA=/path/to/datasets bash scripts/promptsrc_dept/xd_test.sh DATASET SEED [--force]
TRAINER=PromptSRC_DePT METHOD_SCRIPTS=scripts/promptsrc_dept exec bash "$(dirname "$0")/../promptsrc/xd_test.sh" "$@"
