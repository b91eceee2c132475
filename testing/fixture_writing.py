"""Building blocks of the fixture writers: what a fixture holds, file writers, the split cut."""
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

from .shapes import draw_image

DEFAULT_IMAGES_PER_CLASS = (6, 2, 4)  # train, val, test


@dataclass
class FixtureInfo:
    """What a fixture holds, as the dataset class should report it after loading."""

    name: str  # fixture and config name, e.g. "oxford_pets"
    dataset_name: str  # DATASET.NAME, e.g. "OxfordPets"
    dataset_dir: str  # absolute folder written
    classnames: List[str]  # class names of the labels present, in label order
    labels: List[int]  # labels present, sorted
    sizes: Dict[str, int]  # images per split ("test" only for the ImageNet variants)
    has_split_file: bool = False
    extra: Dict[str, str] = field(default_factory=dict)  # other files written, by role



def write_text(path: str, lines: Sequence[str], newline: str = "\n") -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write("".join(line + newline for line in lines))


def write_json(path: str, obj) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=4)


def write_split_file(path: str, splits: Dict[str, List[Tuple[str, int, str]]]) -> None:
    """CoOp's split file: {"train"|"val"|"test": [[relative path, label, classname], ...]}."""
    write_json(path, {name: [list(item) for item in splits[name]] for name in ("train", "val", "test")})


def cut(items: Sequence, images_per_class: Tuple[int, int, int]) -> Dict[str, list]:
    """Split one class's items into train / val / test by the given counts."""
    n_train, n_val, _ = images_per_class
    return {
        "train": list(items[:n_train]),
        "val": list(items[n_train : n_train + n_val]),
        "test": list(items[n_train + n_val :]),
    }



class FixtureBuilder:
    """Collects the images of a fixture split by split, drawing each one."""

    def __init__(self, dataset_dir: str):
        self.dataset_dir = dataset_dir
        self.splits: Dict[str, List[Tuple[str, int, str]]] = {"train": [], "val": [], "test": []}

    def add(self, split: str, relpath: str, prefix: str, label: int, classname: str, look: int) -> None:
        """Draw ``<dataset_dir>/<prefix>/<relpath>`` and list it in ``split`` as (relpath, label, classname)."""
        self.draw(osp.join(prefix, relpath), look)
        self.splits[split].append((relpath, label, classname))

    def draw(self, path_in_dataset: str, look: int) -> None:
        """Draw ``<dataset_dir>/<path_in_dataset>``, seeded by ``path_in_dataset``: the same image
        wherever the dataset is built."""
        draw_image(osp.join(self.dataset_dir, path_in_dataset), look, name=path_in_dataset)

    def info(self, name: str, dataset_name: str, has_split_file: bool, **extra: str) -> FixtureInfo:
        names = {label: classname for split in self.splits.values() for _, label, classname in split}
        # The classes a dataset reports are those of train_x (the test data for the variants).
        labels = sorted({label for _, label, _ in self.splits.get("train") or self.splits["test"]})
        return FixtureInfo(
            name=name,
            dataset_name=dataset_name,
            dataset_dir=self.dataset_dir,
            classnames=[names[label] for label in labels],
            labels=labels,
            sizes={split: len(items) for split, items in self.splits.items()},
            has_split_file=has_split_file,
            extra=dict(extra),
        )
