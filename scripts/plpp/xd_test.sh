#!/usr/bin/env bash
# PLPP. Cross-dataset / domain generalisation: evaluate the ImageNet prompt on DATASET.
# Usage: DATA=/path/to/datasets bash scripts/plpp/xd_test.sh DATASET SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/xd_test.sh
TRAINER=PLPP METHOD_SCRIPTS=scripts/plpp exec bash "$(dirname "$0")/../lib/xd_test.sh" "$@"
