"""CoCoOp's text encoding (trainers/cocoop.py) against the reference's per-image path, at 100 and
at 1000 classes: training step, evaluation per test batch and the peak memory of each.

    python -m benchmarks --only cocoop          # with every other benchmark's conventions
    python -m benchmarks.cocoop [--layers 12] [--repeats 3] [--quick]

- plain (the reference's computation, ``CustomCLIP.forward_per_image``): a Python loop over the
  images, each encoding every class prompt at the full 77 tokens;
- ours (``CustomCLIP.forward``): the batch x classes sequences encoded together, trimmed to the
  longest end-of-text position, in chunks sized to ``TRAINER.COCOOP.TEXT_MEMORY_MB`` (beyond it,
  training recomputes each chunk's activations in the backward pass).

Both give the same logits (tests/test_cocoop.py: 1e-5; the figures record the difference
measured here). The model has CLIP ViT-B/16's shapes (text width 512 with 8 heads, 77 tokens,
image width 768 with 16-pixel patches, embedding 512) with random weights and ``--layers``
layers per tower: 12 (ViT-B/16) on CUDA, 1 on the CPU by default so that the whole run takes a
few minutes there. ``TEXT_MEMORY_MB`` is the default 2048 scaled by layers / 12, so that the
chunks and the recomputation are those of the 12-layer model. Training steps use batch 1 (the
reference's configs); evaluation uses the configs' test batch of 100 on CUDA, and on the CPU 4
images at 100 classes and 1 at 1000. Times are medians of alternated rounds of the two sides in
one process, after one round of each (on the CPU at 1000 classes at most 2 rounds: a plain step
takes most of a minute there). Each peak is measured in a fresh process running one step of one
side: on the CPU the peak resident memory of that step above the resident memory before it, with
glibc told to hand freed memory back at once (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``);
on CUDA ``torch.cuda.max_memory_allocated`` above the allocated memory before it.
"""
import json
import os
import subprocess
import sys
from typing import Dict, List

from benchmarks.common import REPO, Context, build, device, figure, paired_medians, write_dataset

CONFIG = "vit_b16_c4_ep10_batch1_ctxv1"
DEFAULT_TEXT_MEMORY_MB = 2048
VIT_B16_LAYERS = 12


def write_vit_b16_shaped_clip(path: str, layers: int) -> str:
    """CLIP ViT-B/16's widths with ``layers`` layers per tower, random weights (fp16, as released)."""
    import torch
    from clip.model import CLIP, convert_weights

    torch.manual_seed(0)
    model = CLIP(embed_dim=512, image_resolution=224, vision_layers=layers, vision_width=768, vision_patch_size=16,
                 context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8, transformer_layers=layers)
    convert_weights(model)
    torch.save(model.state_dict(), path)
    return path


