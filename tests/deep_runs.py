"""Shared by the deep-prompting trainers' tests (tests/test_maple.py, tests/test_ivlp.py): a tiny
CLIP with enough blocks for deep prompts, trainers built as train.py builds them, and the
checks every such trainer must pass (training, checkpoints in the reference's layout, eval-only,
base-to-new)."""
import os
import re
from typing import Sequence

import pytest
import torch

from runs import build_trainer, epoch_losses, final_accuracy, read_log, run_train, train_args
from testing.tiny_clip import save_tiny_clip
from trainers.plpp import captured_outputs

LAYERS = 3  # blocks per tower: prompt depth up to 3


def save_deep_clip(folder: str) -> str:
    return save_tiny_clip(os.path.join(folder, f"tiny-vit-{LAYERS}.pt"), fmt="state_dict", layers=LAYERS)


def build(argv: Sequence[str]):
    """A trainer built exactly as train.py builds it, with the random state reset first."""
    trainer = build_trainer(argv, seed=1)
    trainer.batch_idx, trainer.num_batches = 0, 10  # no LR step inside a test's steps
    return trainer


def learned_names(trainer) -> set:
    return {name for name, param in trainer.model.named_parameters() if param.requires_grad}


def check_training_and_eval_only(args, out: str, model_name: str, expected_keys: set) -> dict:
    """Train 4 epochs: the loss falls, the checkpoint holds exactly ``expected_keys`` under
    ``<model_name>/``, and eval-only from it reproduces the final accuracy. Returns its state dict."""
    run_train(args(out, opts=["OPTIM.MAX_EPOCH", "4"]))
    log = read_log(out)
    losses = epoch_losses(log)
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    state = torch.load(os.path.join(out, model_name, "model.pth.tar-4"), weights_only=True)["state_dict"]
    assert set(state) == expected_keys
    evaluation = out + "-eval"
    run_train(args(evaluation, flags=["--eval-only", "--model-dir", out, "--load-epoch", "4"]))
    assert final_accuracy(read_log(evaluation)) == final_accuracy(log)
    return state


def check_host_evaluates_plpp_checkpoint(host_args, plpp_args, folder: str) -> None:
    """A <Host>_PLPP checkpoint (one epoch) is the host's: the host's eval-only run from it
    reproduces the PLPP run's final accuracy."""
    out, evaluation = os.path.join(folder, "train"), os.path.join(folder, "eval")
    run_train(plpp_args(out, opts=["OPTIM.MAX_EPOCH", "1"]))
    run_train(host_args(evaluation, flags=["--eval-only", "--model-dir", out, "--load-epoch", "1"]))
    assert final_accuracy(read_log(evaluation)) == final_accuracy(read_log(out))


def check_plpp_scores_the_first_layer_context(host, plpp, align: str) -> dict:
    """One step of a deep-prompting host and its _PLPP twin on the same batch: the regulariser's
    states come from the host's own text pass (no extra one), its CE is the host's loss, and the
    LM head reads p_1, p_2's own states (same: positions 1, 2) or those before them (next: SOS,
    p_1). Returns PLPP's logged terms."""
    batch = next(iter(host.train_loader_x))
    with captured_outputs(host.model.text_encoder.ln_final) as host_passes:
        reference = host.forward_backward(batch)
    with captured_outputs(plpp.model.text_encoder.ln_final) as text_passes:
        summary = plpp.forward_backward(batch)
    assert len(text_passes) == len(host_passes)
    assert summary["ce"] == pytest.approx(reference["loss"], abs=1e-6)
    assert summary["loss"] == pytest.approx(summary["ce"] + 0.1 * summary["ppl"] + 0.1 * summary["inv"], rel=1e-5)
    ctx, states = plpp.perplexity_inputs(text_passes)
    positions = slice(1, 3) if align == "same" else slice(0, 2)
    assert ctx.shape == (1, 2, 64) and torch.equal(states, text_passes[0][:1, positions])
    return summary


def check_base_to_new(args, out: str) -> None:
    """A base-trained prompt evaluates on the new classes (a classifier over those only)."""
    run_train(args(out, opts=["OPTIM.MAX_EPOCH", "1", "DATASET.SUBSAMPLE_CLASSES", "base"]))
    new = out + "-new"
    run_train(args(new, opts=["DATASET.SUBSAMPLE_CLASSES", "new"], flags=["--eval-only", "--model-dir", out, "--load-epoch", "1"]))
    assert re.search(r"# classes\s+3\b", read_log(out))
    log = read_log(new)
    assert re.search(r"# classes\s+2\b", log) and "model.pth.tar-1" in log and final_accuracy(log) >= 0


def write_reference_checkpoint(trainer, folder: str, model_name: str, epoch: int, dtypes=None) -> dict:
    """A checkpoint as the reference writes it: its whole CustomCLIP (frozen CLIP included) under
    ``<folder>/<model_name>/``, with random learned tensors (``dtypes``: {key: dtype} to store).
    Returns those tensors."""
    generator = torch.Generator().manual_seed(3)
    learned = {key: torch.randn(value.shape, generator=generator) for key, value in trainer.checkpoint_module.state_dict().items()}
    learned.update({key: learned[key].to(dtype) for key, dtype in (dtypes or {}).items()})
    frozen = {key: value for key, value in trainer.model.state_dict().items() if not key.startswith("prompt_learner.")}
    assert "image_encoder.conv1.weight" in frozen and "text_encoder.transformer.resblocks.0.attn.in_proj_weight" in frozen
    os.makedirs(os.path.join(folder, model_name))
    torch.save({"state_dict": {**frozen, **learned}, "epoch": epoch, "optimizer": None, "scheduler": None},
               os.path.join(folder, model_name, f"model.pth.tar-{epoch}"))
    return learned


def deep_train_args(data_root: str, trainer: str, config: str, settings: Sequence[str]):
    """``args(out, opts=(), flags=())`` for one trainer and config on the fixture dataset."""

    def args(out, opts=(), flags=()):
        return train_args(data_root, out, trainer=trainer, config=config, opts=[*settings, *opts], flags=flags)

    return args
