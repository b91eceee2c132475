"""KgCoOp and KgCoOp_PLPP on a fixture dataset with the tiny CLIP: training, the loss terms against
a direct computation, checkpoints in the reference's format, and PLPP at zero weights."""
import os

import pytest
import torch
import torch.nn.functional as F

from runs import build_trainer, epoch_losses, final_accuracy, make_dataset, read_log, run_train, train_args
from trainers.kgcoop import hand_written_template, knowledge_distance
from trainers.plpp import captured_outputs

CONFIG = "vit_b16_ep100_ctxv1"  # the reference's base-to-new config (CTX_INIT True, batch 128 -> 8 here)
DTD_PROMPT = "a photo of a {}, a type of texture."  # KgCoOp's DTD prompt, not zero-shot CLIP's "{} texture."


@pytest.fixture
def data_root(tmp_path):
    return make_dataset(str(tmp_path / "data"), "dtd")


def kgcoop_args(data_root, out, trainer="KgCoOp", opts=(), flags=()):
    return train_args(data_root, out, trainer=trainer, dataset="dtd", config=CONFIG, opts=opts, flags=flags)


def build(data_root, out, trainer="KgCoOp", opts=()):
    """A trainer built exactly as train.py builds it, with the random state reset first."""
    trainer = build_trainer(kgcoop_args(data_root, out, trainer, opts), seed=1)
    trainer.batch_idx, trainer.num_batches = 0, 2
    return trainer


def unit(features):
    return features / features.norm(dim=-1, keepdim=True)


def test_kgcoop_trains_writes_coop_checkpoints_and_eval_only_reproduces(data_root, tmp_path, clip_checkpoint):
    out = str(tmp_path / "train")
    run_train(kgcoop_args(data_root, out, opts=["OPTIM.MAX_EPOCH", "4", "TRAINER.KGCOOP.W", "8.0"]))
    log = read_log(out)
    assert f'Hand-written prompt: "{DTD_PROMPT}"' in log
    assert 'Initial context: "a photo of a"' in log  # CTX_INIT True, as the reference reads it
    progress = [line for line in log.splitlines() if line.startswith("epoch [")]
    assert progress and all(" loss " in line and " ce " in line and " kg " in line and " acc " in line for line in progress)
    losses = epoch_losses(log)
    assert len(losses) == 4 and losses[-1] < losses[0]

    checkpoint = torch.load(os.path.join(out, "prompt_learner", "model.pth.tar-4"), weights_only=True)
    assert set(checkpoint["state_dict"]) == {"ctx", "token_prefix", "token_suffix"}  # the features are not saved
    assert checkpoint["state_dict"]["ctx"].shape == (4, 64)

    evaluation = str(tmp_path / "eval")
    run_train(kgcoop_args(data_root, evaluation, flags=["--eval-only", "--model-dir", out, "--load-epoch", "4"]))
    assert final_accuracy(read_log(evaluation)) == final_accuracy(log)


def test_training_steps_lower_the_loss_of_a_batch(data_root, tmp_path, clip_checkpoint):
    trainer = build(data_root, str(tmp_path / "out"), opts=["TRAINER.KGCOOP.W", "8.0", "OPTIM.WARMUP_EPOCH", "0"])
    batch = next(iter(trainer.train_loader_x))
    trainer.num_batches = 10  # no LR step in between
    losses = [trainer.forward_backward(batch)["loss"] for _ in range(5)]
    assert losses[-1] < losses[0]


def test_only_the_context_gets_gradients(data_root, tmp_path, clip_checkpoint):
    trainer = build(data_root, str(tmp_path / "out"))
    trainer.forward_backward(next(iter(trainer.train_loader_x)))
    assert {name for name, p in trainer.model.named_parameters() if p.grad is not None} == {"prompt_learner.ctx"}
    assert [name for name, p in trainer.model.named_parameters() if p.requires_grad] == ["prompt_learner.ctx"]


