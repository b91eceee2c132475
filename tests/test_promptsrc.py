"""PromptSRC and PromptSRC_PLPP on a fixture dataset with a tiny 3-block CLIP: each loss term
against a direct computation, GPA against a hand-computed Gaussian-weighted mean (also across a
resumed run), the ensemble's frozen features computed once, checkpoints, PLPP at zero weights."""
import math
import os

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from deep_runs import build, check_host_evaluates_plpp_checkpoint, deep_train_args, learned_names, save_deep_clip
from runs import final_accuracy, make_dataset, read_log, run_train
from trainers.plpp import captured_outputs
from trainers.promptsrc import (ENSEMBLE_TEMPLATES, GaussianPromptAggregation, PromptSRC, gaussian_epoch_weights,
                                self_regulating_terms)

CONFIG = "vit_b16_c2_ep20_batch4_4+4ctx"  # the reference's base-to-new config (depth 9 -> 3 here)
SETTINGS = ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "3", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "3", "OPTIM.LR", "0.02"]
SPREAD_GPA = ["TRAINER.PROMPTSRC.GPA_MEAN", "2", "TRAINER.PROMPTSRC.GPA_STD", "1"]  # weights on every epoch of 4
PROMPTS = {
    "prompt_learner.ctx", "image_encoder.VPT",
    "image_encoder.transformer.resblocks.1.VPT_shallow", "image_encoder.transformer.resblocks.2.VPT_shallow",
    "text_encoder.transformer.resblocks.1.VPT_shallow", "text_encoder.transformer.resblocks.2.VPT_shallow",
}
CHECKPOINT_KEYS = PROMPTS | {"prompt_learner.token_prefix", "prompt_learner.token_suffix", "gpa_sum"}


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a busy machine more threads spin-wait (see tests/test_demo.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def deep_clip(tmp_path_factory):
    return save_deep_clip(str(tmp_path_factory.mktemp("clip")))


@pytest.fixture
def data_root(tmp_path, deep_clip, monkeypatch):
    monkeypatch.setenv("CLIP_CHECKPOINT", deep_clip)
    return make_dataset(str(tmp_path / "data"))


@pytest.fixture
def args(data_root):
    return deep_train_args(data_root, "PromptSRC", CONFIG, SETTINGS)


@pytest.fixture
def plpp_args(data_root):
    return deep_train_args(data_root, "PromptSRC_PLPP", CONFIG, SETTINGS)


def unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def hand_gauss(max_epoch, mean, std):
    density = [math.exp(-((e - mean) ** 2) / (2 * std ** 2)) for e in range(1, max_epoch + 1)]
    return [d / sum(density) for d in density]


# ---- the terms and GPA on small tensors --------------------------------------------------------

def test_each_term_equals_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    logits, frozen_logits = 5 * torch.randn(4, 3, generator=g), 5 * torch.randn(4, 3, generator=g)
    text, frozen_text = unit(torch.randn(3, 6, generator=g)), unit(torch.randn(3, 6, generator=g))
    image, frozen_image = unit(torch.randn(4, 6, generator=g)), unit(torch.randn(4, 6, generator=g))
    terms = self_regulating_terms(logits, text, image, frozen_logits, frozen_text, frozen_image)

    assert terms.text.item() == pytest.approx(sum(abs(a - b) for a, b in zip(text.flatten().tolist(), frozen_text.flatten().tolist())) / 18, abs=1e-6)
    assert terms.image.item() == pytest.approx((image - frozen_image).abs().sum().item() / 24, abs=1e-6)
    kl = 0.0
    for row, frozen_row in zip(logits.tolist(), frozen_logits.tolist()):
        p = [math.exp(v) / sum(math.exp(u) for u in row) for v in row]
        q = [math.exp(v) / sum(math.exp(u) for u in frozen_row) for v in frozen_row]
        kl += sum(qi * math.log(qi / pi) for pi, qi in zip(p, q))  # KL(frozen || prompted)
    assert terms.logits.item() == pytest.approx(kl / 12, rel=1e-5) and kl > 0.1
    same = self_regulating_terms(logits, text, image, logits, text, image)
    assert max(abs(t.item()) for t in same) < 1e-6


def test_gaussian_weights_are_the_normalised_density_over_the_epochs():
    assert gaussian_epoch_weights(20, 15, 1) == pytest.approx(hand_gauss(20, 15, 1), abs=1e-12)
    weights = gaussian_epoch_weights(50, 30, 30)
    assert sum(weights) == pytest.approx(1.0) and weights == pytest.approx(hand_gauss(50, 30, 30), abs=1e-12)
    assert max(range(20), key=gaussian_epoch_weights(20, 15, 1).__getitem__) == 14  # epoch 15, 1-based
    assert gaussian_epoch_weights(4, 15, 1)[-1] == pytest.approx(1.0, abs=1e-4)  # a mean past the run: the last epoch
    with pytest.raises(ValueError, match=r"^TRAINER.PROMPTSRC.GPA_STD must be > 0"):
        gaussian_epoch_weights(20, 15, 0)
    with pytest.raises(ValueError, match=r"gives every one of the 5 epochs zero weight"):
        gaussian_epoch_weights(5, 1000, 1)


def test_aggregation_is_the_weighted_sum_of_the_parameters_after_each_epoch():
    module = nn.Module()
    module.a, module.b = nn.Parameter(torch.zeros(2, 3)), nn.Parameter(torch.zeros(4))
    weights = [0.2, 0.5, 0.3]
    gpa = GaussianPromptAggregation(module, weights)
    seen = []
    for epoch in range(3):
        with torch.no_grad():
            module.a.normal_(), module.b.normal_()
        seen.append((module.a.detach().clone(), module.b.detach().clone()))
        gpa.add(epoch)
    gpa.load()
    assert torch.allclose(module.a, sum(w * a for w, (a, _) in zip(weights, seen)), atol=1e-6)
    assert torch.allclose(module.b, sum(w * b for w, (_, b) in zip(weights, seen)), atol=1e-6)
    assert "gpa_sum" in module.state_dict()  # checkpoints carry the running sum


# ---- the trainer ------------------------------------------------------------------------------

def recorded_epochs(monkeypatch):
    """Record the prompts as each epoch ends, before GPA touches them."""
    record = []
    original = PromptSRC.after_epoch

    def after_epoch(self):
        state = self.checkpoint_module.state_dict()
        record.append({key: state[key].clone() for key in PROMPTS})
        original(self)

    monkeypatch.setattr(PromptSRC, "after_epoch", after_epoch)
    return record


def newest_log(out):
    logs = sorted(name for name in os.listdir(out) if name.startswith("log.txt"))
    with open(os.path.join(out, logs[-1])) as f:  # log.txt, then log.txt-<time> for each rerun
        return f.read()


@pytest.mark.slow  # a whole training run and its evaluation (CI runs it)
def test_the_last_checkpoint_is_the_gpa_of_the_saved_epochs_also_across_a_resume(args, tmp_path, monkeypatch):
    """4 epochs, interrupted after the 2nd and resumed: epochs 1-3 are saved as trained, the 4th
    checkpoint holds sum_e w_e * prompts_e, and eval-only from it reproduces the final test."""
    record = recorded_epochs(monkeypatch)
    recording = PromptSRC.after_epoch

    def interrupted(self):
        recording(self)
        if self.epoch == 1:
            raise KeyboardInterrupt

    out = str(tmp_path / "train")
    opts = [*SPREAD_GPA, "TRAIN.CHECKPOINT_FREQ", "1", "OPTIM.MAX_EPOCH", "4"]
    monkeypatch.setattr(PromptSRC, "after_epoch", interrupted)
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        run_train(args(out, opts=opts))
    monkeypatch.setattr(PromptSRC, "after_epoch", recording)
    run_train(args(out, opts=opts))
    assert len(record) == 4

    folder = os.path.join(out, "VLPromptLearner")
    for epoch in (1, 2, 3):
        saved = torch.load(os.path.join(folder, f"model.pth.tar-{epoch}"), weights_only=True)["state_dict"]
        assert all(torch.equal(saved[key], record[epoch - 1][key]) for key in PROMPTS)
    state = torch.load(os.path.join(folder, "model.pth.tar-4"), weights_only=True)["state_dict"]
    assert set(state) == CHECKPOINT_KEYS
    weights = hand_gauss(4, 2, 1)
    for key in PROMPTS:
        assert torch.allclose(state[key], sum(w * epoch[key] for w, epoch in zip(weights, record)), atol=1e-6), key
        assert not torch.allclose(state[key], record[-1][key], atol=1e-4)  # not simply the last epoch
    log = newest_log(out)
    assert "GPA: the model takes the Gaussian-weighted aggregate" in log
    progress = [line for line in log.splitlines() if line.startswith("epoch [")]
    assert progress and all(all(f" {k} " in line for k in ("ce", "scl_text", "scl_image", "scl_logits", "acc")) for line in progress)

    evaluation = str(tmp_path / "eval")
    run_train(args(evaluation, flags=["--eval-only", "--model-dir", out, "--load-epoch", "4"]))
    assert final_accuracy(read_log(evaluation)) == final_accuracy(log)


def test_training_lowers_the_loss_of_a_batch(args, tmp_path):
    trainer = build(args(str(tmp_path / "out"), opts=["OPTIM.WARMUP_EPOCH", "0"]))
    batch = next(iter(trainer.train_loader_x))
    losses = [trainer.forward_backward(batch)["loss"] for _ in range(5)]
    assert losses[-1] < losses[0]


def test_only_the_prompts_get_gradients_the_frozen_passes_none(args, tmp_path):
    trainer = build(args(str(tmp_path / "out")))
    trainer.forward_backward(next(iter(trainer.train_loader_x)))
    with_grad = {name for name, p in trainer.model.named_parameters() if p.grad is not None}
    prompts = {f"prompt_learner.{name}" for name, _ in trainer.model.prompt_learner.named_parameters()}
    assert with_grad == prompts == learned_names(trainer) and len(prompts) == 6  # ctx, VPT, 2 + 2 deep prompts


def test_the_loss_is_ce_plus_the_weighted_terms_against_clips_own_features(args, tmp_path):
    """Frozen features from CLIP's own encode_text / encode_image (77-token path), not the towers'."""
    from clip import clip

    from trainers.backbone import load_clip_to_cpu

    trainer = build(args(str(tmp_path / "out")))
    model = trainer.model
    with torch.no_grad():
        for p in model.prompt_learner.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    batch = next(iter(trainer.train_loader_x))
    trainer.frozen_text_features = trainer.ensemble_text_features()
    loss, summary = trainer.compute_loss(batch)

    clip_model = load_clip_to_cpu(trainer.cfg).float()
    names = [name.replace("_", " ") for name in trainer.dm.dataset.classnames]
    with torch.no_grad():
        raw = [clip_model.encode_text(clip.tokenize([t.format(n) for n in names])) for t in ENSEMBLE_TEMPLATES]
        frozen_text = unit(torch.stack(raw).mean(0))  # the raw features averaged, then normalised
        frozen_image = unit(clip_model.encode_image(batch["img"]))
        scale = clip_model.logit_scale.exp()
        image_features, text_features = model.features(batch["img"])
        logits = scale * image_features @ text_features.t()
        frozen_logits = scale * frozen_image @ frozen_text.t()
    assert (trainer.frozen_text_features - frozen_text).abs().max() < 1e-5
    ce = F.cross_entropy(logits, batch["label"]).item()
    text = (text_features - frozen_text).abs().mean().item()
    image = (image_features - frozen_image).abs().mean().item()
    kl = (F.softmax(frozen_logits, 1) * (F.log_softmax(frozen_logits, 1) - F.log_softmax(logits, 1))).sum().item() / logits.numel()
    assert summary["ce"] == pytest.approx(ce, abs=1e-5)
    assert summary["scl_text"] == pytest.approx(text, abs=1e-6) and text > 1e-3
    assert summary["scl_image"] == pytest.approx(image, abs=1e-6) and image > 1e-3
    assert summary["scl_logits"] == pytest.approx(kl, abs=1e-6) and kl > 1e-5
    assert loss.item() == pytest.approx(ce + 25 * text + 10 * image + kl, abs=1e-4)


def test_ensemble_features_are_computed_once_and_never_for_evaluation(args, tmp_path):
    trainer = build(args(str(tmp_path / "out")))
    trainer.test()
    assert trainer.frozen_text_features is None
    batch = next(iter(trainer.train_loader_x))
    with captured_outputs(trainer.model.text_encoder.ln_final) as text_passes:
        trainer.forward_backward(batch)
        first = len(text_passes)
        trainer.forward_backward(batch)
    step = len(text_passes) - first  # one prompted text pass
    assert first == len(ENSEMBLE_TEMPLATES) + step and step <= 2  # then one pass a step
    assert not any("frozen" in key for key in trainer.model.state_dict())


@pytest.mark.parametrize("key, value, message", [
    ("TRAINER.PROMPTSRC.GPA_STD", "0", r"GPA_STD must be > 0"),
    ("TRAINER.PROMPTSRC.TEXT_LOSS_WEIGHT", "-1", r"TEXT_LOSS_WEIGHT must be >= 0"),
    ("TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "9", r"PROMPT_DEPTH_TEXT must be between 1 and 3"),
])
def test_bad_settings_are_one_line_errors(args, tmp_path, key, value, message):
    with pytest.raises(ValueError, match=message):
        run_train(args(str(tmp_path / "out"), opts=[key, value]))


# ---- PromptSRC_PLPP ---------------------------------------------------------------------------

ZERO_PLPP = ["TRAINER.PLPP.PPL_WEIGHT", "0.0", "TRAINER.PLPP.INV_WEIGHT", "0.0"]


def test_promptsrc_plpp_with_zero_weights_is_exactly_promptsrc(args, plpp_args, tmp_path):
    host = build(args(str(tmp_path / "host")))
    plpp = build(plpp_args(str(tmp_path / "plpp"), opts=ZERO_PLPP))
    batch = next(iter(host.train_loader_x))
    assert plpp.forward_backward(batch) == host.forward_backward(batch)
    for (name, a), (_, b) in zip(host.model.prompt_learner.named_parameters(), plpp.model.prompt_learner.named_parameters()):
        assert torch.equal(a, b), name


def test_promptsrc_plpp_scores_the_first_layer_text_context(args, plpp_args, tmp_path):
    host = build(args(str(tmp_path / "host")))
    plpp = build(plpp_args(str(tmp_path / "plpp")))
    batch = next(iter(host.train_loader_x))
    reference = host.forward_backward(batch)
    summary = plpp.forward_backward(batch)
    assert list(summary) == ["loss", "ce", "scl_text", "scl_image", "scl_logits", "ppl", "inv", "perplexity", "acc"]
    assert all(summary[k] == reference[k] for k in ("ce", "scl_text", "scl_image", "scl_logits"))
    expected = reference["loss"] + 0.1 * summary["ppl"] + 0.1 * summary["inv"]
    assert summary["loss"] == pytest.approx(expected, rel=1e-5)
    assert not torch.equal(host.model.prompt_learner.ctx, plpp.model.prompt_learner.ctx)


@pytest.mark.slow  # a whole training run and its evaluation (CI runs it)
def test_promptsrc_plpp_checkpoint_is_a_promptsrc_checkpoint(args, plpp_args, tmp_path):
    check_host_evaluates_plpp_checkpoint(args, plpp_args, str(tmp_path))


SCRIPT_OPTS = ("OPTIM.MAX_EPOCH 2 DATALOADER.NUM_WORKERS 0 DATALOADER.TRAIN_X.BATCH_SIZE 8 DATALOADER.TEST.BATCH_SIZE 16 "
               "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT 3 TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION 3")


@pytest.mark.slow
def test_scripts_run_in_the_references_layout_and_the_results_show_both(data_root, tmp_path, deep_clip, capsys,
                                                                         warm_python):
    """scripts/promptsrc and scripts/promptsrc_plpp take the reference's arguments and write its
    folders; few_shot.sh sets the reference's per-dataset GPA; the results command reads them."""
    import subprocess
    import sys

    from runs import REPO
    from toolkit import results

    output = str(tmp_path / "output")
    env = dict(os.environ, DATA=data_root, OUTPUT=output, PY=warm_python, CLIP_CHECKPOINT=deep_clip, OPTS=SCRIPT_OPTS, SEEDS="1",
               OMP_NUM_THREADS="1")
    env.pop("FORCE", None)

    def script(name, *script_args):
        done = subprocess.run(["bash", os.path.join(REPO, "scripts", name), *script_args], env=env, capture_output=True, text=True)
        return done

    missing = script("promptsrc/base2new_test.sh", "eurosat", "1")
    assert missing.returncode == 2 and "first run: bash scripts/promptsrc/base2new_train.sh eurosat 1" in missing.stderr
    for name in ("promptsrc/base2new_train.sh", "promptsrc/base2new_test.sh", "promptsrc_plpp/base2new_train.sh",
                 "promptsrc_plpp/base2new_test.sh"):
        done = script(name, "eurosat", "1")
        assert done.returncode == 0, done.stderr[-2000:]
    layout = os.path.join(output, "base2new", "{}", "eurosat", "shots_16", "{}", CONFIG, "seed1")
    for part in ("train_base", "test_new"):
        for trainer in ("PromptSRC", "PromptSRC_PLPP"):
            assert os.path.isfile(os.path.join(layout.format(part, trainer), "finished.json")), (part, trainer)
    assert "model.pth.tar-2" in read_log(layout.format("test_new", "PromptSRC"))  # the configured last epoch

    done = script("promptsrc/few_shot.sh", "eurosat", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    with open(os.path.join(output, "eurosat", "PromptSRC", "vit_b16_c2_ep50_batch4_4+4ctx_few_shot_1shots", "seed1", "config.yaml")) as f:
        config = f.read()
    assert "GPA_MEAN: 45" in config and "GPA_STD: 5" in config  # the reference's GPA for EuroSAT
    wrong = script("promptsrc/xd_train.sh", "eurosat", "1")
    assert wrong.returncode == 2 and "trained on imagenet" in wrong.stderr

    assert results.main([output, "--protocol", "base2new", "--no-plots"]) == 0
    tables = capsys.readouterr().out
    assert f"PromptSRC/{CONFIG}" in tables and f"PromptSRC_PLPP/{CONFIG}" in tables and f"Δ vs PromptSRC/{CONFIG}" in tables
