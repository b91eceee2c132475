"""How cost grows with the class count: CoOp and PLPP at 10, 100 and 1000 classes.

Per class count: a training step (batch 32; ``--quick``: 8) of PLPP against CoOp's, and an
evaluation of 100 test images (``--quick``: 20), prompts encoded once, with the image tower run
against cached image features (what trainers/feature_cache.py saves from the second evaluation
of the same images on). PLPP evaluates exactly as CoOp does (the regulariser is training only).
"""
import os
from typing import Dict, List

import torch

from benchmarks.common import Context, build, context_from_args, figure, paired_medians, write_dataset

CLASS_COUNTS = (10, 100, 1000)


def figures(ctx: Context) -> List[Dict]:
    train_batch, test_batch = (8, 20) if ctx.quick else (32, 100)
    rows = []
    for n_classes in CLASS_COUNTS:
        root = os.path.join(ctx.root, f"growth-{n_classes}")
        dataset_config = write_dataset(root, n_classes)
        coop, plpp = build("CoOp", root, dataset_config), build("PLPP", root, dataset_config)
        torch.manual_seed(0)
        batch = {"img": torch.randn(train_batch, 3, 224, 224), "label": torch.randint(0, n_classes, (train_batch,))}
        plpp_s, coop_s = paired_medians(lambda: plpp.forward_backward(batch), lambda: coop.forward_backward(batch), ctx.repeats)
        rows.append(figure(f"training step, batch {train_batch}, {n_classes} classes", "PLPP", plpp_s, "CoOp", coop_s))

        images = torch.randn(test_batch, 3, 224, 224, device=coop.device)
        model = coop.model.eval()
        with torch.no_grad():
            features = coop.encode_images(images)

        def evaluate(cached: bool) -> None:
            with torch.no_grad(), coop.evaluation_context():  # the prompts, encoded once
                coop.logits_from_features(features) if cached else coop.model_inference(images)

        uncached_s, cached_s = paired_medians(lambda: evaluate(False), lambda: evaluate(True), ctx.repeats)
        rows.append(figure(f"evaluation of {test_batch} images, {n_classes} classes (CoOp = PLPP)", "image tower run",
                           uncached_s, "cached image features", cached_s))
        del coop, plpp, model
    return rows


if __name__ == "__main__":
    from benchmarks.__main__ import print_figures

    print_figures(figures(context_from_args(__doc__)))
