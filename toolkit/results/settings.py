"""Runs trained with different settings never share a mean.

Each run records the config it ran with (``config.yaml``, runtime.records). The seeds of one
table cell are compared on every setting that can change a result (``RESULT_NEUTRAL`` names the
ones that cannot: folders, workers, the seed itself); seeds that differ are split into rows of
their own, labelled by the settings that differ (the method's ``point``), with a warning. An
evaluation's seed goes with its training run: base-to-new's parts of one dataset, and a
cross-dataset source with its targets, are compared together.
"""
import hashlib
import json
from collections import defaultdict
from dataclasses import replace
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .discover import Cell, seed_order

NOT_RECORDED = "settings not recorded"
TRAINING_PARTS = ("train_base", "fewshot", "source")

Settings = Dict[str, Any]


def unit_key(cell: Cell) -> Tuple:
    """The cells whose runs of one seed belong together (one training run and its evaluations)."""
    if cell.protocol == "base2new":
        return ("base2new", cell.method, cell.dataset)
    if cell.part in ("source", "target"):
        return (cell.protocol, cell.method)
    return ("cell", cell.protocol, cell.method, cell.dataset, cell.shots, cell.cfg)


def seed_settings(cells: List[Cell], seed: str) -> Optional[Settings]:
    """One seed's settings over a unit: the training run's, and each evaluation's as
    ``KEY (part dataset)``; None when one of its runs recorded none."""
    runs = [(cell, cell.runs[seed]) for cell in cells if seed in cell.runs]
    if any(run.settings is None for _, run in runs):
        return None
    combined: Settings = {}
    for cell, run in runs:
        trained = cell.part in TRAINING_PARTS
        combined.update({key if trained else evaluation_key(key, cell): value for key, value in run.settings.items()})
    return combined


def evaluation_key(key: str, cell: Cell) -> str:
    return f"{key} ({cell.part} {cell.dataset})"


def shown_keys(keys: List[str], settings: List[Settings]) -> List[str]:
    """``keys`` less an evaluation's key that only repeats its training run's (the same override
    given to both, as the scripts and sweeps do)."""
    def repeats(key: str) -> bool:
        plain = key.split(" (")[0]
        return plain != key and plain in keys and all(s.get(key) == s.get(plain) for s in settings)

    return [key for key in keys if not repeats(key)]


def value_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def differing_keys(groups: Iterable[Settings]) -> List[str]:
    groups = list(groups)
    keys = sorted({key for settings in groups for key in settings})
    return [key for key in keys if len({value_text(settings.get(key, "<unset>")) for settings in groups}) > 1]


def seed_labels(cells: List[Cell]) -> Tuple[Dict[str, str], List[str]]:
    """Per seed, the label of its settings group (``KEY=V,...``; empty when every seed agrees),
    and the keys the groups differ in."""
    seeds = sorted({seed for cell in cells for seed in cell.runs}, key=seed_order)
    by_seed = {seed: seed_settings(cells, seed) for seed in seeds}
    recorded = {json.dumps(s, sort_keys=True, default=str): s for s in by_seed.values() if s is not None}
    unrecorded = any(s is None for s in by_seed.values())
    if len(recorded) + unrecorded < 2:
        return {seed: "" for seed in seeds}, []
    keys = shown_keys(differing_keys(recorded.values()), list(recorded.values()))
    labels = {}
    for seed, settings in by_seed.items():
        if settings is None:
            labels[seed] = NOT_RECORDED
        else:
            labels[seed] = ",".join(f"{key}={value_text(settings.get(key, '<unset>'))}" for key in keys)
    return labels, keys or [NOT_RECORDED]


def split_by_settings(cells: List[Cell]) -> Tuple[List[Cell], List[str]]:
    """Cells whose seeds were trained with different settings become one cell per settings group
    (its method's ``point`` says which); with one message per split unit for the warnings."""
    units: Dict[Tuple, List[Cell]] = defaultdict(list)
    for cell in cells:
        units[unit_key(cell)].append(cell)
    result, messages = [], []
    for unit in units.values():
        labels, keys = seed_labels(unit)
        if not keys:
            result.extend(unit)
            continue
        for cell in unit:
            for label in sorted({labels[seed] for seed in cell.runs}):
                point = ",".join(filter(None, (cell.method.point, label)))
                runs = {seed: run for seed, run in cell.runs.items() if labels[seed] == label}
                result.append(replace(cell, method=replace(cell.method, point=point), runs=runs))
        groups = defaultdict(list)
        for seed, label in labels.items():
            groups[label].append(seed)
        first = unit[0]
        where = f"{first.protocol} {first.method.label} {first.dataset if first.protocol != 'xd' else ''}".rstrip()
        parts = "; ".join(f"seed {', '.join(seeds)}: {label}" for label, seeds in groups.items())
        messages.append(f"{where}: its seeds were trained with different settings ({', '.join(keys)}), so they are "
                        f"shown as separate rows, never averaged ({parts}); rerun the odd seeds with the others' settings")
    return result, messages


def settings_id(settings: Optional[Settings]) -> str:
    """A short name for one run's settings in results.json (``""`` when it recorded none)."""
    if settings is None:
        return ""
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]
