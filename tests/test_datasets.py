"""The 15 CoOp datasets on their fixtures: splits, class names, labels, few-shot caches,
base/new classes, raw-file fallbacks and one-line errors for missing files."""
import ast
import glob
import json
import math
import os
import os.path as osp
import pickle
import random
import shutil
import sys

import pytest

import datasets
from datasets.common import DatasetFileNotFoundError
from dassl.config import get_cfg_default
from dassl.data.datasets import DATASET_REGISTRY, build_dataset
from runs import DATASET_DIRS
from runtime import catalogue
from testing.dataset_fixtures import BENCHMARK_NAMES, build_fixture

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
VARIANTS = ["imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"]
MAIN = [name for name in BENCHMARK_NAMES if name not in VARIANTS]  # the 11 few-shot datasets
# Datasets whose split file, when absent, is rebuilt from raw files (FGVCAircraft has no split
# file; ImageNet scans its folders into preprocessed.pkl).
WITH_SPLIT_FILE = [name for name in MAIN if name not in ("imagenet", "fgvc_aircraft")]
# One (label, class name, path fragment) per dataset: the quirks of each layout.
QUIRKS = {
    "imagenet": (0, "tench", "/imagenet/images/train/n01440764/"),
    "caltech101": (0, "face", "/caltech-101/101_ObjectCategories/Faces/image_"),
    "oxford_pets": (0, "abyssinian", "/oxford_pets/images/Abyssinian_"),
    "stanford_cars": (0, "2000 AM General Hummer SUV", "/stanford_cars/cars_train/"),
    "oxford_flowers": (2, "canterbury bells", "/oxford_flowers/jpg/image_"),
    "food101": (0, "apple_pie", "/food-101/images/apple_pie/"),
    "fgvc_aircraft": (3, "F/A-18", "/fgvc_aircraft/images/"),
    "sun397": (1, "outdoor apartment_building", "/sun397/SUN397/a/apartment_building/outdoor/sun_"),
    "dtd": (3, "polka-dotted", "/dtd/images/polka-dotted/polka-dotted_"),
    "eurosat": (0, "Annual Crop Land", "/eurosat/2750/AnnualCrop/AnnualCrop_"),
    "ucf101": (5, "Yo_Yo", "/ucf101/UCF-101-midframes/Yo_Yo/v_YoYo_"),
    "imagenetv2": (999, "imagenet class 999", "/imagenetv2/imagenetv2-matched-frequency-format-val/999/"),
    "imagenet_sketch": (0, "tench", "/imagenet-sketch/images/n01440764/sketch_"),
    "imagenet_a": (0, "stingray", "/imagenet-adversarial/imagenet-a/n01498041/0.0"),
    "imagenet_r": (0, "goldfish", "/imagenet-rendition/imagenet-r/n01443537/"),
}


def make_cfg(name, root, num_shots=-1, seed=1, subsample="all"):
    cfg = get_cfg_default()
    datasets.extend_cfg(cfg)
    cfg.merge_from_file(osp.join(REPO, "configs", "datasets", f"{name}.yaml"))
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NUM_SHOTS = num_shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.SEED = seed
    cfg.VERBOSE = False
    return cfg


def load(name, root, **kwargs):
    return build_dataset(make_cfg(name, root, **kwargs))


def labels_of(items):
    return sorted({item.label for item in items})


# ---------------------------------------------------------------------------------------------
# Registration and imports
# ---------------------------------------------------------------------------------------------


def test_every_config_names_a_registered_dataset():
    configs = sorted(glob.glob(osp.join(REPO, "configs", "datasets", "*.yaml")))
    stems = {osp.splitext(osp.basename(path))[0] for path in configs}
    assert stems == set(DATASET_DIRS) | {"custom"}
    for name in DATASET_DIRS:
        cfg = make_cfg(name, "/nowhere")
        cls = DATASET_REGISTRY.get(cfg.DATASET.NAME)
        assert cls.dataset_dir == DATASET_DIRS[name] == catalogue.record(name).dataset_dir
        with open(osp.join(REPO, "configs", "datasets", f"{name}.yaml")) as f:
            assert f.read().split() == ["DATASET:", "NAME:", f'"{cfg.DATASET.NAME}"']


