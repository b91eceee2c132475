#!/usr/bin/env bash
# Source this file: it finds or builds the project's virtual environment and exports PY.
#
# The environment lives outside the clone, under ~/.cache/plpp-toolkit/, keyed by a hash of
# requirements.txt and the Python version, so every clone and every CI run reuses one install
# while a changed requirements.txt (or a fresh machine) gets a full install.
# PLPP_VENV overrides the location; PYTHON picks the interpreter that builds it.
# Sourcing leaves the caller's shell options (set -e, pipefail...) as they were; a failed install
# returns 1.

_plpp_env() {
    local repo python pyver key venv
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
    python="${PYTHON:-python3}"
    pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" || return 1
    key="$( (cat "$repo/requirements.txt"; echo "$pyver") | sha256sum | cut -c1-16)"
    venv="${PLPP_VENV:-$HOME/.cache/plpp-toolkit/venv-py$pyver-$key}"

    if [ ! -f "$venv/.complete" ]; then
        echo "[env] installing the Python environment into $venv (first run only; torch is a few GB)" >&2
        rm -rf "$venv" && mkdir -p "$(dirname "$venv")" && "$python" -m venv "$venv" &&
            "$venv/bin/python" -m pip install --quiet --upgrade pip >&2 &&
            "$venv/bin/python" -m pip install --quiet -r "$repo/requirements.txt" >&2 &&
            touch "$venv/.complete" || { echo "[env] the install into $venv failed" >&2; return 1; }
    fi
    export PY="$venv/bin/python"
}
if ! _plpp_env; then
    unset -f _plpp_env
    return 1 2>/dev/null || exit 1
fi
unset -f _plpp_env
