"""The runtime layer that ``train.py`` needs: which Dassl engine ``import dassl`` means, config
assembly with one-line errors, run records, and the dataset catalogue.

Importing any module of this package selects the engine (``runtime.engine``), so the packages
that import ``dassl`` (``trainers``, ``datasets``) only need to import ``runtime`` first; no entry
point has to remember a ritual. Nothing here imports torch at import time.
"""
from .engine import select_engine

select_engine()
