#!/usr/bin/env bash
# CoOp. Domain generalisation: evaluate the ImageNet prompt on ImageNetV2, -Sketch, -A and -R.
# Usage: DATA=/path/to/datasets bash scripts/coop/dg_test.sh SEED [--force]
# Details, CFG and the other environment variables: scripts/lib/dg_test.sh
TRAINER=CoOp METHOD_SCRIPTS=scripts/coop exec bash "$(dirname "$0")/../lib/dg_test.sh" "$@"
