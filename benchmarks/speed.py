"""Speed of CoOp and PLPP here against the plain (reference CoOp) path.

    python -m benchmarks.speed [--quick]     # or as part of: python -m benchmarks

Measures, on the current device (CUDA if available), with the trainers' real code, at 100
classes (``--quick``: 20 classes, a small CLIP):
1. evaluation, per test batch: the plain path (prompts encoded at 77 tokens for every batch, as
   the reference CoOp does) against ours (prompts encoded once per evaluation, sequences trimmed
   to the longest end-of-text position);
2. a CoOp training step (forward, backward, SGD step): 77-token text against trimmed text;
3. a PLPP training step against a CoOp training step (both ours): the regulariser's overhead.
The plain path gives the same logits as the reference implementation (tests/test_coop.py checks
trimmed and cached against it, to 1e-5).
"""
import contextlib
import functools
import os
import sys
from typing import Dict, Iterator, List

if __package__ in (None, ""):  # run as a file: python benchmarks/speed.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from benchmarks.common import Context, build, context_from_args, figure, paired_medians, write_dataset  # noqa: E402


@contextlib.contextmanager
def plain_path(model) -> Iterator[None]:
    """Encode prompts at the full 77 tokens for every call, like the reference CoOp."""
    from trainers.backbone import TextEncoder

    model.text_encoder.forward = functools.partial(TextEncoder.forward, model.text_encoder, trim=False)
    try:
        yield
    finally:
        del model.text_encoder.forward  # back to the class's (trimming) forward


def figures(ctx: Context) -> List[Dict]:
    n_classes, train_batch, test_batch = (20, 8, 20) if ctx.quick else (100, 32, 100)
    root = os.path.join(ctx.root, "speed")
    dataset_config = write_dataset(root, n_classes)
    coop = build("CoOp", root, dataset_config)
    plpp = build("PLPP", root, dataset_config)
    torch.manual_seed(0)
    batch = {"img": torch.randn(train_batch, 3, 224, 224), "label": torch.randint(0, n_classes, (train_batch,))}
    test_images = torch.randn(test_batch, 3, 224, 224, device=coop.device)
    model = coop.model.eval()
    with torch.no_grad():
        prompts_once = model.encode_text()  # what CoOp.test() computes once per evaluation

    def evaluate_ours() -> None:
        model.fixed_text_features = prompts_once
        with torch.no_grad():
            coop.model_inference(test_images)
        model.fixed_text_features = None

    def evaluate_plain() -> None:
        with torch.no_grad(), plain_path(model):
            coop.model_inference(test_images)

    def train_plain() -> None:
        with plain_path(model):
            coop.forward_backward(batch)

    size = f"{n_classes} classes"
    plain, ours = paired_medians(evaluate_plain, evaluate_ours, ctx.repeats)
    rows = [figure(f"CoOp evaluation per batch of {test_batch}, {size}", "77 tokens per batch (reference)", plain,
                   "prompts once, trimmed (ours)", ours)]
    plain, ours = paired_medians(train_plain, lambda: coop.forward_backward(batch), ctx.repeats)
    rows.append(figure(f"CoOp training step, batch {train_batch}, {size}", "77-token text (reference)", plain, "trimmed text (ours)", ours))
    plpp_s, coop_s = paired_medians(lambda: plpp.forward_backward(batch), lambda: coop.forward_backward(batch), ctx.repeats)
    rows.append(figure(f"PLPP training step vs CoOp's, batch {train_batch}, {size}", "PLPP (ours)", plpp_s, "CoOp (ours)", coop_s))
    return rows


if __name__ == "__main__":
    from benchmarks.__main__ import print_figures

    print_figures(figures(context_from_args(__doc__)))
