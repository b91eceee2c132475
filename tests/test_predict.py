"""Prediction with a finished run (toolkit.predict): the predict API reproduces each trainer's own
evaluation, other class lists, folders with unreadable files, the command line, and the export
of class features for plain CLIP."""
import csv
import json
import os

import pytest
import torch
from PIL import Image

from marks import fast_cases
from runs import final_accuracy, make_dataset, read_log, run_train, train_args
from toolkit.predict import PromptClassifier
from toolkit.predict import cli as predict_cli
from toolkit.predict import export

ONE_EPOCH = ["OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "4"]

# trainer -> (config, its own options). Each trains one epoch on the fixture's base classes; the
# zero-shot baseline has nothing to train and is evaluated directly. Deep-prompting methods run on
# a 3-block tiny CLIP with their prompt depths cut to 3 (as their own tests do).
DEEP = ["TRAINER.{0}.PROMPT_DEPTH_TEXT", "3", "TRAINER.{0}.PROMPT_DEPTH_VISION", "3"]
TRAINERS = {
    "CoOp": ("vit_b16_ep50", ["TRAINER.COOP.N_CTX", "4"]),
    "PLPP": ("vit_b16_ep50", ["TRAINER.COOP.N_CTX", "4"]),
    "KgCoOp": ("vit_b16_ep100_ctxv1", []),
    "CoCoOp": ("vit_b16_c4_ep10_batch1_ctxv1", []),
    "ZeroshotCLIP": ("vit_b16", []),
    "MaPLe": ("vit_b16_c2_ep5_batch4_2ctx", ["TRAINER.MAPLE.PROMPT_DEPTH", "3"]),
    "IVLP": ("vit_b16_c2_ep5_batch4_2+2ctx", [o.format("IVLP") for o in DEEP]),
    "PromptSRC": ("vit_b16_c2_ep20_batch4_4+4ctx", [o.format("PROMPTSRC") for o in DEEP]),
}
DEEP_TRAINERS = ("MaPLe", "IVLP", "PromptSRC")


def landed(trainer: str) -> bool:
    """Whether this checkout has the trainer (round-2 methods land one by one)."""
    import trainers  # noqa: F401
    from dassl.engine import TRAINER_REGISTRY

    return trainer in TRAINER_REGISTRY.registered_names()


def trainer_params():
    return [pytest.param(t, marks=pytest.mark.skipif(not landed(t), reason=f"{t} has not landed")) for t in TRAINERS]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_dataset(str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="module")
def runs(data_root, tmp_path_factory, tiny_clip_file):
    """Finished runs, made on demand once per module: ``runs(trainer, part)``, part "base" (train
    on the base classes) or "new" (its --eval-only run on the new classes)."""
    made = {}
    folder = tmp_path_factory.mktemp("runs")

    def deep_clip() -> str:
        from testing.tiny_clip import save_tiny_clip

        path = str(folder / "tiny-vit-3.pt")
        return path if os.path.exists(path) else save_tiny_clip(path, fmt="state_dict", layers=3)

    def run(trainer: str, part: str = "base") -> str:
        if (trainer, part) in made:
            return made[trainer, part]
        config, opts = TRAINERS[trainer]
        out = str(folder / f"{trainer}-{part}")
        flags = []
        if trainer.startswith("Zeroshot"):
            flags = ["--eval-only"]
        elif part == "new":
            flags = ["--eval-only", "--model-dir", run(trainer, "base"), "--load-epoch", "1"]
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("CLIP_CHECKPOINT", deep_clip() if trainer in DEEP_TRAINERS else tiny_clip_file)
            run_train(train_args(data_root, out, trainer=trainer, config=config,
                                 opts=[*ONE_EPOCH, *opts, "DATASET.SUBSAMPLE_CLASSES", part], flags=flags))
        made[trainer, part] = out
        return out

    return run


def split_of(run_dir: str):
    """(image paths, their class names, the class list) of the run's test split, read by the
    run's own dataset."""
    from dassl.data.datasets import build_dataset

    from toolkit.predict.run import read_run

    dataset = build_dataset(read_run(run_dir).cfg)
    return [item.impath for item in dataset.test], [item.classname for item in dataset.test], dataset.classnames


def accuracy(labels, truth) -> float:
    return round(100 * sum(a == b for a, b in zip(labels, truth)) / len(truth), 1)


@pytest.mark.parametrize("trainer", fast_cases(trainer_params(), fast=["CoOp", "PLPP"]))
def test_predictions_give_the_accuracy_the_trainer_reported(runs, trainer, monkeypatch):
    monkeypatch.delenv("CLIP_CHECKPOINT", raising=False)  # the run records the CLIP it used
    run_dir = runs(trainer)
    paths, truth, classnames = split_of(run_dir)
    classifier = PromptClassifier.from_run(run_dir)
    assert classifier.classnames == classnames and len(classnames) == 3  # the fixture's base classes

    predictions = classifier.predict(paths, topk=2)
    assert [p.path for p in predictions] == paths and [p.index for p in predictions] == list(range(len(paths)))
    assert accuracy([p.labels[0] for p in predictions], truth) == final_accuracy(read_log(run_dir))
    for p in predictions:
        assert len(p.labels) == 2 and p.labels[0] != p.labels[1]
        assert 1 >= p.probs[0] >= p.probs[1] >= 0


def test_other_class_names_equal_the_base_to_new_test_run(runs, tmp_path):
    base, new = runs("CoOp"), runs("CoOp", "new")
    paths, truth, classnames = split_of(new)
    assert PromptClassifier.from_run(new).classnames == classnames  # an --eval-only run predicts too
    names_file = tmp_path / "new_classes.txt"
    names_file.write_text("\n".join(classnames) + "\n")
    out = tmp_path / "predictions.csv"

    assert predict_cli.main([base, *paths, "--classnames", str(names_file), "--topk", "2", "--out", str(out)]) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "label_1", "prob_1", "label_2", "prob_2"]
    assert [row["path"] for row in rows] == paths
    assert accuracy([row["label_1"] for row in rows], truth) == final_accuracy(read_log(new))


