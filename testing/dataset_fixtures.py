"""Tiny copies of the CoOp datasets in their exact on-disk layouts, quirks included.

Each fixture has a few classes (odd counts in some, to exercise the ceil(n/2) base/new cut) and a
few 32x32 JPEGs per class and split. Every class has its own colour and shape, so a model can
learn it. Split files are written as CoOp's, and so are the raw files that the datasets fall
back to when a split file is absent; with the default ``images_per_class`` the fallback yields
the same split sizes as the split file.

The layouts follow the format reference (docs/datasets.md in the shared docs), not the dataset
code, so the tests that load them check the dataset code against an independent description.

    python -m testing.dataset_fixtures --root DIR [NAME ...] [--no-split-files]

This module needs only Pillow, NumPy and SciPy (no torch, no Dassl).
"""
import argparse
import csv
import hashlib
import os
import os.path as osp
import sys
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
from scipy.io import savemat

from .fixture_writing import (
    DEFAULT_IMAGES_PER_CLASS,
    FixtureBuilder,
    FixtureInfo,
    cut,
    write_json,
    write_split_file,
    write_text,
)
from .imagenet_fixtures import (
    write_imagenet,
    write_imagenet_a,
    write_imagenet_r,
    write_imagenet_sketch,
    write_imagenetv2,
)
from .shapes import IMAGE_SIZE, look_of


# ---------------------------------------------------------------------------------------------
# One writer per dataset: (root, write the split file?, images per class) -> FixtureInfo
# ---------------------------------------------------------------------------------------------


def _folder_dataset(
    name: str,
    dataset_name: str,
    dataset_folder: str,
    image_folder: str,
    split_file: str,
    classes: Sequence[Tuple[str, str]],
    file_name: Callable[[str, int], str],
    ignored_folders: Sequence[str] = (),
) -> Callable:
    """Writer for ``<image_folder>/<class folder>/<file>`` datasets split 50/20/30 by CoOp.

    ``classes`` are (folder, classname) in label order, i.e. the case-sensitive folder sort.
    """

    def write(root: str, split_file_wanted: bool, images_per_class: Tuple[int, int, int]) -> FixtureInfo:
        builder = FixtureBuilder(osp.join(root, dataset_folder))
        for label, (folder, classname) in enumerate(classes):
            files = [f"{folder}/{file_name(folder, index)}" for index in range(1, sum(images_per_class) + 1)]
            for split, relpaths in cut(files, images_per_class).items():
                for relpath in relpaths:
                    builder.add(split, relpath, image_folder, label, classname, look=label)
        for look, folder in enumerate(ignored_folders, start=len(classes)):
            for index in range(1, 3):
                builder.draw(osp.join(image_folder, folder, file_name(folder, index)), look)
        if split_file_wanted:
            write_split_file(osp.join(builder.dataset_dir, split_file), builder.splits)
        return builder.info(name, dataset_name, split_file_wanted)

    return write


write_caltech101 = _folder_dataset(
    "caltech101",
    "Caltech101",
    "caltech-101",
    "101_ObjectCategories",
    "split_zhou_Caltech101.json",
    # Case-sensitive sort: uppercase folders first; four folders are renamed in the class names.
    [
        ("Faces", "face"),
        ("Leopards", "leopard"),
        ("accordion", "accordion"),
        ("airplanes", "airplane"),
        ("car_side", "car_side"),
    ],
    lambda folder, index: f"image_{index:04d}.jpg",
    ignored_folders=["BACKGROUND_Google", "Faces_easy"],
)

write_dtd = _folder_dataset(
    "dtd",
    "DescribableTextures",
    "dtd",
    "images",
    "split_zhou_DescribableTextures.json",
    [(c, c) for c in ["banded", "blotchy", "braided", "polka-dotted", "zigzagged"]],
    lambda folder, index: f"{folder}_{index:04d}.jpg",
)

write_eurosat = _folder_dataset(
    "eurosat",
    "EuroSAT",
    "eurosat",
    "2750",
    "split_zhou_EuroSAT.json",
    # CamelCase folders, long class names.
    [
        ("AnnualCrop", "Annual Crop Land"),
        ("Forest", "Forest"),
        ("HerbaceousVegetation", "Herbaceous Vegetation Land"),
        ("Highway", "Highway or Road"),
        ("SeaLake", "Sea or Lake"),
    ],
    lambda folder, index: f"{folder}_{index}.jpg",
)