def test_importing_the_package_registers_every_module_in_the_folder():
    modules = [osp.splitext(osp.basename(p))[0] for p in glob.glob(osp.join(REPO, "datasets", "*.py"))]
    for module in modules:
        if not module.startswith("_"):
            assert f"datasets.{module}" in sys.modules
    expected = {
        "ImageNet",
        "Caltech101",
        "OxfordPets",
        "StanfordCars",
        "OxfordFlowers",
        "Food101",
        "FGVCAircraft",
        "SUN397",
        "DescribableTextures",
        "EuroSAT",
        "UCF101",
        "ImageNetV2",
        "ImageNetSketch",
        "ImageNetA",
        "ImageNetR",
        "CustomDataset",
    }
    assert expected <= set(DATASET_REGISTRY.registered_names())


def test_dataset_files_import_only_what_real_dassl_provides():
    allowed = {
        "dassl.data.datasets": {"DATASET_REGISTRY", "Datum", "DatasetBase"},
        "dassl.utils": {"mkdir_if_missing", "listdir_nohidden", "read_json", "write_json"},
    }
    for path in glob.glob(osp.join(REPO, "datasets", "*.py")):
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dassl"):
                names = {alias.name for alias in node.names}
                assert names <= allowed.get(node.module, set()), f"{path} imports {names} from {node.module}"
            if isinstance(node, ast.Import):
                assert not any(alias.name.startswith("dassl") for alias in node.names), path


def test_extend_cfg_adds_subsample_classes():
    cfg = get_cfg_default()
    datasets.extend_cfg(cfg)
    assert cfg.DATASET.SUBSAMPLE_CLASSES == "all"
    cfg.merge_from_list(["DATASET.SUBSAMPLE_CLASSES", "base"])


def test_coop_helpers_stay_callable_from_the_classes_users_import(tmp_path):
    from datasets.dtd import DescribableTextures
    from datasets.imagenet import ImageNet
    from datasets.oxford_pets import OxfordPets

    info = build_fixture("oxford_pets", tmp_path)
    train, val, test = OxfordPets.read_split(
        osp.join(info.dataset_dir, "split_zhou_OxfordPets.json"), osp.join(info.dataset_dir, "images")
    )
    assert (len(train), len(val), len(test)) == (info.sizes["train"], info.sizes["val"], info.sizes["test"])
    base_train, base_test = OxfordPets.subsample_classes(train, test, subsample="base")
    assert labels_of(base_train) == [0, 1, 2]
    train2, val2 = OxfordPets.split_trainval(train + val, p_val=0.2)
    assert len(train2) + len(val2) == len(train) + len(val)
    OxfordPets.save_split(train, val, test, str(tmp_path / "copy.json"), osp.join(info.dataset_dir, "images"))
    assert json.load(open(tmp_path / "copy.json"))["train"][0][0] == osp.basename(train[0].impath)

    dtd = build_fixture("dtd", tmp_path)
    splits = DescribableTextures.read_and_split_data(osp.join(dtd.dataset_dir, "images"))
    assert [len(split) for split in splits] == [dtd.sizes["train"], dtd.sizes["val"], dtd.sizes["test"]]
    names = ImageNet.read_classnames(osp.join(build_fixture("imagenet", tmp_path).dataset_dir, "classnames.txt"))
    assert list(names.items())[2] == ("n01484850", "great white shark") and len(names) == 1000


# ---------------------------------------------------------------------------------------------
# Full splits: class names, labels and sizes as the fixture says
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BENCHMARK_NAMES)
def test_full_splits_match_the_fixture(name, tmp_path):
    info = build_fixture(name, tmp_path)
    dataset = load(name, tmp_path)
    assert dataset.classnames == info.classnames
    assert labels_of(dataset.train_x) == info.labels
    assert dataset.num_classes == max(info.labels) + 1
    label, classname, fragment = QUIRKS[name]
    assert dataset.lab2cname[label] == classname
    assert any(fragment in item.impath and item.label == label for item in dataset.train_x + dataset.test)
    assert all(osp.isabs(item.impath) and osp.isfile(item.impath) for item in dataset.train_x + dataset.test)
    if name in VARIANTS:
        assert dataset.val is None and dataset.train_x == dataset.test
        assert len(dataset.test) == info.sizes["test"]
        assert not osp.exists(osp.join(info.dataset_dir, "split_fewshot"))
    else:
        assert {
            split: len(getattr(dataset, split if split != "train" else "train_x")) for split in info.sizes
        } == info.sizes
        assert osp.isdir(osp.join(info.dataset_dir, "split_fewshot"))  # CoOp creates it even without few-shot
        names = {item.label: item.classname for item in dataset.train_x + dataset.val + dataset.test}
        assert [names[label] for label in info.labels] == info.classnames


