"""Speed of MaPLe here against the plain (reference MaPLe) path, with the trainer's real code.

    python -m benchmarks.maple [--quick]     # or as part of: python -m benchmarks

At 100 classes, ViT-B/16 shapes, prompt depth 9 (``--quick``: 20 classes, a small CLIP, depth 2):
1. evaluation, per test batch of 100: the plain path (prompts built and encoded at 77 tokens for
   every batch, as the reference does) against ours (prompts and class text features once per
   evaluation, sequences trimmed to the longest end-of-text position);
2. a training step (forward, backward, SGD step) at the reference's batch of 4: 77-token text
   against trimmed text.
The plain path gives the reference's logits (measured by hand: docs/PLPP.md, MaPLe section).
"""
import functools
import os
import sys
from typing import Dict, List

if __package__ in (None, ""):  # run as a file: python benchmarks/maple.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from benchmarks.common import Context, build, context_from_args, device, figure, paired_medians, write_dataset  # noqa: E402

CONFIG = "vit_b16_c2_ep5_batch4_2ctx"


def figures(ctx: Context) -> List[Dict]:
    from trainers.backbone import TextEncoder

    n_classes, train_batch, test_batch, depth = (20, 4, 20, 2) if ctx.quick else (100, 4, 100, 9)
    root = os.path.join(ctx.root, "maple")
    dataset_config = write_dataset(root, n_classes)
    prec = "amp" if device() == "cuda" else "fp32"
    maple = build("MaPLe", root, dataset_config, config=CONFIG,
                  opts=["TRAINER.MAPLE.PREC", prec, "TRAINER.MAPLE.PROMPT_DEPTH", str(depth)])
    model = maple.model
    text_encoder = model.text_encoder
    torch.manual_seed(0)
    batch = {"img": torch.randn(train_batch, 3, 224, 224), "label": torch.randint(0, n_classes, (train_batch,))}
    test_images = torch.randn(test_batch, 3, 224, 224, device=maple.device)

    def untrimmed(fn):
        def run() -> None:
            text_encoder.forward = functools.partial(TextEncoder.forward, text_encoder, trim=False)
            try:
                fn()
            finally:
                del text_encoder.forward  # back to the class's (trimming) forward
        return run

    def evaluate_ours() -> None:
        with torch.no_grad(), maple.evaluation_context():
            maple.model_inference(test_images)

    def evaluate_plain() -> None:
        with torch.no_grad():
            maple.model_inference(test_images)

    model.eval()
    size = f"{n_classes} classes, depth {depth}"
    plain, ours = paired_medians(untrimmed(evaluate_plain), evaluate_ours, ctx.repeats)
    rows = [figure(f"MaPLe evaluation per batch of {test_batch}, {size}", "prompts + 77 tokens per batch (reference)", plain,
                   "prompts once per evaluation, trimmed (ours)", ours,
                   note="ours includes building the prompts and text features once, i.e. an evaluation of one batch")]
    model.train()
    train = functools.partial(maple.forward_backward, batch)
    plain, ours = paired_medians(untrimmed(train), train, ctx.repeats)
    rows.append(figure(f"MaPLe training step, batch {train_batch}, {size}", "77-token text (reference)", plain,
                       "trimmed text (ours)", ours))
    return rows


if __name__ == "__main__":
    from benchmarks.__main__ import print_figures

    print_figures(figures(context_from_args(__doc__)))
