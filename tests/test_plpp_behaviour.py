"""What PLPP does to a prompt, on a tiny CLIP whose LM head has signal: its text tower has
ViT-B/16's width (testing/tiny_clip.py, ``REAL_TEXT_WIDTH``), so word embeddings (row norm
~0.45) and final states (~1 per dimension) are at a real CLIP's scale. On the 64-wide tiny CLIP
the LM head is uniform over the candidate words and the perplexity term cannot act."""
import pytest
import torch

from runs import build_trainer, make_dataset, train_args
from testing.tiny_clip import REAL_TEXT_WIDTH, save_tiny_clip
from trainers.plpp import captured_outputs

STEPS = 10
# CoOp's config with its LR and no warmup epoch (its constant 1e-5 would leave the prompt where it
# starts), fp32; the regulariser at weight 1, so that ten steps show what it does.
SETTINGS = ["TRAINER.COOP.N_CTX", "4", "TRAINER.COOP.PREC", "fp32", "OPTIM.WARMUP_EPOCH", "0",
            "TRAINER.PLPP.PPL_WEIGHT", "1.0", "TRAINER.PLPP.INV_WEIGHT", "1.0"]


@pytest.fixture(scope="module")
def real_scale_clip(tmp_path_factory):
    return save_tiny_clip(str(tmp_path_factory.mktemp("clip") / "tiny-vit-text512.pt"), fmt="state_dict",
                          text_width=REAL_TEXT_WIDTH)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_dataset(str(tmp_path_factory.mktemp("data")))


def build(data_root, out, trainer, align):
    built = build_trainer(train_args(data_root, str(out), trainer=trainer, opts=[*SETTINGS, "TRAINER.PLPP.ALIGN", align]), seed=1)
    built.batch_idx, built.num_batches = 0, STEPS + 1  # no LR step inside the test's steps
    return built


@torch.no_grad()
def prompt_perplexity(plpp, ctx: torch.Tensor) -> float:
    """The perplexity of the context ``ctx`` as ``plpp`` reads it (its ALIGN), from its own text pass."""
    learner = plpp.model.prompt_learner
    own = learner.ctx.detach().clone()
    learner.ctx.copy_(ctx)
    try:
        with captured_outputs(plpp.model.text_encoder.ln_final) as states:
            plpp.model.text_encoder(learner(), plpp.model.tokenized_prompts)
        return plpp.regularizer.perplexity(*plpp.perplexity_inputs(states))
    finally:
        learner.ctx.copy_(own)


@pytest.mark.slow  # ten steps of CoOp and of PLPP on a CLIP of real width, for each reading
@pytest.mark.parametrize("align", ["same", "next"])
def test_plpp_ends_with_a_clearly_lower_prompt_perplexity_than_coop(real_scale_clip, data_root, tmp_path, monkeypatch, align, capsys):
    """CoOp and PLPP from the same seed, initial context and batches: after ten steps PLPP's
    prompt reads at least 1.5x more like language under CLIP's LM head than CoOp's (measured:
    about 2x for both readings), and it still learns the task."""
    monkeypatch.setenv("CLIP_CHECKPOINT", real_scale_clip)
    coop, plpp = build(data_root, tmp_path / "coop", "CoOp", align), build(data_root, tmp_path / "plpp", "PLPP", align)
    assert torch.equal(coop.model.prompt_learner.ctx, plpp.model.prompt_learner.ctx)
    start = prompt_perplexity(plpp, coop.model.prompt_learner.ctx)
    batches = list(coop.train_loader_x)
    for step in range(STEPS):
        coop_summary = coop.forward_backward(batches[step % len(batches)])
        plpp_summary = plpp.forward_backward(batches[step % len(batches)])

    coop_end = prompt_perplexity(plpp, coop.model.prompt_learner.ctx)
    plpp_end = prompt_perplexity(plpp, plpp.model.prompt_learner.ctx)
    with capsys.disabled():
        print(f"\n[ALIGN {align}] prompt perplexity: start {start:.0f}, after {STEPS} steps CoOp {coop_end:.0f}, PLPP {plpp_end:.0f}")
    assert plpp_end * 1.5 < coop_end
    assert plpp_summary["perplexity"] < start
    assert plpp_summary["ce"] < 1.2 * coop_summary["loss"]
