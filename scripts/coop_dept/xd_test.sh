#!/usr/bin/env bash
# CoOp_DePT (CoOp plus DePT's channel-adjusted head). Cross-dataset: evaluate the ImageNet prompt on DATASET.
# Usage: DATA=/path/to/datasets bash scripts/coop_dept/xd_test.sh DATASET SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/xd_test.sh
TRAINER=CoOp_DePT METHOD_SCRIPTS=scripts/coop_dept exec bash "$(dirname "$0")/../lib/xd_test.sh" "$@"
