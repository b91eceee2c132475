#!/usr/bin/env bash
# Shared by scripts/cocoop/*.sh (source it): CoCoOp's defaults for the shared protocol scripts in
# scripts/lib/, which take the reference's arguments and write its output layout.
#   TRAINER  default CoCoOp (scripts/cocoop_plpp sets CoCoOp_PLPP)
#   CFG      default vit_b16_c4_ep10_batch1_ctxv1: the config KaiyangZhou/CoOp's scripts/cocoop use
#            for every protocol and dataset, ImageNet included (10 epochs, batch 1)
# DATA, OUTPUT, OPTS, FORCE, PY: scripts/lib/common.sh. The test scripts load the config's last
# epoch (the reference hard-codes 10).
export TRAINER=${TRAINER:-CoCoOp}
export CFG=${CFG:-vit_b16_c4_ep10_batch1_ctxv1}
export METHOD_SCRIPTS=${METHOD_SCRIPTS:-scripts/cocoop}
