"""The evaluator registry and its builder."""
from typing import Any

from yacs.config import CfgNode

from dassl.utils import Registry

EVALUATOR_REGISTRY = Registry("EVALUATOR")


def build_evaluator(cfg: CfgNode, **kwargs: Any) -> Any:
    """Instantiate ``cfg.TEST.EVALUATOR`` (the engine passes ``lab2cname=``)."""
    evaluator_class = EVALUATOR_REGISTRY.require(cfg.TEST.EVALUATOR, "TEST.EVALUATOR")
    if cfg.VERBOSE:
        print(f"Loading evaluator: {cfg.TEST.EVALUATOR}")
    return evaluator_class(cfg, **kwargs)
