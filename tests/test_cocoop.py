"""CoCoOp and CoCoOp_PLPP on a fixture dataset with the tiny CLIP: training, checkpoints in the
reference's format, base-to-new, the batched path against the reference's per-image path, and
PLPP at zero weights and on each of the two contexts it can score."""
import os

import pytest
import torch

from runs import build_trainer, epoch_losses, final_accuracy, make_dataset, read_log, run_train, train_args
from trainers.plpp import captured_outputs

CONFIG = "vit_b16_c4_ep10_batch1_ctxv1"  # the reference's base-to-new config (batch 1 -> 8 here)
LEARNED = {"prompt_learner.ctx", "prompt_learner.meta_net.linear1.weight", "prompt_learner.meta_net.linear1.bias",
           "prompt_learner.meta_net.linear2.weight", "prompt_learner.meta_net.linear2.bias"}
REFERENCE_KEYS = {name[len("prompt_learner."):] for name in LEARNED} | {"token_prefix", "token_suffix"}
ZERO_PLPP = ["TRAINER.PLPP.PPL_WEIGHT", "0.0", "TRAINER.PLPP.INV_WEIGHT", "0.0"]


@pytest.fixture
def data_root(tmp_path):
    return make_dataset(str(tmp_path / "data"), "eurosat")


def cocoop_args(data_root, out, trainer="CoCoOp", opts=(), flags=()):
    return train_args(data_root, out, trainer=trainer, dataset="eurosat", config=CONFIG, opts=opts, flags=flags)


def build(data_root, out, trainer="CoCoOp", opts=()):
    """A trainer built exactly as train.py builds it, with the random state reset first."""
    trainer = build_trainer(cocoop_args(data_root, out, trainer, opts), seed=1)
    trainer.batch_idx, trainer.num_batches = 0, 10  # never the epoch's last batch: no LR step
    return trainer


