#!/usr/bin/env bash
# CoCoOp. Base-to-new: evaluate the base-trained prompt on the new classes (SUB=base: the base classes).
# Usage: DATA=/path/to/datasets bash scripts/cocoop/base2new_test.sh DATASET SEED [--force]
# CFG, TRAINER: scripts/cocoop/common.sh; the protocol and the other variables: scripts/lib/base2new_test.sh
source "$(dirname "$0")/common.sh"
exec bash "$(dirname "$0")/../lib/base2new_test.sh" "$@"
