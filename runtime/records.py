"""What every run writes next to its results: the resolved config and the environment.

Reproducing a number needs more than the command line (user research: "cannot reproduce paper
numbers" is the most common complaint), so each output folder gets ``config.yaml`` and
``environment.json`` (versions, engine, git commit, device, CLIP checkpoint, command).

The records never lie: they are written only once a run has started (``train.py`` checks its
input first), ``config.yaml`` is the one a training run started with (a resume must use the same
settings, ``settings_differences``; each resume is appended to ``environment.json``), and an
evaluation records into a folder of its own (``is_training_folder``).
"""
import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime
from typing import Any, Dict, List, Optional, Sequence

import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def git_state(repo: str = REPO_ROOT) -> Dict[str, Optional[str]]:
    """Commit hash and whether tracked files have uncommitted changes (None outside git)."""
    def run(*args: str) -> Optional[str]:
        try:
            return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": run("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def package_versions() -> Dict[str, Optional[str]]:
    from importlib import metadata

    versions = {}
    for name in ("torch", "torchvision", "clip-openai", "open_clip_torch", "timm", "yacs", "numpy", "Pillow"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment_record(engine: str, clip_checkpoint: Optional[str] = None) -> dict:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "time": datetime.now().isoformat(timespec="seconds"),
        "command": [sys.executable] + sys.argv,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "engine": engine,
        "git": git_state(),
        "cuda": torch.version.cuda if cuda else None,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "clip_checkpoint": clip_checkpoint,
    }


CONFIG_RECORD = "config.yaml"
ENVIRONMENT_RECORD = "environment.json"
# Settings a resume may change: they cannot change the results (or only name where things are).
RESUME_MAY_CHANGE = ("OUTPUT_DIR", "RESUME", "DATASET.ROOT", "MODEL.BACKBONE.PATH", "VERBOSE", "DATALOADER.NUM_WORKERS",
                     "DATALOADER.TEST.BATCH_SIZE", "TRAIN.PRINT_FREQ")
# Settings that name where things are or how fast they go, never what a run computes: runs that
# differ only in these are the same experiment (``toolkit.results`` averages them, a sweep reuses
# them). The seed is the one setting a table averages over.
RESULT_NEUTRAL = RESUME_MAY_CHANGE + ("SEED", "TEST.FEATURE_CACHE", "TEST.FEATURE_CACHE_DIR")
_CHECKPOINT_FILE = re.compile(r"(checkpoint|model.*\.pth\.tar.*)")


def _write_atomically(path: str, text: str) -> None:
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def training_checkpoints(folder: str) -> List[str]:
    """Checkpoint files (and pointers) in the model sub-folders of ``folder``, as relative paths."""
    found = []
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            sub = os.path.join(folder, name)
            if os.path.isdir(sub):
                found += [f"{name}/{f}" for f in sorted(os.listdir(sub)) if _CHECKPOINT_FILE.fullmatch(f)]
    return found


def is_training_folder(folder: str) -> bool:
    """True if ``folder`` holds a training run (its checkpoints or its records say so)."""
    if training_checkpoints(folder):
        return True
    return read_finished(folder).get("mode") == "train" or read_environment(folder).get("mode") == "train"


def _flat(node: Any, prefix: str = "") -> Dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix[:-1]: node}
    flat = {}
    for key, value in node.items():
        flat.update(_flat(value, f"{prefix}{key}."))
    return flat


def recorded_settings(folder: str) -> Optional[Dict[str, Any]]:
    """The flat settings of ``folder``'s ``config.yaml`` that can change its result (all but
    ``RESULT_NEUTRAL``); None when the run recorded none (the reference repositories' runs)."""
    try:
        with open(os.path.join(folder, CONFIG_RECORD)) as f:
            recorded = _flat(yaml.safe_load(f) or {})
    except (OSError, yaml.YAMLError):
        return None
    return {key: value for key, value in recorded.items() if key not in RESULT_NEUTRAL}


def settings_differences(cfg, folder: str, may_change: Sequence[str] = RESUME_MAY_CHANGE) -> List[str]:
    """``KEY: recorded -> given`` for each setting of ``cfg`` that differs from ``folder``'s
    ``config.yaml`` (none when there is no record; keys only one side knows are skipped)."""
    path = os.path.join(folder, CONFIG_RECORD)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        recorded = _flat(yaml.safe_load(f) or {})
    given = _flat(yaml.safe_load(cfg.dump()))
    return [
        f"{key}: {recorded[key]} -> {value}"
        for key, value in given.items()
        if key in recorded and key not in may_change and recorded[key] != value
    ]


def read_environment(folder: str) -> dict:
    path = os.path.join(folder, ENVIRONMENT_RECORD)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def write_run_record(cfg, output_dir: str, engine: str, clip_checkpoint: Optional[str] = None, mode: str = "train",
                     resumed: bool = False, data_warnings: Sequence[str] = ()) -> None:
    """Write ``config.yaml`` and ``environment.json`` (with ``mode`` and ``data_warnings``) into
    ``output_dir``; on a resume keep both and append this call's environment to ``resumed``."""
    os.makedirs(output_dir, exist_ok=True)
    from trainers.open_clip_weights import backbone_record

    record = {**environment_record(engine, clip_checkpoint), "backbone": backbone_record(cfg), "mode": mode,
              "data_warnings": list(data_warnings)}
    previous = read_environment(output_dir) if resumed else {}
    if previous:
        previous.setdefault("resumed", []).append(record)
        record = previous
    if not previous or not os.path.isfile(os.path.join(output_dir, CONFIG_RECORD)):
        _write_atomically(os.path.join(output_dir, CONFIG_RECORD), cfg.dump())
    _write_atomically(os.path.join(output_dir, ENVIRONMENT_RECORD), json.dumps(record, indent=2))


FINISHED_MARKER = "finished.json"


def mark_finished(output_dir: str, mode: str, **facts) -> None:
    """Record that the run in ``output_dir`` completed; scripts skip folders that have it.

    ``facts`` (JSON values) are what using the run later needs without its dataset: its class
    names and which checkpoint its evaluation used (``toolkit.predict`` reads them).
    """
    record = {"mode": mode, "finished": datetime.now().isoformat(timespec="seconds"), **facts}
    # The results are in log.txt, written through the stdout tee: on disk before the marker says
    # so, or a run stopped right after it would count as finished without its accuracy.
    sys.stdout.flush()
    _write_atomically(os.path.join(output_dir, FINISHED_MARKER), json.dumps(record))


def read_finished(output_dir: str) -> dict:
    """The finished marker's record; empty when the run did not finish."""
    if not is_finished(output_dir):
        return {}
    try:
        with open(os.path.join(output_dir, FINISHED_MARKER)) as f:
            return json.load(f)
    except ValueError:  # not JSON (e.g. an empty marker): finished, with no facts
        return {}


def is_finished(output_dir: str) -> bool:
    return os.path.isfile(os.path.join(output_dir, FINISHED_MARKER))
