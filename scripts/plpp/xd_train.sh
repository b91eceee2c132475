#!/usr/bin/env bash
# PLPP. Cross-dataset / domain generalisation: train on ImageNet (all classes, 16 shots).
# Usage: DATA=/path/to/datasets bash scripts/plpp/xd_train.sh SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/xd_train.sh
TRAINER=PLPP METHOD_SCRIPTS=scripts/plpp exec bash "$(dirname "$0")/../lib/xd_train.sh" "$@"
