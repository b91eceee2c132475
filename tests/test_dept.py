"""DePT (trainers/dept.py): its head and fusion against a hand computation, CoOp_DePT's loss,
learning rates and checkpoints on a fixture dataset with the tiny CLIP."""
import math
import os

import pytest
import torch
import torch.nn.functional as F

from runs import build_trainer, final_accuracy, make_dataset, read_log, run_train, train_args
from trainers.dept import (ChannelAdjustedHead, decoupled_loss, fused_logits, reference_checkpoint_layout,
                           similarity_logits)

CONFIG = "vit_b16_ep10_bs4_lr35"
BASE = ["DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.COOP.N_CTX", "4"]


@pytest.fixture
def data_root(tmp_path):
    return make_dataset(str(tmp_path / "data"))


def args(data_root, out, trainer="CoOp_DePT", opts=(), flags=()):
    return train_args(data_root, out, trainer=trainer, config=CONFIG, opts=[*BASE, *opts], flags=flags)


def build(data_root, out, trainer="CoOp_DePT", opts=()):
    trainer = build_trainer(args(data_root, out, trainer, opts), seed=1)
    trainer.batch_idx, trainer.num_batches = 0, 2
    return trainer


# ---- the head, by hand -----------------------------------------------------------------------

def hand_head():
    head = ChannelAdjustedHead(2, 3)
    with torch.no_grad():
        head.film_lp_img.scale.copy_(torch.tensor([2.0, 0.5]))
        head.film_lp_img.bias.copy_(torch.tensor([1.0, -1.0]))
        head.film_lp_text.scale.copy_(torch.tensor([-1.0, 3.0]))
        head.film_lp_text.bias.copy_(torch.tensor([0.0, 2.0]))
        head.linear_probe_proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]))
        head.linear_probe_proj.bias.copy_(torch.tensor([0.0, 0.5, -0.5]))
    return head


def test_head_scales_each_channel_then_classifies():
    image = torch.tensor([[1.0, 2.0], [-1.0, 4.0]])
    # s * f + b: [3, 0] and [-1, 1]; then W x + b
    assert hand_head()(image).tolist() == [[3.0, 0.5, 2.5], [-1.0, 1.5, -2.5]]


def test_head_trains_on_the_labels_text_features_then_the_images():
    image = torch.tensor([[1.0, 2.0], [-1.0, 4.0]])
    text = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, -1.0]])  # three classes
    logits, labels = hand_head().training_logits(image, text, torch.tensor([2, 0]))
    # text of class 2 -> [0, -1]: [0, -0.5, 0.5]; class 0 -> [-1, 5]: [-1, 5.5, -6.5]; then the images
    assert logits.tolist() == [[0.0, -0.5, 0.5], [-1.0, 5.5, -6.5], [3.0, 0.5, 2.5], [-1.0, 1.5, -2.5]]
    assert labels.tolist() == [2, 0, 2, 0]
    per_image = text.expand(2, -1, -1).clone()
    per_image[1, 0] = torch.tensor([0.0, 0.0])  # image 1's own text for class 0 -> [0, 2]
    logits, _ = hand_head().training_logits(image, per_image, torch.tensor([2, 0]))
    assert logits[1].tolist() == [0.0, 2.5, -2.5]


def test_fusion_and_loss_weights():
    host = torch.tensor([[10.0, 0.0]])
    head = torch.tensor([[0.0, 20.0]])
    assert fused_logits(host, head, 0.7)[0].tolist() == pytest.approx([3.0, 14.0])
    labels, head_labels = torch.tensor([1]), torch.tensor([1, 1])
    head_logits = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    host_ce = F.cross_entropy(host, labels)
    loss, head_ce = decoupled_loss(host_ce, host, labels, head_logits, head_labels, 0.7)
    # CE of [0, 1] for class 1 is log(1 + e^-1); of [2, 0] for class 1, log(1 + e^2)
    assert head_ce.item() == pytest.approx((math.log(1 + math.exp(-1)) + math.log(1 + math.exp(2))) / 2)
    assert loss.item() == pytest.approx(0.3 * host_ce.item() + 0.7 * head_ce.item())


def test_similarity_logits_are_clips():
    image, text = torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert similarity_logits(image, text, torch.tensor(0.0))[0].tolist() == pytest.approx([0.6, 0.8])
    assert similarity_logits(image, text.unsqueeze(0), torch.tensor(0.0))[0].tolist() == pytest.approx([0.6, 0.8])


# ---- CoOp_DePT -------------------------------------------------------------------------------

