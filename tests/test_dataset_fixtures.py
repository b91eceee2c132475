"""The fixture builder writes each dataset's exact on-disk layout, quirks included (checked here
against the layout description, without the dataset code)."""
import csv
import itertools
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat

from runs import DATASET_DIRS
from testing import dataset_fixtures
from testing.dataset_fixtures import BENCHMARK_NAMES, FIXTURE_NAMES, build_fixture

DATASET_FOLDERS = {**DATASET_DIRS, "custom": "custom_example"}
IMAGE_FOLDERS = {
    "caltech101": "101_ObjectCategories",
    "oxford_pets": "images",
    "oxford_flowers": "jpg",
    "food101": "images",
    "sun397": "SUN397",
    "dtd": "images",
    "eurosat": "2750",
    "ucf101": "UCF-101-midframes",
    "imagenetv2": "imagenetv2-matched-frequency-format-val",
    "imagenet_sketch": "images",
    "imagenet_a": "imagenet-a",
    "imagenet_r": "imagenet-r",
    "custom": "images",
}
WITH_SPLIT_FILES = {
    "caltech101",
    "oxford_pets",
    "stanford_cars",
    "oxford_flowers",
    "food101",
    "sun397",
    "dtd",
    "eurosat",
    "ucf101",
}


def split_file(info):
    with open(osp.join(info.dataset_dir, f"split_zhou_{info.dataset_name}.json")) as f:
        return json.load(f)


def all_files(folder):
    return sorted(osp.relpath(osp.join(d, f), folder) for d, _, files in os.walk(folder) for f in files)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_folders_split_files_and_images(name, tmp_path):
    info = build_fixture(name, tmp_path)
    assert info.dataset_dir == osp.join(str(tmp_path), DATASET_FOLDERS[name])
    if name in IMAGE_FOLDERS:
        assert osp.isdir(osp.join(info.dataset_dir, IMAGE_FOLDERS[name]))
    assert info.has_split_file == (name in WITH_SPLIT_FILES)
    if info.has_split_file:
        split = split_file(info)
        assert set(split) == {"train", "val", "test"}
        prefix = info.dataset_dir if name == "stanford_cars" else osp.join(info.dataset_dir, IMAGE_FOLDERS[name])
        for relpath, label, classname in split["train"] + split["val"] + split["test"]:
            assert osp.isfile(osp.join(prefix, relpath)) and not relpath.startswith("/")
            assert info.classnames[info.labels.index(label)] == classname
        assert {s: len(items) for s, items in split.items()} == info.sizes
    images = [f for f in all_files(info.dataset_dir) if f.lower().endswith((".jpg", ".jpeg"))]
    assert images and all(Image.open(osp.join(info.dataset_dir, f)).size == (32, 32) for f in images[:5])


def test_some_fixtures_have_odd_class_counts(tmp_path):
    counts = {name: len(build_fixture(name, tmp_path).labels) for name in ["caltech101", "oxford_pets"]}
    assert counts["caltech101"] % 2 == 1 and counts["oxford_pets"] % 2 == 0


def test_each_class_has_its_own_look(tmp_path):
    info = build_fixture("custom", tmp_path)
    means = []
    for classname in info.classnames:
        folder = osp.join(info.dataset_dir, "images", classname)
        pixels = [np.asarray(Image.open(osp.join(folder, f)), dtype=float) for f in sorted(os.listdir(folder))]
        # The mean colour of the darkest (shape) pixels identifies the class.
        shape_pixels = [image[image.sum(axis=2) < 500] for image in pixels]
        means.append(np.mean([p.mean(axis=0) for p in shape_pixels], axis=0))
    for a, b in itertools.combinations(means, 2):
        assert np.abs(a - b).max() > 60


def test_caltech_quirks(tmp_path):
    info = build_fixture("caltech101", tmp_path)
    folders = sorted(os.listdir(osp.join(info.dataset_dir, "101_ObjectCategories")))
    assert folders == ["BACKGROUND_Google", "Faces", "Faces_easy", "Leopards", "accordion", "airplanes", "car_side"]
    assert info.classnames == ["face", "leopard", "accordion", "airplane", "car_side"]
    assert split_file(info)["train"][0][:3] == ["Faces/image_0001.jpg", 0, "face"]