_food101_folders = _folder_dataset(
    "food101",
    "Food101",
    "food-101",
    "images",
    "split_zhou_Food101.json",
    [(c, c) for c in ["apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare", "beet_salad"]],
    lambda folder, index: f"{1000000 + 7919 * index + len(folder)}.jpg",
)


def write_food101(root: str, split_file_wanted: bool, images_per_class: Tuple[int, int, int]) -> FixtureInfo:
    info = _food101_folders(root, split_file_wanted, images_per_class)
    # The official meta/ folder (unused by CoOp).
    write_text(osp.join(info.dataset_dir, "meta", "classes.txt"), info.classnames)
    return info


def write_oxford_pets(root: str, split_file_wanted: bool, images_per_class: Tuple[int, int, int]) -> FixtureInfo:
    """Flat ``images/<Breed>_<n>.jpg``; cats capitalised; annotations/{trainval,test}.txt."""
    # (file-name breed, species 1=cat 2=dog), in class-id order 1..6.
    breeds = [
        ("Abyssinian", 1),
        ("american_bulldog", 2),
        ("american_pit_bull_terrier", 2),
        ("basset_hound", 2),
        ("beagle", 2),
        ("Bengal", 1),
    ]
    builder = FixtureBuilder(osp.join(root, "oxford_pets"))
    trainval_lines, test_lines = [], []
    breed_ids = {1: 0, 2: 0}
    for label, (breed, species) in enumerate(breeds):
        breed_ids[species] += 1
        stems = [f"{breed}_{index}" for index in range(1, sum(images_per_class) + 1)]
        for split, split_stems in cut(stems, images_per_class).items():
            for stem in split_stems:
                builder.add(split, f"{stem}.jpg", "images", label, breed.lower(), look=label)
                line = f"{stem} {label + 1} {species} {breed_ids[species]}"
                (test_lines if split == "test" else trainval_lines).append(line)
    write_text(osp.join(builder.dataset_dir, "annotations", "trainval.txt"), trainval_lines)
    write_text(osp.join(builder.dataset_dir, "annotations", "test.txt"), test_lines)
    if split_file_wanted:
        write_split_file(osp.join(builder.dataset_dir, "split_zhou_OxfordPets.json"), builder.splits)
    return builder.info("oxford_pets", "OxfordPets", split_file_wanted)


def _cars_annotations(fnames: Sequence[str], classes: Optional[Sequence[int]]) -> np.ndarray:
    """The devkit's 1xN ``annotations`` struct array (bbox_*, class, fname)."""
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"] + (["class"] if classes is not None else []) + ["fname"]
    annotations = np.zeros((1, len(fnames)), dtype=[(name, "O") for name in fields])
    for index, fname in enumerate(fnames):
        values = [np.array([[v]], dtype=np.uint16) for v in (1, 1, IMAGE_SIZE - 1, IMAGE_SIZE - 1)]
        if classes is not None:
            values.append(np.array([[classes[index]]], dtype=np.uint8))
        annotations[0, index] = tuple(values + [np.array([fname])])
    return annotations


def write_stanford_cars(root: str, split_file_wanted: bool, images_per_class: Tuple[int, int, int]) -> FixtureInfo:
    """``cars_train/NNNNN.jpg``, ``cars_test/NNNNN.jpg``, the devkit .mat files; split paths carry the folder."""
    # (name in cars_meta.mat, class name with the year moved to the front)
    models = [
        ("AM General Hummer SUV 2000", "2000 AM General Hummer SUV"),
        ("Acura RL Sedan 2012", "2012 Acura RL Sedan"),
        ("Acura TL Sedan 2012", "2012 Acura TL Sedan"),
        ("Acura TL Type-S 2008", "2008 Acura TL Type-S"),
        ("Acura TSX Sedan 2012", "2012 Acura TSX Sedan"),
    ]
    builder = FixtureBuilder(osp.join(root, "stanford_cars"))
    n_train, n_val, n_test = images_per_class
    # (file name, 1-based class), classes interleaved as in the real lists
    trainval = [(f"{i + 1:05d}.jpg", i % len(models) + 1) for i in range((n_train + n_val) * len(models))]
    test = [(f"{i + 1:05d}.jpg", i % len(models) + 1) for i in range(n_test * len(models))]
    seen = {}
    for fname, class_id in trainval:
        seen[class_id] = seen.get(class_id, 0) + 1
        split = "train" if seen[class_id] <= n_train else "val"
        builder.add(split, f"cars_train/{fname}", "", class_id - 1, models[class_id - 1][1], look=class_id - 1)
    for fname, class_id in test:
        builder.add("test", f"cars_test/{fname}", "", class_id - 1, models[class_id - 1][1], look=class_id - 1)

    devkit = osp.join(builder.dataset_dir, "devkit")
    os.makedirs(devkit, exist_ok=True)
    class_names = np.empty((1, len(models)), dtype=object)
    for index, (meta_name, _) in enumerate(models):
        class_names[0, index] = meta_name
    savemat(osp.join(devkit, "cars_meta.mat"), {"class_names": class_names})
    savemat(osp.join(devkit, "cars_train_annos.mat"), {"annotations": _cars_annotations(*zip(*trainval))})
    savemat(osp.join(devkit, "cars_test_annos.mat"), {"annotations": _cars_annotations([f for f, _ in test], None)})
    test_annotations = {"annotations": _cars_annotations(*zip(*test))}
    savemat(osp.join(builder.dataset_dir, "cars_test_annos_withlabels.mat"), test_annotations)
    if split_file_wanted:
        write_split_file(osp.join(builder.dataset_dir, "split_zhou_StanfordCars.json"), builder.splits)
    return builder.info("stanford_cars", "StanfordCars", split_file_wanted)


