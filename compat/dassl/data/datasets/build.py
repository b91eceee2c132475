"""The dataset registry and its builder."""
from yacs.config import CfgNode

from dassl.utils import Registry

from .base_dataset import DatasetBase

DATASET_REGISTRY = Registry("DATASET")


def build_dataset(cfg: CfgNode) -> DatasetBase:
    """Instantiate ``cfg.DATASET.NAME`` from the registry (one-line error for unknown names)."""
    dataset_class = DATASET_REGISTRY.require(cfg.DATASET.NAME, "DATASET.NAME")
    if cfg.VERBOSE:
        print(f"Loading dataset: {cfg.DATASET.NAME}")
    return dataset_class(cfg)
