#!/usr/bin/env bash
# CoOp. Base-to-new: evaluate the trained prompt on the new classes (SUB=base: base classes).
# Usage: DATA=/path/to/datasets bash scripts/coop/base2new_test.sh DATASET SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/base2new_test.sh
TRAINER=CoOp METHOD_SCRIPTS=scripts/coop exec bash "$(dirname "$0")/../lib/base2new_test.sh" "$@"
