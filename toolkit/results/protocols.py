"""The four protocols, the datasets each averages over and the order the published tables use.

The dataset groups, their order and their display names come from the dataset catalogue
(``runtime.catalogue``), so a dataset added there shows in the tables without an edit here.
"""
from dataclasses import dataclass
from typing import Tuple

from runtime import catalogue

BENCHMARK_DATASETS = catalogue.BENCHMARKS  # the 11 datasets of the published tables
DG_TARGETS = catalogue.DG_TARGETS  # the 4 ImageNet variants
SOURCE_DATASET = catalogue.SOURCE_DATASET
XD_TARGETS = catalogue.XD_TARGETS
TABLE_ORDER = BENCHMARK_DATASETS + DG_TARGETS
AVERAGE = "average"  # the dataset key of average rows
FIXED_COLUMNS = ("zero-shot", "Base", "New", "HM")


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    average_over: Tuple[str, ...]  # datasets the average row is taken over
    unit: str


PROTOCOLS = {
    p.name: p
    for p in (
        Protocol("base2new", "Base-to-new generalisation", BENCHMARK_DATASETS, "datasets"),
        Protocol("fewshot", "Few-shot learning", BENCHMARK_DATASETS, "datasets"),
        Protocol("xd", "Cross-dataset transfer (source ImageNet)", XD_TARGETS, "targets"),
        Protocol("dg", "Domain generalisation (source ImageNet)", DG_TARGETS, "targets"),
    )
}


def dataset_order(dataset: str) -> Tuple[int, int, str]:
    """The papers' dataset order, other datasets alphabetically, the average last."""
    if dataset == AVERAGE:
        return (2, 0, "")
    return (0, TABLE_ORDER.index(dataset), "") if dataset in TABLE_ORDER else (1, 0, dataset)


def column_order(column: str) -> Tuple[int, str]:
    """zero-shot, Base, New, HM, then shots by number, then anything else by name."""
    if column in FIXED_COLUMNS:
        return (FIXED_COLUMNS.index(column), "")
    number = column.split()[0]
    return (len(FIXED_COLUMNS) + int(number), "") if number.isdigit() else (1 << 30, column)


def dataset_title(dataset: str) -> str:
    """A dataset as the tables name it (the catalogue's display name), "Average" for averages."""
    return "Average" if dataset == AVERAGE else catalogue.display_name(dataset)
