"""The demo's CLIP: a tiny ``clip.model.CLIP`` (the real tokenizer and full 49408-token
vocabulary) pretrained contrastively on the synthetic world's captioned pictures, on the CPU,
then cached so that later demos start at once.

CLIP's recipe at a small scale: a symmetric cross-entropy over the batch's image-caption
similarities with a learned temperature, AdamW, warmup then cosine decay. Pictures are drawn
afresh for every batch, so the model never sees one twice. A seed fixes the pictures, the
initial weights and hence the result (on a given machine and torch version).

    python -m toolkit.demo.pretrain              # pretrain (or find in the cache); prints zero-shot accuracy
"""
import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

import torch
from torch.nn import functional as F
from tqdm import tqdm

from trainers.backbone import CLIP, TextEncoder, clip, readable_classnames  # imports clip quietly

from clip.model import convert_weights  # noqa: E402  (after trainers.backbone: no pkg_resources warning)

from . import world

CACHE_DIR = os.path.expanduser("~/.cache/plpp-toolkit/demo")
VOCAB_SIZE = 49408
CONTEXT_LENGTH = 77
# CLIP's normalisation: the demo's dataset configs (CoOp's) normalise with it too.
PIXEL_MEAN = (0.48145466, 0.4578275, 0.40821073)
PIXEL_STD = (0.26862954, 0.26130258, 0.27577711)
WORLD_VERSION = 2  # bump when world.py draws or describes differently: the cache key changes


@dataclass(frozen=True)
class PretrainSettings:
    """The model's size and the pretraining run; together they name the cached checkpoint."""

    image_size: int = 32
    patch_size: int = 4
    width: int = 64  # of both towers (CLIP uses width // 64 attention heads)
    layers: int = 2
    embed_dim: int = 64
    steps: int = 400
    batch_size: int = 128
    lr: float = 2e-3
    warmup_steps: int = 40
    weight_decay: float = 0.1
    seed: int = 0

    def cache_path(self, cache_dir: str = CACHE_DIR) -> str:
        key = json.dumps({**asdict(self), "world": WORLD_VERSION}, sort_keys=True)
        return os.path.join(cache_dir, f"demo-clip-{hashlib.sha1(key.encode()).hexdigest()[:12]}.pt")


def build_demo_clip(settings: PretrainSettings) -> CLIP:
    """A randomly initialised CLIP of the settings' size, in fp32."""
    torch.manual_seed(settings.seed)
    return CLIP(
        embed_dim=settings.embed_dim,
        image_resolution=settings.image_size,
        vision_layers=settings.layers,
        vision_width=settings.width,
        vision_patch_size=settings.patch_size,
        context_length=CONTEXT_LENGTH,
        vocab_size=VOCAB_SIZE,
        transformer_width=settings.width,
        transformer_heads=settings.width // 64,
        transformer_layers=settings.layers,
    )