def test_loss_is_the_references_and_the_head_learns_faster(data_root, tmp_path, clip_checkpoint):
    trainer = build(data_root, str(tmp_path / "dept"))
    assert [g["initial_lr"] for g in trainer._optims["PromptLearner"].param_groups] == [pytest.approx(0.0035 * 6.5)]
    assert [g["initial_lr"] for g in trainer._optims["prompt_learner"].param_groups] == [pytest.approx(0.0035)]
    batch = next(iter(trainer.train_loader_x))
    image, labels = trainer.parse_batch_train(batch)
    model, head = trainer.model, trainer.head
    with torch.no_grad():  # the reference's formula, from the model's parts
        image_features = model.image_encoder(image)
        text_features = model.text_encoder(model.prompt_learner(), model.tokenized_prompts)
        similarity = similarity_logits(image_features, text_features, model.logit_scale)
        head_logits = head.linear_probe_proj(torch.cat([head.film_lp_text(text_features[labels]), head.film_lp_img(image_features)]))
        expected = 0.3 * F.cross_entropy(similarity, labels) + 0.7 * F.cross_entropy(head_logits, torch.cat([labels, labels]))
    summary = trainer.forward_backward(batch)
    assert summary["loss"] == pytest.approx(expected.item(), rel=1e-6)
    assert set(summary) == {"loss", "ce", "head_ce", "acc"}
    learned = {n for n, p in model.named_parameters() if p.grad is not None} | {f"head.{n}" for n, p in head.named_parameters() if p.grad is not None}
    assert learned == {"prompt_learner.ctx", "head.film_lp_img.scale", "head.film_lp_img.bias", "head.film_lp_text.scale",
                       "head.film_lp_text.bias", "head.linear_probe_proj.weight", "head.linear_probe_proj.bias"}


def test_base_prediction_is_the_fusion_and_new_classes_get_the_hosts(data_root, tmp_path, clip_checkpoint):
    trainer = build(data_root, str(tmp_path / "dept"))
    trainer.set_model_mode("eval")
    image = next(iter(trainer.test_loader))["img"]
    with torch.no_grad():
        host = trainer.model(image)
        head = trainer.head(trainer.model.image_encoder(image))
        assert torch.allclose(trainer.model_inference(image), 0.3 * host + 0.7 * head, rtol=1e-6, atol=1e-5)
    assert not trainer.frozen_image_tower  # base classes: the head needs raw image features
    new = build(data_root, str(tmp_path / "new"), opts=["DATASET.SUBSAMPLE_CLASSES", "new"])
    assert new.head.linear_probe_proj is None and new.frozen_image_tower
    with torch.no_grad():
        assert torch.equal(new.model_inference(image), new.model(image))


@pytest.mark.parametrize("key, value, message", [
    ("TRAINER.LINEAR_PROBE.TYPE", "similarity", "TRAINER.LINEAR_PROBE.TYPE must be 'linear'"),
    ("TRAINER.LINEAR_PROBE.WEIGHT", "1.5", "TRAINER.LINEAR_PROBE.WEIGHT must be between 0 and 1"),
    ("OPTIM.LR_EXP", "0.0", "OPTIM.LR_EXP must be > 0"),
])
def test_bad_settings_are_one_line_errors(data_root, tmp_path, clip_checkpoint, key, value, message):
    with pytest.raises(ValueError, match=message):
        build(data_root, str(tmp_path / "out"), opts=[key, value])


def test_training_on_all_classes_of_a_small_dataset_is_refused(data_root, tmp_path, clip_checkpoint):
    trainer = build(data_root, str(tmp_path / "out"), opts=["DATASET.SUBSAMPLE_CLASSES", "all"])
    with pytest.raises(ValueError, match="DePT trains its head on the base classes"):
        trainer.forward_backward(next(iter(trainer.train_loader_x)))


def test_checkpoints_evaluate_with_dept_and_the_host_and_reference_ones_load(data_root, tmp_path, clip_checkpoint):
    out = str(tmp_path / "train")  # PLPP and DePT together: the host's folder, and the head's
    run_train(args(data_root, out, trainer="CoOp_PLPP_DePT", opts=["OPTIM.MAX_EPOCH", "1"]))
    assert {"prompt_learner", "PromptLearner"} <= set(os.listdir(out))  # the host's folder, and the reference's
    reference_state = torch.load(os.path.join(out, "PromptLearner", "model.pth.tar-1"), weights_only=True)["state_dict"]
    assert set(reference_state) == {
        "prompt_learner.ctx", "prompt_learner.token_prefix", "prompt_learner.token_suffix", "film_lp_img.scale",
        "film_lp_img.bias", "film_lp_text.scale", "film_lp_text.bias", "linear_probe_proj.weight", "linear_probe_proj.bias"}
    trained = final_accuracy(read_log(out))

    def evaluate(trainer, model_dir, subsample, name):
        evaluation = str(tmp_path / name)
        run_train(args(data_root, evaluation, trainer=trainer, opts=["DATASET.SUBSAMPLE_CLASSES", subsample],
                       flags=["--eval-only", "--model-dir", model_dir, "--load-epoch", "1"]))
        return final_accuracy(read_log(evaluation))

    assert evaluate("CoOp_PLPP_DePT", out, "base", "both-base") == evaluate("CoOp_DePT", out, "base", "dept-base") == trained
    # New classes: DePT predicts with the host alone, so the host evaluates its checkpoint the same.
    new = evaluate("CoOp_PLPP_DePT", out, "new", "both-new")
    assert new == evaluate("CoOp", out, "new", "coop-new") == evaluate("PLPP", out, "new", "plpp-new")

    # The reference's layout: PromptLearner/ alone, with its frozen CLIP too (ignored here).
    reference = tmp_path / "reference"
    os.makedirs(reference / "PromptLearner")
    checkpoint = torch.load(os.path.join(out, "PromptLearner", "model.pth.tar-1"), weights_only=True)
    state = {**checkpoint["state_dict"], "logit_scale": torch.tensor(4.6)}
    torch.save({**checkpoint, "state_dict": state}, reference / "PromptLearner" / "model.pth.tar-1")
    assert evaluate("CoOp_DePT", str(reference), "base", "reference-base") == trained


