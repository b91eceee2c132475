"""One record per dataset, torch-free: everything the project knows about a dataset, in one place.

The dataset classes read their folders from it, the data command its sources, sizes and manual
steps, the results tables its display names and protocol groups, zero-shot CLIP its template.
(The test fixtures in ``testing/dataset_fixtures.py`` describe the layouts independently, on
purpose: they are the tests' oracle.) Adding a dataset is one record in ``records.py`` plus its
dataset class and config.
"""
import difflib
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

ROLES = ("benchmark", "imagenet_variant")


@dataclass(frozen=True)
class Source:
    """One file fetched into the dataset folder; skipped once ``provides`` exists there."""

    filename: str
    provides: str  # path inside the dataset folder that exists once this source is in place
    urls: Tuple[str, ...] = ()  # HTTP(S) mirrors, tried in order
    drive_id: str = ""  # Google Drive file id, tried after the URLs
    md5: str = ""
    extract: bool = False  # an archive: unpack it into the dataset folder, then delete it
    local_copy: str = ""  # path under the root to copy instead of downloading, if it exists
    optional: bool = False  # needed only when the split file is absent (raw-file fallback)


@dataclass(frozen=True)
class Move:
    """Merge ``src`` into ``dst`` (both inside the dataset folder; "." is the folder itself)."""

    src: str
    dst: str


@dataclass(frozen=True)
class Unpack:
    """Unpack an archive found inside the dataset folder (nested archives), then delete it."""

    path: str


@dataclass(frozen=True)
class Remove:
    path: str


@dataclass(frozen=True)
class DatasetRecord:
    name: str  # config name: configs/datasets/<name>.yaml, the scripts' DATASET argument
    dataset_name: str  # DATASET.NAME, the registered dataset class
    display_name: str  # as the published tables name it
    dataset_dir: str  # folder under DATASET.ROOT
    num_classes: int
    sizes: Dict[str, int]  # images per split as CoOp's datasets load them
    template: str  # zero-shot CLIP's hand-written prompt, "{}" for the class name
    sources: Tuple[Source, ...]  # what the data command downloads
    required: Tuple[str, ...]  # paths inside the dataset folder needed to load it
    manual: str  # steps printed when something required is still missing; {root} and {dir} are filled in
    fixes: Tuple[object, ...] = ()  # Move/Unpack/Remove steps, run after every source (idempotent)
    role: str = "benchmark"  # "benchmark" (the 11 datasets of the tables) or "imagenet_variant" (test only)

    @property
    def split_file(self) -> str:
        """CoOp's split file inside the dataset folder, "" for a dataset without one."""
        return next((path for path in self.required if path.startswith("split_zhou_")), "")


def split_file_source(dataset_name: str, drive_id: str) -> Source:
    return Source(f"split_zhou_{dataset_name}.json", f"split_zhou_{dataset_name}.json", drive_id=drive_id)


def classnames_source(optional: bool = False) -> Source:
    """ImageNet's classnames.txt (CLIP's class names); the variants take a copy of ImageNet's."""
    return Source(
        "classnames.txt",
        "classnames.txt",
        drive_id="1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF",
        local_copy="imagenet/classnames.txt",
        optional=optional,
    )


from .records import RECORDS  # noqa: E402  (the records use the types above)

BY_NAME: Dict[str, DatasetRecord] = {r.name: r for r in RECORDS}
BY_DATASET_NAME: Dict[str, DatasetRecord] = {r.dataset_name: r for r in RECORDS}
BENCHMARKS: Tuple[str, ...] = tuple(r.name for r in RECORDS if r.role == "benchmark")  # the 11, table order
IMAGENET_VARIANTS: Tuple[str, ...] = tuple(r.name for r in RECORDS if r.role == "imagenet_variant")
SOURCE_DATASET = "imagenet"  # cross-dataset transfer and domain generalisation train here
XD_TARGETS: Tuple[str, ...] = tuple(name for name in BENCHMARKS if name != SOURCE_DATASET)
DG_TARGETS = IMAGENET_VARIANTS
DEFAULT_TEMPLATE = "a photo of a {}."  # datasets without a record (custom datasets)


def record(name: str) -> DatasetRecord:
    """The record of a config name (``oxford_pets``) or dataset name (``OxfordPets``), any case;
    a ValueError naming the closest match otherwise."""
    return resolve([name])[0]


def resolve(names: Sequence[str]) -> List[DatasetRecord]:
    """Records for config names, dataset names (any case) or "all", without repeats."""
    by_key = {}
    for r in RECORDS:
        by_key[r.name.lower()] = r
        by_key[r.dataset_name.lower()] = r
    found: List[DatasetRecord] = []
    for name in names:
        if name.lower() == "all":
            return list(RECORDS)
        if name.lower() not in by_key:
            close = difflib.get_close_matches(name.lower(), by_key, n=1)
            suggestion = f' (did you mean "{by_key[close[0]].name}"?)' if close else ""
            raise ValueError(f'unknown dataset "{name}"{suggestion}; known: {", ".join(r.name for r in RECORDS)}')
        if by_key[name.lower()] not in found:
            found.append(by_key[name.lower()])
    return found


def display_name(name: str) -> str:
    """How the tables name a dataset given by config name; unknown names stay as they are."""
    return BY_NAME[name].display_name if name in BY_NAME else name


def zero_shot_template(dataset_name: str) -> str:
    """Zero-shot CLIP's prompt for a DATASET.NAME ("a photo of a {}." for datasets without a record)."""
    return BY_DATASET_NAME[dataset_name].template if dataset_name in BY_DATASET_NAME else DEFAULT_TEMPLATE