def write_oxford_flowers(root: str, split_file_wanted: bool, images_per_class: Tuple[int, int, int]) -> FixtureInfo:
    """Flat ``jpg/image_NNNNN.jpg``, ``imagelabels.mat`` (1-based, interleaved) and ``cat_to_name.json``."""
    names = {
        1: "pink primrose",
        2: "hard-leaved pocket orchid",
        3: "canterbury bells",
        4: "sweet pea",
        5: "english marigold",
    }
    builder = FixtureBuilder(osp.join(root, "oxford_flowers"))
    order = [3, 1, 5, 2, 4]  # label order in imagelabels.mat is not sorted
    mat_labels = [order[index % len(order)] for index in range(sum(images_per_class) * len(order))]
    files_by_class = {cat: [] for cat in names}
    for index, cat in enumerate(mat_labels):
        files_by_class[cat].append(f"image_{index + 1:05d}.jpg")
    for cat, files in files_by_class.items():
        for split, split_files in cut(files, images_per_class).items():
            for fname in split_files:
                builder.add(split, fname, "jpg", cat - 1, names[cat], look=cat - 1)
    savemat(osp.join(builder.dataset_dir, "imagelabels.mat"), {"labels": np.array([mat_labels], dtype=np.uint8)})
    write_json(osp.join(builder.dataset_dir, "cat_to_name.json"), {str(cat): names[cat] for cat in order})
    if split_file_wanted:
        write_split_file(osp.join(builder.dataset_dir, "split_zhou_OxfordFlowers.json"), builder.splits)
    return builder.info("oxford_flowers", "OxfordFlowers", split_file_wanted)


def write_fgvc_aircraft(root: str, split_file_wanted: bool, images_per_class: Tuple[int, int, int]) -> FixtureInfo:
    """The ``data/`` folder of fgvc-aircraft-2013b: raw txt lists only (CoOp has no split file)."""
    variants = ["707-320", "A340-500", "Cessna 172", "F/A-18", "DHC-8-100"]  # file order, not sorted
    families = ["Boeing 707", "A340", "Cessna 172", "F/A-18", "DHC-8"]
    builder = FixtureBuilder(osp.join(root, "fgvc_aircraft"))
    lines = {"train": [], "val": [], "test": []}
    image_id = 1000000
    for label, variant in enumerate(variants):
        ids = []
        for _ in range(sum(images_per_class)):
            image_id += 7919
            ids.append(f"{image_id % 10000000:07d}")
        for split, split_ids in cut(ids, images_per_class).items():
            for id_ in split_ids:
                builder.add(split, f"{id_}.jpg", "images", label, variant, look=label)
                lines[split].append(f"{id_} {variant}")
    data = builder.dataset_dir
    write_text(osp.join(data, "variants.txt"), variants)
    write_text(osp.join(data, "families.txt"), families)
    family_of = dict(zip(variants, families))
    for split, split_lines in lines.items():
        write_text(osp.join(data, f"images_variant_{split}.txt"), split_lines)
        write_text(
            osp.join(data, f"images_family_{split}.txt"),
            [f"{l.split(' ', 1)[0]} {family_of[l.split(' ', 1)[1]]}" for l in split_lines],
        )
        write_text(osp.join(data, f"images_{split}.txt"), [l.split(" ", 1)[0] for l in split_lines])
    return builder.info("fgvc_aircraft", "FGVCAircraft", False)


