"""The trainer registry and its builder."""
from typing import Any

from yacs.config import CfgNode

from dassl.utils import Registry

TRAINER_REGISTRY = Registry("TRAINER")


def build_trainer(cfg: CfgNode) -> Any:
    """Instantiate ``cfg.TRAINER.NAME`` (its module must have been imported to register it)."""
    trainer_class = TRAINER_REGISTRY.require(cfg.TRAINER.NAME, "TRAINER.NAME")
    if cfg.VERBOSE:
        print(f"Loading trainer: {cfg.TRAINER.NAME}")
    return trainer_class(cfg)
