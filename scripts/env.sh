#!/usr/bin/env bash
# Source this file: it finds or builds the project's virtual environment and exports PY.
#
# The environment lives outside the clone, under ~/.cache/plpp-toolkit/, keyed by a hash of
# requirements.txt and the Python version, so every clone and every CI run reuses one install
# while a changed requirements.txt (or a fresh machine) gets a full install.
# PLPP_VENV overrides the location; PYTHON picks the interpreter that builds it.
set -euo pipefail

_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_python="${PYTHON:-python3}"
_pyver="$("$_python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
_key="$( (cat "$_repo/requirements.txt"; echo "$_pyver") | sha256sum | cut -c1-16)"
_venv="${PLPP_VENV:-$HOME/.cache/plpp-toolkit/venv-py$_pyver-$_key}"

if [ ! -f "$_venv/.complete" ]; then
    echo "[env] installing the Python environment into $_venv (first run only; torch is a few GB)" >&2
    rm -rf "$_venv"
    mkdir -p "$(dirname "$_venv")"
    "$_python" -m venv "$_venv"
    "$_venv/bin/python" -m pip install --quiet --upgrade pip >&2
    "$_venv/bin/python" -m pip install --quiet -r "$_repo/requirements.txt" >&2
    touch "$_venv/.complete"
fi
export PY="$_venv/bin/python"