def test_pets_annotations(tmp_path):
    info = build_fixture("oxford_pets", tmp_path)
    lines = open(osp.join(info.dataset_dir, "annotations", "trainval.txt")).read().splitlines()
    assert lines[0] == "Abyssinian_1 1 1 1"
    assert any(line.startswith("american_bulldog_1 2 2 1") for line in lines)
    assert all(len(line.split(" ")) == 4 for line in lines)
    assert len(open(osp.join(info.dataset_dir, "annotations", "test.txt")).read().splitlines()) == info.sizes["test"]
    assert os.listdir(osp.join(info.dataset_dir, "images"))[0].endswith(".jpg")  # flat folder


def test_stanford_cars_paths_and_mat_files(tmp_path):
    info = build_fixture("stanford_cars", tmp_path)
    split = split_file(info)
    assert all(r.startswith("cars_train/") for r, _, _ in split["train"] + split["val"])
    assert all(r.startswith("cars_test/") for r, _, _ in split["test"])
    annotations = loadmat(osp.join(info.dataset_dir, "devkit", "cars_train_annos.mat"))["annotations"][0]
    assert annotations[0]["fname"][0] == "00001.jpg" and int(annotations[0]["class"][0, 0]) == 1
    test_annotations = loadmat(osp.join(info.dataset_dir, "cars_test_annos_withlabels.mat"))["annotations"][0]
    assert len(test_annotations) == info.sizes["test"]
    class_names = loadmat(osp.join(info.dataset_dir, "devkit", "cars_meta.mat"))["class_names"][0]
    assert class_names[0][0] == "AM General Hummer SUV 2000"
    assert info.classnames[0] == "2000 AM General Hummer SUV"


def test_flowers_label_files(tmp_path):
    info = build_fixture("oxford_flowers", tmp_path)
    labels = loadmat(osp.join(info.dataset_dir, "imagelabels.mat"))["labels"]
    assert labels.shape == (1, sum(info.sizes.values())) and labels.min() == 1
    cat_to_name = json.load(open(osp.join(info.dataset_dir, "cat_to_name.json")))
    assert cat_to_name["1"] == "pink primrose" and list(cat_to_name)[0] != "1"
    assert sorted(os.listdir(osp.join(info.dataset_dir, "jpg")))[0] == "image_00001.jpg"


def test_eurosat_ucf101_sun397_fgvc_quirks(tmp_path):
    eurosat = build_fixture("eurosat", tmp_path)
    assert "AnnualCrop/AnnualCrop_1.jpg" in all_files(osp.join(eurosat.dataset_dir, "2750"))
    assert eurosat.classnames[0] == "Annual Crop Land"

    ucf = build_fixture("ucf101", tmp_path)
    assert "Apply_Eye_Makeup/v_ApplyEyeMakeup_g05_c01.jpg" in all_files(osp.join(ucf.dataset_dir, "UCF-101-midframes"))
    class_ind = open(osp.join(ucf.dataset_dir, "ucfTrainTestlist", "classInd.txt"), newline="").read()
    assert class_ind.startswith("1 ApplyEyeMakeup\r\n")

    sun = build_fixture("sun397", tmp_path)
    depths = {f.count("/") for f in all_files(osp.join(sun.dataset_dir, "SUN397"))}
    assert depths == {2, 3}
    assert open(osp.join(sun.dataset_dir, "ClassName.txt")).readline() == "/a/abbey\n"
    assert "outdoor apartment_building" in sun.classnames

    fgvc = build_fixture("fgvc_aircraft", tmp_path)
    variants = open(osp.join(fgvc.dataset_dir, "variants.txt")).read().splitlines()
    assert variants != sorted(variants) and "F/A-18" in variants and "Cessna 172" in variants
    assert not any(f.endswith(".json") for f in os.listdir(fgvc.dataset_dir))
    first = open(osp.join(fgvc.dataset_dir, "images_variant_train.txt")).readline().rstrip("\n")
    image_id, variant = first.split(" ", 1)
    assert len(image_id) == 7 and osp.isfile(osp.join(fgvc.dataset_dir, "images", image_id + ".jpg"))


