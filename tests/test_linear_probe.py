"""LinearProbeCLIP (trainers/linear_probe.py): CoOp lpclip's C search against a direct
scikit-learn computation, a few-shot run on a fixture with the tiny CLIP whose probe is
scikit-learn's classifier at the chosen C (evaluation-only and predict reproduce it), and the
one-line refusals of base-to-new and cross-dataset."""
import json
import os

import numpy as np
import pytest
import torch

from runs import build_trainer, final_accuracy, make_dataset, read_log, run_train, train_args
from toolkit.protocols import runs as protocol_runs
from trainers.linear_probe import INITIAL_C, search_c

SHOTS = ["DATASET.NUM_SHOTS", "2"]


def logistic_regression(c):
    """scikit-learn's classifier as lpclip sets it up (imported here: 1.7 s, only for these tests)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(solver="lbfgs", max_iter=1000, C=c)


def direct_accuracy(train, val, c):
    classifier = logistic_regression(c).fit(*train)
    return float(np.mean(classifier.predict(val[0]) == val[1]))


def test_c_search_is_the_reference_search_computed_directly():
    """Grid first (the first best wins), then halvings of a log10 interval: recomputed here with
    plain exponents and fresh scikit-learn fits."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 8))
    def draw(n):
        labels = np.repeat(np.arange(5), n)
        return centres[labels] + 1.5 * rng.normal(size=(labels.size, 8)), labels
    train, val = draw(4), draw(4)

    search = search_c(train, val, steps=4)

    grid = [direct_accuracy(train, val, c) for c in INITIAL_C]
    assert [a for _, a in search.tried[: len(INITIAL_C)]] == grid
    low = high = np.log10(INITIAL_C[int(np.argmax(grid))])
    low, high = low - 1, high + 1
    for _ in range(4):
        left, right = direct_accuracy(train, val, 10 ** low), direct_accuracy(train, val, 10 ** high)
        expected, middle = (10 ** high, (low + high) / 2) if left < right else (10 ** low, (low + high) / 2)
        low, high = (middle, high) if left < right else (low, middle)
    assert search.c == pytest.approx(expected, rel=1e-9)
    assert search.val_accuracy == direct_accuracy(train, val, search.c)
    assert len(search.tried) == len(INITIAL_C) + 2 * 4


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory, tiny_clip_file):
    folder = tmp_path_factory.mktemp("probe")
    root = make_dataset(str(folder / "data"))
    out = str(folder / "out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLIP_CHECKPOINT", tiny_clip_file)
        run_train(train_args(root, out, trainer="LinearProbeCLIP", config="vit_b16", opts=SHOTS))
    return root, out


def test_fewshot_probe_is_sklearn_at_the_chosen_c_and_evaluates_and_predicts_alike(probe_run, tmp_path, clip_checkpoint):
    root, out = probe_run
    log = read_log(out)
    assert "Chosen C = " in log and "Finish training" in log
    with open(os.path.join(out, "finished.json")) as f:
        assert json.load(f)["load_epoch"] == 1
    with open(os.path.join(out, "linear_probe", "c_search.json")) as f:
        chosen = json.load(f)["C"]

    trainer = build_trainer(train_args(root, str(tmp_path / "again"), trainer="LinearProbeCLIP", config="vit_b16",
                                       opts=SHOTS), seed=1)
    train = trainer.split_features(trainer.train_images_loader(), "train")
    test = trainer.split_features(trainer.test_loader, "test")
    assert len(train[1]) == 2 * trainer.num_classes  # the protocol's few-shot set: 2 shots per class
    assert not np.allclose(np.linalg.norm(test[0], axis=1), 1.0)  # the tower's raw output, as lpclip
    expected = logistic_regression(chosen).fit(*train).predict(test[0])
    trainer.load_model(out, epoch=1)
    logits = trainer.logits_from_features(torch.tensor(test[0], dtype=torch.float32))
    assert logits.argmax(1).numpy().tolist() == expected.tolist()
    assert final_accuracy(log) == pytest.approx(round(100 * float(np.mean(expected == test[1])), 1))

    evaluated = str(tmp_path / "eval")
    run_train(train_args(root, evaluated, trainer="LinearProbeCLIP", config="vit_b16", opts=SHOTS,
                         flags=["--eval-only", "--model-dir", out, "--load-epoch", "1"]))
    assert final_accuracy(read_log(evaluated)) == final_accuracy(log)

    from toolkit.predict import PromptClassifier
    from dassl.data.datasets import build_dataset
    from toolkit.predict.run import read_run

    dataset = build_dataset(read_run(out).cfg)
    predictions = PromptClassifier.from_run(out).predict([item.impath for item in dataset.test], topk=1)
    assert [dataset.classnames.index(p.labels[0]) for p in predictions] == expected.tolist()


def test_base_to_new_and_cross_dataset_are_refused_in_one_line(probe_run, tmp_path, clip_checkpoint):
    root, out = probe_run
    with pytest.raises(ValueError, match="^LinearProbeCLIP learns one weight vector per training class") as refused:
        build_trainer(train_args(root, str(tmp_path / "b2n"), trainer="LinearProbeCLIP", config="vit_b16",
                                 opts=[*SHOTS, "DATASET.SUBSAMPLE_CLASSES", "base"]))
    assert "\n" not in str(refused.value)
    for protocol in ("base2new", "xd", "dg"):
        with pytest.raises(ValueError, match=f"LinearProbeCLIP has no {protocol} runs: a linear probe"):
            protocol_runs.expand(protocol, ["LinearProbeCLIP"], ["all"], [1], "output")
    other = make_dataset(str(tmp_path / "data"), "dtd")
    trainer = build_trainer(train_args(other, str(tmp_path / "xd"), trainer="LinearProbeCLIP", dataset="dtd",
                                       config="vit_b16", flags=["--eval-only"]))
    with pytest.raises(ValueError, match="cannot classify DescribableTextures's 5 classes with the probe of 5 other classes"):
        trainer.load_model(out, epoch=1)
