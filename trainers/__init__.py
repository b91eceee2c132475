"""Trainers. Importing the package registers every trainer module in this folder with Dassl's
``TRAINER_REGISTRY`` (and ``runtime.config`` collects each module's ``extend_cfg``), so adding a
method is adding one file with one registered class."""
import importlib
import pkgutil

import runtime  # noqa: F401  (selects the Dassl engine before any module imports dassl)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