def test_imagenet_val_is_the_test_set_and_the_folder_scan_is_cached(tmp_path):
    info = build_fixture("imagenet", tmp_path)
    dataset = load("imagenet", tmp_path)
    assert dataset.val is dataset.test and len(dataset.test) == info.sizes["test"]
    preprocessed = osp.join(info.dataset_dir, "preprocessed.pkl")
    with open(preprocessed, "rb") as f:
        assert set(pickle.load(f)) == {"train", "test"}
    # Once preprocessed.pkl exists the folders are not listed again (CoOp's behaviour).
    for folder in ("train", "val"):
        extra = osp.join(info.dataset_dir, "images", folder, "n01496331")
        os.makedirs(extra)
        shutil.copy(dataset.train_x[0].impath, osp.join(extra, "x.JPEG"))
    assert load("imagenet", tmp_path).classnames == info.classnames


def test_imagenet_refuses_a_flat_val_folder(tmp_path):
    build_fixture("imagenet", tmp_path, flat_imagenet_val=True)
    with pytest.raises(FileNotFoundError) as error:
        load("imagenet", tmp_path)
    message = str(error.value)
    assert (
        "\n" not in message
        and "fold-imagenet-val" in message
        and osp.join(str(tmp_path), "imagenet", "images", "val") in message
    )
    assert not osp.exists(osp.join(str(tmp_path), "imagenet", "preprocessed.pkl"))


def test_imagenet_refuses_train_and_val_with_different_classes(tmp_path):
    info = build_fixture("imagenet", tmp_path)
    shutil.rmtree(osp.join(info.dataset_dir, "images", "val", "n01494475"))
    with pytest.raises(ValueError, match="same wnid folders"):
        load("imagenet", tmp_path)


def test_imagenet_refuses_a_preprocessed_pkl_from_another_root(tmp_path):
    build_fixture("imagenet", tmp_path / "old")
    load("imagenet", tmp_path / "old")
    shutil.move(str(tmp_path / "old"), str(tmp_path / "new"))
    with pytest.raises(FileNotFoundError, match="preprocessed.pkl lists images that do not exist"):
        load("imagenet", tmp_path / "new")


def test_imagenetv2_needs_all_1000_numbered_folders(tmp_path):
    info = build_fixture("imagenetv2", tmp_path)
    os.rmdir(osp.join(info.dataset_dir, "imagenetv2-matched-frequency-format-val", "500"))
    with pytest.raises(FileNotFoundError, match=r"class folder not found: .*/500;"):
        load("imagenetv2", tmp_path)


# ---------------------------------------------------------------------------------------------
# Base / new classes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MAIN)
def test_base_and_new_classes_are_relabelled_from_zero(name, tmp_path):
    info = build_fixture(name, tmp_path)
    full = load(name, tmp_path)
    n = len(info.labels)
    m = math.ceil(n / 2)
    base = load(name, tmp_path, subsample="base")
    new = load(name, tmp_path, subsample="new")
    assert base.classnames == info.classnames[:m] and new.classnames == info.classnames[m:]
    for subset, offset, count in ((base, 0, m), (new, m, n - m)):
        assert subset.num_classes == count
        for split in ("train_x", "val", "test"):
            items = getattr(subset, split)
            assert labels_of(items) == list(range(count))
            original = {item.impath: item.label for item in getattr(full, split)}
            assert all(original[item.impath] == info.labels[item.label + offset] for item in items)
            assert len(items) == sum(
                1 for item in getattr(full, split) if item.label in info.labels[offset : offset + count]
            )
    if name == "imagenet":
        assert base.val is base.test


def test_variants_ignore_shots_seed_and_subsample(tmp_path):
    info = build_fixture("imagenet_a", tmp_path)
    dataset = load("imagenet_a", tmp_path, num_shots=1, subsample="base")
    assert len(dataset.test) == info.sizes["test"] and dataset.classnames == info.classnames


def test_an_unknown_subsample_mode_is_a_one_line_error(tmp_path):
    build_fixture("dtd", tmp_path)
    with pytest.raises(ValueError, match="SUBSAMPLE_CLASSES must be one of all, base, new, got 'old'"):
        load("dtd", tmp_path, subsample="old")


