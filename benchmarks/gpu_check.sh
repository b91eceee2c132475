#!/usr/bin/env bash
# The GPU figures in one go (under 12 minutes on one recent GPU), for a session lent a device:
#   bash benchmarks/gpu_check.sh [OUT]      # default OUT: $OUT, else output/benchmarks/gpu
# Random ViT-B/16-shaped weights and synthetic data; writes OUT/benchmarks.json and .md with:
# fp16 / amp / bf16 against fp32 (logit agreement, accuracy), CoOp / PLPP / CoCoOp images per
# second and peak memory at 100 and 1000 classes, the data loader against the model, the
# feature cache and the base-to-new sweep, cost growth, PLPP's CSC memory, and torchrun; the
# shared text prefix against full sequences (12 layers: CoOp, PLPP, KgCoOp, CoCoOp, MaPLe and
# PromptSRC training steps and peaks at 100, 500 and 1000 classes; the frozen image tower).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out="${1:-${OUT:-output/benchmarks/gpu}}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv" 2>&1 || true
# The GPU-only figures first: if time runs out, they are what a CPU run cannot give.
timeout 300 "$PY" -m benchmarks --only gpu --repeats 3 --out "$out/gpu" 2>&1 | tail -n 40
timeout 240 "$PY" -m benchmarks --only prefix --repeats 2 --out "$out/prefix" 2>&1 | tail -n 30
timeout 170 "$PY" -m benchmarks --only speed,cache,growth,memory,ddp --repeats 2 --out "$out/all" 2>&1 | tail -n 40
cat "$out"/gpu/benchmarks.md "$out"/prefix/benchmarks.md "$out"/all/benchmarks.md 2>/dev/null
