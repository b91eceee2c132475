"""MaPLe and MaPLe_PLPP on a fixture dataset with a tiny 3-block CLIP: training, gradients, the
coupled prompts, checkpoints in the reference's format, base-to-new, PLPP at zero weights, and
the reference's scripts."""
import os

import pytest
import torch
import torch.nn.functional as F

from deep_runs import (build, check_base_to_new, check_plpp_scores_the_first_layer_context, check_training_and_eval_only,
                       deep_train_args, learned_names, save_deep_clip, write_reference_checkpoint)
from runs import make_dataset

CONFIG = "vit_b16_c2_ep5_batch4_2ctx"  # the reference's base-to-new config (depth 9 -> 3 here)
SETTINGS = ["TRAINER.MAPLE.PROMPT_DEPTH", "3", "OPTIM.LR", "0.02", "DATASET.NUM_SHOTS", "4"]
LEARNED = {"prompt_learner.ctx", "prompt_learner.proj.weight", "prompt_learner.proj.bias",
           "prompt_learner.compound_prompts_text.0", "prompt_learner.compound_prompts_text.1",
           "prompt_learner.compound_prompt_projections.0.weight", "prompt_learner.compound_prompt_projections.0.bias",
           "prompt_learner.compound_prompt_projections.1.weight", "prompt_learner.compound_prompt_projections.1.bias"}
ZERO_PLPP = ["TRAINER.PLPP.PPL_WEIGHT", "0.0", "TRAINER.PLPP.INV_WEIGHT", "0.0"]


@pytest.fixture(scope="module")
def deep_clip(tmp_path_factory):
    return save_deep_clip(str(tmp_path_factory.mktemp("clip")))


@pytest.fixture
def data_root(tmp_path):
    return make_dataset(str(tmp_path / "data"))


@pytest.fixture
def args(data_root, deep_clip, monkeypatch):
    monkeypatch.setenv("CLIP_CHECKPOINT", deep_clip)
    return deep_train_args(data_root, "MaPLe", CONFIG, SETTINGS)


@pytest.mark.slow  # a whole training run and its evaluation (CI runs it)
def test_maple_trains_saves_the_references_checkpoint_and_eval_only_reproduces(args, tmp_path):
    keys = LEARNED | {"prompt_learner.token_prefix", "prompt_learner.token_suffix"}
    state = check_training_and_eval_only(args, str(tmp_path / "train"), "MultiModalPromptLearner", keys)
    assert state["prompt_learner.proj.weight"].shape == (64, 64) and state["prompt_learner.ctx"].shape == (2, 64)


def test_only_the_prompt_learner_gets_gradients(args, tmp_path):
    trainer = build(args(str(tmp_path / "out")))
    trainer.forward_backward(next(iter(trainer.train_loader_x)))
    assert {name for name, p in trainer.model.named_parameters() if p.grad is not None} == LEARNED
    assert learned_names(trainer) == LEARNED


def test_prompts_start_as_the_reference_and_vision_prompts_are_projected_text_prompts(args, tmp_path):
    from clip import clip

    trainer = build(args(str(tmp_path / "out")))
    learner = trainer.model.prompt_learner
    words = trainer.clip_token_embedding(clip.tokenize("a photo of a"))[0]
    assert torch.equal(learner.ctx, words[1:3].detach())  # "a photo" learned, "of a" fixed in the suffix
    first, second = learner.compound_prompt_projections
    assert torch.equal(first.weight, second.weight) and torch.equal(first.bias, second.bias)  # one starting coupling
    with torch.no_grad():
        prompts = learner()
        assert torch.equal(prompts.vision, learner.proj(learner.ctx))
        assert torch.equal(prompts.vision_deep[1], second(learner.compound_prompts_text[1]))
        assert torch.equal(prompts.text_deep[0], learner.compound_prompts_text[0])


@pytest.mark.slow  # a whole training run and its evaluation (CI runs it)
def test_base_trained_prompts_evaluate_on_new_classes(args, tmp_path):
    check_base_to_new(args, str(tmp_path / "base"))


def test_a_reference_checkpoint_with_clips_weights_and_fp16_proj_loads(args, tmp_path):
    trainer = build(args(str(tmp_path / "out")))
    prompts = write_reference_checkpoint(trainer, str(tmp_path / "reference"), "MultiModalPromptLearner", 5,
                                         {"prompt_learner.proj.weight": torch.float16})  # the reference's proj is fp16
    trainer.load_model(str(tmp_path / "reference"), epoch=5)
    learner = trainer.model.prompt_learner
    assert torch.equal(learner.compound_prompts_text[1], prompts["prompt_learner.compound_prompts_text.1"])
    assert torch.equal(learner.proj.weight, prompts["prompt_learner.proj.weight"].float())
    assert not torch.equal(learner.token_suffix, prompts["prompt_learner.token_suffix"])


