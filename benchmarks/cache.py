"""The frozen image-feature cache (trainers/feature_cache.py): an evaluation from cached
features against one that runs the image tower, and the evaluation time of a base-to-new sweep
(CoOp and PLPP, seeds 1-3, base and new halves: 12 evaluations) with and without the cache.

The sweep's evaluations use each seed's freshly drawn prompt (evaluation time does not depend on
training); with the cache, its folder starts empty each round, so the first evaluation of each
half fills it and the other ten read it.
"""
import os
import shutil
import statistics
from typing import Dict, List

import torch

from benchmarks.common import Context, build, context_from_args, figure, paired_medians, timed


def evaluation(trainer, cached: bool) -> None:
    trainer.cfg.defrost()
    trainer.cfg.TEST.FEATURE_CACHE = cached
    trainer.test()


def figures(ctx: Context) -> List[Dict]:
    from testing.dataset_fixtures import build_fixture

    root = os.path.join(ctx.root, "cache")
    test_per_class = 10 if ctx.quick else 20
    build_fixture("eurosat", root, images_per_class=(4, 2, test_per_class))
    dataset_config = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "datasets", "eurosat.yaml")
    cache = os.environ["PLPP_FEATURE_CACHE_DIR"]
    halves = ("base", "new")
    trainers = {(method, half): build(method, root, dataset_config, ["DATASET.SUBSAMPLE_CLASSES", half, "TRAIN.PRINT_FREQ", "1000"])
                for method in ("CoOp", "PLPP") for half in halves}
    coop_base = trainers["CoOp", "base"]
    n_images = len(coop_base.dm.dataset.test)

    evaluation(coop_base, cached=True)  # fill
    uncached_s, cached_s = paired_medians(lambda: evaluation(coop_base, False), lambda: evaluation(coop_base, True), ctx.repeats)
    rows = [figure(f"CoOp evaluation of {n_images} test images", "image tower run", uncached_s, "cached image features", cached_s)]

    def sweep(cached: bool) -> float:
        if cached:
            shutil.rmtree(cache, ignore_errors=True)
        total = 0.0
        for (method, half), trainer in trainers.items():
            for seed in (1, 2, 3):
                torch.manual_seed(seed)
                torch.nn.init.normal_(trainer.model.prompt_learner.ctx.data, std=0.02)
                total += timed(lambda: evaluation(trainer, cached))
        return total

    pairs = [(sweep(False), sweep(True)) for _ in range(ctx.repeats)]
    uncached_s, cached_s = statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)
    test_images = sum(len(trainers["CoOp", half].dm.dataset.test) for half in halves)
    rows.append(figure(f"base-to-new sweep evaluations (CoOp+PLPP x seeds 1-3 x base/new, {test_images} test images, 12 evaluations)",
                       "without the cache", uncached_s, "with the cache (empty at the start)", cached_s))
    return rows


if __name__ == "__main__":
    from benchmarks.__main__ import print_figures

    print_figures(figures(context_from_args(__doc__)))