def test_imagenet_family_layouts(tmp_path):
    imagenet = build_fixture("imagenet", tmp_path)
    images = osp.join(imagenet.dataset_dir, "images")
    assert sorted(os.listdir(osp.join(images, "train"))) == sorted(os.listdir(osp.join(images, "val")))
    classnames = open(osp.join(imagenet.dataset_dir, "classnames.txt")).read().splitlines()
    assert len(classnames) == 1000 and classnames[0] == "n01440764 tench"
    assert [line.split(" ")[0] for line in classnames] == sorted(line.split(" ")[0] for line in classnames)

    v2 = build_fixture("imagenetv2", tmp_path)
    folders = os.listdir(osp.join(v2.dataset_dir, "imagenetv2-matched-frequency-format-val"))
    assert sorted(folders, key=int) == [str(i) for i in range(1000)]
    assert len(open(osp.join(v2.dataset_dir, "classnames.txt")).read().splitlines()) == 1000

    a = build_fixture("imagenet_a", tmp_path)
    r = build_fixture("imagenet_r", tmp_path)
    for info, folder in ((a, "imagenet-a"), (r, "imagenet-r")):
        assert osp.isfile(osp.join(info.dataset_dir, folder, "README.txt"))
        assert osp.isfile(osp.join(info.dataset_dir, "classnames.txt"))
    assert sorted(os.listdir(osp.join(a.dataset_dir, "imagenet-a")))[0] == "README.txt"
    assert set(os.listdir(osp.join(a.dataset_dir, "imagenet-a"))) != set(
        os.listdir(osp.join(r.dataset_dir, "imagenet-r"))
    )
    assert any(" " in f for f in all_files(osp.join(a.dataset_dir, "imagenet-a")))


def test_flat_imagenet_val_comes_with_a_solution_file(tmp_path):
    info = build_fixture("imagenet", tmp_path, flat_imagenet_val=True)
    val = osp.join(info.dataset_dir, "images", "val")
    assert all(osp.isfile(osp.join(val, f)) for f in os.listdir(val))
    rows = list(csv.reader(open(info.extra["val_solution"])))
    assert rows[0] == ["ImageId", "PredictionString"] and len(rows) == info.sizes["test"] + 1
    assert rows[1][0] == "ILSVRC2012_val_00000001" and rows[1][1].split()[0] == "n01440764"


@pytest.mark.parametrize("name", ["oxford_pets", "stanford_cars", "oxford_flowers", "sun397", "ucf101", "dtd"])
def test_without_split_files_the_raw_files_are_still_written(name, tmp_path):
    info = build_fixture(name, tmp_path, split_file=False)
    assert not info.has_split_file
    assert not [f for f in os.listdir(info.dataset_dir) if f.startswith("split_zhou_")]


def test_custom_example_has_an_image_folder_tree_and_a_csv(tmp_path):
    info = build_fixture("custom", tmp_path)
    assert sorted(os.listdir(osp.join(info.dataset_dir, "images"))) == info.classnames
    rows = list(csv.reader(open(info.extra["csv"])))
    assert rows[0] == ["path", "classname"] and len(rows) == 1 + sum(info.sizes.values())


def test_unknown_fixture_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown fixture 'cifar10'"):
        build_fixture("cifar10", tmp_path)


def test_command_line_writes_the_named_fixtures(tmp_path, capsys):
    assert dataset_fixtures.main(["--root", str(tmp_path), "dtd", "eurosat", "--no-split-files"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["dtd", "eurosat"]
    assert not osp.exists(tmp_path / "dtd" / "split_zhou_DescribableTextures.json")
    assert "DescribableTextures" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        dataset_fixtures.main(["--root", str(tmp_path), "nope"])


def test_benchmark_names_cover_the_15_datasets():
    assert len(BENCHMARK_NAMES) == 15 and "custom" not in BENCHMARK_NAMES


def test_a_fixture_is_the_same_images_wherever_it_is_built(tmp_path):
    """Results on a fixture must not depend on the test's temporary folder (two folders in one
    test, or the next run of the suite)."""
    def images(root):
        build_fixture("eurosat", str(root))
        found = {}
        for folder, _, files in os.walk(root):
            for name in files:
                if name.endswith((".jpg", ".png")):
                    with open(osp.join(folder, name), "rb") as f:
                        found[osp.relpath(osp.join(folder, name), root)] = f.read()
        return found

    here, there = images(tmp_path / "a"), images(tmp_path / "elsewhere" / "b")
    assert here and here == there
    assert len(set(here.values())) == len(here)  # and the images of the dataset differ from each other
