"""Checkpoint files: save, load (weights-only where possible), resume, pretrained weights."""
import errno
import os
import os.path as osp
import pickle
import re
import shutil
import warnings
from collections import OrderedDict
from typing import Any, BinaryIO, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn

from .tools import listdir_nohidden, mkdir_if_missing

__all__ = [
    "NonFiniteError",
    "CheckpointError",
    "atomic_write",
    "resume_checkpoints",
    "restore_checkpoint",
    "weight_problem",
    "save_checkpoint",
    "load_checkpoint",
    "resume_from_checkpoint",
    "load_pretrained_weights",
    "count_num_param",
]

POINTER_FILE = "checkpoint"  # names the newest checkpoint file, as in Dassl
# Weights beyond this magnitude come from a diverged run (no prompt or layer gets near it).
WEIGHT_LIMIT = 1e20
_NUMBERED = re.compile(r"model\.pth\.tar-(\d+)")
_NOT_RESUME_POINTS = ("model-best.pth.tar",)


class NonFiniteError(FloatingPointError):
    """Training produced NaN, infinite or absurdly large values; the message is one line."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or does not fit the model: bad input (train.py's
    exit status 2), said in one line."""


class UntrustedCheckpoint(CheckpointError, pickle.UnpicklingError):
    """A file that ``weights_only=True`` refuses and that real Dassl did not write."""


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


def _fsync_folder(folder: str) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _KeptWriteError:
    """A file whose ``write`` keeps the first OSError it raises: ``torch.save`` turns that into a
    C++ ``RuntimeError`` ("unexpected pos ..."), which would hide a full disk."""

    def __init__(self, f: BinaryIO):
        self.f, self.error = f, None

    def write(self, data: bytes) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = self.error or e
            raise

    def flush(self) -> None:
        self.f.flush()


def atomic_write(fpath: str, write: Callable[[BinaryIO], None]) -> None:
    """``write`` into ``fpath.tmp``, flush it to disk, then rename it to ``fpath``: a reader (or a
    run killed at any moment) sees the old file or the complete new one, never a partial one.

    A write that fails (a full disk, a read-only folder) removes ``fpath.tmp`` and raises one
    OSError whose message is one line; ``fpath`` is left as it was.
    """
    partial = fpath + ".tmp"
    try:
        with open(partial, "wb") as f:
            kept = _KeptWriteError(f)
            try:
                write(kept)
            except RuntimeError:
                if kept.error is None:
                    raise
                raise kept.error from None
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, fpath)
    except OSError as e:
        if osp.exists(partial):
            os.remove(partial)
        folder = osp.dirname(osp.abspath(fpath))
        full = e.errno in (errno.ENOSPC, errno.EDQUOT)
        fix = f"free space on the disk of {folder}" if full else f"make {folder} writable"
        error = OSError(f'Cannot save "{fpath}" ({e.strerror or e}); {fix} and rerun the same command '
                        "(it continues from the last checkpoint saved)")
        error.errno = e.errno
        raise error from None
    _fsync_folder(osp.dirname(osp.abspath(fpath)))


def weight_problem(state_dict: Dict[str, Any], masks_allowed: bool = True) -> str:
    """Why ``state_dict`` holds unusable weights ("" when it does not): NaN, +inf or a magnitude
    above ``WEIGHT_LIMIT`` (a diverged run). ``-inf`` is allowed where ``masks_allowed``, since
    attention masks hold it."""
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.numel() == 0:
            continue
        value = value.detach()
        if torch.isnan(value).any():
            return f"{key} holds NaN"
        if torch.isposinf(value).any() or (not masks_allowed and torch.isneginf(value).any()):
            return f"{key} holds infinite values"
        finite = value[torch.isfinite(value)]
        if finite.numel() and finite.abs().max() > WEIGHT_LIMIT:
            return f"{key} holds values up to {finite.abs().max().item():.3g}"
    return ""


