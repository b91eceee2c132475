"""What every run writes next to its results: the resolved config and the environment.

Reproducing a number needs more than the command line (user research: "cannot reproduce paper
numbers" is the most common complaint), so each output folder gets ``config.yaml`` and
``environment.json`` (versions, engine, git commit, device, CLIP checkpoint, command).
"""
import json
import os
import platform
import subprocess
import sys
from datetime import datetime
from typing import Dict, Optional

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
    for name in ("torch", "torchvision", "clip-openai", "yacs", "numpy", "Pillow"):
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


def write_run_record(cfg, output_dir: str, engine: str, clip_checkpoint: Optional[str] = None) -> None:
    """Write ``config.yaml`` and ``environment.json`` into ``output_dir``."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "config.yaml"), "w") as f:
        f.write(cfg.dump())
    with open(os.path.join(output_dir, "environment.json"), "w") as f:
        json.dump(environment_record(engine, clip_checkpoint), f, indent=2)


FINISHED_MARKER = "finished.json"


def mark_finished(output_dir: str, mode: str, **facts) -> None:
    """Record that the run in ``output_dir`` completed; scripts skip folders that have it.

    ``facts`` (JSON values) are what using the run later needs without its dataset: its class
    names and which checkpoint its evaluation used (``toolkit.predict`` reads them).
    """
    with open(os.path.join(output_dir, FINISHED_MARKER), "w") as f:
        json.dump({"mode": mode, "finished": datetime.now().isoformat(timespec="seconds"), **facts}, f)


def read_finished(output_dir: str) -> dict:
    """The finished marker's record; empty when the run did not finish."""
    if not is_finished(output_dir):
        return {}
    with open(os.path.join(output_dir, FINISHED_MARKER)) as f:
        return json.load(f)


def is_finished(output_dir: str) -> bool:
    return os.path.isfile(os.path.join(output_dir, FINISHED_MARKER))