def shift_meta_net(model, scale=0.2):
    """Make pi(x) large enough to matter (a freshly built meta-net's shift is tiny)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.prompt_learner.meta_net.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator))


def test_cocoop_trains_writes_reference_checkpoints_and_eval_only_reproduces(data_root, tmp_path, clip_checkpoint):
    out = str(tmp_path / "train")
    run_train(cocoop_args(data_root, out, opts=["OPTIM.MAX_EPOCH", "4", "OPTIM.LR", "0.02"]))
    log = read_log(out)
    assert 'Initial context: "a photo of a"' in log
    losses = epoch_losses(log)
    assert len(losses) == 4 and losses[-1] < losses[0]

    checkpoint = torch.load(os.path.join(out, "prompt_learner", "model.pth.tar-4"), weights_only=True)
    state = checkpoint["state_dict"]
    assert set(state) == REFERENCE_KEYS  # the reference's names: checkpoints move both ways
    assert state["ctx"].shape == (4, 64)
    assert state["meta_net.linear1.weight"].shape == (4, 64) and state["meta_net.linear2.weight"].shape == (64, 4)

    evaluation = str(tmp_path / "eval")
    run_train(cocoop_args(data_root, evaluation, flags=["--eval-only", "--model-dir", out, "--load-epoch", "4"]))
    eval_log = read_log(evaluation)
    assert f'Loading weights to prompt_learner from "{out}/prompt_learner/model.pth.tar-4" (epoch = 4)' in eval_log
    assert final_accuracy(eval_log) == final_accuracy(log)


def test_only_the_context_and_the_meta_net_get_gradients(data_root, tmp_path, clip_checkpoint):
    trainer = build(data_root, str(tmp_path / "out"))
    trainer.forward_backward(next(iter(trainer.train_loader_x)))
    assert {name for name, p in trainer.model.named_parameters() if p.grad is not None} == LEARNED
    assert {name for name, p in trainer.model.named_parameters() if p.requires_grad} == LEARNED
    assert set(trainer.get_model_names()) == {"prompt_learner"}


def test_training_steps_lower_the_loss_of_a_batch(data_root, tmp_path, clip_checkpoint):
    trainer = build(data_root, str(tmp_path / "out"), opts=["OPTIM.WARMUP_EPOCH", "0", "OPTIM.LR", "0.02"])
    batch = next(iter(trainer.train_loader_x))
    losses = [trainer.forward_backward(batch)["loss"] for _ in range(5)]
    assert losses[-1] < losses[0]


def test_base_trained_checkpoint_evaluates_on_new_classes(data_root, tmp_path, clip_checkpoint):
    out = str(tmp_path / "train")
    run_train(cocoop_args(data_root, out, opts=["OPTIM.MAX_EPOCH", "1", "DATASET.SUBSAMPLE_CLASSES", "base"]))
    saved = torch.load(os.path.join(out, "prompt_learner", "model.pth.tar-1"), weights_only=True)["state_dict"]
    assert saved["token_prefix"].shape[0] == 3  # EuroSAT's fixture: 5 classes, 3 base, 2 new

    new = build(data_root, str(tmp_path / "new"), opts=["DATASET.SUBSAMPLE_CLASSES", "new"])
    new.load_model(out, epoch=1)
    state = new.model.prompt_learner.state_dict()
    assert state["token_prefix"].shape[0] == 2 and state["token_suffix"].shape[0] == 2
    for key in REFERENCE_KEYS - {"token_prefix", "token_suffix"}:
        assert torch.equal(state[key], saved[key]), key
    assert new.model.prompt_learner.n_cls == 2 and new.test() is not None


@pytest.mark.parametrize("memory_mb", [2048, 1], ids=["one-chunk", "chunked"])
def test_batched_path_equals_the_references_per_image_path(data_root, tmp_path, clip_checkpoint, memory_mb):
    """Logits (no gradient) and the training step's gradients, against one image at a time at 77
    tokens; 1 MiB forces several chunks here, and in training recomputed activations."""
    trainer = build(data_root, str(tmp_path / "out"), opts=["TRAINER.COCOOP.TEXT_MEMORY_MB", str(memory_mb)])
    model = trainer.model
    shift_meta_net(model)
    image, label = trainer.parse_batch_train(next(iter(trainer.train_loader_x)))
    n_sequences = image.shape[0] * model.prompt_learner.n_cls
    assert (model.sequences_per_chunk(training=True) < n_sequences) == (memory_mb == 1)
    scale = model.logit_scale.exp().item()

    with torch.no_grad():
        fast, plain = model(image), model.forward_per_image(image)
    assert (fast - plain).abs().max().item() / scale <= 1e-5 and plain.std() > 1e-3

    def gradients(forward):
        model.zero_grad()
        torch.nn.functional.cross_entropy(forward(image), label).backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    fast_grads, plain_grads = gradients(model), gradients(model.forward_per_image)
    assert set(fast_grads) == set(plain_grads) == LEARNED
    for name in LEARNED:
        assert torch.allclose(fast_grads[name], plain_grads[name], rtol=1e-4, atol=1e-6), name


def test_prompts_are_trimmed_to_the_longest_class_prompt(data_root, tmp_path, clip_checkpoint):
    trainer = build(data_root, str(tmp_path / "out"), opts=["MODEL.SHARED_PREFIX", "False"])
    model = trainer.model
    with captured_outputs(model.text_encoder.ln_final) as passes:
        trainer.forward_backward(next(iter(trainer.train_loader_x)))
    eot = model.tokenized_prompts.argmax(-1)
    assert len(passes) == 1 and passes[0].shape[:2] == (8 * 5, int(eot.max()) + 1) and passes[0].shape[1] < 77


def test_shared_prefix_is_encoded_once_per_image(data_root, tmp_path, clip_checkpoint):
    """The default: "[SOS] p_1+pi(x) ... p_M+pi(x) ..." once per image, then each class's EOT feature."""
    trainer = build(data_root, str(tmp_path / "out"))
    model = trainer.model
    with captured_outputs(model.text_encoder.ln_final) as passes:
        trainer.forward_backward(next(iter(trainer.train_loader_x)))
    assert model.prefix_length == 1 + 4  # SOS and the context "a photo of a"; class names differ after it
    assert passes[0].shape[:2] == (8, model.prefix_length)
    assert sum(p.shape[1] for p in passes[1:]) == 5 and all(p.shape[0] == 8 and p.dim() == 3 for p in passes[1:])


@pytest.mark.parametrize("key, value, message", [
    ("TRAINER.COCOOP.TEXT_MEMORY_MB", "0", "TEXT_MEMORY_MB must be > 0"),
    ("TRAINER.COCOOP.PREC", "fp8", "PREC must be one of fp16, fp32, amp, bf16"),
])
def test_bad_settings_are_one_line_errors(data_root, tmp_path, clip_checkpoint, key, value, message):
    with pytest.raises(ValueError, match=message):
        run_train(cocoop_args(data_root, str(tmp_path / "out"), opts=[key, value]))


