#!/usr/bin/env bash
# Run the test suite (installs the environment on first use). Extra arguments go to pytest.
# The tests run in PLPP_TEST_WORKERS processes (pytest-xdist; default 2, one per core of the
# machines the suite is sized for), a file at a time per process (--dist loadfile): a file's
# module fixtures are built once and its tests never overlap (the SLURM sweep, the resume runs).
# Passing -n/--numprocesses, --dist, --pdb or -p no:xdist, or PLPP_TEST_WORKERS=0, runs them the
# caller's way. PLPP_TEST_SHUFFLE=<seed>|random shuffles the order (tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh

workers=(-n "${PLPP_TEST_WORKERS:-2}" --dist loadfile)
previous=""
for arg in "$@"; do
    case "$arg" in
        -n|-n[0-9]*|--numprocesses|--numprocesses=*|--dist|--dist=*|--pdb|--trace|-pno:xdist) workers=() ;;
        no:xdist) [ "$previous" = -p ] && workers=() ;;
    esac
    previous="$arg"
done
if [ "${PLPP_TEST_WORKERS:-2}" = 0 ]; then
    workers=()
fi
# The suite starts about a hundred Python processes: with PYTHONDONTWRITEBYTECODE (set in many
# containers) each would compile the project again, and pytest rewrite every test file in each
# worker. The bytecode caches (__pycache__/, ignored by git) are written as Python does by default.
unset PYTHONDONTWRITEBYTECODE
exec "$PY" -m pytest "${workers[@]+"${workers[@]}"}" "$@"
