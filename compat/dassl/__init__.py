"""PLPP toolkit's Dassl-compatible engine.

It implements the subset of Dassl.pytorch (KaiyangZhou/Dassl.pytorch) that CoOp-family
trainers, datasets and ``train.py`` use, under the same module paths, so trainer and dataset
files work with either engine and few-shot caches pickled by one load in the other.
``toolkit.engine.select_engine`` decides whether this copy or an installed real Dassl is used.
"""

__version__ = "0.6.3+plpp"
ENGINE_NAME = "plpp-compat"
