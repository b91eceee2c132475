"""The run's config: Dassl's defaults plus every trainer's and dataset's own node, merged from
YAML files and command-line pairs with one-line, actionable errors (yacs's own say only
"Non-existent key").

Each module of ``trainers/`` and ``datasets/`` may define ``extend_cfg(cfg)`` to add its node
(``TRAINER.COOP``, ``TRAINER.PLPP``, ...); ``default_config`` collects them all, so a new method
adds its keys in its own file and edits nothing shared.
"""
import difflib
import importlib
import pkgutil
import re
import sys
from typing import Iterator, List, Sequence

from yacs.config import CfgNode


EXTENDED_PACKAGES = ("datasets", "trainers")


def config_extensions() -> Iterator:
    """``extend_cfg`` of each package in ``EXTENDED_PACKAGES`` and of each of its modules, in name order."""
    for package_name in EXTENDED_PACKAGES:
        package = importlib.import_module(package_name)
        names = sorted(m.name for m in pkgutil.iter_modules(package.__path__))
        for module in [package] + [importlib.import_module(f"{package_name}.{name}") for name in names]:
            extend = getattr(module, "extend_cfg", None)
            if callable(extend):
                yield extend


def default_config() -> CfgNode:
    """Dassl's default config with every project node added (not frozen)."""
    from dassl.config import get_cfg_default

    cfg = get_cfg_default()
    for extend in config_extensions():
        extend(cfg)
    cfg.MODEL.BACKBONE.PATH = ""  # a local CLIP checkpoint; $CLIP_CHECKPOINT overrides it
    return cfg


def config_keys(cfg: CfgNode, prefix: str = "") -> List[str]:
    """Every leaf key of ``cfg`` in dotted form (``OPTIM.LR``)."""
    keys = []
    for name, value in cfg.items():
        full = f"{prefix}{name}"
        keys.extend(config_keys(value, full + ".") if isinstance(value, CfgNode) else [full])
    return keys


def closest_key(key: str, cfg: CfgNode) -> str:
    """The valid key nearest to ``key``, preferring keys of the same node."""
    candidates = config_keys(cfg)
    match = difflib.get_close_matches(key, candidates, n=1, cutoff=0.0)
    return match[0] if match else ""


def _explain(error: Exception, cfg: CfgNode, source: str) -> str:
    message = str(error).strip("'\"")
    unknown = re.search(r"Non-existent (?:config )?key: (\S+)", message)
    if unknown:
        key = unknown.group(1)
        return f"Unknown config key {key} {source}; did you mean {closest_key(key, cfg)}?"
    mismatch = re.search(r"Type mismatch \((.*?)\) with values \((.*?)\) for config key: (\S+)", message)
    if mismatch:
        return (
            f"Config key {mismatch.group(3)} {source} has the wrong type ({mismatch.group(2)}; "
            f"expected vs given types: {mismatch.group(1)}), e.g. write 1.0 rather than 1 for a float"
        )
    return f"Invalid config {source}: {message}"


def merge_from_file(cfg: CfgNode, path: str) -> None:
    """``cfg.merge_from_file`` with a one-line ValueError naming the closest valid key."""
    try:
        cfg.merge_from_file(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"Config file not found: {path}") from None
    except (KeyError, AssertionError, ValueError) as e:
        raise ValueError(_explain(e, cfg, f"in {path}")) from None


def merge_from_list(cfg: CfgNode, opts: Sequence[str]) -> None:
    """``cfg.merge_from_list`` (command-line ``KEY VALUE`` pairs) with one-line errors."""
    if len(opts) % 2:
        raise ValueError(f"Config overrides must be KEY VALUE pairs, got an odd number: {' '.join(opts)}")
    try:
        cfg.merge_from_list(list(opts))
    except (KeyError, AssertionError, ValueError) as e:
        raise ValueError(_explain(e, cfg, "on the command line")) from None


def config_file_value(path: str, key: str, default=None, opts: Sequence[str] = ()):
    """A dotted key's value as a run would see it from one YAML config file and command-line
    ``opts`` (KEY VALUE pairs, which win); ``default`` when neither sets it."""
    import yaml

    for name, value in zip(opts[::2], opts[1::2]):
        if name == key:
            return value

    with open(path) as f:
        node = yaml.safe_load(f) or {}
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Print one key of a config file (for shell scripts).")
    parser.add_argument("path")
    parser.add_argument("key", help="dotted key, e.g. OPTIM.MAX_EPOCH")
    parser.add_argument("--default", default=None, help="printed when the file does not set the key")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE overrides, as train.py takes them")
    args = parser.parse_args()
    print(config_file_value(args.path, args.key, args.default, args.opts))
