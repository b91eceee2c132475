"""Every random-number state a training run draws from, as plain tensors and lists (so a
checkpoint holding them still loads with ``weights_only=True``).

Data order (the sampler and the loader's worker seeds), augmentation and any random layer draw
from Python's ``random``, NumPy's global generator and torch's CPU and CUDA generators. A resumed
run that restores all four continues exactly where the interrupted run was.
"""
import random
from typing import Any, Dict

import numpy as np
import torch

__all__ = ["capture_rng_state", "restore_rng_state"]


def capture_rng_state() -> Dict[str, Any]:
    """The current states of Python's, NumPy's and torch's (CPU and every CUDA device) generators."""
    version, internal, gauss_next = random.getstate()
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "python": [version, list(internal), gauss_next],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached_gaussian)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Make every generator continue from ``state`` (from ``capture_rng_state``).

    CUDA states are restored only for the devices present; a state saved on a GPU machine and
    restored on the CPU leaves CUDA alone.
    """
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, keys, pos, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"].cpu())
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        for device, cuda_state in enumerate(cuda_states[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.cpu(), device)
