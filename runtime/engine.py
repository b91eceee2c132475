"""Which ``dassl`` the project imports: the bundled engine by default, real Dassl when asked.

The bundled engine (``compat/dassl``) is the default because it is the one CI tests and it adds
what the scripts rely on (resume from the last epoch, bitwise-resumable checkpoints). An
installed Dassl.pytorch is used only with ``PLPP_DASSL=real``; that path is not covered by CI.
The bundled engine is never installed into site-packages: it is put on ``sys.path`` here.
"""
import os
import sys
from typing import Tuple

ENV_VAR = "PLPP_DASSL"
CHOICES = ("bundled", "real")
BUNDLED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "compat")

_selected: Tuple[str, str] = ()  # (engine kind, description) once chosen


def _real_dassl_problem() -> str:
    """Empty if an importable Dassl builds Dassl's warmup scheduler here, else why not.

    Dassl HEAD imports fine on torch >= 2.7 but crashes when the CoOp configs build their
    constant-warmup scheduler, so importing alone does not prove it works.
    """
    try:
        import torch
        import dassl
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


def select_engine() -> str:
    """Make ``import dassl`` resolve to the chosen engine (once); returns "bundled" or "real"."""
    global _selected
    if _selected:
        return _selected[0]
    choice = os.environ.get(ENV_VAR, "").strip().lower() or "bundled"
    if choice not in CHOICES:
        raise ValueError(f"{ENV_VAR} must be bundled (the default) or real, got {choice!r}")
    if choice == "real":
        problem = _real_dassl_problem()
        if problem:
            raise RuntimeError(f"{ENV_VAR}=real but no working Dassl is installed ({problem}); unset {ENV_VAR} to use the bundled engine")
        import dassl

        _selected = ("real", f"real Dassl {getattr(dassl, '__version__', '?')} ({os.path.dirname(dassl.__file__)}), "
                             f"asked for with {ENV_VAR}=real (not covered by CI)")
    else:
        for name in [m for m in sys.modules if m == "dassl" or m.startswith("dassl.")]:
            del sys.modules[name]  # a dassl imported before the choice is not the one chosen
        if BUNDLED_DIR not in sys.path:
            sys.path.insert(0, BUNDLED_DIR)
        _selected = ("bundled", f"bundled Dassl-compatible engine ({BUNDLED_DIR})")
    return _selected[0]


def engine_description() -> str:
    """One line naming the engine in use."""
    select_engine()
    return _selected[1]
