#!/usr/bin/env bash
# CoCoOp. Cross-dataset / domain generalisation: evaluate the ImageNet prompt on DATASET.
# Usage: DATA=/path/to/datasets bash scripts/cocoop/xd_test.sh DATASET SEED [--force]
# CFG, TRAINER: scripts/cocoop/common.sh; the protocol and the other variables: scripts/lib/xd_test.sh
source "$(dirname "$0")/common.sh"
exec bash "$(dirname "$0")/../lib/xd_test.sh" "$@"