def write_image_tree(root, source_paths):
    """A folder tree with the given images in two sub-folders, a corrupt image and a text file."""
    for i, path in enumerate(source_paths):
        folder = root / ("a" if i % 2 else "b/c")
        folder.mkdir(parents=True, exist_ok=True)
        Image.open(path).save(folder / f"image{i}.png")
    (root / "b" / "broken.jpg").write_bytes(b"not an image")
    (root / "notes.txt").write_text("not an image either, and not named like one")


def test_a_folder_with_an_unreadable_file_reports_it_and_predicts_the_rest(runs, tmp_path, capsys):
    run_dir = runs("CoOp")
    paths, _, _ = split_of(run_dir)
    folder = tmp_path / "images"
    write_image_tree(folder, paths[:5])
    out = tmp_path / "predictions.json"

    assert predict_cli.main([run_dir, str(folder), "--out", str(out), "--topk", "9"]) == 0
    err = capsys.readouterr().err
    skipped = [line for line in err.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 1 and skipped[0].startswith(f"skipped {folder / 'b' / 'broken.jpg'}: cannot read it as an image")

    with open(out) as f:
        records = json.load(f)
    expected = sorted(str(p) for p in folder.rglob("*.png"))
    assert [r["path"] for r in records] == expected and len(records) == 5
    assert list(records[0]) == ["path", "label_1", "prob_1", "label_2", "prob_2", "label_3", "prob_3"]  # 3 classes
    # The same images, one by one and as PIL images, get the same answers.
    classifier = PromptClassifier.from_run(run_dir)
    one_by_one = [classifier.predict(path, topk=3)[0] for path in expected]
    in_memory = classifier.predict([Image.open(path) for path in expected], topk=3)
    for record, single, pil in zip(records, one_by_one, in_memory):
        assert record["label_1"] == single.labels[0] == pil.labels[0] and pil.path is None
        assert record["prob_1"] == pytest.approx(single.probs[0], abs=1e-5)


def test_preprocessed_tensors_are_classified_as_their_files(runs):
    run_dir = runs("PLPP")
    paths, _, _ = split_of(run_dir)
    classifier = PromptClassifier.from_run(run_dir)
    tensors = torch.stack([classifier.transform(Image.open(p).convert("RGB")) for p in paths[:4]])
    assert [p.labels for p in classifier.predict(tensors)] == [p.labels for p in classifier.predict(paths[:4])]
    with pytest.raises(ValueError, match=r"tensor image must be the model's preprocessed input of shape \(3, 224, 224\)"):
        classifier.predict(torch.zeros(3, 32, 32))


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")  # inside clip.load
@pytest.mark.parametrize("trainer", ["CoOp", "ZeroshotCLIP"])
def test_exported_features_give_plain_clip_the_same_predictions(runs, trainer, tmp_path, tiny_clip_file):
    from clip import clip

    run_dir = runs(trainer)
    paths, _, _ = split_of(run_dir)
    path = str(tmp_path / "features.pt")
    assert export.main([run_dir, "--out", path]) == 0

    # Plain CLIP, as a user without the toolkit has it: OpenAI's loader and preprocessing.
    saved = torch.load(path, weights_only=True)
    model, preprocess = clip.load(tiny_clip_file, device="cpu", jit=False)
    with torch.no_grad():
        image = model.encode_image(torch.stack([preprocess(Image.open(p)) for p in paths])).float()
        logits = saved["logit_scale"] * torch.nn.functional.normalize(image, dim=-1) @ saved["text_features"].t()
    plain = [saved["classnames"][i] for i in logits.argmax(dim=-1).tolist()]
    assert saved["trainer"] == trainer and saved["classnames"] == PromptClassifier.from_run(run_dir).classnames
    assert plain == [p.labels[0] for p in PromptClassifier.from_run(run_dir).predict(paths)]


@pytest.mark.parametrize("trainer", [p for p in trainer_params() if p.values[0] in ("CoCoOp", *DEEP_TRAINERS)])
def test_prompts_that_depend_on_the_image_or_prompt_it_are_not_exported(runs, trainer, tmp_path, capsys):
    path = tmp_path / "features.pt"
    assert export.main([runs(trainer), "--out", str(path)]) == 2
    assert f"Cannot export {trainer}'s prompt as class features" in capsys.readouterr().err and not path.exists()


def test_bad_input_is_one_line(runs, tmp_path, capsys):
    run_dir = runs("CoOp")
    assert predict_cli.main([str(tmp_path), str(tmp_path)]) == 2
    assert "is not a run folder (no config.yaml)" in capsys.readouterr().err
    assert predict_cli.main([run_dir, str(tmp_path / "missing.png")]) == 2
    assert "No such image or folder" in capsys.readouterr().err
    existing = tmp_path / "old.csv"
    existing.write_text("earlier results\n")
    assert predict_cli.main([run_dir, str(tmp_path), "--out", str(existing)]) == 2
    assert "exists: choose another --out, or pass --overwrite" in capsys.readouterr().err
    assert existing.read_text() == "earlier results\n"


def test_a_class_list_with_a_duplicate_is_refused_in_one_line(runs, tmp_path, capsys):
    run_dir = runs("CoOp")
    names = tmp_path / "classes.txt"
    names.write_text("Forest\nRiver\nForest\n")
    out = tmp_path / "predictions.csv"
    capsys.readouterr()  # (what making the run printed)
    assert predict_cli.main([run_dir, str(tmp_path), "--classnames", str(names), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {names} lists the class 'Forest' more than once, which would split its probability "
                   "between the copies: list each class once"]
    assert not out.exists()
    with pytest.raises(ValueError, match="classnames lists the class 'cat' more than once"):
        PromptClassifier.from_run(run_dir, classnames=["cat", "dog", "cat"])


def test_files_none_of_which_is_an_image_exit_2_in_one_line(runs, tmp_path, capsys):
    run_dir = runs("CoOp")
    broken = [tmp_path / "a.jpg", tmp_path / "b.png"]
    for path in broken:
        path.write_bytes(b"not an image")
    out = tmp_path / "predictions.csv"
    assert predict_cli.main([run_dir, *map(str, broken), "--out", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(
        f"error: none of the 2 files given could be read as an image (first: {broken[0]}: "), errors
    assert errors[0].endswith("; pass image files or folders of images") and not out.exists()
