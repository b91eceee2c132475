"""Speed of CoOp and PLPP here against the plain (reference CoOp) path, at 100 classes.

    python benchmarks/speed.py                       # ViT-B/16-sized random weights, CoOp's batch sizes
    CLIP_CHECKPOINT=~/.cache/clip/ViT-B-16.pt python benchmarks/speed.py --classes 100

Measures, on the current device (CUDA if available), with the trainers' real code:
1. evaluation, per test batch: the plain path (prompts encoded at 77 tokens for every batch, as
   the reference CoOp does) against ours (prompts encoded once per evaluation, sequences trimmed
   to the longest end-of-text position);
2. a CoOp training step (forward, backward, SGD step): 77-token text against trimmed text;
3. a PLPP training step against a CoOp training step (both ours): the regulariser's overhead.
Times are medians over ``--repeats``, the two sides of each ratio measured alternately after a
warm-up; the ratios come from one run on one machine.
The plain path gives the same logits as the reference implementation (tests/test_coop.py checks
trimmed and cached against it, to 1e-5).
"""
import argparse
import contextlib
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, Iterator, List, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import torch  # noqa: E402
from PIL import Image  # noqa: E402

import trainers  # noqa: E402,F401  (selects the engine, registers the trainers)
from dassl.engine import build_trainer  # noqa: E402
from runtime import cli  # noqa: E402
from trainers.backbone import TextEncoder  # noqa: E402

# Class names of one to three words, like the benchmarks' (e.g. "golden retriever").
WORDS = ["red", "striped", "wild", "common", "giant", "desert", "mountain", "river", "night", "garden"]
NOUNS = ["fox", "lily", "truck", "heron", "maple", "canyon", "violin", "lantern", "beetle", "ferry"]


