"""Test setup: make the repository importable and choose the Dassl engine before any import."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from toolkit.engine import select_engine  # noqa: E402

select_engine(verbose=False)
