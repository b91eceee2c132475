"""The prompts' shared prefix encoded once (``MODEL.SHARED_PREFIX``, trainers/prefix_encoding.py)
against every class's full sequence, and the frozen image tower without autograd.

    python -m benchmarks --only prefix          # with every other benchmark's conventions
    python -m benchmarks.prefix [--layers 12] [--repeats 3] [--quick] [--methods CoOp,PLPP]

For CoOp, PLPP, KgCoOp, CoCoOp, MaPLe and PromptSRC at 100, 500 and 1000 classes (``--quick``:
20 and 50, CoOp and CoCoOp): the training step (forward, backward, optimiser step) and its peak
memory, full sequences (``MODEL.SHARED_PREFIX False``, the path before this change) against the
shared prefix; for CoOp also the text side alone (the class features' forward and backward).
Both sides are built from the same seed and measured alternately in one process (medians of
``--repeats`` rounds after one round of each, which also precedes the peaks; at 1000 classes on the CPU at most 2 rounds), in a
fresh process per method and size whose glibc hands freed memory back at once, so that each
side's peak (the resident-set peak of one step above the resident set before it on the CPU,
``torch.cuda.max_memory_allocated`` above the allocated memory on CUDA) is its own.

The model has CLIP ViT-B/16's widths with random weights and ``--layers`` layers per tower: 12 on
CUDA, 1 on the CPU by default (a 1000-class step of 12 layers takes minutes there); prompt depths
are capped at the number of layers. Image batches: 32 on CUDA, 4 on the CPU (CoCoOp: 1, its
configs' batch). PromptSRC's frozen 60-template features are set at random before timing (a run
computes them once). On the CPU each process runs one intra-op thread: on a CPU shared with other
work, two threads make every small operation wait for a preempted thread, which measures the
machine's load rather than the work (the shared-prefix path runs more, smaller operations).
Last, the frozen image tower on the training batch, with autograd enabled
(as before) against ``PromptedCLIP.encode_image`` (no autograd).
"""
import json
import os
import subprocess
import sys
from typing import Dict, List

if __package__ in (None, ""):  # run as a file: python benchmarks/prefix.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import REPO, Context, device, figure  # noqa: E402

# method: (config, config node, extra options)
METHODS = {
    "CoOp": ("vit_b16_ep50", "COOP", []),
    "PLPP": ("vit_b16_ep50", "COOP", []),
    "KgCoOp": ("vit_b16_ep100_ctxv1", "KGCOOP", []),
    "CoCoOp": ("vit_b16_c4_ep10_batch1_ctxv1", "COCOOP", []),
    "MaPLe": ("vit_b16_c2_ep5_batch4_2ctx", "MAPLE", ["TRAINER.MAPLE.PROMPT_DEPTH", "{depth}"]),
    "PromptSRC": ("vit_b16_c2_ep20_batch4_4+4ctx", "PROMPTSRC",
                  ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "{depth}", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "{depth}"]),
}

CHILD = """
import json, sys
sys.path.insert(0, {repo!r})
from benchmarks.prefix import measure
print(json.dumps(measure({settings!r})))
"""


def build_side(s: Dict, shared: bool):
    """One side's trainer, as train.py builds it, from the same seed as the other side."""
    import torch

    from benchmarks.common import build

    config, node, extra = METHODS[s["method"]]
    opts = [o.format(depth=s["depth"]) for o in extra] + [f"TRAINER.{node}.PREC", "amp" if device() == "cuda" else "fp32",
                                                          "MODEL.SHARED_PREFIX", str(shared), "VERBOSE", "False"]
    os.environ["CLIP_CHECKPOINT"] = s["clip"]
    torch.manual_seed(0)
    trainer = build(s["method"], s["root"], s["dataset_config"], opts=opts, config=config)
    if s["method"] == "PromptSRC":  # computed once per run: not what is compared here
        n_cls, dim = trainer.model.prompt_learner.n_cls, trainer.model.text_encoder.text_projection.shape[1]
        trainer.frozen_text_features = torch.nn.functional.normalize(torch.randn(n_cls, dim, device=trainer.device), dim=-1)
    return trainer


def measure(s: Dict) -> Dict:
    """Both sides' step times and peaks for one method and size (run in a fresh process)."""
    import torch

    from benchmarks.cocoop import peak_of
    from benchmarks.common import paired_medians

    if device() == "cpu":  # see the module docstring: one intra-op thread on a shared CPU
        torch.set_num_threads(1)
    sides = {shared: build_side(s, shared) for shared in (False, True)}
    torch.manual_seed(0)
    batch = {"img": torch.randn(s["batch"], 3, 224, 224), "label": torch.randint(0, s["n_classes"], (s["batch"],))}

    def step(shared):
        return lambda: sides[shared].forward_backward(batch)

    def text_side(shared):
        model = sides[shared].model

        def run():
            model.zero_grad(set_to_none=True)
            model.encode_text().float().sum().backward()
        return run

    step(False)(), step(True)()  # warm-up: first-call allocations are no side's
    result = {"peak_full_mb": peak_of(step(False)), "peak_shared_mb": peak_of(step(True))}
    result["full_s"], result["shared_s"] = paired_medians(step(False), step(True), s["repeats"], warm_up=False)
    if s["method"] == "CoOp":
        result["text_peak_full_mb"], result["text_peak_shared_mb"] = peak_of(text_side(False)), peak_of(text_side(True))
        result["text_full_s"], result["text_shared_s"] = paired_medians(text_side(False), text_side(True), s["repeats"])
        with torch.no_grad():
            full, shared = sides[False].model.encode_text(), sides[True].model.encode_text()
        result["text_relative_error"] = float((shared - full).norm() / full.norm())
        result.update(image_tower(sides[True].model, batch["img"].to(sides[True].device), s["repeats"]))
    return result


