"""Tiny random open_clip models, for tests without downloads.

``register()`` adds two model configs to open_clip's registry (``open_clip.add_model_config``):

- ``tiny-clip-vit``: CLIP-style, exactly ``testing/tiny_clip.py``'s ViT (width 64, one layer,
  patch 32, QuickGELU, the 49408-token vocabulary), so a tiny checkpoint in OpenAI's format loads
  through open_clip as well as through ``clip``;
- ``tiny-timm-clip``: EVA02's layout, timm's ``test_vit`` image tower (160 pixels) and a
  CLIP-style text tower held as open_clip's custom text tower;
- ``tiny-sigmoid-text``: SigLIP-style, a custom text tower with bidirectional attention,
  last-token pooling, a projection with bias and a logit bias, and timm's ``test_vit`` image
  tower (160 pixels). SigLIP's own tokenizer is a Hugging Face download; this model uses open_clip's
  SimpleTokenizer (OpenAI's BPE) at SigLIP's context length of 64 instead. Its name avoids
  "siglip", which would make open_clip ask for SigLIP's tokenizer.

``save_tiny_open_clip`` writes a random checkpoint of either, and ``register_tag`` gives it a
pretrained tag with its own preprocessing (SigLIP's: mean/std 0.5, "squash" resize), as open_clip's
released tags have.
"""
import json
import math
import os
import tempfile

import torch

CONFIGS = {
    "tiny-clip-vit": {
        "embed_dim": 64,
        "quick_gelu": True,
        "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "head_width": 64, "patch_size": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1},
    },
    "tiny-timm-clip": {  # EVA02's layout: a timm image tower, a CLIP-style custom text tower
        "embed_dim": 64,
        "custom_text": True,
        "vision_cfg": {"image_size": 160, "timm_model_name": "test_vit", "timm_model_pretrained": False,
                       "timm_pool": "token", "timm_proj": "linear"},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1},
    },
    "tiny-sigmoid-text": {
        "embed_dim": 64,
        "init_logit_bias": -10,
        "custom_text": True,
        "vision_cfg": {"image_size": 160, "timm_model_name": "test_vit", "timm_model_pretrained": False,
                       "timm_pool": "token", "timm_proj": "linear"},
        "text_cfg": {"context_length": 64, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1,
                     "no_causal_mask": True, "proj_bias": True, "pool_type": "last", "norm_kwargs": {"eps": 1e-6}},
    },
}
SIGLIP_PREPROCESS = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "interpolation": "bicubic", "resize_mode": "squash"}
_registered = []


def register() -> None:
    """Add the tiny configs to open_clip's model registry (once per process)."""
    if _registered:
        return
    import open_clip

    folder = tempfile.mkdtemp(prefix="tiny-open-clip-configs-")
    for name, config in CONFIGS.items():
        with open(os.path.join(folder, f"{name}.json"), "w") as f:
            json.dump(config, f)
    open_clip.add_model_config(folder)
    _registered.append(folder)


def build_tiny_open_clip(name: str = "tiny-clip-vit", seed: int = 0, logit_scale: float = 1 / 0.07) -> torch.nn.Module:
    """A random-weight open_clip model of one of ``CONFIGS`` (fp32)."""
    import open_clip

    register()
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(logit_scale))
    return model.eval()


def save_tiny_open_clip(path: str, name: str = "tiny-clip-vit", seed: int = 0) -> str:
    """Write a random checkpoint (open_clip's state dict) to ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save(build_tiny_open_clip(name, seed).state_dict(), path)
    return path


def register_tag(name: str, tag: str, path: str, **preprocess) -> None:
    """Make ``tag`` a pretrained tag of ``name`` whose weights are the local file ``path``."""
    from open_clip import pretrained

    register()
    pretrained._PRETRAINED.setdefault(name, {})[pretrained._clean_tag(tag)] = {"file": os.path.abspath(path), **preprocess}
