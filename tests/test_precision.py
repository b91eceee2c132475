"""``PREC fp16``, the default every GPU user runs (CLIP's weights in half precision), exercised on
the CPU with ``PLPP_CPU_FP16=1``: for each trainer, the same prompt gives the fp32 path's logits
within fp16 rounding, a few training steps keep every tensor in CLIP's half precision with a
finite loss, and an evaluation runs."""
import math

import pytest
import torch

from deep_runs import LAYERS
from marks import fast_cases
from runs import build_trainer, make_dataset, train_args
from testing.tiny_clip import save_tiny_clip
from trainers.prompting import CPU_FP16_ENV, cpu_has_half_kernels, effective_precision

pytestmark = pytest.mark.skipif(not cpu_has_half_kernels(), reason="this torch has no half-precision CPU kernels")

# trainer: (config, its own settings, CLIP blocks); deep prompts need more than one block.
TRAINERS = {
    "CoOp": ("vit_b16_ep50", ["TRAINER.COOP.N_CTX", "4"], 1),
    "PLPP": ("vit_b16_ep50", ["TRAINER.COOP.N_CTX", "4"], 1),
    "CoCoOp": ("vit_b16_c4_ep10_batch1_ctxv1", [], 1),
    "KgCoOp": ("vit_b16_ep100_ctxv1", [], 1),
    "MaPLe": ("vit_b16_c2_ep5_batch4_2ctx", ["TRAINER.MAPLE.PROMPT_DEPTH", "3"], LAYERS),
    "PromptSRC": ("vit_b16_c2_ep20_batch4_4+4ctx",
                  ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "3", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "3"], LAYERS),
}
SMALL = ["DATALOADER.TRAIN_X.BATCH_SIZE", "4", "DATALOADER.TEST.BATCH_SIZE", "20", "DATASET.NUM_SHOTS", "2"]
STEPS = 2


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_dataset(str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    return {layers: save_tiny_clip(str(folder / f"tiny-{layers}.pt"), fmt="state_dict", layers=layers) for layers in (1, LAYERS)}


def build(trainer_name, data_root, out, fp16, monkeypatch):
    config, settings, _ = TRAINERS[trainer_name]
    monkeypatch.setenv(CPU_FP16_ENV, "1" if fp16 else "")
    prec = trainer_name.upper().replace("PLPP", "COOP")
    opts = [*SMALL, *settings, f"TRAINER.{prec}.PREC", "fp16" if fp16 else "fp32"]
    trainer = build_trainer(train_args(data_root, out, trainer=trainer_name, config=config, opts=opts), seed=1)
    trainer.batch_idx, trainer.num_batches = 0, 10  # no LR step inside the test's steps
    return trainer


def test_cpu_fp16_is_opt_in(monkeypatch, capsys):
    cpu = torch.device("cpu")
    monkeypatch.delenv(CPU_FP16_ENV, raising=False)
    assert effective_precision("fp16", cpu) == "fp32"
    assert "PREC fp16 needs a GPU; running in fp32 on the CPU" in capsys.readouterr().out
    monkeypatch.setenv(CPU_FP16_ENV, "1")
    assert effective_precision("fp16", cpu) == "fp16" and effective_precision("amp", cpu) == "fp32"


@pytest.mark.parametrize("trainer_name", fast_cases(TRAINERS, fast=["CoOp", "PLPP"]))
def test_fp16_matches_fp32_and_trains_in_half_precision(trainer_name, data_root, clips, tmp_path, monkeypatch):
    monkeypatch.setenv("CLIP_CHECKPOINT", clips[TRAINERS[trainer_name][2]])
    full = build(trainer_name, data_root, str(tmp_path / "fp32"), False, monkeypatch)
    half = build(trainer_name, data_root, str(tmp_path / "fp16"), True, monkeypatch)
    assert (full.precision, half.precision) == ("fp32", "fp16")
    # Half precision end to end: CLIP's weights, the context (the reference's deep prompts and
    # coupling layers stay fp32 and are cast where they enter CLIP), the logits; fp32 all through.
    weights = dict(half.model.named_parameters())
    assert weights["image_encoder.conv1.weight"].dtype == torch.float16
    assert weights["text_encoder.transformer.resblocks.0.attn.in_proj_weight"].dtype == torch.float16
    assert weights["prompt_learner.ctx"].dtype == torch.float16
    learned = [(name, p) for name, p in half.model.named_parameters() if p.requires_grad]
    dtypes = {name: p.dtype for name, p in learned}
    assert all(p.dtype == torch.float32 for p in full.model.parameters())

    # The same prompt (fp32's initial one, rounded to fp16) on the same images: fp32's logits within
    # fp16 rounding: 2e-3 of the logit scale (|logit| <= scale), about 2 fp16 ulps of a cosine.
    # Measured on the tiny CLIP (scale 14.3): 0.0039 (KgCoOp) to 0.0054 (PromptSRC), the bound 0.029.
    half.learned_module().load_state_dict(full.learned_module().state_dict())
    images = next(iter(full.test_loader))["img"][:8]
    full.set_model_mode("eval")
    half.set_model_mode("eval")
    with torch.no_grad():
        expected = full.model_inference(images)
        got = half.model_inference(images)
    assert got.dtype == torch.float16 and torch.isfinite(got).all()
    scale = full.model.logit_scale.exp().item()
    assert (got.float() - expected).abs().max() <= 2e-3 * scale, (got.float() - expected).abs().max()

    # A few steps in fp16: finite losses, the learned tensors move and keep their dtypes.
    half.set_model_mode("train")
    before = {name: p.detach().clone() for name, p in learned}
    batches = iter(half.train_loader_x)
    for _ in range(STEPS):
        summary = half.forward_backward(next(batches))
        assert math.isfinite(summary["loss"]), summary
    assert {name: p.dtype for name, p in learned} == dtypes
    assert all(torch.isfinite(p).all() for _, p in learned)
    assert any(not torch.equal(before[name], p) for name, p in learned)

    # And an evaluation, through the same code as a run's final test.
    accuracy = half.test()
    assert 0 <= accuracy <= 100