def test_prompt_depth_beyond_the_blocks_is_a_one_line_error(args, tmp_path):
    from runs import run_train

    with pytest.raises(ValueError, match=r"^TRAINER.MAPLE.PROMPT_DEPTH must be between 1 and 3 \(this CLIP's number of blocks\), got 9$"):
        run_train(args(str(tmp_path / "out"), opts=["TRAINER.MAPLE.PROMPT_DEPTH", "9"]))


def plpp_args(data_root, opts=()):
    return deep_train_args(data_root, "MaPLe_PLPP", CONFIG, [*SETTINGS, *opts])


def test_maple_plpp_with_zero_weights_is_exactly_maple(args, data_root, tmp_path):
    maple = build(args(str(tmp_path / "maple")))
    plpp = build(plpp_args(data_root, ZERO_PLPP)(str(tmp_path / "plpp")))
    batch = next(iter(maple.train_loader_x))
    assert plpp.forward_backward(batch) == maple.forward_backward(batch)
    for (name, ours), (_, theirs) in zip(plpp.checkpoint_module.state_dict().items(), maple.checkpoint_module.state_dict().items()):
        assert torch.equal(ours, theirs), name


@pytest.mark.parametrize("align", ["same", "next"])
def test_maple_plpp_scores_the_first_layer_text_context(args, data_root, tmp_path, align):
    """The LM head reads p_1, p_2's own states (same: positions 1, 2) or those before them (next: SOS, p_1)."""
    maple = build(args(str(tmp_path / "maple")))
    plpp = build(plpp_args(data_root, ["TRAINER.PLPP.ALIGN", align])(str(tmp_path / "plpp")))
    check_plpp_scores_the_first_layer_context(maple, plpp, align)
    assert {n for n, p in plpp.model.named_parameters() if p.grad is not None} == LEARNED
    assert F.mse_loss(plpp.model.prompt_learner.ctx, maple.model.prompt_learner.ctx) > 0


SCRIPT_OPTS = ("OPTIM.MAX_EPOCH 1 DATALOADER.NUM_WORKERS 0 DATALOADER.TRAIN_X.BATCH_SIZE 8 DATALOADER.TEST.BATCH_SIZE 16 "
               "TRAINER.MAPLE.PROMPT_DEPTH 3")


@pytest.mark.slow
def test_base2new_scripts_write_the_references_layout_and_results_show_maple(data_root, deep_clip, tmp_path, capsys,
                                                                            warm_python):
    import subprocess
    import sys

    from runs import REPO
    from toolkit import results

    output = str(tmp_path / "output")
    env = dict(os.environ, DATA=data_root, OUTPUT=output, PY=warm_python, CLIP_CHECKPOINT=deep_clip, OPTS=SCRIPT_OPTS)
    env.pop("FORCE", None)

    def script(name, *script_args):
        return subprocess.run(["bash", os.path.join(REPO, "scripts", name), *script_args], env=env, capture_output=True, text=True)

    missing = script("maple/base2new_test_maple.sh", "eurosat", "1")
    assert missing.returncode == 2 and "first run: bash scripts/maple/base2new_train_maple.sh eurosat 1" in missing.stderr
    for name in ("maple/base2new_train_maple.sh", "maple/base2new_test_maple.sh",
                 "maple_plpp/base2new_train_maple.sh", "maple_plpp/base2new_test_maple.sh"):
        done = script(name, "eurosat", "1")
        assert done.returncode == 0, done.stderr[-2000:]
    layout = os.path.join(output, "base2new", "{}", "eurosat", "shots_16", "{}", CONFIG, "seed1")
    for part in ("train_base", "test_new"):
        for trainer in ("MaPLe", "MaPLe_PLPP"):
            assert os.path.isfile(os.path.join(layout.format(part, trainer), "finished.json")), (part, trainer)
    assert os.path.isfile(os.path.join(layout.format("train_base", "MaPLe"), "MultiModalPromptLearner", "model.pth.tar-1"))

    assert results.main([output, "--protocol", "base2new", "--no-plots"]) == 0
    tables = capsys.readouterr().out
    assert f"MaPLe/{CONFIG}" in tables and f"MaPLe_PLPP/{CONFIG}" in tables