def save_checkpoint(
    state: Dict[str, Any],
    save_dir: str,
    is_best: bool = False,
    remove_module_from_keys: bool = True,
    model_name: str = "",
) -> None:
    """Save ``state`` as ``save_dir/model.pth.tar-<epoch>`` (or ``model_name``).

    The file is written atomically (``atomic_write``); then the text file ``save_dir/checkpoint``
    is rewritten, the same way, to name it (real Dassl reads it to resume). ``is_best`` also copies
    the file to ``model-best.pth.tar``. Weights that are NaN, infinite or absurdly large are never
    written: ``NonFiniteError`` instead.
    """
    problem = weight_problem(state["state_dict"])
    if problem:
        raise NonFiniteError(f"Refusing to save a checkpoint to {save_dir}: {problem}")
    mkdir_if_missing(save_dir)
    if remove_module_from_keys:
        state = {**state, "state_dict": _strip_module_prefix(state["state_dict"])}
    fpath = osp.join(save_dir, model_name or f"model.pth.tar-{state['epoch']}")
    atomic_write(fpath, lambda f: torch.save(state, f))
    print(f"Checkpoint saved to {fpath}")
    atomic_write(osp.join(save_dir, POINTER_FILE), lambda f: f.write((osp.basename(fpath) + "\n").encode()))

    if is_best:
        best_fpath = osp.join(save_dir, "model-best.pth.tar")
        with open(fpath, "rb") as source:
            atomic_write(best_fpath, lambda f: shutil.copyfileobj(source, f))
        print(f'Best checkpoint saved to "{best_fpath}"')


