#!/usr/bin/env bash
# Domain generalisation: evaluate the ImageNet-trained prompt on ImageNetV2, -Sketch, -A and -R.
# Usage: TRAINER=<trainer> bash scripts/lib/dg_test.sh SEED [--force]
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: bash $0 SEED [--force]" >&2
    exit 2
fi
for DATASET in imagenetv2 imagenet_sketch imagenet_a imagenet_r; do
    bash "$(dirname "$0")/../lib/xd_test.sh" "$DATASET" "$@"
done
