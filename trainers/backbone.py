"""CLIP, as every trainer loads it, and its text tower on prompt embeddings.

- ``load_clip_to_cpu``: a backbone name downloads the released weights as OpenAI's code does; a
  local file (``MODEL.BACKBONE.PATH``, or the environment variable ``CLIP_CHECKPOINT``, which
  wins) loads offline. TorchScript archives and plain state dicts, fp16 or fp32, both work.
- ``TextEncoder``: CLIP's text tower applied to prompt embeddings. Because the text transformer
  is causal, tokens after the end-of-text (EOT) token never change the EOT feature, so every
  sequence is trimmed to the longest EOT position before the transformer runs.
- Text helpers: the tokenizer, class names as prompts spell them, zero-shot class features.
"""
import os
import warnings
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn as nn

with warnings.catch_warnings():  # clip imports pkg_resources, deprecated in setuptools >= 80
    warnings.simplefilter("ignore", UserWarning)
    from clip import clip
    from clip.model import CLIP
    from clip.simple_tokenizer import SimpleTokenizer

CHECKPOINT_ENV = "CLIP_CHECKPOINT"
CLIP_CACHE_DIR = os.path.expanduser("~/.cache/clip")
# before_block(index, x): the input of block ``index`` [L, N, d] made from the previous output.
BlockHook = Callable[[int, torch.Tensor], torch.Tensor]
# Keys every CLIP state dict has; used to tell a CLIP checkpoint from any other file.
_CLIP_KEYS = ("token_embedding.weight", "positional_embedding", "text_projection", "ln_final.weight")


# ---------------------------------------------------------------------------------------------
# Loading CLIP
# ---------------------------------------------------------------------------------------------
def clip_checkpoint_path(cfg) -> str:
    """The file to load: ``$CLIP_CHECKPOINT``, else ``MODEL.BACKBONE.PATH``, else the download."""
    local = os.environ.get(CHECKPOINT_ENV) or cfg.MODEL.BACKBONE.get("PATH", "")
    if local:
        local = os.path.abspath(os.path.expanduser(local))
        source = CHECKPOINT_ENV if os.environ.get(CHECKPOINT_ENV) else "MODEL.BACKBONE.PATH"
        if not os.path.isfile(local):
            raise FileNotFoundError(
                f"CLIP checkpoint not found: {local} (from {source}); expected an OpenAI CLIP "
                ".pt file (TorchScript archive or state dict), e.g. ~/.cache/clip/ViT-B-16.pt"
            )
        return local
    name = cfg.MODEL.BACKBONE.NAME
    if name not in clip.available_models():
        raise ValueError(
            f"Unknown CLIP backbone {name!r}; choose one of {clip.available_models()} "
            f"or point MODEL.BACKBONE.PATH / ${CHECKPOINT_ENV} at a local checkpoint"
        )
    return clip._download(clip._MODELS[name], CLIP_CACHE_DIR)


def read_clip_state_dict(path: str) -> dict:
    """The CLIP state dict stored in ``path`` (TorchScript archive or ``torch.save`` file)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated
        try:
            state_dict = torch.jit.load(path, map_location="cpu").state_dict()
        except RuntimeError:
            try:
                state_dict = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:
                reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise OSError(
                    f"Cannot read CLIP checkpoint {path} ({reason}); expected an OpenAI CLIP "
                    "TorchScript archive or a state dict saved with torch.save: re-download it"
                ) from None
    if not isinstance(state_dict, dict) or not all(k in state_dict for k in _CLIP_KEYS):
        raise ValueError(
            f"{path} is not a CLIP checkpoint: expected the state dict of clip.model.CLIP "
            f"(keys such as {', '.join(_CLIP_KEYS)})"
        )
    return dict(state_dict)


def load_clip_to_cpu(cfg) -> CLIP:
    """Build CLIP on the CPU in fp16, as ``clip.build_model`` does for the released weights.

    open_clip backbones (``MODEL.BACKBONE.PRETRAINED``, ``hf-hub:`` ids, names only open_clip
    knows) load through ``trainers/open_clip_backbone.py``, behind an adapter with CLIP's interface.
    """
    from .open_clip_backbone import load_open_clip
    from .open_clip_weights import uses_open_clip

    if uses_open_clip(cfg):
        return load_open_clip(cfg)
    return clip.build_model(read_clip_state_dict(clip_checkpoint_path(cfg)))


# ---------------------------------------------------------------------------------------------
# Text encoder
# ---------------------------------------------------------------------------------------------
def causal_mask(length: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """CLIP's additive causal mask for ``length`` tokens (-inf above the diagonal)."""
    mask = torch.full((length, length), float("-inf"), device=device)
    return mask.triu_(1).to(dtype)


