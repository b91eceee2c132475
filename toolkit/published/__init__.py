"""Published results of the methods this toolkit ships, as data, each table with its source and
setting (backbone, shots, seeds averaged, the configs a run must use to be compared with it).

Torch-free: the results command, the sweep and the tests read it at once. The numbers are in
``data.py``, whose docstring says where each table was read; each table carries its ``source``. Only what a
named source prints is stored: where a source publishes only an average, only the average is
here; tables that could not be found (PLPP's: only its abstract is public) are listed in
``NOT_PUBLISHED`` so a table can say so instead of showing a blank.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

AVERAGE = "average"  # the dataset key of a published average row (as toolkit.results)


@dataclass(frozen=True)
class Setting:
    """What a published number was measured with."""

    backbone: str = "ViT-B/16"
    shots: int = 16
    seeds: str = "mean of 3 seeds"
    configs: Tuple[str, ...] = ()  # our runs compare only when their config is one of these


@dataclass(frozen=True)
class PublishedTable:
    """One method's published row(s) of one protocol: dataset -> column -> value (%).

    Columns are those of ``toolkit.results``: ``Base``/``New``/``HM`` (base-to-new),
    ``accuracy`` (cross-dataset, domain generalisation), ``<K> shot(s)`` (few-shot).
    ``rows`` holds per-dataset numbers, ``average`` the published average row (may be alone).
    """

    protocol: str  # base2new | fewshot | xd | dg
    trainer: str  # the TRAINER_REGISTRY name our runs carry
    source: str  # paper and table, or repository file
    setting: Setting
    rows: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    average: Mapping[str, float] = field(default_factory=dict)
    average_over: Tuple[str, ...] = ()  # the datasets the published average is taken over
    label: str = ""  # how the source names the method, when not the trainer name

    def value(self, dataset: str, column: str) -> Optional[float]:
        if dataset == AVERAGE:
            return self.average.get(column)
        return self.rows.get(dataset, {}).get(column)

    def matches(self, protocol: str, trainer: str, cfg: str) -> bool:
        """Whether our ``trainer``/``cfg`` runs of ``protocol`` compare with this table."""
        configs = self.setting.configs
        return protocol == self.protocol and trainer == self.trainer and (not configs or cfg in configs)

    def describe(self) -> str:
        """The source and setting in one line, for table notes."""
        s = self.setting
        configs = f", config {' or '.join(s.configs)}" if s.configs else ""
        shots = f", {s.shots} shots" if self.protocol != "fewshot" else ""
        return f"{self.label or self.trainer}: {self.source} ({s.backbone}{shots}, {s.seeds}{configs})"


def tables() -> List[PublishedTable]:
    from .data import TABLES

    return list(TABLES)


def find(protocol: str, trainer: str, cfg: str) -> Optional[PublishedTable]:
    """The published table our ``trainer``/``cfg`` runs of ``protocol`` compare with, if any."""
    found = [t for t in tables() if t.matches(protocol, trainer, cfg)]
    return found[0] if found else None


def not_published(trainer: str) -> Optional[str]:
    """Why ``trainer`` has no published numbers (PLPP and its variants, with other plug-ins too), or None."""
    from .data import NOT_PUBLISHED

    for name, reason in NOT_PUBLISHED.items():
        if name in trainer.split("_"):
            return reason
    return None


def count() -> Dict[str, int]:
    """How many numbers are stored, per protocol (the README and the closing note quote it)."""
    totals: Dict[str, int] = {}
    for t in tables():
        n = sum(len(columns) for columns in t.rows.values()) + len(t.average)
        totals[t.protocol] = totals.get(t.protocol, 0) + n
    return totals


__all__ = ["AVERAGE", "PublishedTable", "Setting", "count", "find", "not_published", "tables"]
