"""Runs you can trust, part 4: data honesty (a shot shortfall is said and recorded, few-shot
caches follow a copied or moved dataset, CoOp/Dassl caches still read) and the scripts' shell
hygiene (DATA and OUTPUT against the caller's folder, env.sh leaves the shell's options)."""
import json
import os
import pickle
import shutil
import subprocess

import pytest

from reliability import SMALL
from runs import REPO, make_dataset, run_train, train_args


def build_dataset(root: str, shots: int = 2):
    from dassl.data.datasets import build_dataset as build
    from runtime import cli

    args = cli.parse_args(train_args(root, "unused", dataset="oxford_pets", opts=[*SMALL, "DATASET.NUM_SHOTS", str(shots)]))
    return build(cli.setup_cfg(args))


def images_under(items, folder):
    return all(os.path.commonpath([item.impath, folder]) == folder for item in items)


def test_more_shots_than_a_class_has_is_said_and_recorded(tmp_path, clip_checkpoint):
    root = make_dataset(str(tmp_path / "data"), "oxford_pets")  # 6 training images per class
    out = str(tmp_path / "out")
    run_train(train_args(root, out, dataset="oxford_pets", opts=[*SMALL, "DATASET.NUM_SHOTS", "16", "OPTIM.MAX_EPOCH", "1"]))
    expected = ("16 shots asked for, but 6 of 6 classes of the train split have fewer images (fewest: "
                "abyssinian with 6), so it holds 36 images, not 96")
    with open(os.path.join(out, "log.txt")) as f:
        assert f"Warning: {expected}\n" in f.read()
    with open(os.path.join(out, "environment.json")) as f:
        warnings = json.load(f)["data_warnings"]
    assert warnings[0] == expected and warnings[1].startswith("4 shots asked for, but 6 of 6 classes of the val split")


@pytest.mark.parametrize("original", ["moved", "copied"])
def test_a_few_shot_cache_follows_its_dataset_folder(tmp_path, original):
    first = make_dataset(str(tmp_path / "a"), "oxford_pets")
    sampled = build_dataset(first)
    second = str(tmp_path / "b")
    shutil.copytree(first, second)
    if original == "moved":
        shutil.rmtree(first)
    dataset = build_dataset(second)
    assert images_under(dataset.train_x + dataset.val, second)
    assert [os.path.relpath(item.impath, second) for item in dataset.train_x] == \
        [os.path.relpath(item.impath, first) for item in sampled.train_x]


def test_a_coop_cache_with_absolute_paths_reads_the_images_of_the_current_folder(tmp_path, capsys):
    first = make_dataset(str(tmp_path / "a"), "oxford_pets")
    sampled = build_dataset(first)
    cache = os.path.join(first, "oxford_pets", "split_fewshot", "shot_2-seed_1.pkl")
    with open(cache, "rb") as f:
        data = pickle.load(f)
    with open(cache, "wb") as f:  # as CoOp/Dassl write it: Datums with absolute paths only
        pickle.dump({"train": data["train"], "val": data["val"]}, f)
    second = str(tmp_path / "b")
    shutil.copytree(first, second)
    capsys.readouterr()

    dataset = build_dataset(second)
    assert images_under(dataset.train_x + dataset.val, second)
    assert [item.label for item in dataset.train_x] == [item.label for item in sampled.train_x]
    copied_cache = os.path.join(second, "oxford_pets", "split_fewshot", "shot_2-seed_1.pkl")
    n = len(dataset.train_x)  # (and a line for the val split)
    assert (f"Note: few-shot cache {copied_cache} names {n} images at their old location; reading them from "
            f"{os.path.join(second, 'oxford_pets')}") in capsys.readouterr().out

    data["train"][0]._impath = str(tmp_path / "elsewhere" / "not_in_the_split.jpg")
    with open(copied_cache, "wb") as f:
        pickle.dump({"train": data["train"], "val": data["val"]}, f)
    with pytest.raises(FileNotFoundError, match=r"few-shot cache .* lists 1 images that do not exist"):
        build_dataset(second)


def test_scripts_resolve_data_and_output_against_the_callers_folder(tmp_path):
    caller = tmp_path / "caller"
    (caller / "data").mkdir(parents=True)
    done = subprocess.run(["bash", os.path.join(REPO, "scripts", "coop", "main.sh"), "oxford_pets", "vit_b16", "end", "4", "1",
                           "False"], capture_output=True, text=True, cwd=caller, timeout=60,
                          env=dict(os.environ, DATA="data", OUTPUT="myout", PY="echo"))
    assert done.returncode == 0, done.stderr
    assert f"--root {caller / 'data'} " in done.stdout and f"--output {caller / 'myout'}" in done.stdout


def test_sourcing_env_sh_leaves_the_shell_options_as_they_were():
    script = f"set -o | sort > /tmp/before.$$; source {REPO}/scripts/env.sh; set -o | sort | diff /tmp/before.$$ - && echo same"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip().endswith("same"), done.stdout + done.stderr
