"""The ImageNet fixture and its test-only variants (V2, Sketch, A, R), sharing ImageNet's
classnames.txt; the real first wnids, then made-up ones that sort after them."""
import csv
import hashlib
import os
import os.path as osp
from typing import Callable, List, Sequence, Tuple

from .fixture_writing import FixtureBuilder, FixtureInfo, write_text

VARIANT_IMAGES_PER_CLASS = 4

# The first lines of ImageNet's classnames.txt that the ImageNet fixtures use (sorted by wnid).
IMAGENET_CLASSES = [
    ("n01440764", "tench"),
    ("n01443537", "goldfish"),
    ("n01484850", "great white shark"),
    ("n01491361", "tiger shark"),
    ("n01494475", "hammerhead shark"),
    ("n01496331", "electric ray"),
    ("n01498041", "stingray"),
    ("n01514668", "rooster"),
    ("n01514859", "hen"),
    ("n01518878", "ostrich"),
    ("n01531178", "goldfinch"),
    ("n01534433", "junco"),
]


def imagenet_classnames() -> List[Tuple[str, str]]:
    """1000 (wnid, name) lines: the real first lines, then made-up wnids that sort after them."""
    filler = [(f"n9{index:07d}", f"imagenet class {index}") for index in range(len(IMAGENET_CLASSES), 1000)]
    return IMAGENET_CLASSES + filler


def write_imagenet_classnames(dataset_dir: str) -> List[Tuple[str, str]]:
    classnames = imagenet_classnames()
    write_text(osp.join(dataset_dir, "classnames.txt"), [f"{wnid} {name}" for wnid, name in classnames])
    return classnames



def write_imagenet(
    root: str, split_file_wanted: bool, images_per_class: Tuple[int, int, int], flat_val: bool = False
) -> FixtureInfo:
    """``images/train/<wnid>/`` and ``images/val/<wnid>/`` with the same wnids, and classnames.txt.

    ``flat_val`` writes the val images as the official archive does (all in ``images/val/``) plus
    Kaggle's ``LOC_val_solution.csv``, to exercise re-foldering.
    """
    builder = FixtureBuilder(osp.join(root, "imagenet"))
    classnames = write_imagenet_classnames(builder.dataset_dir)
    n_train, _, n_test = images_per_class
    solution_rows = []
    val_index = 0
    for label, (wnid, classname) in enumerate(classnames[:5]):
        for index in range(1, n_train + 1):
            builder.add("train", f"train/{wnid}/{wnid}_{index}.JPEG", "images", label, classname, look=label)
        for _ in range(n_test):
            val_index += 1
            stem = f"ILSVRC2012_val_{val_index:08d}"
            relpath = f"val/{stem}.JPEG" if flat_val else f"val/{wnid}/{stem}.JPEG"
            builder.add("test", relpath, "images", label, classname, look=label)
            solution_rows.append([stem, f"{wnid} 10 10 20 20"])
    builder.splits["val"] = list(builder.splits["test"])
    extra = {}
    if flat_val:
        extra["val_solution"] = osp.join(builder.dataset_dir, "LOC_val_solution.csv")
        with open(extra["val_solution"], "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["ImageId", "PredictionString"])
            writer.writerows(solution_rows)
    return builder.info("imagenet", "ImageNet", False, **extra)


def _variant(
    name: str,
    dataset_name: str,
    dataset_folder: str,
    image_folder: str,
    wnids: Sequence[str],
    file_name: Callable[[int], str],
    readme: bool,
) -> Callable:
    """Writer for the test-only variants with ``<image_folder>/<wnid>/`` class folders."""

    def write(root: str, split_file_wanted: bool, images_per_class: Tuple[int, int, int]) -> FixtureInfo:
        builder = FixtureBuilder(osp.join(root, dataset_folder))
        classnames = write_imagenet_classnames(builder.dataset_dir)
        name_of = dict(classnames)
        look_by_wnid = {wnid: index for index, (wnid, _) in enumerate(classnames)}
        for label, wnid in enumerate(sorted(wnids)):
            for index in range(VARIANT_IMAGES_PER_CLASS):
                builder.add(
                    "test", f"{wnid}/{file_name(index)}", image_folder, label, name_of[wnid], look=look_by_wnid[wnid]
                )
        if readme:
            write_text(
                osp.join(builder.dataset_dir, image_folder, "README.txt"),
                ["This archive holds one folder per class (wnid)."],
            )
        builder.splits = {"test": builder.splits["test"]}
        return builder.info(name, dataset_name, False)

    return write


write_imagenet_sketch = _variant(
    "imagenet_sketch",
    "ImageNetSketch",
    "imagenet-sketch",
    "images",
    ["n01440764", "n01443537", "n01484850"],
    lambda i: f"sketch_{i}.JPEG",
    readme=False,
)
write_imagenet_a = _variant(
    "imagenet_a",
    "ImageNetA",
    "imagenet-adversarial",
    "imagenet-a",
    ["n01498041", "n01531178", "n01534433"],  # ImageNet-A's first wnids
    lambda i: f"0.00{i}116_digital clock _ digital clock_0.86566{i}.jpg",  # names contain spaces
    readme=True,
)
write_imagenet_r = _variant(
    "imagenet_r",
    "ImageNetR",
    "imagenet-rendition",
    "imagenet-r",
    ["n01443537", "n01484850", "n01494475"],  # ImageNet-R's first wnids (not A's)
    lambda i: f"{['art', 'cartoon'][i % 2]}_{i}.jpg",
    readme=True,
)


def write_imagenetv2(root: str, split_file_wanted: bool, images_per_class: Tuple[int, int, int]) -> FixtureInfo:
    """All 1000 numeric folders (most empty); the folder number is the label."""
    builder = FixtureBuilder(osp.join(root, "imagenetv2"))
    classnames = write_imagenet_classnames(builder.dataset_dir)
    image_dir = osp.join(builder.dataset_dir, "imagenetv2-matched-frequency-format-val")
    for label in range(1000):
        os.makedirs(osp.join(image_dir, str(label)), exist_ok=True)
    for label in (0, 1, 2, 3, 999):
        for index in range(VARIANT_IMAGES_PER_CLASS):
            file_name = hashlib.sha1(f"{label}-{index}".encode()).hexdigest() + ".jpeg"
            builder.add(
                "test",
                f"{label}/{file_name}",
                "imagenetv2-matched-frequency-format-val",
                label,
                classnames[label][1],
                look=label,
            )
    builder.splits = {"test": builder.splits["test"]}
    return builder.info("imagenetv2", "ImageNetV2", False)
