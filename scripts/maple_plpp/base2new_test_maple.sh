#!/usr/bin/env bash
# MaPLe_PLPP: MaPLe plus PLPP's perplexity regulariser; arguments, configs and layout as scripts/maple/base2new_test_maple.sh.
TRAINER=MaPLe_PLPP exec bash "$(dirname "$0")/../maple/base2new_test_maple.sh" "$@"