# ---------------------------------------------------------------------------------------------
# Few-shot cache
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MAIN)
def test_fewshot_cache_is_written_at_coops_path_and_reloaded(name, tmp_path):
    info = build_fixture(name, tmp_path)
    random.seed(1)
    first = load(name, tmp_path, num_shots=2, seed=1)
    cache = osp.join(str(tmp_path), DATASET_DIRS[name], "split_fewshot", "shot_2-seed_1.pkl")
    assert osp.isfile(cache)
    with open(cache, "rb") as f:
        data = pickle.load(f)
    # CoOp's keys, plus the same lists relative to the dataset folder and the digest of the splits
    # they were drawn from (which CoOp ignores).
    ours = {"relative", "drawn_from"}
    assert set(data) == ({"train"} | ours if name == "imagenet" else {"train", "val"} | ours)
    assert type(data["train"][0]).__module__ == "dassl.data.datasets.base_dataset"
    assert [item.impath for item in data["train"]] == [item.impath for item in first.train_x]

    per_class = {label: sum(1 for item in first.train_x if item.label == label) for label in info.labels}
    assert set(per_class.values()) == {2}
    if name == "imagenet":
        assert len(first.val) == info.sizes["test"]  # val stays the full test set
    else:
        assert all(sum(1 for item in first.val if item.label == label) <= 2 for label in info.labels)
    assert len(first.test) == info.sizes["test"]  # never reduced

    stamp = os.stat(cache).st_mtime_ns
    random.seed(12345)  # a different random state must not matter: the cache is loaded
    second = load(name, tmp_path, num_shots=2, seed=1)
    assert [item.impath for item in second.train_x] == [item.impath for item in first.train_x]
    assert [item.impath for item in second.val] == [item.impath for item in first.val]
    assert os.stat(cache).st_mtime_ns == stamp

    # Base and new runs share the cache (its name ignores SUBSAMPLE_CLASSES).
    base = load(name, tmp_path, num_shots=2, seed=1, subsample="base")
    assert {item.impath for item in base.train_x} <= {item.impath for item in first.train_x}
    assert os.stat(cache).st_mtime_ns == stamp
    assert sorted(os.listdir(osp.dirname(cache))) == ["shot_2-seed_1.pkl"]


def test_fewshot_sampling_follows_the_seed(tmp_path):
    build_fixture("eurosat", tmp_path)
    random.seed(3)
    a = load("eurosat", tmp_path, num_shots=1, seed=3)
    random.seed(3)
    b = load("eurosat", tmp_path, num_shots=1, seed=-1)  # another cache file, same random state
    assert osp.isfile(osp.join(str(tmp_path), "eurosat", "split_fewshot", "shot_1-seed_-1.pkl"))
    assert [item.impath for item in a.train_x] == [item.impath for item in b.train_x]


def test_a_fewshot_cache_follows_its_moved_dataset(tmp_path):
    build_fixture("dtd", tmp_path / "old")
    first = load("dtd", tmp_path / "old", num_shots=2)
    shutil.move(str(tmp_path / "old"), str(tmp_path / "new"))
    moved = load("dtd", tmp_path / "new", num_shots=2)  # the cache's relative paths, read under the new root
    assert [osp.relpath(item.impath, str(tmp_path / "new")) for item in moved.train_x] == \
        [osp.relpath(item.impath, str(tmp_path / "old")) for item in first.train_x]


# ---------------------------------------------------------------------------------------------
# Raw-file fallbacks (no split file)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WITH_SPLIT_FILE)
def test_without_a_split_file_the_raw_files_give_the_same_classes_and_sizes(name, tmp_path):
    info = build_fixture(name, tmp_path, split_file=False)
    split_files = glob.glob(osp.join(info.dataset_dir, "split_zhou_*.json"))
    assert split_files == []
    random.seed(1)
    dataset = load(name, tmp_path)
    assert dataset.classnames == info.classnames
    assert (len(dataset.train_x), len(dataset.val), len(dataset.test)) == (
        info.sizes["train"],
        info.sizes["val"],
        info.sizes["test"],
    )

    [split_path] = glob.glob(osp.join(info.dataset_dir, "split_zhou_*.json"))
    assert osp.basename(split_path) == f"split_zhou_{type(dataset).__name__}.json"
    written = json.load(open(split_path))
    assert set(written) == {"train", "val", "test"}
    for relpath, label, classname in written["train"] + written["val"] + written["test"]:
        assert not relpath.startswith("/") and "\\" not in relpath and isinstance(label, int)
        if name == "stanford_cars":
            assert relpath.startswith(("cars_train/", "cars_test/"))
    assert sorted(osp.join(dataset.image_dir, r) for r, _, _ in written["test"]) == sorted(
        i.impath for i in dataset.test
    )

    # The next run reads the split file it wrote; with the same seed a fresh copy gets the same split.
    stamp = os.stat(split_path).st_mtime_ns
    assert [i.impath for i in load(name, tmp_path).val] == [i.impath for i in dataset.val]
    assert os.stat(split_path).st_mtime_ns == stamp
    build_fixture(name, tmp_path / "again", split_file=False)
    random.seed(1)
    load(name, tmp_path / "again")
    assert json.load(open(split_path.replace(str(tmp_path), str(tmp_path / "again")))) == written


