"""Runs you can trust, part 4: data honesty (a shot shortfall is said and recorded, few-shot
caches follow a copied or moved dataset, CoOp/Dassl caches still read, a cache drawn from other
splits is refused, a split made where CoOp's is missing is said, a read-only dataset folder has a
way out) and the scripts' shell hygiene (DATA and OUTPUT against the caller's folder, env.sh
leaves the shell's options)."""
import errno
import json
import os
import pickle
import shutil
import subprocess

import pytest

from reliability import SMALL, one_line, snapshot, train_cli  # noqa: F401  (train_cli: a fixture)
from runs import REPO, make_dataset, run_train, train_args
from runtime import status


def build_dataset(root: str, shots: int = 2, dataset: str = "oxford_pets"):
    from dassl.data.datasets import build_dataset as build
    from runtime import cli

    args = cli.parse_args(train_args(root, "unused", dataset=dataset, opts=[*SMALL, "DATASET.NUM_SHOTS", str(shots)]))
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


def test_a_few_shot_cache_drawn_from_other_splits_is_refused(tmp_path, train_cli, tiny_clip_file):
    root = make_dataset(str(tmp_path / "data"), "eurosat")
    folder = os.path.join(root, "eurosat")
    split = os.path.join(folder, "split_zhou_EuroSAT.json")
    cache = os.path.join(folder, "split_fewshot", "shot_2-seed_1.pkl")
    build_dataset(root, dataset="eurosat")
    with open(cache, "rb") as f:
        assert pickle.load(f)["drawn_from"]["splits"] == split
    os.remove(split)  # the next run makes a new random split, as CoOp does
    argv = train_args(root, str(tmp_path / "out"), opts=SMALL)
    line = one_line(train_cli(argv, CLIP_CHECKPOINT=tiny_clip_file), status.BAD_INPUT)
    assert line.startswith(f"error: few-shot cache {cache} was drawn from other splits than the current {split} "), line
    assert line.endswith(f"restore the split file it was drawn from, or move {cache} away to draw the samples "
                         "again from the current splits"), line
    assert not os.path.exists(tmp_path / "out")

    # A cache without the record (as CoOp writes it) is checked image by image.
    current = build_dataset(root, shots=0, dataset="eurosat")
    with open(cache, "rb") as f:
        data = pickle.load(f)
    leaked = [current.test[0], *data["train"][1:]]
    with open(cache, "wb") as f:
        pickle.dump({"train": leaked, "val": current.val[:2]}, f)
    line = one_line(train_cli(argv, CLIP_CHECKPOINT=tiny_clip_file), status.BAD_INPUT)
    assert line.startswith(f"error: few-shot cache {cache} lists "), line
    assert f" train images that are not in the current train split of {split} (first: {current.test[0].impath})" in line
    with open(cache, "wb") as f:
        pickle.dump({"train": current.train_x[:4], "val": current.val[:2]}, f)
    assert [item.impath for item in build_dataset(root, dataset="eurosat").train_x] == \
        [item.impath for item in current.train_x[:4]]


def test_a_split_made_where_coops_is_missing_is_said_in_every_run_that_reads_it(tmp_path):
    root = make_dataset(str(tmp_path / "data"), "eurosat")
    split = os.path.join(root, "eurosat", "split_zhou_EuroSAT.json")
    published = open(split, "rb").read()
    os.remove(split)
    for _ in range(2):
        warnings = build_dataset(root, dataset="eurosat").data_warnings
        assert len(warnings) == 1 and warnings[0].startswith(f"{split} is a random split made here from the raw files ")
        assert "not CoOp's published one, so results will not match CoOp's" in warnings[0]
        assert warnings[0].endswith(f'get it with "python -m toolkit.data download EuroSAT --root {root}"')
    with open(split, "wb") as f:  # CoOp's file, downloaded again: no warning
        f.write(published)
    shutil.rmtree(os.path.join(root, "eurosat", "split_fewshot"))
    assert build_dataset(root, dataset="eurosat").data_warnings == []


def test_a_read_only_dataset_folder_takes_new_shots_in_a_folder_of_ones_own(tmp_path, monkeypatch, train_cli,
                                                                              tiny_clip_file):
    from datasets import fewshot

    root = make_dataset(str(tmp_path / "data"), "oxford_pets")
    build_dataset(root, shots=2)
    shared = os.path.join(root, "oxford_pets")

    def read_only(path, mode="r", *args, **kwargs):  # root ignores file modes: refuse writes here instead
        if any(flag in mode for flag in "wax") and os.path.abspath(path).startswith(shared):
            raise PermissionError(errno.EROFS, "Read-only file system", path)
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(fewshot, "open", read_only, raising=False)
    before = snapshot(shared)
    argv = train_args(root, str(tmp_path / "out"), dataset="oxford_pets", opts=[*SMALL, "DATASET.NUM_SHOTS", "1"])
    line = one_line(train_cli(argv, CLIP_CHECKPOINT=tiny_clip_file), status.BAD_INPUT)
    cache = os.path.join(shared, "split_fewshot", "shot_1-seed_1.pkl")
    assert line == (f"error: cannot write the few-shot cache {cache} (Read-only file system); set "
                    "PLPP_FEWSHOT_CACHE_DIR to a writable folder to keep new few-shot samples there")

    own = tmp_path / "own"
    monkeypatch.setenv("PLPP_FEWSHOT_CACHE_DIR", str(own))
    drawn = build_dataset(root, shots=1)
    assert [path.name for path in own.glob("oxford_pets-*/*")] == ["shot_1-seed_1.pkl"]
    assert [item.impath for item in build_dataset(root, shots=1).train_x] == [item.impath for item in drawn.train_x]
    assert len(build_dataset(root, shots=2).train_x) == 12  # the shared folder's cache is still read
    assert snapshot(shared) == before
