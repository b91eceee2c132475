"""Checkpoint files: save, load (weights-only where possible), resume, pretrained weights."""
import os
import os.path as osp
import pickle
import shutil
import warnings
from collections import OrderedDict
from typing import Any, Dict, Iterable, Optional

import torch
import torch.nn as nn

from .tools import listdir_nohidden, mkdir_if_missing

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "resume_from_checkpoint",
    "load_pretrained_weights",
    "count_num_param",
]

# Globals a real-Dassl checkpoint pickles: the warmup scheduler's inner scheduler object, its
# optimizer, and the containers those rebuild. Anything else is not from Dassl.
_REAL_DASSL_GLOBAL_PREFIXES = ("torch.optim.",)
_REAL_DASSL_GLOBAL_NAMES = {"builtins.dict", "collections.defaultdict", "collections.OrderedDict"}


def missing_file_message(fpath: str) -> str:
    """'No file at X' plus what its folder does hold, so the right name can be picked."""
    folder = osp.dirname(fpath) or "."
    if not osp.isdir(folder):
        return f'No file at "{fpath}": the folder "{folder}" does not exist'
    present = ", ".join(sorted(listdir_nohidden(folder))) or "nothing"
    return f'No file at "{fpath}"; "{folder}" holds: {present}'


def _strip_module_prefix(state_dict: Dict[str, Any]) -> "OrderedDict[str, Any]":
    """Drop the ``module.`` prefix that ``nn.DataParallel`` adds to every key."""
    return OrderedDict((k[len("module."):] if k.startswith("module.") else k, v) for k, v in state_dict.items())


def save_checkpoint(
    state: Dict[str, Any],
    save_dir: str,
    is_best: bool = False,
    remove_module_from_keys: bool = True,
    model_name: str = "",
) -> None:
    """Save ``state`` as ``save_dir/model.pth.tar-<epoch>`` (or ``model_name``).

    The text file ``save_dir/checkpoint`` is rewritten to name the file just saved; it is what
    ``resume_from_checkpoint`` reads. ``is_best`` also copies the file to ``model-best.pth.tar``.
    """
    mkdir_if_missing(save_dir)
    if remove_module_from_keys:
        state = {**state, "state_dict": _strip_module_prefix(state["state_dict"])}
    fpath = osp.join(save_dir, model_name or f"model.pth.tar-{state['epoch']}")
    # Write then rename, so an interrupted save never leaves a truncated checkpoint behind.
    torch.save(state, fpath + ".tmp")
    os.replace(fpath + ".tmp", fpath)
    print(f"Checkpoint saved to {fpath}")

    with open(osp.join(save_dir, "checkpoint"), "w") as pointer:
        pointer.write(osp.basename(fpath) + "\n")

    if is_best:
        best_fpath = osp.join(save_dir, "model-best.pth.tar")
        shutil.copy(fpath, best_fpath)
        print(f'Best checkpoint saved to "{best_fpath}"')


def _torch_load(fpath: str, weights_only: bool) -> Any:
    map_location = None if torch.cuda.is_available() else "cpu"
    try:
        return torch.load(fpath, map_location=map_location, weights_only=weights_only)
    except (RuntimeError, EOFError, KeyError, ValueError) as e:  # torch's messages omit the path
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:120]
        raise RuntimeError(
            f'Cannot read checkpoint "{fpath}" ({reason}); it is truncated, corrupt or not a torch file: '
            "save or copy it again"
        ) from e


def _written_by_real_dassl(fpath: str) -> bool:
    """True if the only objects beyond weights are an LR scheduler and its optimizer."""
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(fpath)
    except Exception:  # not a zip checkpoint: not something Dassl writes
        return False
    return any(name.startswith("torch.optim.lr_scheduler.") for name in unsafe) and all(
        name.startswith(_REAL_DASSL_GLOBAL_PREFIXES) or name in _REAL_DASSL_GLOBAL_NAMES for name in unsafe
    )


