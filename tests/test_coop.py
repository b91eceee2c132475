"""CoOp on a fixture dataset with the tiny CLIP: training, checkpoints, evaluation, numerics."""
import json
import os
import re

import pytest
import torch
from yacs.config import CfgNode as CN

from runs import build_trainer, epoch_losses, final_accuracy, make_dataset, read_log, run_train, train_args
from testing.tiny_clip import build_tiny_clip
from trainers.coop import CustomCLIP, PromptLearner
from trainers.zsclip import IMAGENET_TEMPLATES_SELECT

CLASSNAMES = ["Annual Crop Land", "golden_retriever", "F/A-18", "a", "sea or lake"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_dataset(str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory, tiny_clip_file):
    """A CoOp run of 4 epochs (N_CTX 4), made once for the tests that read or load it."""
    out = str(tmp_path_factory.mktemp("coop") / "train")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLIP_CHECKPOINT", tiny_clip_file)
        run_train(train_args(data_root, out, opts=["OPTIM.MAX_EPOCH", "4", "TRAINER.COOP.N_CTX", "4"]))
    return out


def test_coop_trains_saves_reference_checkpoints_and_eval_only_reproduces(data_root, trained, tmp_path, clip_checkpoint):
    out = trained
    log = read_log(out)

    losses = epoch_losses(log)
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert "Note: PREC fp16 needs a GPU; running in fp32 on the CPU" in log

    # The reference CoOp layout and keys, so checkpoints move between the two repositories.
    assert sorted(os.listdir(os.path.join(out, "prompt_learner"))) == ["checkpoint", "model.pth.tar-4"]
    checkpoint = torch.load(os.path.join(out, "prompt_learner", "model.pth.tar-4"), weights_only=True)
    # The reference's keys, plus train_state (rng states etc. for bitwise resume), which CoOp ignores.
    assert set(checkpoint) == {"state_dict", "epoch", "optimizer", "scheduler", "val_result", "train_state"}
    assert set(checkpoint["state_dict"]) == {"ctx", "token_prefix", "token_suffix"}
    assert checkpoint["epoch"] == 4 and checkpoint["state_dict"]["ctx"].shape == (4, 64)

    # Every run records how it was made.
    for name in ("config.yaml", "environment.json", "finished.json"):
        assert os.path.isfile(os.path.join(out, name)), name
    with open(os.path.join(out, "environment.json")) as f:
        env = json.load(f)
    assert env["clip_checkpoint"] == clip_checkpoint and "bundled" in env["engine"]

    evaluation = str(tmp_path / "eval")
    run_train(train_args(data_root, evaluation, opts=["TRAINER.COOP.N_CTX", "4"], flags=["--eval-only", "--model-dir", out, "--load-epoch", "4"]))
    eval_log = read_log(evaluation)
    assert f'Loading weights to prompt_learner from "{out}/prompt_learner/model.pth.tar-4" (epoch = 4)' in eval_log
    assert final_accuracy(eval_log) == final_accuracy(log)


def test_only_the_context_gets_gradients(data_root, tmp_path, clip_checkpoint):
    trainer = build_trainer(train_args(data_root, str(tmp_path / "out"), opts=["TRAINER.COOP.N_CTX", "4"]))
    trainer.batch_idx, trainer.num_batches = 0, 2
    trainer.forward_backward(next(iter(trainer.train_loader_x)))

    with_grad = {name for name, p in trainer.model.named_parameters() if p.grad is not None}
    assert with_grad == {"prompt_learner.ctx"}
    assert [name for name, p in trainer.model.named_parameters() if p.requires_grad] == ["prompt_learner.ctx"]


def test_eval_only_without_model_dir_is_refused(data_root, tmp_path, clip_checkpoint):
    with pytest.raises(ValueError, match="--eval-only needs --model-dir"):
        run_train(train_args(data_root, str(tmp_path / "eval"), flags=["--eval-only"]))


def test_checkpoint_of_another_shape_is_a_clear_error(data_root, trained, tmp_path, clip_checkpoint):
    with pytest.raises(ValueError, match=r"ctx of shape \[4, 64\] but the model expects \[8, 64\]"):
        run_train(train_args(data_root, str(tmp_path / "eval"), opts=["TRAINER.COOP.N_CTX", "8"], flags=["--eval-only", "--model-dir", trained, "--load-epoch", "4"]))


def test_missing_epoch_lists_the_checkpoints_found(data_root, trained, tmp_path, clip_checkpoint):
    with pytest.raises(FileNotFoundError, match=r"model\.pth\.tar-7.*found: model\.pth\.tar-4"):
        run_train(train_args(data_root, str(tmp_path / "eval"), opts=["TRAINER.COOP.N_CTX", "4"], flags=["--eval-only", "--model-dir", trained, "--load-epoch", "7"]))


def test_base_trained_prompt_evaluates_on_new_classes(data_root, tmp_path, clip_checkpoint):
    out = str(tmp_path / "base")
    opts = ["TRAINER.COOP.CTX_INIT", "a photo of a", "DATASET.NUM_SHOTS", "4"]
    run_train(train_args(data_root, out, opts=[*opts, "OPTIM.MAX_EPOCH", "1", "DATASET.SUBSAMPLE_CLASSES", "base"]))
    new = str(tmp_path / "new")
    run_train(train_args(data_root, new, opts=[*opts, "DATASET.SUBSAMPLE_CLASSES", "new"], flags=["--eval-only", "--model-dir", out, "--load-epoch", "1"]))
    # The fixture's 5 classes split 3 base / 2 new; the classifier is built over the new ones only.
    assert re.search(r"# classes\s+3\b", read_log(out))
    log = read_log(new)
    assert re.search(r"# classes\s+2\b", log) and re.search(r"# test\s+8\b", log)

    # The accuracy reported is that of the trained context on the new classes' prompts, computed
    # here on the plain path: 77-token prompts, the checkpoint's context, the new class names.
    trainer = build_trainer(train_args(data_root, str(tmp_path / "check"),
                                            opts=[*opts, "DATASET.SUBSAMPLE_CLASSES", "new"]))
    context = torch.load(os.path.join(out, "prompt_learner", "model.pth.tar-1"), weights_only=True)["state_dict"]["ctx"]
    model = trainer.model.eval()
    with torch.no_grad():
        model.prompt_learner.ctx.copy_(context)
        text = model.text_encoder(model.prompt_learner(), model.tokenized_prompts, trim=False)
        text = text / text.norm(dim=-1, keepdim=True)
        correct = total = 0
        for batch in trainer.test_loader:
            image = model.image_encoder(batch["img"])
            predicted = (image / image.norm(dim=-1, keepdim=True) @ text.t()).argmax(-1)
            correct += int((predicted == batch["label"]).sum())
            total += len(predicted)
    assert trainer.dm.dataset.classnames == ["Highway or Road", "Sea or Lake"]  # the fixture's last two labels
    assert final_accuracy(log) == round(100 * correct / total, 1)


def tiny_cfg(n_ctx=4, csc=False, ctx_init="", position="end"):
    cfg = CN()
    cfg.INPUT = CN()
    cfg.INPUT.SIZE = (224, 224)
    cfg.TRAINER = CN()
    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = n_ctx
    cfg.TRAINER.COOP.CSC = csc
    cfg.TRAINER.COOP.CTX_INIT = ctx_init
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = position
    return cfg


@pytest.fixture(scope="module")
def fp32_clip():
    return build_tiny_clip(layers=2).float()


@pytest.mark.parametrize("position", ["end", "middle", "front"])
@pytest.mark.parametrize("csc", [False, True])
def test_cached_and_trimmed_evaluation_equals_the_plain_path(fp32_clip, position, csc):
    torch.manual_seed(0)
    model = CustomCLIP(tiny_cfg(n_ctx=6, csc=csc, position=position), CLASSNAMES, fp32_clip).eval()
    images = torch.randn(3, 3, 224, 224)
    with torch.no_grad():
        text = model.text_encoder(model.prompt_learner(), model.tokenized_prompts, trim=False)
        image = model.image_encoder(images)
        plain = model.logit_scale.exp() * (image / image.norm(dim=-1, keepdim=True)) @ (text / text.norm(dim=-1, keepdim=True)).t()
        trimmed = model(images)
        with model.text_features_fixed():
            cached = model(images)
            assert model.fixed_text_features is not None
    assert model.fixed_text_features is None
    assert (trimmed - plain).abs().max() <= 1e-5
    assert (cached - plain).abs().max() <= 1e-5


def test_word_initialised_prompt_reproduces_clip_zero_shot(fp32_clip):
    """With the context set to the words "a photo of a", CoOp's logits are CLIP's own."""
    from clip import clip

    model = CustomCLIP(tiny_cfg(ctx_init="a photo of a"), CLASSNAMES, fp32_clip).eval()
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        text = fp32_clip.encode_text(clip.tokenize([f"a photo of a {c.replace('_', ' ')}." for c in CLASSNAMES]))
        image = fp32_clip.encode_image(images)
        expected = fp32_clip.logit_scale.exp() * (image / image.norm(dim=-1, keepdim=True)) @ (text / text.norm(dim=-1, keepdim=True)).t()
        assert (model(images) - expected).abs().max() <= 1e-5


def test_prompt_learner_attributes_match_the_reference(fp32_clip):
    learner = PromptLearner(tiny_cfg(n_ctx=6, position="middle"), CLASSNAMES, fp32_clip)
    assert learner.n_cls == 5 and learner.n_ctx == 6 and learner.class_token_position == "middle"
    assert learner.ctx.shape == (6, 64) and learner.token_prefix.shape == (5, 1, 64)
    assert learner.token_suffix.shape == (5, 77 - 1 - 6, 64)
    assert learner.name_lens[3] == 1  # "a"
    assert set(learner.state_dict()) == {"ctx", "token_prefix", "token_suffix"}


def test_frozen_image_tower_runs_without_autograd_in_evaluation_mode(fp32_clip):
    model = CustomCLIP(tiny_cfg(), CLASSNAMES, fp32_clip)
    images = torch.randn(2, 3, 224, 224)
    with torch.enable_grad():
        features = model.encode_image(images)
        expected = model.image_encoder(images)
    assert not model.image_encoder.training and not features.requires_grad
    assert torch.equal(features, expected / expected.norm(dim=-1, keepdim=True))


@pytest.mark.parametrize("trainer", ["ZeroshotCLIP", "ZeroshotCLIP2"])
def test_zero_shot_clip_reports_clips_own_accuracy(data_root, tmp_path, clip_checkpoint, trainer):
    from clip import clip

    out = str(tmp_path / trainer)
    run_train(train_args(data_root, out, trainer=trainer, config="vit_b16", flags=["--eval-only"]))
    log = read_log(out)
    templates = ["a centered satellite photo of {}."]  # EuroSAT's, from the dataset catalogue
    if trainer == "ZeroshotCLIP2":
        templates = IMAGENET_TEMPLATES_SELECT + templates
    assert f"Prompt templates (n={len(templates)}): {templates}" in log

    # CLIP's own encode_text/encode_image on the untrimmed prompts, averaged over templates.
    evaluation = build_trainer(train_args(data_root, str(tmp_path / "check"), trainer=trainer, config="vit_b16"))
    model, names = evaluation.clip_model, [n.replace("_", " ") for n in evaluation.dm.dataset.classnames]
    correct = total = 0
    with torch.no_grad():
        text = sum(unit(model.encode_text(clip.tokenize([t.format(n) for n in names]))) for t in templates)
        for batch in evaluation.test_loader:
            predicted = (unit(model.encode_image(batch["img"])) @ unit(text).t()).argmax(-1)
            correct += int((predicted == batch["label"]).sum())
            total += len(predicted)
    assert final_accuracy(log) == round(100 * correct / total, 1)


def unit(features):
    return features / features.norm(dim=-1, keepdim=True)
