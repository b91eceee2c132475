"""GPU figures (nothing without CUDA): precisions against fp32, CoOp / PLPP / CoCoOp throughput
and peak memory at 100 and 1000 classes, and whether training waits for JPEG decoding.

1. fp16 / amp / bf16 against fp32: CoOp's logits on a fixture's test set (max abs difference,
   top-1 agreement with fp32, accuracy) and the evaluation's time;
2. per trainer and class count: a training step's images per second against an evaluation
   batch's (prompts encoded once), with the peak memory of the training step;
3. the data loader (``DATALOADER.NUM_WORKERS`` of the configs: 8) decoding and augmenting
   500x375 JPEGs, images per second, against the CoOp training step's images per second.
``benchmarks/gpu_check.sh`` runs these with the other figures on a lent GPU.
"""
import os
import time
from typing import Dict, List

import torch

from benchmarks.common import Context, build, context_from_args, figure, paired_medians, timed, write_dataset

PRECISIONS = ("fp16", "amp", "bf16")


def evaluation_logits(trainer) -> torch.Tensor:
    logits = []
    process = trainer.evaluator.process
    trainer.evaluator.process = lambda mo, gt: (logits.append(mo.float().cpu()), process(mo, gt))
    try:
        trainer.test()
    finally:
        del trainer.evaluator.process
    return torch.cat(logits)


def precision_figures(ctx: Context) -> List[Dict]:
    from testing.dataset_fixtures import build_fixture

    root = os.path.join(ctx.root, "gpu-precision")
    build_fixture("eurosat", root, images_per_class=(2, 2, 20))
    dataset_config = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "datasets", "eurosat.yaml")
    off = ["TEST.FEATURE_CACHE", "False"]
    reference = build("CoOp", root, dataset_config, ["TRAINER.COOP.PREC", "fp32", *off])
    fp32 = evaluation_logits(reference)
    rows = []
    for prec in PRECISIONS:
        trainer = build("CoOp", root, dataset_config, ["TRAINER.COOP.PREC", prec, *off])
        trainer.model.prompt_learner.load_state_dict(reference.model.prompt_learner.state_dict())
        logits = evaluation_logits(trainer)
        fp32_s, prec_s = paired_medians(reference.test, trainer.test, ctx.repeats)
        rows.append(figure(f"CoOp evaluation of {len(fp32)} images, {prec} vs fp32", "fp32", fp32_s, prec, prec_s,
                           max_abs_logit_diff=float((logits - fp32).abs().max()),
                           top1_agreement=float((logits.argmax(1) == fp32.argmax(1)).float().mean()),
                           accuracy=trainer.test(), accuracy_fp32=reference.test()))
    return rows


def throughput_figures(ctx: Context) -> List[Dict]:
    rows = []
    for name, config, train_batch in (("CoOp", "vit_b16_ep50", 32), ("PLPP", "vit_b16_ep50", 32), ("CoCoOp", "vit_b16_c4_ep10_batch1", 1)):
        for n_classes in (100, 1000):
            root = os.path.join(ctx.root, f"gpu-{name}-{n_classes}")
            trainer = build(name, root, write_dataset(root, n_classes), config=config)
            batch = {"img": torch.randn(train_batch, 3, 224, 224), "label": torch.randint(0, n_classes, (train_batch,))}
            images = torch.randn(100, 3, 224, 224, device=trainer.device)

            def evaluate() -> None:
                with torch.no_grad(), trainer.autocast(), trainer.evaluation_context():
                    trainer.model_inference(images)

            trainer.forward_backward(batch)
            torch.cuda.reset_peak_memory_stats()
            train_s, eval_s = paired_medians(lambda: trainer.forward_backward(batch), evaluate, ctx.repeats)
            rows.append(figure(f"{name}, {n_classes} classes: images per second", f"training (batch {train_batch})",
                               train_batch / train_s, "evaluation (batch 100)", 100 / eval_s, unit="img/s",
                               peak_memory_mb=torch.cuda.max_memory_allocated() / 2**20))
            del trainer
            torch.cuda.empty_cache()
    return rows


def loader_figures(ctx: Context) -> List[Dict]:
    from PIL import Image

    root = os.path.join(ctx.root, "gpu-loader")
    config = write_dataset(root, 16, images_per_class=1)
    folder = os.path.join(root, "bench", "images")
    for i, name in enumerate(sorted(os.listdir(folder))):  # ImageNet-sized JPEGs in place of the tiny PNGs
        for j in range(32):
            pixels = torch.randint(0, 255, (375, 500, 3), dtype=torch.uint8).numpy()
            Image.fromarray(pixels).save(os.path.join(folder, name, f"{j}.jpg"), quality=90)
    trainer = build("CoOp", root, config, ["DATALOADER.NUM_WORKERS", "8", "DATALOADER.TRAIN_X.BATCH_SIZE", "32"])
    loader = trainer.train_loader_x
    next(iter(loader))  # workers started once before timing

    def read_epoch() -> None:
        for _ in loader:
            pass

    n_images = len(loader) * loader.batch_size
    start = time.perf_counter()
    read_epoch()
    loader_s = time.perf_counter() - start
    batch = next(iter(loader))
    step_s = min(timed(lambda: trainer.forward_backward(batch)) for _ in range(max(2, ctx.repeats)))
    return [figure("training: data loader (8 workers, 500x375 JPEG) vs CoOp step, images per second", "loader",
                   n_images / loader_s, "model", 32 / step_s, unit="img/s")]


def figures(ctx: Context) -> List[Dict]:
    if not torch.cuda.is_available():
        return []
    return precision_figures(ctx) + throughput_figures(ctx) + loader_figures(ctx)


if __name__ == "__main__":
    from benchmarks.__main__ import print_figures

    print_figures(figures(context_from_args(__doc__)))