def settings(ctx: Context, layers: int, n_classes: int) -> Dict:
    """Everything one side needs to build its trainer (also in a child process)."""
    root = os.path.join(ctx.root, f"cocoop-{n_classes}")
    return {
        "repo": REPO, "root": root, "clip": ctx.clip, "dataset_config": write_dataset(root, n_classes, images_per_class=2, train_fraction=0.5),
        "opts": ["TRAINER.COCOOP.TEXT_MEMORY_MB", str(max(1, DEFAULT_TEXT_MEMORY_MB * layers // VIT_B16_LAYERS)), "VERBOSE", "False"],
        "test_batch": 100 if device() == "cuda" else (4 if n_classes <= 100 else 1), "n_classes": n_classes,
    }


def build_sides(s: Dict):
    """The trainer, its model, one training batch, one test batch and each side's two steps."""
    import torch

    os.environ["CLIP_CHECKPOINT"] = s["clip"]
    trainer = build("CoCoOp", s["root"], s["dataset_config"], s["opts"], config=CONFIG)
    model = trainer.model
    torch.manual_seed(0)
    train_batch = {"img": torch.randn(1, 3, 224, 224), "label": torch.randint(0, s["n_classes"], (1,))}
    test_images = torch.randn(s["test_batch"], 3, 224, 224, device=trainer.device)

    def train(plain: bool):
        def step():
            if plain:
                model.forward = model.forward_per_image  # the instance attribute shadows CustomCLIP.forward
            try:
                return trainer.forward_backward(train_batch)
            finally:
                model.__dict__.pop("forward", None)
        return step

    def evaluate(plain: bool):
        def step():
            with torch.no_grad(), trainer.autocast():
                return model.forward_per_image(test_images) if plain else model(test_images)
        return step

    return trainer, model, train, evaluate


CHILD = """
import json, sys, torch
sys.path.insert(0, {repo!r})
from benchmarks.cocoop import build_sides, peak_of
s = json.loads({settings!r})
trainer, model, train, evaluate = build_sides(s)
step = (train if {phase!r} == "train" else evaluate)({plain!r})
print(json.dumps({{"peak_mb": peak_of(step)}}))
"""


def peak_of(step) -> float:
    """MiB the step needs above what was in use before it (see the module docstring)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak resident set size (VmHWM) to the current one
    base = resident_kib("VmRSS")
    step()
    return (resident_kib("VmHWM") - base) / 1024


def resident_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def child_peak(s: Dict, phase: str, plain: bool) -> float:
    script = CHILD.format(repo=REPO, settings=json.dumps(s), phase=phase, plain=plain)
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="0", MALLOC_MMAP_THRESHOLD_="131072")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, env=env)
    if done.returncode:
        raise RuntimeError(f"memory measurement ({phase}, {'plain' if plain else 'ours'}) failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"]


def size_figures(ctx: Context, layers: int, n_classes: int) -> List[Dict]:
    s = settings(ctx, layers, n_classes)
    trainer, model, train, evaluate = build_sides(s)
    repeats = min(ctx.repeats, 2) if device() == "cpu" and n_classes >= 1000 else ctx.repeats
    logits_plain, logits_ours = evaluate(True)(), evaluate(False)()
    same = {"max_abs_logit_diff": float((logits_plain - logits_ours).abs().max()),
            "logit_scale": float(model.logit_scale.exp()), "layers": layers, "classes": n_classes,
            "test_batch": s["test_batch"], "train_batch": 1, "text_memory_mb": int(s["opts"][1]),
            "longest_prompt_tokens": int(model.tokenized_prompts.argmax(-1).max()) + 1, "repeats": repeats}
    train_plain, train_ours = paired_medians(train(True), train(False), repeats)
    eval_plain, eval_ours = paired_medians(evaluate(True), evaluate(False), repeats, warm_up=False)  # warmed up above
    del trainer, model
    where = f"{n_classes} classes, ViT-B/16 widths, {layers} layer{'s' if layers > 1 else ''}"
    return [
        figure(f"CoCoOp training step, batch 1, {where}", "plain per-image", train_plain, "batched (ours)", train_ours, **same),
        figure(f"CoCoOp evaluation per test batch of {s['test_batch']}, {where}", "plain per-image", eval_plain,
               "batched (ours)", eval_ours, **same),
        figure(f"CoCoOp training step peak memory, {where}", "plain per-image", child_peak(s, "train", True),
               "batched (ours)", child_peak(s, "train", False), unit="MB", **same),
        figure(f"CoCoOp evaluation peak memory per test batch of {s['test_batch']}, {where}", "plain per-image",
               child_peak(s, "eval", True), "batched (ours)", child_peak(s, "eval", False), unit="MB", **same),
    ]


def figures(ctx: Context, layers: int = 0) -> List[Dict]:
    """Rows for ``python -m benchmarks``: 100 and 1000 classes (``--quick``: 20 and 100)."""
    layers = layers or (VIT_B16_LAYERS if device() == "cuda" else 1)
    if ctx.clip.startswith(ctx.root):  # the runner's random CLIP: use ViT-B/16's widths at this depth instead
        ctx = ctx._replace(clip=write_vit_b16_shaped_clip(os.path.join(ctx.root, f"clip_vit_b16_{layers}layers.pt"), layers))
    rows = []
    for n_classes in ((20, 100) if ctx.quick else (100, 1000)):
        rows.extend(size_figures(ctx, layers, n_classes))
    return rows


def main() -> None:
    from benchmarks.common import layered_script_context, layered_script_parser, write_script_figures

    args = layered_script_parser(__doc__, "cocoop", "20 and 100 classes: a smoke run").parse_args()
    rows = figures(layered_script_context("cocoop", args), args.layers)
    write_script_figures("benchmarks.cocoop", rows, args.out)


if __name__ == "__main__":
    main()