def test_loss_terms_equal_a_direct_computation_with_clip(data_root, tmp_path, clip_checkpoint):
    """CE on CLIP's logits for the learned prompt, plus W times 1 - mean cosine to the features
    CLIP's own encode_text gives the hand-written prompts: computed here on the plain 77-token path."""
    from clip import clip

    from trainers.backbone import load_clip_to_cpu

    trainer = build(data_root, str(tmp_path / "out"), opts=["TRAINER.KGCOOP.W", "8.0"])
    model = trainer.model
    with torch.no_grad():
        model.prompt_learner.ctx.add_(0.05 * torch.randn(model.prompt_learner.ctx.shape, generator=torch.Generator().manual_seed(0)))
    batch = next(iter(trainer.train_loader_x))
    loss, summary = trainer.compute_loss(batch)

    clip_model = load_clip_to_cpu(trainer.cfg).float()
    names = [name.replace("_", " ") for name in trainer.dm.dataset.classnames]
    with torch.no_grad():
        hand_written = unit(clip_model.encode_text(clip.tokenize([DTD_PROMPT.format(n) for n in names])))
        learned = unit(model.text_encoder(model.prompt_learner(), model.tokenized_prompts, trim=False))
        logits = clip_model.logit_scale.exp() * unit(clip_model.encode_image(batch["img"])) @ learned.t()
    ce = F.cross_entropy(logits, batch["label"]).item()
    kg = 1 - (learned * hand_written).sum(-1).mean().item()
    assert summary["ce"] == pytest.approx(ce, abs=1e-5)
    assert summary["kg"] == pytest.approx(kg, abs=1e-6) and kg > 1e-3
    assert loss.item() == pytest.approx(ce + 8.0 * kg, abs=1e-5)
    assert (model.hand_written_features - hand_written).abs().max() <= 1e-6


def test_knowledge_distance_is_half_the_papers_squared_distance():
    generator = torch.Generator().manual_seed(0)
    learned, hand_written = torch.randn(7, 5, generator=generator), torch.randn(7, 5, generator=generator)
    cosines = [float(a @ b / (a.norm() * b.norm())) for a, b in zip(learned, hand_written)]
    assert knowledge_distance(learned, hand_written).item() == pytest.approx(1 - sum(cosines) / 7, abs=1e-6)
    squared = ((unit(learned) - unit(hand_written)) ** 2).sum(-1).mean().item()
    assert knowledge_distance(unit(learned), unit(hand_written)).item() == pytest.approx(squared / 2, abs=1e-6)
    assert knowledge_distance(learned, 3 * learned).item() == pytest.approx(0, abs=1e-6)


def test_hand_written_prompts_are_kgcoops():
    assert hand_written_template("DescribableTextures") == DTD_PROMPT
    assert hand_written_template("EuroSAT") == "a centered satellite photo of {}."
    assert hand_written_template("OxfordPets") == "a photo of a {}, a type of pet."
    assert hand_written_template("MyImages") == "a photo of a {}."  # no record: CLIP's default prompt


def test_features_are_computed_once_and_each_step_encodes_the_prompt_once(data_root, tmp_path, clip_checkpoint):
    trainer = build(data_root, str(tmp_path / "out"))
    features = trainer.model.hand_written_features.clone()
    assert "hand_written_features" not in trainer.model.state_dict()
    with captured_outputs(trainer.model.text_encoder.ln_final) as text_passes:
        trainer.forward_backward(next(iter(trainer.train_loader_x)))
    # One text pass (MODEL.SHARED_PREFIX: the prompts' shared prefix, then every class's EOT state).
    prefix, eot = text_passes
    assert len(prefix) == 1 and eot.shape[:2] == (1, trainer.model.prompt_learner.n_cls)
    assert torch.equal(trainer.model.hand_written_features, features)


def test_random_class_specific_context_when_ctx_init_is_false(data_root, tmp_path, clip_checkpoint):
    trainer = build(data_root, str(tmp_path / "out"),
                    opts=["TRAINER.KGCOOP.CTX_INIT", "False", "TRAINER.KGCOOP.N_CTX", "3", "TRAINER.KGCOOP.CSC", "True"])
    ctx = trainer.model.prompt_learner.ctx
    assert ctx.shape == (5, 3, 64) and 0.01 < ctx.std().item() < 0.03