def load_checkpoint(fpath: Optional[str]) -> Dict[str, Any]:
    """Load a checkpoint onto the CPU (or where it was saved when CUDA is available).

    Files are read with ``weights_only=True``. Real Dassl pickles the warmup scheduler's inner
    scheduler object, which that refuses; such files (and only those) are re-read with
    ``weights_only=False`` after a one-line note.
    """
    if fpath is None:
        raise ValueError("load_checkpoint() got None as the file path; pass the checkpoint's path")
    if not osp.exists(fpath):
        raise FileNotFoundError(missing_file_message(fpath))
    try:
        return _torch_load(fpath, weights_only=True)
    except pickle.UnpicklingError:
        if not _written_by_real_dassl(fpath):
            raise pickle.UnpicklingError(
                f'Cannot load "{fpath}" with weights_only=True and it is not a Dassl checkpoint; '
                "if you trust it, load it yourself with torch.load(..., weights_only=False)"
            ) from None
    print(
        f'Note: "{fpath}" was written by real Dassl (it pickles its LR scheduler), '
        "so it is loaded with weights_only=False; load only checkpoints you trust"
    )
    return _torch_load(fpath, weights_only=False)


def check_state_dict_fits(model: nn.Module, state_dict: Dict[str, Any], source: str, strict: bool = True) -> None:
    """One-line errors for weights that do not fit ``model`` (torch's own are multi-line)."""
    model_state = model.state_dict()
    for key, value in state_dict.items():
        expected = model_state.get(key)
        if isinstance(expected, torch.Tensor) and isinstance(value, torch.Tensor) and expected.shape != value.shape:
            raise RuntimeError(
                f'{source}: "{key}" has shape {tuple(value.shape)} in the checkpoint but '
                f"{tuple(expected.shape)} in the model; load it with the config it was trained with"
            )
    if strict:
        missing = [k for k in model_state if k not in state_dict]
        unexpected = [k for k in state_dict if k not in model_state]
        if missing or unexpected:
            raise RuntimeError(
                f"{source} does not match the model: missing keys {missing}, unexpected keys "
                f"{unexpected}; was it saved by another trainer or model?"
            )


def resume_from_checkpoint(
    fdir: str,
    model: nn.Module,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[Any] = None,
) -> int:
    """Restore model, optimizer and scheduler from the file named in ``fdir/checkpoint``.

    Returns the stored epoch (epoch index + 1), i.e. the index of the next epoch to train.
    """
    pointer = osp.join(fdir, "checkpoint")
    if not osp.isfile(pointer):
        raise FileNotFoundError(
            f'Cannot resume from "{fdir}": it has no "checkpoint" file naming the model file; '
            "delete the folder to train from scratch"
        )
    with open(pointer) as f:
        fpath = osp.join(fdir, f.readline().strip("\n"))

    print(f'Loading checkpoint from "{fpath}"')
    checkpoint = load_checkpoint(fpath)
    check_state_dict_fits(model, checkpoint["state_dict"], f'Checkpoint "{fpath}"')
    model.load_state_dict(checkpoint["state_dict"])
    print("Loaded model weights")

    if optimizer is not None and checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        print("Loaded optimizer")

    if scheduler is not None and checkpoint.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
        print("Loaded scheduler")

    start_epoch = checkpoint["epoch"]
    print(f"Previous epoch: {start_epoch}")
    return start_epoch


def load_pretrained_weights(model: nn.Module, weight_path: str) -> None:
    """Copy the weights whose name and shape match ``model``; report the rest."""
    checkpoint = load_checkpoint(weight_path)
    state_dict = checkpoint.get("state_dict", checkpoint)

    model_state = model.state_dict()
    matched, discarded = OrderedDict(), []
    for key, value in _strip_module_prefix(state_dict).items():
        if key in model_state and model_state[key].size() == value.size():
            matched[key] = value
        else:
            discarded.append(key)

    model_state.update(matched)
    model.load_state_dict(model_state)

    if not matched:
        warnings.warn(f"Cannot load {weight_path} (check the key names manually)")
        return
    print(f"Successfully loaded pretrained weights from {weight_path}")
    if discarded:
        print(f"Layers discarded due to unmatched keys or size: {discarded}")


def count_num_param(model: Optional[nn.Module] = None, params: Optional[Iterable[Any]] = None) -> int:
    """Number of parameter values of ``model``, or of ``params`` (tensors or param-group dicts)."""
    if model is not None:
        return sum(p.numel() for p in model.parameters())
    if params is None:
        raise ValueError("count_num_param() needs a model or params")
    total = 0
    for p in params:
        if isinstance(p, dict):
            group = p["params"]
            total += sum(t.numel() for t in ([group] if isinstance(group, torch.Tensor) else group))
        else:
            total += p.numel()
    return total
