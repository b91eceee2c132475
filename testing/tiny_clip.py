"""Tiny CLIP checkpoints with random weights, for tests and offline demos.

They are real ``clip.model.CLIP`` models (ViT or ModifiedResNet image tower, 224-pixel input,
the full 49408-token vocabulary) at small widths, saved in the two formats OpenAI's loader
accepts (a TorchScript archive or a plain state dict) so that they go through the same loading
code as the released weights. CLIP derives the number of attention heads as width // 64, so
widths are multiples of 64 (ResNet: the last stage is 32 x width).
"""
import argparse
import math
import os
import warnings

import torch

with warnings.catch_warnings():  # clip imports pkg_resources, deprecated in setuptools >= 80
    warnings.simplefilter("ignore", UserWarning)
    from clip.model import CLIP, convert_weights

VOCAB_SIZE = 49408
CONTEXT_LENGTH = 77
IMAGE_RESOLUTION = 224


# The text width of ViT-B/16 (and B/32): at this width CLIP's initialisation (std 0.02 per
# dimension) gives token-embedding rows of norm ~0.45, as the released ViT-B/16's 0.4-0.6, and
# ``ln_final`` outputs of ~1 per dimension, so the training-free LM head h E^T has logits at a
# real CLIP's scale (up to |h| |e| ~ 10). At width 64 they are 8x smaller and the head is
# nearly uniform over any 32 candidate words: PLPP's perplexity term has no signal there.
REAL_TEXT_WIDTH = 512


def build_tiny_clip(backbone: str = "vit", width: int = 64, layers: int = 1, embed_dim: int = 64, seed: int = 0,
                    logit_scale: float = 1 / 0.07, text_width: int = 0) -> CLIP:
    """A random-weight CLIP in fp16, as ``clip.build_model`` returns the released models.

    ``logit_scale`` defaults to CLIP's initial temperature; trained CLIP models end at 100.
    ``text_width``: the text tower's width when it differs from ``width`` (``REAL_TEXT_WIDTH``
    for word embeddings and final states at ViT-B/16's scale).
    """
    torch.manual_seed(seed)
    if backbone == "vit":
        vision = dict(vision_layers=layers, vision_width=width, vision_patch_size=32)
    elif backbone == "rn":
        vision = dict(vision_layers=(1, 1, 1, 1), vision_width=max(2, width // 32) * 2, vision_patch_size=None)
    else:
        raise ValueError(f"backbone must be 'vit' or 'rn', got {backbone!r}")
    model = CLIP(
        embed_dim=embed_dim,
        image_resolution=IMAGE_RESOLUTION,
        context_length=CONTEXT_LENGTH,
        vocab_size=VOCAB_SIZE,
        transformer_width=text_width or width,
        transformer_heads=(text_width or width) // 64,
        transformer_layers=layers,
        **vision,
    )
    with torch.no_grad():
        model.logit_scale.fill_(math.log(logit_scale))
    convert_weights(model)
    return model.eval()


def save_tiny_clip(path: str, fmt: str = "jit", **kwargs) -> str:
    """Write a tiny CLIP to ``path`` as a TorchScript archive ("jit") or a state dict ("state_dict")."""
    model = build_tiny_clip(**kwargs)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if fmt == "state_dict":
        torch.save(model.state_dict(), path)
    elif fmt == "jit":
        model.float()  # tracing runs the model once; CPU kernels are fp32
        image = torch.zeros(1, 3, IMAGE_RESOLUTION, IMAGE_RESOLUTION)
        text = torch.zeros(1, CONTEXT_LENGTH, dtype=torch.long)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(model, (image, text), check_trace=False)
        convert_weights(traced)  # store fp16 weights, like the released archives
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still loads
            torch.jit.save(traced, path)
    else:
        raise ValueError(f"fmt must be 'jit' or 'state_dict', got {fmt!r}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a tiny random-weight CLIP checkpoint.")
    parser.add_argument("path", help="output file, e.g. /tmp/tiny-clip.pt")
    parser.add_argument("--format", choices=["jit", "state_dict"], default="jit")
    parser.add_argument("--backbone", choices=["vit", "rn"], default="vit")
    parser.add_argument("--width", type=int, default=64, help="transformer width (multiple of 64)")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--text-width", type=int, default=0, help=f"text tower width if not --width ({REAL_TEXT_WIDTH}: ViT-B/16's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logit-scale", type=float, default=1 / 0.07, help="CLIP's initial 14.3; trained models reach 100")
    args = parser.parse_args()
    save_tiny_clip(args.path, fmt=args.format, backbone=args.backbone, width=args.width, layers=args.layers, seed=args.seed,
                   logit_scale=args.logit_scale, text_width=args.text_width)
    print(args.path)


if __name__ == "__main__":
    main()