def test_reference_layout_splits_host_and_head_keys(data_root, tmp_path, clip_checkpoint):
    trainer = build(data_root, str(tmp_path / "dept"))
    os.makedirs(tmp_path / "ref" / "PromptLearner")
    state = {"prompt_learner.ctx": torch.ones(4, 64), "film_lp_img.scale": torch.ones(64), "image_encoder.conv1.weight": torch.ones(1)}
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "ref" / "PromptLearner" / "model.pth.tar-3")
    with reference_checkpoint_layout(trainer, str(tmp_path / "ref" / "PromptLearner"), 3) as folder:
        host = torch.load(os.path.join(folder, "prompt_learner", "model.pth.tar-3"), weights_only=True)["state_dict"]
        head = torch.load(os.path.join(folder, "PromptLearner", "model.pth.tar-3"), weights_only=True)["state_dict"]
    assert set(host) == {"ctx"} and set(head) == {"film_lp_img.scale"}
    del state["film_lp_img.scale"]  # a host checkpoint: no head to load
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "ref" / "PromptLearner" / "model.pth.tar-3")
    with pytest.raises(ValueError, match="holds no DePT head"):
        with reference_checkpoint_layout(trainer, str(tmp_path / "ref" / "PromptLearner"), 3):
            pass


@pytest.mark.slow
def test_base2new_scripts_of_host_and_plugins_then_the_results_table(tmp_path, tiny_clip_file, capsys, warm_python):
    """bash scripts/<method>/base2new_train.sh / base2new_test.sh on a fixture, all four on DePT's
    CoOp settings, then the results table: host, +PLPP, +DePT, +both, each with a Δ row."""
    import subprocess
    import sys

    from runs import REPO
    from toolkit import results

    env = dict(os.environ, DATA=make_dataset(str(tmp_path / "data")), OUTPUT=str(tmp_path / "output"), PY=warm_python,
               CLIP_CHECKPOINT=tiny_clip_file, CFG=CONFIG,
               OPTS="OPTIM.MAX_EPOCH 1 DATALOADER.NUM_WORKERS 0 DATALOADER.TRAIN_X.BATCH_SIZE 8 DATALOADER.TEST.BATCH_SIZE 16 "
                    "TRAINER.COOP.N_CTX 4")
    env.pop("FORCE", None)
    for folder in ("coop", "plpp", "coop_dept", "coop_plpp_dept"):
        for step in ("base2new_train.sh", "base2new_test.sh"):
            done = subprocess.run(["bash", os.path.join(REPO, "scripts", folder, step), "eurosat", "1"], env=env,
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stderr[-2000:]
    trained = os.path.join(env["OUTPUT"], "base2new", "train_base", "eurosat", "shots_16", "CoOp_PLPP_DePT", CONFIG, "seed1")
    assert {"prompt_learner", "PromptLearner"} <= set(os.listdir(trained))

    assert results.main([env["OUTPUT"], "--protocol", "base2new", "--no-plots"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lower().startswith("eurosat"))
    names = [line.split()[1] if i == start else line.split()[0] for i, line in enumerate(lines[start:start + 7], start)]
    assert names == [f"CoOp/{CONFIG}", f"PLPP/{CONFIG}", "Δ", f"CoOp_DePT/{CONFIG}", "Δ", f"CoOp_PLPP_DePT/{CONFIG}", "Δ"]


@pytest.mark.parametrize("protocol", ["fewshot", "dg"])
def test_protocols_without_a_head_to_train_or_map_are_refused_in_one_line(protocol):
    from toolkit.protocols import expand

    with pytest.raises(ValueError, match=f"^CoOp_DePT has no {protocol} runs: DePT's head learns the base classes"):
        expand(protocol, ["CoOp_DePT"], ["imagenet_a" if protocol == "dg" else "eurosat"], [1], "out")