# ---- CoCoOp_PLPP ----------------------------------------------------------------------------

def test_cocoop_plpp_with_zero_weights_is_exactly_cocoop(data_root, tmp_path, clip_checkpoint):
    cocoop = build(data_root, str(tmp_path / "cocoop"))
    plpp = build(data_root, str(tmp_path / "plpp"), trainer="CoCoOp_PLPP", opts=ZERO_PLPP)
    batch = next(iter(cocoop.train_loader_x))
    with captured_outputs(plpp.model.text_encoder.ln_final) as text_passes:
        plpp_summary = plpp.forward_backward(batch)
    with captured_outputs(cocoop.model.text_encoder.ln_final) as cocoop_passes:
        cocoop_summary = cocoop.forward_backward(batch)
    assert plpp_summary == cocoop_summary  # the same loss and accuracy, nothing else
    for (name, a), (_, b) in zip(cocoop.model.prompt_learner.state_dict().items(), plpp.model.prompt_learner.state_dict().items()):
        assert torch.equal(a, b), name  # the same update
    assert len(text_passes) == len(cocoop_passes)  # no extra text pass


def regulariser_inputs(trainer, batch):
    """One training step's (ctx, states) as the regulariser receives them."""
    received = []
    handle = trainer.regularizer.register_forward_hook(lambda _m, inputs, _out: received.append([t.detach() for t in inputs]))
    try:
        summary = trainer.forward_backward(batch)
    finally:
        handle.remove()
    assert len(received) == 1
    return (*received[0], summary)


@pytest.mark.parametrize("align", ["same", "next"])
@pytest.mark.parametrize("context", ["shifted", "shared"])
def test_cocoop_plpp_scores_the_configured_context(data_root, tmp_path, clip_checkpoint, context, align):
    """shifted: each image's p_m + pi(x) with the states of its own class sequences; shared: p_m
    alone. Both against the states of a 77-token prompt read directly (attention is causal): at
    p_1 .. p_4 (ALIGN same) or at SOS, p_1 .. p_3 (next)."""
    trainer = build(data_root, str(tmp_path / "plpp"), trainer="CoCoOp_PLPP",
                    opts=["TRAINER.COCOOP.PLPP_CONTEXT", context, "TRAINER.COCOOP.TEXT_MEMORY_MB", "1", "TRAINER.PLPP.ALIGN", align])
    model = trainer.model
    learner = model.prompt_learner
    shift_meta_net(model)
    batch = next(iter(trainer.train_loader_x))
    image = batch["img"]
    with torch.no_grad():
        image_features = model.encode_image(image)
        expected_ctx = learner.shifted_context(image_features) if context == "shifted" else learner.ctx.unsqueeze(0)
        last_class = learner.n_cls - 1  # any class: the states before the class name do not depend on it
        prompts = torch.cat([learner.token_prefix[last_class:].expand(len(expected_ctx), -1, -1), expected_ctx,
                             learner.token_suffix[last_class:].expand(len(expected_ctx), -1, -1)], dim=1)
        with captured_outputs(model.text_encoder.ln_final) as direct:
            model.text_encoder(prompts, model.tokenized_prompts[[last_class] * len(expected_ctx)], trim=False)

    ctx, states, summary = regulariser_inputs(trainer, batch)
    assert ctx.shape == ((8, 4, 64) if context == "shifted" else (1, 4, 64))
    assert torch.allclose(ctx, expected_ctx, atol=1e-6)
    assert torch.allclose(states, direct[0][:, 1:5] if align == "same" else direct[0][:, :4], atol=1e-5)
    assert list(summary) == ["loss", "ce", "ppl", "inv", "perplexity", "acc"]
    assert summary["loss"] == pytest.approx(summary["ce"] + 0.1 * summary["ppl"] + 0.1 * summary["inv"], rel=1e-5)
    with_grad = {name for name, p in model.named_parameters() if p.grad is not None}
    assert with_grad == LEARNED


def test_cocoop_plpp_chunked_equals_one_chunk(data_root, tmp_path, clip_checkpoint):
    """The regulariser's states, read from recomputed chunks, give the same loss and update."""
    steps = []
    for memory_mb in ("2048", "1"):
        trainer = build(data_root, str(tmp_path / memory_mb), trainer="CoCoOp_PLPP", opts=["TRAINER.COCOOP.TEXT_MEMORY_MB", memory_mb])
        shift_meta_net(trainer.model)
        summary = trainer.forward_backward(next(iter(trainer.train_loader_x)))
        steps.append((summary, trainer.model.prompt_learner.state_dict()))
    (one, one_state), (chunked, chunked_state) = steps
    assert chunked["loss"] == pytest.approx(one["loss"], rel=1e-5) and chunked["ppl"] == pytest.approx(one["ppl"], rel=1e-5)
    for key in one_state:
        assert torch.allclose(one_state[key], chunked_state[key], atol=1e-6), key


