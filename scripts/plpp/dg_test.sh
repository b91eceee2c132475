#!/usr/bin/env bash
# PLPP. Domain generalisation: evaluate the ImageNet prompt on ImageNetV2, -Sketch, -A and -R.
# Usage: DATA=/path/to/datasets bash scripts/plpp/dg_test.sh SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/dg_test.sh
TRAINER=PLPP METHOD_SCRIPTS=scripts/plpp exec bash "$(dirname "$0")/../lib/dg_test.sh" "$@"
