#!/usr/bin/env bash
# Run the test suite (installs the environment on first use). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh
exec "$PY" -m pytest "$@"