def test_cocoop_plpp_rejects_an_unknown_context(data_root, tmp_path, clip_checkpoint):
    with pytest.raises(ValueError, match="PLPP_CONTEXT must be one of shifted, shared"):
        run_train(cocoop_args(data_root, str(tmp_path / "out"), trainer="CoCoOp_PLPP", opts=["TRAINER.COCOOP.PLPP_CONTEXT", "both"]))


@pytest.mark.slow  # a whole training run and its evaluation (CI runs it)
def test_cocoop_plpp_checkpoint_is_a_cocoop_checkpoint(data_root, tmp_path, clip_checkpoint):
    out = str(tmp_path / "train")
    run_train(cocoop_args(data_root, out, trainer="CoCoOp_PLPP", opts=["OPTIM.MAX_EPOCH", "2"]))
    log = read_log(out)
    assert all(" ppl " in line and " perplexity " in line for line in log.splitlines() if line.startswith("epoch ["))
    state = torch.load(os.path.join(out, "prompt_learner", "model.pth.tar-2"), weights_only=True)["state_dict"]
    assert set(state) == REFERENCE_KEYS
    evaluation = str(tmp_path / "eval")
    run_train(cocoop_args(data_root, evaluation, flags=["--eval-only", "--model-dir", out, "--load-epoch", "2"]))
    assert final_accuracy(read_log(evaluation)) == final_accuracy(log)


SCRIPT_OPTS = "OPTIM.MAX_EPOCH 2 DATALOADER.NUM_WORKERS 0 DATALOADER.TRAIN_X.BATCH_SIZE 8 DATALOADER.TEST.BATCH_SIZE 16"


@pytest.mark.slow
def test_scripts_take_the_references_arguments_and_write_its_layout(data_root, tmp_path, tiny_clip_file, capsys,
                                                                   warm_python):
    """scripts/cocoop (and the PLPP variant): DATASET SEED, the reference's config and layout, the
    config's last epoch loaded; the results command reads the runs."""
    import subprocess
    import sys

    from runs import REPO
    from toolkit import results

    output = str(tmp_path / "output")
    env = dict(os.environ, DATA=data_root, OUTPUT=output, PY=warm_python, CLIP_CHECKPOINT=tiny_clip_file, OPTS=SCRIPT_OPTS)
    for name in ("FORCE", "CFG", "TRAINER", "METHOD_SCRIPTS"):
        env.pop(name, None)

    def script(name, *args):
        return subprocess.run(["bash", os.path.join(REPO, "scripts", name), *args], env=env, capture_output=True, text=True)

    missing = script("cocoop_plpp/base2new_test.sh", "eurosat", "1")
    assert missing.returncode == 2 and "first run: bash scripts/cocoop_plpp/base2new_train.sh eurosat 1" in missing.stderr
    for name in ("cocoop/base2new_train.sh", "cocoop/base2new_test.sh", "cocoop_plpp/base2new_train.sh", "cocoop_plpp/base2new_test.sh"):
        done = script(name, "eurosat", "1")
        assert done.returncode == 0, done.stderr[-2000:]

    layout = os.path.join(output, "base2new", "{}", "eurosat", "shots_16", "{}", CONFIG, "seed1")
    for part in ("train_base", "test_new"):
        for trainer in ("CoCoOp", "CoCoOp_PLPP"):
            assert os.path.isfile(os.path.join(layout.format(part, trainer), "finished.json")), (part, trainer)
    with open(os.path.join(layout.format("test_new", "CoCoOp"), "log.txt")) as f:
        assert "model.pth.tar-2" in f.read()  # the configured last epoch (OPTS: 2), not the reference's fixed 10
    again = script("cocoop/base2new_train.sh", "eurosat", "1")
    assert again.returncode == 0 and again.stdout.startswith("skip: ")

    assert results.main([output, "--protocol", "base2new", "--no-plots"]) == 0
    tables = capsys.readouterr().out
    assert f"CoCoOp/{CONFIG}" in tables and f"CoCoOp_PLPP/{CONFIG}" in tables
