#!/usr/bin/env bash
# Zero-shot CLIP (ZeroshotCLIP; TRAINER=ZeroshotCLIP2 for the template ensemble).
# Usage: DATA=/path/to/datasets bash scripts/coop/zeroshot.sh DATASET CFG [--force]
# Details: scripts/lib/zeroshot.sh
exec bash "$(dirname "$0")/../lib/zeroshot.sh" "$@"
