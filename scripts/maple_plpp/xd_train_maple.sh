#!/usr/bin/env bash
# MaPLe_PLPP: MaPLe plus PLPP's perplexity regulariser; arguments, configs and layout as scripts/maple/xd_train_maple.sh.
TRAINER=MaPLe_PLPP exec bash "$(dirname "$0")/../maple/xd_train_maple.sh" "$@"
