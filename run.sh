#!/usr/bin/env bash
# The demo: zero-shot CLIP, CoOp, PLPP, KgCoOp and CoCoOp base-to-new on synthetic coloured shapes,
# with a tiny CLIP pretrained on the spot (then cached) unless real ViT-B/16 weights are there;
# ends with the table, a plot, one prediction and the learned prompt's nearest words. Installs the
# environment on first use. Arguments go to `python -m toolkit.demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh
exec "$PY" -m toolkit.demo "$@"
