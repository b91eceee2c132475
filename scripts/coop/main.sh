#!/usr/bin/env bash
# CoOp. Few-shot learning, seeds 1 2 3 (CoOp's main.sh arguments), e.g. caltech101 vit_b16 end 16 16 False.
# Usage: DATA=/path/to/datasets bash scripts/coop/main.sh DATASET CFG CTP NCTX SHOTS CSC [--force]
# Details, CFG and the other environment variables: scripts/lib/few_shot.sh
TRAINER=CoOp METHOD_SCRIPTS=scripts/coop exec bash "$(dirname "$0")/../lib/few_shot.sh" "$@"
