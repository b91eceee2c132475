#!/usr/bin/env bash
# CoOp_PLPP_DePT (CoOp plus PLPP and DePT). Cross-dataset: evaluate the ImageNet prompt on DATASET.
# Usage: DATA=/path/to/datasets bash scripts/coop_plpp_dept/xd_test.sh DATASET SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/xd_test.sh
TRAINER=CoOp_PLPP_DePT METHOD_SCRIPTS=scripts/coop_plpp_dept exec bash "$(dirname "$0")/../lib/xd_test.sh" "$@"
