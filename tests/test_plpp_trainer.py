"""The PLPP trainer on a fixture dataset with the tiny CLIP: training, checkpoints, exactness."""
import os
import re

import pytest
import torch

from runs import final_accuracy, make_dataset, read_log, run_train, train_args
from trainers.plpp import captured_outputs

CTX = ["TRAINER.COOP.N_CTX", "4"]


@pytest.fixture
def data_root(tmp_path):
    return make_dataset(str(tmp_path / "data"))


def build(data_root, out, trainer="PLPP", opts=()):
    """A trainer built exactly as train.py builds it, with the random state reset first."""
    from runtime import cli
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed

    args = cli.build_parser().parse_args(train_args(data_root, out, trainer=trainer, config="vit_b16_ep50", opts=[*CTX, *opts]))
    set_random_seed(1)
    trainer = build_trainer(cli.setup_cfg(args))
    trainer.batch_idx, trainer.num_batches = 0, 2
    return trainer


@pytest.mark.slow  # a whole training run and its evaluation (CI runs it)
def test_plpp_trains_writes_coop_checkpoints_and_both_trainers_evaluate_them(data_root, tmp_path, clip_checkpoint):
    out = str(tmp_path / "train")
    run_train(train_args(data_root, out, trainer="PLPP", config="vit_b16_ep50", opts=["OPTIM.MAX_EPOCH", "3", *CTX]))
    log = read_log(out)
    progress = [line for line in log.splitlines() if line.startswith("epoch [")]
    assert progress and all(re.search(r" ce [\d.]+ .* ppl [\d.]+ .* inv [\d.]+ .* perplexity [\d.]+ ", line) for line in progress)
    # The signal at the start and after each epoch; on the 64-wide tiny CLIP the LM head is
    # uniform over the 32 words (logits ~0.16), which the run says once, naming what to change.
    signal = re.findall(r"^PLPP signal (at start|epoch \d/3 \(mean over its steps\)): LM head entropy ([\d.]+) over 32 "
                        r"candidate words per position \(uniform: ln 32 = 3.4657, ([\d.]+) nats from it\); "
                        r"prompt perplexity [\d.]+ of a 49408-word vocabulary$", log, re.M)
    assert [when for when, _, _ in signal] == ["at start"] + [f"epoch {e}/3 (mean over its steps)" for e in (1, 2, 3)]
    assert all(float(gap) < 0.02 for _, _, gap in signal)
    warnings = [line for line in log.splitlines() if line.startswith("warning: PLPP's perplexity term has no signal")]
    assert len(warnings) == 1 and all(key in warnings[0] for key in ("TAU_LM", "TOPK", "CLIP"))

    checkpoint = torch.load(os.path.join(out, "prompt_learner", "model.pth.tar-3"), weights_only=True)
    assert set(checkpoint["state_dict"]) == {"ctx", "token_prefix", "token_suffix"}
    assert sorted(os.listdir(out)) == ["config.yaml", "environment.json", "finished.json", "log.txt", "prompt_learner", "tensorboard"]

    accuracies = []
    for trainer in ("PLPP", "CoOp"):  # a PLPP checkpoint is a CoOp checkpoint
        evaluation = str(tmp_path / f"eval-{trainer}")
        run_train(train_args(data_root, evaluation, trainer=trainer, config="vit_b16_ep50", opts=CTX,
                             flags=["--eval-only", "--model-dir", out, "--load-epoch", "3"]))
        accuracies.append(final_accuracy(read_log(evaluation)))
    assert accuracies == [final_accuracy(log)] * 2


