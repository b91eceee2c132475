"""The CoOp benchmark datasets, the ImageNet variants and a no-code custom dataset.

Importing this package imports every module in this folder, and each dataset module registers
its class in Dassl's ``DATASET_REGISTRY``: adding a dataset means adding one file with one
``@DATASET_REGISTRY.register()`` class, with no import to add anywhere else.
"""
import importlib
import pkgutil

import runtime  # noqa: F401  (selects the Dassl engine before any module imports dassl)

from .custom import add_config as _add_custom_config


def extend_cfg(cfg) -> None:
    """Add the dataset-side config keys (CoOp's ``DATASET.SUBSAMPLE_CLASSES`` and ``DATASET.CUSTOM``)."""
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"  # "all", "base" (first half of the classes) or "new"
    _add_custom_config(cfg)


def _import_all_modules() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


_import_all_modules()