def image_tower(model, images, repeats: int) -> Dict:
    """The frozen image tower on a training batch: with autograd enabled (before) against
    ``encode_image`` (no autograd); the features are bitwise the same."""
    import torch

    from benchmarks.common import paired_medians

    def with_autograd():
        with torch.enable_grad():
            features = model.image_encoder(images.type(model.dtype))
            return features / features.norm(dim=-1, keepdim=True)

    same = torch.equal(with_autograd(), model.encode_image(images))
    before, after = paired_medians(with_autograd, lambda: model.encode_image(images), repeats)
    return {"image_autograd_s": before, "image_no_grad_s": after, "image_bitwise_same": same}


def run_child(s: Dict) -> Dict:
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="0", MALLOC_MMAP_THRESHOLD_="131072")
    done = subprocess.run([sys.executable, "-c", CHILD.format(repo=REPO, settings=s)], capture_output=True, text=True,
                          cwd=REPO, env=env)
    if done.returncode:
        raise RuntimeError(f"{s['method']} at {s['n_classes']} classes failed: {done.stderr.strip()[-600:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def figures(ctx: Context, layers: int = 0, methods: List[str] = ()) -> List[Dict]:
    """Rows for ``python -m benchmarks``."""
    from benchmarks.cocoop import write_vit_b16_shaped_clip
    from benchmarks.common import write_dataset

    cuda = device() == "cuda"
    layers = layers or (12 if cuda else 1)
    clip = ctx.clip
    if clip.startswith(ctx.root):  # the runner's random CLIP: ViT-B/16's widths at this depth instead
        clip = write_vit_b16_shaped_clip(os.path.join(ctx.root, f"clip_vit_b16_{layers}layers.pt"), layers)
    methods = list(methods) or (["CoOp", "CoCoOp"] if ctx.quick else list(METHODS))
    rows = []
    for n_classes in ((20, 50) if ctx.quick else (100, 500, 1000)):
        root = os.path.join(ctx.root, f"prefix-{n_classes}")
        dataset_config = write_dataset(root, n_classes, images_per_class=2, train_fraction=0.5)
        for method in methods:
            batch = 1 if method == "CoCoOp" else (32 if cuda else 4)
            s = {"method": method, "n_classes": n_classes, "root": root, "dataset_config": dataset_config, "clip": clip,
                 "batch": batch, "depth": min(9, layers), "repeats": min(ctx.repeats, 2) if not cuda and n_classes >= 1000 else ctx.repeats}
            r = run_child(s)
            where = f"{n_classes} classes, batch {batch}, ViT-B/16 widths, {layers} layer{'s' if layers > 1 else ''}"
            detail = {"classes": n_classes, "batch": batch, "layers": layers, "repeats": s["repeats"]}
            rows.append(figure(f"{method} training step, {where}", "full sequences", r["full_s"], "shared prefix",
                               r["shared_s"], **detail))
            rows.append(figure(f"{method} training step peak memory, {where}", "full sequences", r["peak_full_mb"],
                               "shared prefix", r["peak_shared_mb"], unit="MB", **detail))
            if method == "CoOp":
                detail["relative_error"] = r["text_relative_error"]
                rows.append(figure(f"CoOp text side (class features forward + backward), {n_classes} classes, {layers} "
                                   f"layer{'s' if layers > 1 else ''}", "full sequences", r["text_full_s"], "shared prefix",
                                   r["text_shared_s"], **detail))
                rows.append(figure(f"CoOp text side peak memory, {n_classes} classes", "full sequences",
                                   r["text_peak_full_mb"], "shared prefix", r["text_peak_shared_mb"], unit="MB", **detail))
                if n_classes == (50 if ctx.quick else 1000):
                    rows.append(figure(f"frozen image tower, batch {batch}, {layers} layer{'s' if layers > 1 else ''}",
                                       "autograd enabled (before)", r["image_autograd_s"], "no autograd (ours)",
                                       r["image_no_grad_s"], bitwise_same=r["image_bitwise_same"], **detail))
    return rows


def main() -> None:
    from benchmarks.common import layered_script_context, layered_script_parser, write_script_figures

    parser = layered_script_parser(__doc__, "prefix", "20 and 50 classes, CoOp and CoCoOp: a smoke run")
    parser.add_argument("--methods", default="", help=f"comma-separated, of {', '.join(METHODS)}")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.exit(2, f"Unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}\n")
    rows = figures(layered_script_context("prefix", args), args.layers, methods)
    write_script_figures("benchmarks.prefix", rows, args.out)


if __name__ == "__main__":
    main()