def write_sun397(root: str, split_file_wanted: bool, images_per_class: Tuple[int, int, int]) -> FixtureInfo:
    """``SUN397/<letter>/<category>[/<sub>]/sun_<hash>.jpg``; partition 01 lists; reversed class names."""
    categories = [
        ("a/abbey", "abbey"),
        ("a/apartment_building/outdoor", "outdoor apartment_building"),
        ("b/bakery/shop", "shop bakery"),
        ("b/bamboo_forest", "bamboo_forest"),
        ("c/car_interior/frontseat", "frontseat car_interior"),
    ]
    builder = FixtureBuilder(osp.join(root, "sun397"))
    training, testing = [], []
    for label, (category, classname) in enumerate(categories):
        files = [
            f"{category}/sun_{hashlib.md5(f'{category}{i}'.encode()).hexdigest()[:16]}.jpg"
            for i in range(sum(images_per_class))
        ]
        for split, relpaths in cut(files, images_per_class).items():
            for relpath in relpaths:
                builder.add(split, relpath, "SUN397", label, classname, look=label)
                (testing if split == "test" else training).append(f"/{relpath}")
    write_text(osp.join(builder.dataset_dir, "ClassName.txt"), [f"/{category}" for category, _ in categories])
    write_text(osp.join(builder.dataset_dir, "Training_01.txt"), training)
    write_text(osp.join(builder.dataset_dir, "Testing_01.txt"), testing)
    if split_file_wanted:
        write_split_file(osp.join(builder.dataset_dir, "split_zhou_SUN397.json"), builder.splits)
    return builder.info("sun397", "SUN397", split_file_wanted)


def write_ucf101(root: str, split_file_wanted: bool, images_per_class: Tuple[int, int, int]) -> FixtureInfo:
    """``UCF-101-midframes/<Split_Action>/v_<Action>_gXX_cYY.jpg``; ``ucfTrainTestlist`` split 01 (CRLF)."""
    actions = [
        ("ApplyEyeMakeup", "Apply_Eye_Makeup"),
        ("Archery", "Archery"),
        ("BandMarching", "Band_Marching"),
        ("BlowDryHair", "Blow_Dry_Hair"),
        ("PlayingDaf", "Playing_Daf"),
        ("YoYo", "Yo_Yo"),
    ]
    builder = FixtureBuilder(osp.join(root, "ucf101"))
    n_train, n_val, n_test = images_per_class
    trainlist, testlist = [], []
    for label, (action, folder) in enumerate(actions):
        # Test groups come first (g01...), train groups after them, as in the official split 1.
        clips = [f"v_{action}_g{group:02d}_c01" for group in range(1, n_train + n_val + n_test + 1)]
        test_clips, trainval_clips = clips[:n_test], clips[n_test:]
        for position, clip in enumerate(trainval_clips):
            builder.add(
                "train" if position < n_train else "val",
                f"{folder}/{clip}.jpg",
                "UCF-101-midframes",
                label,
                folder,
                look=label,
            )
            trainlist.append(f"{action}/{clip}.avi {label + 1}")
        for clip in test_clips:
            builder.add("test", f"{folder}/{clip}.jpg", "UCF-101-midframes", label, folder, look=label)
            testlist.append(f"{action}/{clip}.avi")
    lists = osp.join(builder.dataset_dir, "ucfTrainTestlist")
    write_text(
        osp.join(lists, "classInd.txt"), [f"{i + 1} {action}" for i, (action, _) in enumerate(actions)], newline="\r\n"
    )
    write_text(osp.join(lists, "trainlist01.txt"), trainlist, newline="\r\n")
    write_text(osp.join(lists, "testlist01.txt"), testlist, newline="\r\n")
    if split_file_wanted:
        write_split_file(osp.join(builder.dataset_dir, "split_zhou_UCF101.json"), builder.splits)
    return builder.info("ucf101", "UCF101", split_file_wanted)


