#!/usr/bin/env bash
# PLPP. Base-to-new: evaluate the trained prompt on the new classes (SUB=base: base classes).
# Usage: DATA=/path/to/datasets bash scripts/plpp/base2new_test.sh DATASET SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/base2new_test.sh
TRAINER=PLPP METHOD_SCRIPTS=scripts/plpp exec bash "$(dirname "$0")/../lib/base2new_test.sh" "$@"
