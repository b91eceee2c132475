#!/usr/bin/env bash
# The demo: PLPP against CoOp, base-to-new, on synthetic coloured shapes (installs the
# environment on first use). Arguments go to `python -m toolkit.demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh
exec "$PY" -m toolkit.demo "$@"
