#!/usr/bin/env bash
# Shared by scripts/kgcoop/base2new_*.sh (source it): the reference's arguments DATASET [WEIGHT],
# its config and prompt settings, on top of scripts/lib/common.sh (DATA, OUTPUT, OPTS, FORCE, PY).
#   WEIGHT  TRAINER.KGCOOP.W, default 8.0 (the reference's run.sh; its config default is 1.0)
#   CFG     the trainer config, default vit_b16_ep100_ctxv1 (the reference's scripts)
#   SEEDS   the seeds each script loops over, default "1 2 3" (the reference loops 1 2 3)
TRAINER=${TRAINER:-KgCoOp}
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh" "$@"
need_args 1 "DATASET [WEIGHT]"
DATASET=${ARGS[0]}
WEIGHT=${ARGS[1]:-8.0}
CFG=${CFG:-vit_b16_ep100_ctxv1}
SHOTS=16
need_file "configs/datasets/${DATASET}.yaml" "dataset config"
need_file "configs/trainers/${TRAINER}/${CFG}.yaml" "trainer config"
# The prompt settings the reference's scripts pass (N_CTX is ignored while CTX_INIT is True).
PROMPT_OPTS=(TRAINER.KGCOOP.N_CTX 4 TRAINER.KGCOOP.CSC False TRAINER.KGCOOP.CLASS_TOKEN_POSITION end)
