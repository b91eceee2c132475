#!/usr/bin/env bash
# CoCoOp. Cross-dataset / domain generalisation: train on ImageNet (all classes, 16 shots).
# Usage: DATA=/path/to/datasets bash scripts/cocoop/xd_train.sh SEED [--force]
# CFG, TRAINER: scripts/cocoop/common.sh; the protocol and the other variables: scripts/lib/xd_train.sh
source "$(dirname "$0")/common.sh"
exec bash "$(dirname "$0")/../lib/xd_train.sh" "$@"
