#!/usr/bin/env bash
# IVLP_PLPP: IVLP plus PLPP's perplexity regulariser; arguments, configs and layout as scripts/ivlp/base2new_train_ivlp.sh.
TRAINER=IVLP_PLPP exec bash "$(dirname "$0")/../ivlp/base2new_train_ivlp.sh" "$@"