class TextEncoder(nn.Module):
    """CLIP's text tower on prompt embeddings; returns the projected EOT features.

    Attribute names follow CoOp's ``TextEncoder`` so code written against it keeps working.
    """

    def __init__(self, clip_model: CLIP):
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.dtype = clip_model.dtype

    def forward(self, prompts: torch.Tensor, tokenized_prompts: torch.Tensor, trim: bool = True,
                before_block: Optional[BlockHook] = None) -> torch.Tensor:
        """prompts [N, 77, d] and their token ids [N, 77] -> features [N, embed_dim].

        With ``trim`` only the first (longest EOT position + 1) tokens are computed; the result
        is the same up to floating-point rounding, since attention is causal. ``before_block``:
        see ``run_transformer``.
        """
        eot = tokenized_prompts.argmax(dim=-1)
        length = int(eot.max()) + 1 if trim else prompts.shape[1]
        x = prompts[:, :length] + self.positional_embedding[:length].type(self.dtype)
        x = self.run_transformer(x, before_block)
        x = self.ln_final(x).type(self.dtype)
        return x[torch.arange(x.shape[0], device=x.device), eot] @ self.text_projection

    def run_transformer(self, x: torch.Tensor, before_block: Optional[BlockHook] = None) -> torch.Tensor:
        """CLIP's residual attention blocks on [N, L, d] with a causal mask sized to L.

        ``before_block(index, x)``, when given, returns the input of block ``index`` from the
        previous block's output x [L, N, d] (deep prompting replaces prompt positions there).
        """
        mask = causal_mask(x.shape[1], x.dtype, x.device)
        x = x.permute(1, 0, 2)  # NLD -> LND, CLIP's layout
        for index, block in enumerate(self.transformer.resblocks):
            if before_block is not None:
                x = before_block(index, x)
            h = block.ln_1(x)
            x = x + block.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
            x = x + block.mlp(block.ln_2(x))
        return x.permute(1, 0, 2)


# ---------------------------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------------------------
tokenizer = SimpleTokenizer()


def tokenize(clip_model: nn.Module, texts, for_prompt: bool = False) -> torch.Tensor:
    """Token ids [N, context length] from the model's own tokenizer (``clip.tokenize`` for OpenAI's);
    ``for_prompt``: laid out for a learned prompt, a start token at position 0 (open_clip_backbone)."""
    own = getattr(clip_model, "tokenize", None)
    return own(texts, for_prompt) if own is not None else clip.tokenize(texts)


def count_tokens(clip_model: nn.Module, text: str) -> int:
    """Tokens ``text`` takes inside a prompt, by the model's own tokenizer."""
    own = getattr(clip_model, "count_tokens", None)
    return own(text) if own is not None else len(tokenizer.encode(text))


def text_encoder(clip_model: nn.Module) -> TextEncoder:
    """The text encoder for ``clip_model``: ``TextEncoder``, or the one an open_clip tower that is
    not CLIP-style asks for (``text_encoder_class``)."""
    return getattr(clip_model, "text_encoder_class", TextEncoder)(clip_model)


class FeatureTap(nn.Identity):
    """Where a host's raw class text features pass, whichever path encoded them (full sequences
    or a shared prefix): plug-ins (DePT) read them with a forward hook. No weights, so no
    checkpoint keys."""


class PromptedCLIP(nn.Module):
    """CLIP's frozen image tower and text encoder around a method's prompt learner, under the
    reference's attribute names (``prompt_learner``, ``image_encoder``, ``text_encoder``,
    ``logit_scale``), which are the checkpoint's keys."""

    def __init__(self, prompt_learner: nn.Module, clip_model: CLIP):
        super().__init__()
        self.prompt_learner = prompt_learner
        self.tokenized_prompts = prompt_learner.tokenized_prompts
        self.image_encoder = clip_model.visual
        self.text_encoder = text_encoder(clip_model)
        self.text_features_out = FeatureTap()
        self.logit_scale = clip_model.logit_scale
        self.dtype = clip_model.dtype

    @torch.no_grad()
    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """Unit-norm image features [batch, embed_dim] (frozen: the feature cache stores them).

        Without autograd, in training too: nothing learned is upstream of them. The tower stays
        in evaluation mode, as ``clip.build_model`` returns it (Dassl switches only registered
        modules), so a ResNet's BatchNorm statistics never move.
        """
        image_features = self.image_encoder(image.type(self.dtype))
        return image_features / image_features.norm(dim=-1, keepdim=True)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.logits(self.encode_image(image))

    def logits(self, image_features: torch.Tensor) -> torch.Tensor:
        """Logits [batch, n_cls] of unit-norm image features against the class prompts."""
        raise NotImplementedError


def readable_classnames(classnames: Sequence[str]) -> List[str]:
    """Class names as the prompts spell them: CoOp-family code replaces "_" by spaces."""
    return [name.replace("_", " ") for name in classnames]


@torch.no_grad()
def encode_class_prompts(clip_model: CLIP, classnames: Sequence[str], templates: Sequence[str], chunk_size: int = 1000,
                         unit_per_template: bool = True) -> torch.Tensor:
    """Unit-norm text features per class, averaged over templates (zero-shot classifiers).

    Prompts are encoded ``chunk_size`` at a time with the trimmed text encoder, so a
    1000-class, many-template ensemble fits in memory. With ``unit_per_template`` False the raw
    features are averaged and normalised once (PromptSRC's ensemble).
    """
    encoder = text_encoder(clip_model)
    device = clip_model.positional_embedding.device
    names = readable_classnames(classnames)
    mean = 0
    for template in templates:
        tokens = tokenize(clip_model, [template.format(name) for name in names]).to(device)
        features = torch.cat([
            encoder(clip_model.token_embedding(chunk).type(clip_model.dtype), chunk)
            for chunk in tokens.split(chunk_size)
        ])
        mean = mean + (features / features.norm(dim=-1, keepdim=True) if unit_per_template else features)
    mean = mean / len(templates)
    return mean / mean.norm(dim=-1, keepdim=True)
