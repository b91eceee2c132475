"""PLPP toolkit's Dassl-compatible engine.

It implements the subset of Dassl.pytorch (KaiyangZhou/Dassl.pytorch) that CoOp-family
trainers, datasets and ``train.py`` use, under the same module paths, so trainer and dataset
files work with either engine and few-shot caches pickled by one load in the other.
``runtime.engine`` puts this copy on ``sys.path`` unless ``PLPP_DASSL=real`` asks for an installed Dassl.
"""

__version__ = "0.6.3+plpp"
ENGINE_NAME = "plpp-compat"