def test_a_reference_checkpoint_loads_and_its_unused_modules_are_ignored(data_root, tmp_path, clip_checkpoint):
    """htyao89/KgCoOp saves bias_vectors and meta_net beside CoOp's keys, and no val_result."""
    out = str(tmp_path / "train")
    run_train(kgcoop_args(data_root, out, opts=["OPTIM.MAX_EPOCH", "1"]))
    ours = torch.load(os.path.join(out, "prompt_learner", "model.pth.tar-1"), weights_only=True)
    reference = {
        "state_dict": {**ours["state_dict"], "bias_vectors": torch.randn(1, 512),
                       "meta_net.linear1.weight": torch.randn(512, 512), "meta_net.linear1.bias": torch.randn(512)},
        "epoch": 1, "optimizer": ours["optimizer"], "scheduler": ours["scheduler"],
    }
    reference_dir = tmp_path / "reference"
    os.makedirs(reference_dir / "prompt_learner")
    torch.save(reference, str(reference_dir / "prompt_learner" / "model.pth.tar-1"))

    evaluation = str(tmp_path / "eval")
    run_train(kgcoop_args(data_root, evaluation, flags=["--eval-only", "--model-dir", str(reference_dir), "--load-epoch", "1"]))
    assert final_accuracy(read_log(evaluation)) == final_accuracy(read_log(out))


@pytest.mark.parametrize("key, value, message", [
    ("TRAINER.KGCOOP.CLASS_TOKEN_POSITION", "start", "CLASS_TOKEN_POSITION must be one of end, middle, front"),
    ("TRAINER.KGCOOP.W", "-1.0", r"W must be >= 0"),
])
def test_bad_settings_are_one_line_errors(data_root, tmp_path, clip_checkpoint, key, value, message):
    with pytest.raises(ValueError, match=message):
        run_train(kgcoop_args(data_root, str(tmp_path / "out"), opts=[key, value]))


ZERO_PLPP = ["TRAINER.PLPP.PPL_WEIGHT", "0.0", "TRAINER.PLPP.INV_WEIGHT", "0.0"]


def test_kgcoop_plpp_with_zero_weights_is_exactly_kgcoop(data_root, tmp_path, clip_checkpoint):
    kgcoop = build(data_root, str(tmp_path / "kgcoop"), opts=["TRAINER.KGCOOP.W", "8.0"])
    plpp = build(data_root, str(tmp_path / "plpp"), trainer="KgCoOp_PLPP", opts=["TRAINER.KGCOOP.W", "8.0", *ZERO_PLPP])
    assert torch.equal(kgcoop.model.prompt_learner.ctx, plpp.model.prompt_learner.ctx)
    batch = next(iter(kgcoop.train_loader_x))
    with captured_outputs(plpp.model.text_encoder.ln_final) as text_passes:
        plpp_summary = plpp.forward_backward(batch)
    with captured_outputs(kgcoop.model.text_encoder.ln_final) as host_passes:
        kgcoop_summary = kgcoop.forward_backward(batch)
    assert plpp_summary == kgcoop_summary  # the same loss, terms and accuracy, nothing else
    assert torch.equal(kgcoop.model.prompt_learner.ctx, plpp.model.prompt_learner.ctx)
    assert len(text_passes) == len(host_passes)  # no extra text pass


def test_kgcoop_plpp_adds_the_regulariser_on_coops_context(data_root, tmp_path, clip_checkpoint):
    kgcoop = build(data_root, str(tmp_path / "kgcoop"), opts=["TRAINER.KGCOOP.W", "8.0"])
    plpp = build(data_root, str(tmp_path / "plpp"), trainer="KgCoOp_PLPP", opts=["TRAINER.KGCOOP.W", "8.0"])
    batch = next(iter(kgcoop.train_loader_x))
    host = kgcoop.forward_backward(batch)
    summary = plpp.forward_backward(batch)

    assert list(summary) == ["loss", "ce", "kg", "ppl", "inv", "perplexity", "acc"]
    assert (summary["ce"], summary["kg"]) == (host["ce"], host["kg"])  # the same forward pass before the step
    assert summary["loss"] == pytest.approx(summary["ce"] + 8.0 * summary["kg"] + 0.1 * summary["ppl"] + 0.1 * summary["inv"], rel=1e-5)
    assert not torch.equal(kgcoop.model.prompt_learner.ctx, plpp.model.prompt_learner.ctx)
    assert {n for n, p in plpp.model.named_parameters() if p.grad is not None} == {"prompt_learner.ctx"}