def test_zero_weights_give_exactly_coops_loss_and_update(data_root, tmp_path, clip_checkpoint):
    coop = build(data_root, str(tmp_path / "coop"), trainer="CoOp")
    plpp = build(data_root, str(tmp_path / "plpp"), opts=["TRAINER.PLPP.PPL_WEIGHT", "0.0", "TRAINER.PLPP.INV_WEIGHT", "0.0"])
    assert torch.equal(coop.model.prompt_learner.ctx, plpp.model.prompt_learner.ctx)
    batch = next(iter(coop.train_loader_x))

    with captured_outputs(plpp.model.text_encoder.ln_final) as text_passes:
        plpp_summary = plpp.forward_backward(batch)
    with captured_outputs(coop.model.text_encoder.ln_final) as host_passes:
        coop_summary = coop.forward_backward(batch)
    assert plpp_summary == coop_summary  # the same loss, accuracy and nothing else logged
    assert torch.equal(coop.model.prompt_learner.ctx, plpp.model.prompt_learner.ctx)
    assert len(text_passes) == len(host_passes)  # only the host's own text pass: the regulariser did no work


def test_regulariser_changes_the_update_and_reaches_only_the_context(data_root, tmp_path, clip_checkpoint):
    coop = build(data_root, str(tmp_path / "coop"), trainer="CoOp")
    plpp = build(data_root, str(tmp_path / "plpp"))
    batch = next(iter(coop.train_loader_x))
    coop.forward_backward(batch)
    summary = plpp.forward_backward(batch)

    assert summary["loss"] == pytest.approx(summary["ce"] + 0.1 * summary["ppl"] + 0.1 * summary["inv"], rel=1e-5)
    assert not torch.equal(coop.model.prompt_learner.ctx, plpp.model.prompt_learner.ctx)
    assert {n for n, p in plpp.model.named_parameters() if p.grad is not None} == {"prompt_learner.ctx"}
    assert list(plpp.regularizer.parameters()) == []


def context_only_states(trainer, ctx):
    """Reference: run "[SOS] p_1 .. p_M" alone through the text encoder, untrimmed: the states at
    all 77 positions (SOS at 0, p_t at t)."""
    learner = trainer.model.prompt_learner
    n_seq, n_ctx = ctx.shape[:2]
    sos = learner.token_prefix[:n_seq]
    pad = sos.new_zeros(n_seq, 77 - 1 - n_ctx, sos.shape[-1])
    tokens = torch.zeros(n_seq, 77, dtype=torch.long)
    tokens[:, -1] = 1
    with torch.no_grad(), captured_outputs(trainer.model.text_encoder.ln_final) as states:
        trainer.model.text_encoder(torch.cat([sos, ctx, pad], dim=1), tokens, trim=False)
    return states[0]


@pytest.mark.parametrize("align", ["next", "same"])
@pytest.mark.parametrize("position", ["end", "middle", "front"])
@pytest.mark.parametrize("csc", [False, True])
def test_lm_head_reads_the_states_the_alignment_names(data_root, tmp_path, clip_checkpoint, position, csc, align):
    """next: the states at SOS, p_1 .. p_{M-1} (positions 0..3); same: at p_1 .. p_M (1..4), of
    the context read alone. Causal attention: with the class name at the end, the class
    sequences' states up to p_M are those same states, for every class."""
    trainer = build(data_root, str(tmp_path / "out"), opts=["TRAINER.COOP.CLASS_TOKEN_POSITION", position,
                                                            "TRAINER.COOP.CSC", str(csc), "TRAINER.PLPP.ALIGN", align])
    model = trainer.model
    with torch.no_grad(), captured_outputs(model.text_encoder.ln_final) as class_states:
        model.text_encoder(model.prompt_learner(), model.tokenized_prompts)
        ctx, states = trainer.perplexity_inputs(class_states)

    n_seq = model.prompt_learner.n_cls if csc else 1
    positions = slice(0, 4) if align == "next" else slice(1, 5)
    assert ctx.shape == (n_seq, 4, 64) and states.shape == (n_seq, 4, 64)
    assert (states - context_only_states(trainer, ctx)[:, positions]).abs().max() <= 1e-5
    if position == "end" and not csc:  # one sequence stands for all classes
        assert (class_states[0][:, positions] - states).abs().max() <= 1e-5


def test_an_unknown_alignment_is_a_one_line_error(data_root, tmp_path, clip_checkpoint):
    with pytest.raises(ValueError, match="TRAINER.PLPP.ALIGN must be one of same, next, got 'previous'"):
        build(data_root, str(tmp_path / "out"), opts=["TRAINER.PLPP.ALIGN", "previous"])