def class_names(n: int) -> List[str]:
    return [" ".join(([WORDS[i % 10]] if i % 3 else []) + ([WORDS[(i // 10) % 10]] if i % 4 == 0 else []) + [NOUNS[i % 10]]) + f" {i}"
            for i in range(n)]


def write_dataset(root: str, n_classes: int) -> str:
    """An ImageFolder dataset (two tiny images per class) and its config; returns the config."""
    images = os.path.join(root, "bench", "images")
    for i, name in enumerate(class_names(n_classes)):
        folder = os.path.join(images, name.replace(" ", "_"))
        os.makedirs(folder, exist_ok=True)
        for j in range(3):
            Image.new("RGB", (32, 32), ((37 * i) % 255, (11 * j) % 255, 90)).save(os.path.join(folder, f"{j}.png"))
    config = os.path.join(root, "bench.yaml")
    with open(config, "w") as f:
        f.write('DATASET:\n  NAME: "CustomDataset"\n  CUSTOM:\n    DATASET_DIR: "bench"\n'
                "    TRAIN_FRACTION: 0.34\n    VAL_FRACTION: 0.0\n")
    return config


def write_vit_b16_random(path: str) -> str:
    """CLIP ViT-B/16's architecture with random weights (fp16, as released)."""
    from clip.model import CLIP, convert_weights

    torch.manual_seed(0)
    model = CLIP(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=16,
                 context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8, transformer_layers=12)
    convert_weights(model)
    torch.save(model.state_dict(), path)
    return path


def build(name: str, root: str, dataset_config: str, opts: List[str]):
    args = cli.build_parser().parse_args([
        "--root", root, "--trainer", name, "--dataset-config-file", dataset_config,
        "--config-file", os.path.join(REPO, "configs", "trainers", name, "vit_b16_ep50.yaml"),
        "--output-dir", os.path.join(root, "out", name),
        "DATALOADER.NUM_WORKERS", "0", "VERBOSE", "False", *opts,
    ])
    trainer = build_trainer(cli.setup_cfg(args))
    trainer.batch_idx, trainer.num_batches = 0, 10 ** 9  # never the epoch's last batch: no LR step
    return trainer


def paired_medians(first: Callable[[], object], second: Callable[[], object], repeats: int) -> Tuple[float, float]:
    """Median times of two functions measured alternately (after one warm-up each), so that a
    change in machine load affects both alike."""
    cuda = torch.cuda.is_available()

    def timed(fn: Callable[[], object]) -> float:
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start

    first(), second()
    pairs = [(timed(first), timed(second)) for _ in range(repeats)]
    return statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)


@contextlib.contextmanager
def plain_path(model) -> Iterator[None]:
    """Encode prompts at the full 77 tokens for every call, like the reference CoOp."""
    model.text_encoder.forward = functools.partial(TextEncoder.forward, model.text_encoder, trim=False)
    try:
        yield
    finally:
        del model.text_encoder.forward  # back to the class's (trimming) forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--train-batch", type=int, default=32, help="CoOp's configs: 32")
    parser.add_argument("--test-batch", type=int, default=100, help="CoOp's configs: 100")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(REPO, "output", "benchmarks", "speed.json"))
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides for both trainers, e.g. TRAINER.COOP.N_CTX 4")
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="plpp-bench-")
    if not os.environ.get("CLIP_CHECKPOINT"):
        os.environ["CLIP_CHECKPOINT"] = write_vit_b16_random(os.path.join(root, "vit_b16_random.pt"))
    dataset_config = write_dataset(root, args.classes)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    opts = ["TRAINER.COOP.PREC", "amp" if device == "cuda" else "fp32", *args.opts]

    coop = build("CoOp", root, dataset_config, opts)
    plpp = build("PLPP", root, dataset_config, opts)
    torch.manual_seed(0)
    train_batch = {"img": torch.randn(args.train_batch, 3, 224, 224), "label": torch.randint(0, args.classes, (args.train_batch,))}
    test_images = torch.randn(args.test_batch, 3, 224, 224, device=coop.device)
    tokens = coop.model.tokenized_prompts
    results: Dict[str, float] = {"classes": args.classes, "longest_prompt_tokens": int(tokens.argmax(-1).max()) + 1}

    model = coop.model.eval()
    with torch.no_grad():
        started = time.perf_counter()
        prompts_once = model.encode_text()  # what CoOp.test() computes once per evaluation
        results["encode_prompts_once_s"] = time.perf_counter() - started

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
            coop.forward_backward(train_batch)

    results["eval_batch_plain_s"], results["eval_batch_ours_s"] = paired_medians(evaluate_plain, evaluate_ours, args.repeats)
    results["train_step_plain_s"], results["train_step_coop_s"] = paired_medians(
        train_plain, lambda: coop.forward_backward(train_batch), args.repeats)
    results["train_step_plpp_s"], results["train_step_coop_s_vs_plpp"] = paired_medians(
        lambda: plpp.forward_backward(train_batch), lambda: coop.forward_backward(train_batch), args.repeats)

    results.update(
        device=torch.cuda.get_device_name(0) if device == "cuda" else f"CPU ({os.cpu_count()} cores)",
        eval_speedup=results["eval_batch_plain_s"] / results["eval_batch_ours_s"],
        train_speedup=results["train_step_plain_s"] / results["train_step_coop_s"],
        plpp_over_coop=results["train_step_plpp_s"] / results["train_step_coop_s_vs_plpp"],
        train_batch=args.train_batch, test_batch=args.test_batch, opts=opts, repeats=args.repeats,
        clip=os.environ["CLIP_CHECKPOINT"],
    )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"{args.classes} classes, longest prompt {results['longest_prompt_tokens']} tokens, {results['device']}, "
          f"train batch {args.train_batch}, test batch {args.test_batch}, {opts}")
    print(f"evaluation per batch: plain {results['eval_batch_plain_s']:.3f} s, cached+trimmed "
          f"{results['eval_batch_ours_s']:.3f} s -> {results['eval_speedup']:.2f}x "
          f"(plus {results['encode_prompts_once_s']:.3f} s once per evaluation)")
    print(f"CoOp train step:      plain {results['train_step_plain_s']:.3f} s, trimmed "
          f"{results['train_step_coop_s']:.3f} s -> {results['train_speedup']:.2f}x")
    print(f"PLPP train step:      {results['train_step_plpp_s']:.3f} s against CoOp's {results['train_step_coop_s_vs_plpp']:.3f} s "
          f"-> {results['plpp_over_coop']:.3f}x")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