def to_tensor(pictures: Sequence, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Pictures as CLIP's normalised input [N, 3, H, W]."""
    import numpy as np

    array = torch.from_numpy(np.stack([np.asarray(p, dtype=np.uint8) for p in pictures]))
    x = array.permute(0, 3, 1, 2).to(dtype) / 255.0
    mean = torch.tensor(PIXEL_MEAN, dtype=dtype).view(1, 3, 1, 1)
    std = torch.tensor(PIXEL_STD, dtype=dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def encode(model: CLIP, images: Optional[torch.Tensor] = None, tokens: Optional[torch.Tensor] = None):
    """Unit-norm image and/or text features (the text trimmed to its longest caption)."""
    out = []
    if images is not None:
        features = model.encode_image(images)
        out.append(features / features.norm(dim=-1, keepdim=True))
    if tokens is not None:
        features = TextEncoder(model)(model.token_embedding(tokens), tokens)
        out.append(features / features.norm(dim=-1, keepdim=True))
    return out[0] if len(out) == 1 else tuple(out)


def training_batch(rng: random.Random, settings: PretrainSettings):
    things = [world.random_thing(rng) for _ in range(settings.batch_size)]
    images = to_tensor([world.pretraining_picture(t, settings.image_size, rng) for t in things])
    tokens = clip.tokenize([t.caption(rng) for t in things])
    return images, tokens


def optimizers(model: CLIP, settings: PretrainSettings) -> List[torch.optim.Optimizer]:
    """AdamW on every weight (decay on matrices only, not on gains, biases, the positional
    embedding or the temperature) and sparse Adam on the token embedding: the captions use a few
    dozen of its 49408 rows, so only those rows get a gradient and an update."""
    model.token_embedding.sparse = True
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if name == "token_embedding.weight":
            continue
        exempt = param.dim() < 2 or "embedding" in name or name == "logit_scale" or "ln_" in name
        (no_decay if exempt else decay).append(param)
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [torch.optim.AdamW(groups, lr=settings.lr, betas=(0.9, 0.98), eps=1e-6),
            torch.optim.SparseAdam([model.token_embedding.weight], lr=settings.lr, betas=(0.9, 0.98), eps=1e-6)]


def learning_rate(step: int, settings: PretrainSettings) -> float:
    """Linear warmup, then cosine decay to zero."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
    return settings.lr * 0.5 * (1 + math.cos(math.pi * progress))


def pretrain(settings: PretrainSettings, progress: bool = True) -> CLIP:
    """Contrastive pretraining from scratch; returns the model in fp32, in eval mode."""
    model = build_demo_clip(settings)
    rng = random.Random(settings.seed)
    optims = optimizers(model, settings)
    labels = torch.arange(settings.batch_size)
    bar = tqdm(range(settings.steps), desc="pretraining the demo CLIP", disable=not progress, file=sys.stdout,
               mininterval=5, bar_format="{desc}: {n}/{total} steps [{elapsed}<{remaining}]{postfix}")
    model.train()
    for step in bar:
        images, tokens = training_batch(rng, settings)
        for optim in optims:
            for group in optim.param_groups:
                group["lr"] = learning_rate(step, settings)
        image_features, text_features = encode(model, images, tokens)
        logits = model.logit_scale.exp() * image_features @ text_features.t()
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
        for optim in optims:
            optim.zero_grad(set_to_none=True)
        loss.backward()
        for optim in optims:
            optim.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))  # CLIP's cap on the temperature
        if step % 20 == 0:
            bar.set_postfix_str(f"loss {loss.item():.3f}", refresh=False)
    model.token_embedding.sparse = False
    return model.eval()


@torch.no_grad()
def zero_shot_accuracy(model: CLIP, images_per_class: int = 20, seed: int = 1,
                       template: str = "a photo of a {}.") -> Dict[str, float]:
    """Zero-shot accuracy (%) on downstream photos of the base and of the new classes, each
    half classified among its own classes (as base-to-new evaluates)."""
    rng = random.Random(seed)
    size = model.visual.input_resolution
    half = len(world.CLASSNAMES) // 2
    result = {}
    for part, names in (("base", world.CLASSNAMES[:half]), ("new", world.CLASSNAMES[half:])):
        text = encode(model, tokens=clip.tokenize([template.format(n) for n in readable_classnames(names)]))
        correct = 0
        for label, name in enumerate(names):
            colour, shape = name.split(" ")
            pictures = [world.downstream_picture(world.random_thing(rng, colour, shape), size, rng) for _ in range(images_per_class)]
            predictions = (encode(model, images=to_tensor(pictures)) @ text.t()).argmax(dim=-1)
            correct += int((predictions == label).sum())
        result[part] = 100.0 * correct / (len(names) * images_per_class)
    return result


def save(model: CLIP, path: str, record: dict) -> None:
    """A fp16 state dict, as the released weights are stored, and its record beside it; written
    to temporary names and renamed, so an interrupted run leaves no half-written cache."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    half = build_demo_clip(PretrainSettings(**record["settings"]))
    half.load_state_dict(model.state_dict())
    convert_weights(half)
    torch.save(half.state_dict(), path + ".tmp")
    with open(path + ".json.tmp", "w") as f:
        json.dump(record, f, indent=2)
    os.replace(path + ".json.tmp", path + ".json")
    os.replace(path + ".tmp", path)


def cached_demo_clip(settings: PretrainSettings = PretrainSettings(), cache_dir: str = CACHE_DIR) -> str:
    """The path of the pretrained checkpoint: from the cache, or pretrained now and cached."""
    path = settings.cache_path(cache_dir)
    if os.path.isfile(path) and os.path.isfile(path + ".json"):
        return path
    print(f"Pretraining the demo CLIP ({settings.steps} steps of {settings.batch_size} captioned pictures; "
          f"cached in {path} for the next runs)")
    started = time.time()
    model = pretrain(settings)
    accuracy = zero_shot_accuracy(model)
    seconds = time.time() - started
    print(f"Pretrained in {seconds:.0f} s; zero-shot accuracy on the downstream photos: "
          f"base {accuracy['base']:.1f}%, new {accuracy['new']:.1f}% (chance {100 / (len(world.CLASSNAMES) // 2):.1f}%)")
    save(model, path, {"settings": asdict(settings), "world": WORLD_VERSION, "seconds": round(seconds, 1),
                       "zero_shot_accuracy": accuracy, "torch": torch.__version__})
    return path


def read_record(path: str) -> dict:
    """The record saved beside a cached checkpoint (settings, zero-shot accuracy, time)."""
    with open(path + ".json") as f:
        return json.load(f)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=PretrainSettings.steps)
    parser.add_argument("--seed", type=int, default=PretrainSettings.seed)
    parser.add_argument("--cache-dir", default=CACHE_DIR)
    args = parser.parse_args(argv)
    path = cached_demo_clip(PretrainSettings(steps=args.steps, seed=args.seed), args.cache_dir)
    record = read_record(path)
    print(f"{path}: zero-shot accuracy base {record['zero_shot_accuracy']['base']:.1f}%, "
          f"new {record['zero_shot_accuracy']['new']:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