def test_fgvc_aircraft_reads_its_raw_lists_every_time(tmp_path):
    info = build_fixture("fgvc_aircraft", tmp_path)
    dataset = load("fgvc_aircraft", tmp_path)
    assert dataset.classnames == ["707-320", "A340-500", "Cessna 172", "F/A-18", "DHC-8-100"]  # variants.txt order
    assert glob.glob(osp.join(info.dataset_dir, "split_zhou_*.json")) == []


# ---------------------------------------------------------------------------------------------
# Missing data: one line naming the expected path and how to get it
# ---------------------------------------------------------------------------------------------


def assert_one_line_error(error, *fragments):
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("name", BENCHMARK_NAMES)
def test_a_missing_dataset_folder_names_the_path_and_the_download_command(name, tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load(name, tmp_path)
    cfg = make_cfg(name, tmp_path)
    assert_one_line_error(
        error,
        osp.join(str(tmp_path), DATASET_DIRS[name]),
        f"python -m toolkit.data download {cfg.DATASET.NAME} --root {tmp_path}",
    )
    assert os.listdir(tmp_path) == []  # nothing was created on the way


@pytest.mark.parametrize("name", [n for n in MAIN if n != "imagenet"])
def test_a_missing_image_folder_is_named(name, tmp_path):
    info = build_fixture(name, tmp_path)
    cls = DATASET_REGISTRY.get(info.dataset_name)
    if name == "stanford_cars":  # its images sit in folders named by the split file itself
        shutil.rmtree(osp.join(info.dataset_dir, "cars_train"))
        with pytest.raises(FileNotFoundError) as error:
            load(name, tmp_path)
        assert_one_line_error(error, "do not exist", "cars_train/")
        return
    image_dir = osp.join(info.dataset_dir, cls.image_folder)
    shutil.rmtree(image_dir)
    with pytest.raises(DatasetFileNotFoundError) as error:
        load(name, tmp_path)
    assert_one_line_error(error, f"image folder not found: {image_dir}", "python -m toolkit.data download")


@pytest.mark.parametrize(
    "name", ["oxford_pets", "stanford_cars", "oxford_flowers", "sun397", "ucf101"]
)  # fallbacks that read files
def test_a_missing_split_file_without_raw_files_names_both(name, tmp_path):
    info = build_fixture(name, tmp_path, split_file=False)
    cls = DATASET_REGISTRY.get(info.dataset_name)
    raw_path = osp.join(info.dataset_dir, cls.raw_files[0])
    os.remove(raw_path)
    with pytest.raises(DatasetFileNotFoundError) as error:
        load(name, tmp_path)
    assert_one_line_error(
        error, osp.join(info.dataset_dir, cls.split_file), raw_path, "python -m toolkit.data download"
    )


@pytest.mark.parametrize(
    "name, relpath",
    [
        ("fgvc_aircraft", "variants.txt"),
        ("imagenet", "classnames.txt"),
        ("imagenetv2", "classnames.txt"),
        ("imagenet_r", "classnames.txt"),
    ],
)
def test_a_missing_list_or_classnames_file_is_named(name, relpath, tmp_path):
    info = build_fixture(name, tmp_path)
    os.remove(osp.join(info.dataset_dir, relpath))
    with pytest.raises(DatasetFileNotFoundError) as error:
        load(name, tmp_path)
    assert_one_line_error(error, osp.join(info.dataset_dir, relpath), "python -m toolkit.data download")


def test_images_missing_from_a_split_file_are_counted_in_one_line(tmp_path):
    info = build_fixture("oxford_pets", tmp_path)
    os.remove(osp.join(info.dataset_dir, "images", "beagle_3.jpg"))
    os.remove(osp.join(info.dataset_dir, "images", "Bengal_12.jpg"))
    with pytest.raises(FileNotFoundError) as error:
        load("oxford_pets", tmp_path)
    assert_one_line_error(
        error, "2 of 72 images listed in", "split_zhou_OxfordPets.json", "beagle_3.jpg", "python -m toolkit.data check"
    )
