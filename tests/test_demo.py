"""The demo (toolkit.demo): its CLIP's pretraining at a reduced size, and the whole demo wired end
to end with a CLIP pretrained for a few steps (the full demo is not run here)."""
import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch

from toolkit import demo
from toolkit.demo import pretrain, world

CHANCE = 100 / (len(world.CLASSNAMES) // 2)
SMALL = pretrain.PretrainSettings(steps=3, batch_size=16)


@pytest.fixture
def one_thread():
    """One torch thread: on a busy machine more threads spin-wait (the demo picks its count the
    same way, toolkit.demo.cpu_threads). A fixed count also keeps the float reductions, hence
    the pretrained weights, the same from run to run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_pretraining_is_deterministic_for_a_seed(one_thread):
    first, again = state(pretrain.pretrain(SMALL, progress=False)), state(pretrain.pretrain(SMALL, progress=False))
    other = state(pretrain.pretrain(pretrain.PretrainSettings(steps=3, batch_size=16, seed=1), progress=False))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["visual.conv1.weight"], other["visual.conv1.weight"])
    untrained = state(pretrain.build_demo_clip(SMALL))
    assert not torch.equal(first["token_embedding.weight"], untrained["token_embedding.weight"])


@pytest.mark.slow
def test_a_short_pretraining_already_classifies_both_halves_above_chance(one_thread):
    # Half the demo's steps at half its batch, one layer (about 10 s on one core), evaluated on
    # the downstream photos, which are shifted from the pretraining pictures. Measured: base
    # 50.8%, new 43.3% (chance 16.7%); 100 steps stay at chance.
    settings = pretrain.PretrainSettings(layers=1, steps=200, batch_size=64, warmup_steps=20)
    model = pretrain.pretrain(settings, progress=False)
    accuracy = pretrain.zero_shot_accuracy(model)
    assert accuracy["base"] > CHANCE + 10 and accuracy["new"] > CHANCE + 10, accuracy


def test_the_cache_is_written_once_and_names_its_settings(tmp_path, capsys, one_thread):
    path = pretrain.cached_demo_clip(SMALL, str(tmp_path))
    assert "Pretraining the demo CLIP" in capsys.readouterr().out
    assert pretrain.cached_demo_clip(SMALL, str(tmp_path)) == path and capsys.readouterr().out == ""
    assert pretrain.read_record(path)["settings"] == dataclasses.asdict(SMALL)
    assert pretrain.PretrainSettings(steps=4, batch_size=16).cache_path(str(tmp_path)) != path

    from trainers.backbone import clip, read_clip_state_dict

    model = clip.build_model(read_clip_state_dict(path))  # OpenAI's builder reads the demo CLIP's size back
    assert model.visual.input_resolution == SMALL.image_size and model.token_embedding.num_embeddings == 49408


def test_the_downstream_photos_are_the_same_for_a_seed(tmp_path):
    def photos(root, seed=0):
        world.write_downstream_dataset(str(root), {"train": 1, "test": 1}, 32, seed)
        folder = world.dataset_folder(str(root), 32)
        return {path.relative_to(folder): path.read_bytes() for path in sorted(Path(folder).rglob("*.png"))}

    first = photos(tmp_path / "a")
    assert len(first) == 2 * len(world.CLASSNAMES)
    assert photos(tmp_path / "b") == first and photos(tmp_path / "c", seed=1) != first


def test_threads_are_the_idle_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (8.0, 8.0, 8.0))
    assert demo.cpu_threads() == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert demo.cpu_threads() == 2


@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_reuses_its_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CLIP_CHECKPOINT", raising=False)
    monkeypatch.setattr(demo, "REAL_CLIP", str(tmp_path / "no-real-weights.pt"))
    monkeypatch.setattr(demo, "PRETRAINING", SMALL)
    monkeypatch.setattr(demo, "CACHE_DIR", str(tmp_path / "cache"))
    output = str(tmp_path / "demo")
    argv = ["--output", output, "--seeds", "1", "--epochs", "1", "--trainers", "CoOp", "PLPP"]

    assert demo.main(argv) == 0
    out = capsys.readouterr().out
    assert "CLIP: the demo CLIP" in out and "Base-to-new generalisation" in out
    assert "Predict: PLPP's prompt (seed 1, trained on the base classes) ranks the new classes" in out
    # The demo CLIP is 64 wide: its LM head is uniform over the candidate words, and the demo says so
    # once, after CoOp's and PLPP's prompts side by side.
    signal = out.split("PLPP's perplexity term on this CLIP (seed 1, from ")[1]
    assert "PLPP signal at start: LM head entropy" in signal and "PLPP signal epoch 1/1" in signal
    assert "Interpret: CoOp's and PLPP's learned contexts side by side" in signal
    assert "\nwords " in signal and "\nperplexity " in signal
    assert out.count("warning: PLPP's perplexity term has no signal") == 1
    with open(os.path.join(output, "results", "results.json")) as f:
        summary = json.load(f)
    methods = {row["method"] for row in summary["entries"] if row["dataset"] == "shapes" and row["metric"] == "New"}
    assert methods == {"ZeroshotCLIP/vit_b16", "CoOp/vit_b16_ctxv1", "PLPP/vit_b16_ctxv1"}  # their base-to-new configs

    assert demo.main(argv) == 0
    assert capsys.readouterr().out.count("done before with these settings, kept") == 6
