#!/usr/bin/env bash
# Shared by scripts/kgcoop/base2new_*.sh (source it): the reference's arguments DATASET [WEIGHT],
# on top of scripts/lib/common.sh (DATA, OUTPUT, OPTS, FORCE, PY). The config, the prompt
# settings the reference's scripts pass and the shots_16_<WEIGHT> folders are KgCoOp's row in
# toolkit/protocols/methods.py.
#   WEIGHT  TRAINER.KGCOOP.W, default the row's: 8.0 for KgCoOp (the reference's run.sh; its config
#           default is 1.0), 2.0 for KgCoOp_DePT (Koorye/DePT's config)
#   CFG     the trainer config, default vit_b16_ep100_ctxv1 (the reference's scripts)
#   SEEDS   the seeds each script loops over, default "1 2 3" (the reference loops 1 2 3)
TRAINER=${TRAINER:-KgCoOp}
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh" "$@"
need_args 1 "DATASET [WEIGHT]"
DATASET=${ARGS[0]}
WEIGHT=${ARGS[1]:-}  # empty: the method row's default
read -r -a SEED_LIST <<< "${SEEDS:-1 2 3}"
