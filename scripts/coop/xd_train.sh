#!/usr/bin/env bash
# CoOp. Cross-dataset / domain generalisation: train on ImageNet (all classes, 16 shots).
# Usage: DATA=/path/to/datasets bash scripts/coop/xd_train.sh SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/xd_train.sh
TRAINER=CoOp METHOD_SCRIPTS=scripts/coop exec bash "$(dirname "$0")/../lib/xd_train.sh" "$@"
