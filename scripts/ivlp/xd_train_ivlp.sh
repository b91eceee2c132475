#!/usr/bin/env bash
# IVLP. Cross-dataset / domain generalisation, step 1: train on ImageNet (all classes, 16 shots).
# Usage: DATA=/path/to/datasets bash scripts/ivlp/xd_train_ivlp.sh [imagenet] SEED [--force]
# Arguments and layout as scripts/maple/xd_train_maple.sh (the reference's form names imagenet first).
TRAINER=${TRAINER:-IVLP} exec bash "$(dirname "$0")/../maple/xd_train_maple.sh" "$@"
