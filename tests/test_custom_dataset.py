"""CustomDataset: a user's ImageFolder tree or CSV, configured only in YAML."""
import csv
import json
import os
import os.path as osp
import random

import pytest

import datasets
from dassl.config import get_cfg_default
from dassl.data.datasets import build_dataset
from testing.dataset_fixtures import build_fixture
from testing.shapes import draw_image

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
EXAMPLE_CONFIG = osp.join(REPO, "configs", "datasets", "custom.yaml")


def make_cfg(root, num_shots=-1, subsample="all", **custom):
    cfg = get_cfg_default()
    datasets.extend_cfg(cfg)
    cfg.merge_from_file(EXAMPLE_CONFIG)
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NUM_SHOTS = num_shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.SEED = 1
    cfg.VERBOSE = False
    for key, value in custom.items():
        cfg.DATASET.CUSTOM[key] = value
    return cfg


def load(root, **kwargs):
    return build_dataset(make_cfg(root, **kwargs))


def impaths(items):
    return [item.impath for item in items]


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def test_config_node_defaults_and_example_yaml():
    cfg = get_cfg_default()
    datasets.extend_cfg(cfg)
    assert dict(cfg.DATASET.CUSTOM) == {
        "DATASET_DIR": "",
        "IMAGE_DIR": "images",
        "CSV": "",
        "CLASSNAMES": "",
        "SPLIT_FILE": "",
        "TRAIN_FRACTION": 0.5,
        "VAL_FRACTION": 0.2,
        "SPLIT_SEED": 1,
    }
    cfg.merge_from_file(EXAMPLE_CONFIG)  # every key of the example exists
    assert cfg.DATASET.NAME == "CustomDataset" and cfg.DATASET.CUSTOM.DATASET_DIR == "custom_example"


def test_image_folder_tree_with_the_example_config(tmp_path):
    info = build_fixture("custom", tmp_path)
    dataset = load(tmp_path)
    assert dataset.classnames == info.classnames == sorted(info.classnames)
    assert {"train": len(dataset.train_x), "val": len(dataset.val), "test": len(dataset.test)} == info.sizes
    split_path = osp.join(info.dataset_dir, "split_zhou_custom_example.json")
    split = json.load(open(split_path))
    assert set(split) == {"train", "val", "test"}
    relpath, label, classname = split["train"][0]
    assert osp.isfile(osp.join(info.dataset_dir, "images", relpath)) and classname == info.classnames[label]
    images = sorted(impaths(dataset.train_x + dataset.val + dataset.test))
    assert len(set(images)) == len(images) == sum(info.sizes.values())

    stamp = os.stat(split_path).st_mtime_ns
    assert impaths(load(tmp_path).test) == impaths(dataset.test)  # read back, not re-split
    assert os.stat(split_path).st_mtime_ns == stamp


def test_the_split_depends_on_split_seed_only(tmp_path):
    build_fixture("custom", tmp_path / "a")
    build_fixture("custom", tmp_path / "b")
    build_fixture("custom", tmp_path / "c")
    random.seed(0)
    a = load(tmp_path / "a")
    random.seed(99)  # the global random state does not matter
    b = load(tmp_path / "b")
    c = load(tmp_path / "c", SPLIT_SEED=2)
    relative = lambda items, root: [osp.relpath(p, str(root)) for p in impaths(items)]  # noqa: E731
    assert relative(a.test, tmp_path / "a") == relative(b.test, tmp_path / "b")
    assert relative(a.test, tmp_path / "a") != relative(c.test, tmp_path / "c")


def test_fewshot_and_base_new_work_as_for_the_benchmarks(tmp_path):
    info = build_fixture("custom", tmp_path)
    random.seed(1)
    fewshot = load(tmp_path, num_shots=2)
    assert osp.isfile(osp.join(info.dataset_dir, "split_fewshot", "shot_2-seed_1.pkl"))
    assert len(fewshot.train_x) == 2 * len(info.classnames)
    base = load(tmp_path, num_shots=2, subsample="base")
    new = load(tmp_path, num_shots=2, subsample="new")
    assert base.classnames == info.classnames[:3] and new.classnames == info.classnames[3:]
    assert sorted({item.label for item in new.test}) == [0, 1]


