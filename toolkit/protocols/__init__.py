"""The evaluation protocols (base-to-new, few-shot, cross-dataset, domain generalisation,
zero-shot) defined once: which runs, which folders, which rules. ``scripts/lib/*.sh`` call
``python -m toolkit.protocols``; ``python -m toolkit.sweep`` expands whole tables from the same
functions. Per-method settings: ``methods.py``."""
from .methods import METHODS, MethodDefaults, defaults
from .runs import PROTOCOLS, Run, execute, execute_run, expand

__all__ = ["METHODS", "MethodDefaults", "defaults", "PROTOCOLS", "Run", "execute", "execute_run", "expand"]
