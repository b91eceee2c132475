#!/usr/bin/env bash
# Shared by the protocol scripts: repository root, Python, $DATA, and the skip/resume/force
# rules for one output folder. Source it; it expects TRAINER to be set by the caller.
#
# Environment:
#   DATA    the datasets folder (required)
#   OUTPUT  where runs go, default output/ (layouts as in the reference repositories)
#   OPTS    extra config overrides for every run, e.g. OPTS="DATALOADER.NUM_WORKERS 4"
#   FORCE=1 (or --force) rerun finished jobs; the old folder is kept as <folder>.replaced-<time>
#   PY      the Python to use, default the project's cached virtualenv (scripts/env.sh)
#   CFG     the trainer config name (each script documents its default)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# DATA and OUTPUT name folders relative to where the script is called from, not the repository.
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
if [ -n "${DATA:-}" ]; then DATA="$(absolute "$DATA")"; fi
if [ -n "${OUTPUT:-}" ]; then OUTPUT="$(absolute "$OUTPUT")"; fi
cd "$REPO_ROOT"

# --force anywhere on the command line (or FORCE=1) reruns finished jobs; ARGS holds the rest.
FORCE="${FORCE:-0}"
ARGS=()
for arg in "$@"; do
    if [ "$arg" = "--force" ]; then FORCE=1; else ARGS+=("$arg"); fi
done

# need_args N "NAMES": exit with a usage line unless ARGS has N entries.
need_args() {
    if [ "${#ARGS[@]}" -lt "$1" ]; then
        echo "usage: bash $0 $2 [--force]" >&2
        exit 2
    fi
}

# need_file PATH WHAT: exit with one line when a config file is missing.
need_file() {
    if [ ! -f "$1" ]; then
        echo "error: $2 not found: $1 (available: $(ls "$(dirname "$1")" | sed 's/\.yaml$//' | tr '\n' ' '))" >&2
        exit 2
    fi
}

if [ -z "${DATA:-}" ]; then
    echo "error: DATA is not set; export DATA=/path/to/datasets (the folder holding imagenet/, oxford_pets/, ...)" >&2
    exit 2
fi
if [ ! -d "$DATA" ]; then
    echo "error: DATA=$DATA is not a folder; see docs/DATASETS.md or run: python -m toolkit.data download --help" >&2
    exit 2
fi

# The project's Python: $PY if given, else the cached virtualenv (built on first use).
if [ -z "${PY:-}" ]; then
    source "$REPO_ROOT/scripts/env.sh"
fi

# OUTPUT: where runs go (default: output/ in the repository), in the reference layouts.
OUTPUT_ROOT="${OUTPUT:-output}"

# OPTS: extra "KEY VALUE" config overrides for every run, e.g. OPTS="OPTIM.MAX_EPOCH 5".
read -r -a EXTRA_OPTS <<< "${OPTS:-}"

# max_epoch CONFIG_FILE: the last epoch (OPTS, else the config, else Dassl's default 10), i.e.
# the checkpoint the test scripts load; no hard-coded --load-epoch to forget when it changes.
max_epoch() {
    "$PY" -m runtime.config "$1" OPTIM.MAX_EPOCH --default 10 --opts "${EXTRA_OPTS[@]+"${EXTRA_OPTS[@]}"}"
}

# FORCE as a flag for python -m toolkit.protocols.
force_flag() {
    if [ "$FORCE" = "1" ]; then echo --force; fi
}

# protocol STEP OPTIONS...: one step of a protocol (its runs, folders and the rules below), as
# defined once in toolkit/protocols and shared with python -m toolkit.sweep; OPTS reach it
# through the environment.
protocol() {
    OPTS="${OPTS:-}" "$PY" -m toolkit.protocols "$@" --root "$DATA" --output "$OUTPUT_ROOT" --python "$PY" $(force_flag)
}

# run_job DIR TRAIN_ARGS...: run train.py into DIR unless a finished run is there.
#   finished (DIR/finished.json): skip, unless forced (then the old folder is kept as DIR.replaced-<time>);
#   unfinished: train.py resumes from its last checkpoint.
# (The rules live in toolkit/protocols/runs.py, for the scripts and the sweep alike.)
run_job() {
    OPTS="${OPTS:-}" "$PY" -m toolkit.protocols exec --root "$DATA" --python "$PY" $(force_flag) -- "$@"
}
