#!/usr/bin/env bash
# IVLP_DePT: IVLP plus DePT's channel-adjusted head; arguments, configs and layout as scripts/ivlp/base2new_train_ivlp.sh.
TRAINER=IVLP_DePT exec bash "$(dirname "$0")/../ivlp/base2new_train_ivlp.sh" "$@"