@pytest.mark.slow  # a whole training run and its evaluation (CI runs it)
def test_kgcoop_plpp_checkpoint_is_a_kgcoop_checkpoint(data_root, tmp_path, clip_checkpoint):
    out = str(tmp_path / "train")
    run_train(kgcoop_args(data_root, out, trainer="KgCoOp_PLPP", opts=["OPTIM.MAX_EPOCH", "2"]))
    log = read_log(out)
    assert all(" ppl " in line and " kg " in line for line in log.splitlines() if line.startswith("epoch ["))
    evaluation = str(tmp_path / "eval")
    run_train(kgcoop_args(data_root, evaluation, flags=["--eval-only", "--model-dir", out, "--load-epoch", "2"]))
    assert final_accuracy(read_log(evaluation)) == final_accuracy(log)


SCRIPT_OPTS = "OPTIM.MAX_EPOCH 2 DATALOADER.NUM_WORKERS 0 DATALOADER.TRAIN_X.BATCH_SIZE 8 DATALOADER.TEST.BATCH_SIZE 16"


@pytest.mark.slow
def test_base2new_scripts_loop_seeds_into_the_references_layout(data_root, tmp_path, tiny_clip_file, capsys, warm_python):
    """scripts/kgcoop (and the PLPP variant) take the reference's DATASET WEIGHT, loop the seeds
    themselves and write .../shots_16_<WEIGHT>/...; the results command reads that layout."""
    import subprocess
    import sys

    from runs import REPO
    from toolkit import results

    output = str(tmp_path / "output")
    env = dict(os.environ, DATA=data_root, OUTPUT=output, PY=warm_python, CLIP_CHECKPOINT=tiny_clip_file, OPTS=SCRIPT_OPTS)
    env.pop("FORCE", None)

    def script(name, *args, seeds="1 2"):
        return subprocess.run(["bash", os.path.join(REPO, "scripts", name), *args], env=dict(env, SEEDS=seeds),
                              capture_output=True, text=True)

    missing = script("kgcoop_plpp/base2new_test.sh", "dtd", seeds="1")
    assert missing.returncode == 2 and "first run: bash scripts/kgcoop_plpp/base2new_train.sh dtd 8.0" in missing.stderr
    for name, args, seeds in [("kgcoop/base2new_train.sh", ("dtd", "8.0"), "1 2"), ("kgcoop/base2new_test.sh", ("dtd", "8.0"), "1 2"),
                              ("kgcoop_plpp/base2new_train.sh", ("dtd",), "1"), ("kgcoop_plpp/base2new_test.sh", ("dtd",), "1")]:
        done = script(name, *args, seeds=seeds)
        assert done.returncode == 0, done.stderr[-2000:]

    layout = os.path.join(output, "base2new", "{}", "dtd", "shots_16_8.0", "{}", CONFIG, "seed{}")
    runs = [("KgCoOp", 1), ("KgCoOp", 2), ("KgCoOp_PLPP", 1)]
    for part in ("train_base", "test_new"):
        for trainer, seed in runs:
            assert os.path.isfile(os.path.join(layout.format(part, trainer, seed), "finished.json")), (part, trainer, seed)
    with open(os.path.join(layout.format("train_base", "KgCoOp", 1), "config.yaml")) as f:
        assert "W: 8.0" in f.read()
    with open(os.path.join(layout.format("test_new", "KgCoOp", 2), "log.txt")) as f:
        assert "model.pth.tar-2" in f.read()  # the configured last epoch (OPTS: 2)

    again = script("kgcoop/base2new_train.sh", "dtd", "8.0")
    assert again.returncode == 0 and again.stdout.count("skip: ") == 2

    assert results.main([output, "--protocol", "base2new", "--no-plots"]) == 0
    tables = capsys.readouterr().out
    assert "KgCoOp/vit_b16_ep100_ctxv1" in tables and "KgCoOp_PLPP/vit_b16_ep100_ctxv1" in tables