def _torch_load(fpath: str, weights_only: bool) -> Any:
    map_location = None if torch.cuda.is_available() else "cpu"
    try:
        return torch.load(fpath, map_location=map_location, weights_only=weights_only)
    except (PermissionError, IsADirectoryError):
        raise
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as e:  # torch's messages omit the path
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:120]
        raise CheckpointError(
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
    ``weights_only=False`` after a one-line note. Weights that are NaN, infinite or absurdly large
    (a diverged run) are refused with a one-line ValueError.
    """
    if fpath is None:
        raise ValueError("load_checkpoint() got None as the file path; pass the checkpoint's path")
    if not osp.exists(fpath):
        raise FileNotFoundError(missing_file_message(fpath))
    try:
        checkpoint = _torch_load(fpath, weights_only=True)
    except pickle.UnpicklingError:
        if not _written_by_real_dassl(fpath):
            raise UntrustedCheckpoint(
                f'Cannot load "{fpath}" with weights_only=True and it is not a Dassl checkpoint; '
                "if you trust it, load it yourself with torch.load(..., weights_only=False)"
            ) from None
        print(
            f'Note: "{fpath}" was written by real Dassl (it pickles its LR scheduler), '
            "so it is loaded with weights_only=False; load only checkpoints you trust"
        )
        checkpoint = _torch_load(fpath, weights_only=False)
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        problem = weight_problem(checkpoint["state_dict"])
        if problem:
            raise CheckpointError(
                f'Checkpoint "{fpath}" is unusable: {problem}, so the run that wrote it diverged; '
                "train again with a lower OPTIM.LR"
            )
    return checkpoint


def check_state_dict_fits(model: nn.Module, state_dict: Dict[str, Any], source: str, strict: bool = True) -> None:
    """One-line errors for weights that do not fit ``model`` (torch's own are multi-line)."""
    model_state = model.state_dict()
    for key, value in state_dict.items():
        expected = model_state.get(key)
        if isinstance(expected, torch.Tensor) and isinstance(value, torch.Tensor) and expected.shape != value.shape:
            raise CheckpointError(
                f'{source}: "{key}" has shape {tuple(value.shape)} in the checkpoint but '
                f"{tuple(expected.shape)} in the model; load it with the config it was trained with"
            )
    if strict:
        missing = [k for k in model_state if k not in state_dict]
        unexpected = [k for k in state_dict if k not in model_state]
        if missing or unexpected:
            raise CheckpointError(
                f"{source} does not match the model: missing keys {missing}, unexpected keys "
                f"{unexpected}; was it saved by another trainer or model?"
            )


def checkpoint_progress(checkpoint: Dict[str, Any]) -> Tuple[int, int]:
    """(epoch to resume at, batches of it already done): what orders checkpoints by age."""
    train_state = checkpoint.get("train_state") or {}
    return int(checkpoint["epoch"]), int(train_state.get("batch") or 0)


def resume_checkpoints(fdir: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """The checkpoints of ``fdir`` that load, newest first, as (path, checkpoint).

    Candidates are the numbered files and the resume checkpoint (``model-best`` is no resume
    point); the ``checkpoint`` pointer only breaks ties, so an empty or stale pointer, a truncated
    newest file or a partial ``.tmp`` left by a killed save does not stop a rerun. Files that do
    not load are named in one line before the first one that does.
    """
    names = [n for n in listdir_nohidden(fdir) if osp.isfile(osp.join(fdir, n))] if osp.isdir(fdir) else []
    pointed = ""
    if POINTER_FILE in names:
        with open(osp.join(fdir, POINTER_FILE)) as f:
            pointed = f.readline().strip()
    loaded: Dict[str, Dict[str, Any]] = {}
    skipped: List[str] = []

    def load(name: str) -> Optional[Dict[str, Any]]:
        if name not in loaded:
            try:
                loaded[name] = load_checkpoint(osp.join(fdir, name))
                checkpoint_progress(loaded[name])
            except (RuntimeError, EOFError, OSError, ValueError, KeyError, TypeError, pickle.UnpicklingError) as e:
                skipped.append(f"{name} ({str(e).split(': ', 1)[-1][:80]})")
                loaded[name] = None
        return loaded[name]

    candidates = []
    for name in names:
        numbered = _NUMBERED.fullmatch(name)
        if numbered:
            candidates.append(((int(numbered.group(1)), 0), name))
        elif name.startswith("model") and name.endswith(".pth.tar") and name not in _NOT_RESUME_POINTS:
            checkpoint = load(name)  # its epoch is inside
            if checkpoint is not None:
                candidates.append((checkpoint_progress(checkpoint), name))
    candidates.sort(key=lambda c: (c[0], c[1] == pointed), reverse=True)
    for _, name in candidates:
        checkpoint = load(name)
        if checkpoint is None:
            continue
        if skipped:
            print(f"Skipped checkpoints that do not load in {fdir}: {'; '.join(skipped)}")
            skipped.clear()
        yield osp.join(fdir, name), checkpoint
    if skipped:
        print(f"Skipped checkpoints that do not load in {fdir}: {'; '.join(skipped)}")


def restore_checkpoint(
    fpath: str,
    checkpoint: Dict[str, Any],
    model: nn.Module,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[Any] = None,
) -> None:
    """Put a loaded checkpoint's weights, optimizer and scheduler states into the live objects."""
    print(f'Loading checkpoint from "{fpath}"')
    check_state_dict_fits(model, checkpoint["state_dict"], f'Checkpoint "{fpath}"')
    model.load_state_dict(checkpoint["state_dict"])
    print("Loaded model weights")

    if optimizer is not None and checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        print("Loaded optimizer")

    if scheduler is not None and checkpoint.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
        print("Loaded scheduler")


def resume_from_checkpoint(
    fdir: str,
    model: nn.Module,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[Any] = None,
) -> int:
    """Restore model, optimizer and scheduler from the newest checkpoint of ``fdir`` that loads.

    Returns the stored epoch (epoch index + 1), i.e. the index of the next epoch to train, or 0
    (nothing restored) when no checkpoint there loads.
    """
    for fpath, checkpoint in resume_checkpoints(fdir):
        restore_checkpoint(fpath, checkpoint, model, optimizer, scheduler)
        start_epoch = checkpoint["epoch"]
        print(f"Previous epoch: {start_epoch}")
        return start_epoch
    print(f"No checkpoint in {fdir} loads; train from scratch")
    return 0


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
