"""File, randomness and environment helpers with Dassl's names and behaviour."""
import difflib
import errno
import functools
import json
import os
import os.path as osp
import random
import warnings
from typing import Any, List, Sequence

import numpy as np
import PIL
import torch
from PIL import Image

__all__ = [
    "mkdir_if_missing",
    "check_isfile",
    "read_json",
    "write_json",
    "set_random_seed",
    "read_image",
    "collect_env_info",
    "listdir_nohidden",
    "get_most_similar_str_to_a_from_b",
    "check_availability",
    "tolist_if_not",
]


def mkdir_if_missing(dirname: str) -> None:
    """Create a folder (and its parents); a concurrent creation is not an error."""
    if not osp.exists(dirname):
        try:
            os.makedirs(dirname)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise


def check_isfile(fpath: str) -> bool:
    """True if ``fpath`` is a file; warns (as Dassl does) when it is not."""
    isfile = osp.isfile(fpath)
    if not isfile:
        warnings.warn(f'No file found at "{fpath}"')
    return isfile


def read_json(fpath: str) -> Any:
    """The JSON in ``fpath``; a one-line ValueError naming the file and position if it is not JSON."""
    with open(fpath, "r") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"{fpath} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}): it is truncated or "
                "corrupt; download it again, or delete it if this project wrote it (it is then rebuilt)"
            ) from None


def write_json(obj: Any, fpath: str) -> None:
    """Write with Dassl's formatting (indent 4), creating the parent folder."""
    mkdir_if_missing(osp.dirname(osp.abspath(fpath)))
    with open(fpath, "w") as f:
        json.dump(obj, f, indent=4, separators=(",", ": "))


def set_random_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices); like Dassl, cuDNN is left alone."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def read_image(path: str) -> Image.Image:
    """Open an image as RGB, with an error that names the file and what to do."""
    if not osp.exists(path):
        raise IOError(f'Cannot read image: "{path}" does not exist; check DATASET.ROOT or re-download the dataset')
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, SyntaxError, ValueError) as e:
        raise IOError(
            f'Cannot read image "{path}" (corrupt or not an image: {e}); '
            "re-download it, or run `python -m toolkit.data check` to list every bad file"
        ) from e


@functools.lru_cache(maxsize=None)
def collect_env_info() -> str:
    """torch's environment report plus the Pillow version, made once per process (the demo and
    the tests run many trainings in one). The installed packages come from their metadata rather
    than the ``pip list`` subprocess torch starts (half a second per run, most of the report's cost)."""
    from torch.utils import collect_env

    ask = collect_env.run

    def run(command):
        if isinstance(command, list) and command[1:] == ["-mpip", "list", "--format=freeze"]:
            return 0, installed_packages(), ""
        return ask(command)

    collect_env.run = run  # get_env_info reads the module's `run` when called
    try:
        report = collect_env.get_pretty_env_info()
    finally:
        collect_env.run = ask
    return report + f"\n        Pillow ({PIL.__version__})"


def installed_packages() -> str:
    """``pip list --format=freeze``'s lines (name==version, sorted by name) from the metadata of
    the folders a fresh interpreter would search (not what this process added to sys.path)."""
    import site
    from importlib import metadata

    folders = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p] + site.getsitepackages()
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    versions = {}
    for dist in metadata.distributions(path=folders):
        if dist.metadata["Name"]:
            versions.setdefault(dist.metadata["Name"], dist.version)
    return "\n".join(f"{name}=={versions[name]}" for name in sorted(versions, key=str.lower))


def listdir_nohidden(path: str, sort: bool = False) -> List[str]:
    """List a folder without entries whose names start with a dot."""
    items = [f for f in os.listdir(path) if not f.startswith(".")]
    if sort:
        items.sort()
    return items


def get_most_similar_str_to_a_from_b(a: str, b: Sequence[str]) -> str:
    """The string of ``b`` closest to ``a`` (difflib ratio, ignoring case first: a user who types
    "Coop" means "CoOp", not "CoCoOp"; the case-sensitive ratio breaks ties)."""
    best, best_score = "", (-1.0, -1.0)
    for candidate in b:
        score = (difflib.SequenceMatcher(None, a.lower(), candidate.lower()).ratio(),
                 difflib.SequenceMatcher(None, a, candidate).ratio())
        if score > best_score:
            best, best_score = candidate, score
    return best


def check_availability(requested: str, available: Sequence[str]) -> None:
    """Raise a one-line ValueError naming the closest available name."""
    if requested not in available:
        closest = get_most_similar_str_to_a_from_b(requested, available)
        raise ValueError(
            f'The requested one is expected to belong to {list(available)}, but got "{requested}" '
            f'(do you mean "{closest}"?)'
        )


def tolist_if_not(x: Any) -> list:
    if not isinstance(x, list):
        x = [x]
    return x
