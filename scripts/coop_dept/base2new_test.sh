#!/usr/bin/env bash
# CoOp_DePT (CoOp plus DePT's channel-adjusted head). Base-to-new: evaluate the trained prompt on the new classes (SUB=base: base classes).
# Usage: DATA=/path/to/datasets bash scripts/coop_dept/base2new_test.sh DATASET SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/base2new_test.sh
TRAINER=CoOp_DePT METHOD_SCRIPTS=scripts/coop_dept exec bash "$(dirname "$0")/../lib/base2new_test.sh" "$@"