def write_custom(root: str, split_file_wanted: bool, images_per_class: Tuple[int, int, int]) -> FixtureInfo:
    """An ImageFolder tree for ``configs/datasets/custom.yaml`` plus the same images as ``labels.csv``.

    No split file: CustomDataset makes it on first use. Class names say what the images show.
    """
    builder = FixtureBuilder(osp.join(root, "custom_example"))
    classes = ["_".join(look_of(look)) for look in range(5)]  # red_circle, green_square, ...
    rows = []
    # Labels follow the sorted folder names, as in CustomDataset.
    for label, (classname, look) in enumerate(sorted((name, look) for look, name in enumerate(classes))):
        for index in range(sum(images_per_class)):
            relpath = f"{classname}/{classname}_{index:03d}.jpg"
            # Listed as train only; the sizes reported below are those of the default 50/20/30 split.
            builder.add("train", relpath, "images", label, classname, look=look)
            rows.append([relpath, classname])
    with open(osp.join(builder.dataset_dir, "labels.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "classname"])
        writer.writerows(rows)
    info = builder.info("custom", "CustomDataset", False, csv=osp.join(builder.dataset_dir, "labels.csv"))
    per_class = sum(images_per_class)
    n_val = max(1, round(per_class * 0.2))
    n_test = max(1, round(per_class * (1 - 0.5 - 0.2)))
    info.sizes = {
        "train": (per_class - n_val - n_test) * len(classes),
        "val": n_val * len(classes),
        "test": n_test * len(classes),
    }
    return info


WRITERS: Dict[str, Callable[..., FixtureInfo]] = {
    "imagenet": write_imagenet,
    "caltech101": write_caltech101,
    "oxford_pets": write_oxford_pets,
    "stanford_cars": write_stanford_cars,
    "oxford_flowers": write_oxford_flowers,
    "food101": write_food101,
    "fgvc_aircraft": write_fgvc_aircraft,
    "sun397": write_sun397,
    "dtd": write_dtd,
    "eurosat": write_eurosat,
    "ucf101": write_ucf101,
    "imagenetv2": write_imagenetv2,
    "imagenet_sketch": write_imagenet_sketch,
    "imagenet_a": write_imagenet_a,
    "imagenet_r": write_imagenet_r,
    "custom": write_custom,
}
FIXTURE_NAMES = list(WRITERS)
BENCHMARK_NAMES = [name for name in FIXTURE_NAMES if name != "custom"]


def build_fixture(
    name: str,
    root: str,
    split_file: bool = True,
    images_per_class: Tuple[int, int, int] = DEFAULT_IMAGES_PER_CLASS,
    flat_imagenet_val: bool = False,
) -> FixtureInfo:
    """Write a tiny copy of dataset ``name`` (a config name, e.g. "oxford_pets") under ``root``.

    ``split_file=False`` leaves out CoOp's split file, so the dataset builds its splits from the
    raw files. ``images_per_class`` is (train, val, test) per class; the default makes the raw
    fallback give the same sizes as the split file. ``flat_imagenet_val`` writes ImageNet's val
    images unsorted plus a LOC_val_solution.csv.
    """
    if name not in WRITERS:
        raise ValueError(f"unknown fixture {name!r}; choose from {', '.join(FIXTURE_NAMES)}")
    root = osp.abspath(osp.expanduser(root))
    if name == "imagenet":
        return write_imagenet(root, split_file, images_per_class, flat_val=flat_imagenet_val)
    return WRITERS[name](root, split_file, images_per_class)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testing.dataset_fixtures",
        description="Write tiny copies of the CoOp datasets in their exact on-disk layouts.",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"datasets to write (default: all): {', '.join(FIXTURE_NAMES)}"
    )
    parser.add_argument("--root", required=True, help="folder that receives one folder per dataset (DATASET.ROOT)")
    parser.add_argument(
        "--no-split-files", action="store_true", help="leave out CoOp's split files (test the raw-file fallback)"
    )
    parser.add_argument(
        "--flat-imagenet-val",
        action="store_true",
        help="write ImageNet's val images unsorted, with LOC_val_solution.csv",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in WRITERS]
    if unknown:
        parser.error(f"unknown fixture {unknown[0]!r}; choose from {', '.join(FIXTURE_NAMES)}")
    for name in args.names or FIXTURE_NAMES:
        info = build_fixture(
            name, args.root, split_file=not args.no_split_files, flat_imagenet_val=args.flat_imagenet_val
        )
        sizes = ", ".join(f"{split} {count}" for split, count in info.sizes.items())
        print(f"{info.dataset_name:<20} {len(info.labels)} classes, {sizes} -> {info.dataset_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
