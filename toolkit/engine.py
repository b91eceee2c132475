"""Choose the Dassl engine: a working installed Dassl.pytorch, else the bundled one.

The bundled engine (``compat/dassl``) is never installed into site-packages; it is put on
``sys.path`` here, only when needed. Set ``PLPP_DASSL=bundled`` to force it, or
``PLPP_DASSL=real`` to require an installed Dassl.
"""
import os
import sys
from typing import Tuple

ENV_VAR = "PLPP_DASSL"
BUNDLED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "compat")

_selected: Tuple[str, str] = ()  # (engine kind, description) once chosen


def _forget_dassl_modules() -> None:
    for name in [m for m in sys.modules if m == "dassl" or m.startswith("dassl.")]:
        del sys.modules[name]


def _real_dassl_problem() -> str:
    """Empty if an importable Dassl builds Dassl's warmup scheduler here, else why not.

    Dassl HEAD imports fine on torch >= 2.7 but crashes when the CoOp configs build their
    constant-warmup scheduler, so importing alone does not prove it works.
    """
    try:
        import torch
        import dassl  # noqa: F401
        from dassl.config import get_cfg_default
        from dassl.optim import build_lr_scheduler

        if getattr(dassl, "ENGINE_NAME", "") == "plpp-compat":
            return "the importable dassl is this project's bundled engine"
        optim_cfg = get_cfg_default().OPTIM
        optim_cfg.defrost()
        optim_cfg.LR_SCHEDULER, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_TYPE = "cosine", 1, "constant"
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        build_lr_scheduler(optimizer, optim_cfg)
    except Exception as e:  # any failure means "not a working Dassl"
        return f"{type(e).__name__}: {e}".splitlines()[0]
    return ""


def select_engine(verbose: bool = True) -> str:
    """Make ``import dassl`` resolve to the chosen engine; returns "real" or "bundled"."""
    global _selected
    if not _selected:
        choice = os.environ.get(ENV_VAR, "auto").strip().lower()
        if choice not in ("auto", "bundled", "real"):
            raise ValueError(f"{ENV_VAR} must be auto, bundled or real, got {choice!r}")
        problem = "forced by PLPP_DASSL=bundled" if choice == "bundled" else _real_dassl_problem()
        if not problem:
            import dassl

            _selected = ("real", f"real Dassl {getattr(dassl, '__version__', '?')} ({os.path.dirname(dassl.__file__)})")
        elif choice == "real":
            raise RuntimeError(f"{ENV_VAR}=real but no working Dassl is installed ({problem})")
        else:
            _forget_dassl_modules()
            sys.path.insert(0, BUNDLED_DIR)
            _selected = ("bundled", f"bundled Dassl-compatible engine ({BUNDLED_DIR}); real Dassl not used: {problem}")
    if verbose:
        print(f"Engine: {_selected[1]}")
    return _selected[0]


def engine_description() -> str:
    """One line naming the engine in use (after ``select_engine``)."""
    return _selected[1] if _selected else "not selected"