def test_csv_with_class_names_gives_the_same_classes(tmp_path):
    info = build_fixture("custom", tmp_path)
    dataset = load(tmp_path, CSV="labels.csv", SPLIT_FILE="split_from_csv.json")
    assert dataset.classnames == info.classnames
    assert osp.isfile(osp.join(info.dataset_dir, "split_from_csv.json"))
    assert len(dataset.train_x) + len(dataset.val) + len(dataset.test) == sum(info.sizes.values())


def test_csv_with_integer_labels_and_a_split_column(tmp_path):
    root = tmp_path
    image_dir = root / "pets" / "photos"
    rows = []
    for index in range(6):
        for label in (0, 1):
            relpath = f"{'cat' if label == 0 else 'dog'}_{index}.png"
            draw_image(str(image_dir / relpath), look=label, name=relpath)
            rows.append([relpath, str(label), ["train", "train", "train", "val", "test", "test"][index]])
    write_csv(root / "pets" / "list.csv", [["path", "label", "split"]] + rows)
    (root / "pets" / "names.txt").write_text("tabby cat\ngolden retriever\n")
    dataset = load(root, DATASET_DIR="pets", IMAGE_DIR="photos", CSV="list.csv", CLASSNAMES="names.txt")
    assert dataset.classnames == ["tabby cat", "golden retriever"]
    assert (len(dataset.train_x), len(dataset.val), len(dataset.test)) == (6, 2, 4)
    assert all(osp.basename(item.impath).startswith("cat") == (item.label == 0) for item in dataset.test)

    os.remove(root / "pets" / "split_zhou_pets.json")
    with pytest.raises(ValueError, match="set DATASET.CUSTOM.CLASSNAMES"):
        load(root, DATASET_DIR="pets", IMAGE_DIR="photos", CSV="list.csv")


def test_non_image_files_are_ignored_in_class_folders(tmp_path):
    info = build_fixture("custom", tmp_path)
    (tmp_path / "custom_example" / "images" / info.classnames[0] / "notes.txt").write_text("taken in 2024")
    (tmp_path / "custom_example" / "images" / "README.md").write_text("my images")
    dataset = load(tmp_path)
    assert dataset.classnames == info.classnames
    assert not any(item.impath.endswith(".txt") for item in dataset.train_x + dataset.val + dataset.test)


def assert_one_line(error, *fragments):
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_bad_input_gives_one_line_errors(tmp_path):
    with pytest.raises(ValueError) as error:
        load(tmp_path, DATASET_DIR="")
    assert_one_line(error, "DATASET.CUSTOM.DATASET_DIR is empty", "configs/datasets/custom.yaml")

    with pytest.raises(FileNotFoundError) as error:
        load(tmp_path)
    assert_one_line(error, f"dataset folder not found: {tmp_path}/custom_example", "DATASET.CUSTOM.DATASET_DIR")

    info = build_fixture("custom", tmp_path)
    with pytest.raises(FileNotFoundError) as error:
        load(tmp_path, IMAGE_DIR="pictures")
    assert_one_line(error, f"image folder not found: {info.dataset_dir}/pictures")

    with pytest.raises(FileNotFoundError) as error:
        load(tmp_path, CSV="missing.csv")
    assert_one_line(error, f"CSV file not found: {info.dataset_dir}/missing.csv")

    write_csv(tmp_path / "custom_example" / "bad.csv", [["red_circle/none.jpg", "red_circle"]])
    with pytest.raises(FileNotFoundError) as error:
        load(tmp_path, CSV="bad.csv")
    assert_one_line(error, "1 images listed in", "red_circle/none.jpg", "relative to DATASET.CUSTOM.IMAGE_DIR")

    with pytest.raises(ValueError) as error:
        load(tmp_path, TRAIN_FRACTION=0.8, VAL_FRACTION=0.2)
    assert_one_line(error, "TRAIN_FRACTION", "test gets the rest")


def test_a_class_with_too_few_images_is_named(tmp_path):
    info = build_fixture("custom", tmp_path, images_per_class=(1, 1, 0))
    with pytest.raises(ValueError) as error:
        load(tmp_path)
    assert_one_line(error, f"class {info.classnames[0]!r} has 2 images")
