#!/usr/bin/env bash
# CoOp. Cross-dataset / domain generalisation: evaluate the ImageNet prompt on DATASET.
# Usage: DATA=/path/to/datasets bash scripts/coop/xd_test.sh DATASET SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/xd_test.sh
TRAINER=CoOp METHOD_SCRIPTS=scripts/coop exec bash "$(dirname "$0")/../lib/xd_test.sh" "$@"
