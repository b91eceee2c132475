"""Deep prompting on the unmodified ``clip`` package, shared by MaPLe, IVLP and PromptSRC.

The reference repositories fork CLIP's ``model.py`` so that its blocks take prompt tokens. Here
both towers of the stock model run block by block instead, and the learned prompt tokens replace
the prompt positions at the input of the first J blocks:

- text: positions 1..n (right after SOS) hold the first-layer context, from the prompt
  embeddings; deep prompts replace them at the input of blocks 1 .. J-1;
- vision: n prompt tokens are appended after the patch tokens (before ``ln_pre``, as in the
  references); deep prompts replace those last n tokens at the input of blocks 1 .. J-1.

A prompt learner says which tokens each block receives (``DeepPrompts``); the towers know nothing
about methods. Widths come from the loaded CLIP, so ViT-B/32, ViT-B/16 and ViT-L/14 need no edits;
a ResNet image encoder has no token sequence to prompt and is refused with one line. With no
prompts the towers compute exactly CLIP's own features (PromptSRC's frozen image features).

Checkpoints keep the references' format: the references register their whole ``CustomCLIP``, so
the learned tensors are saved under ``prompt_learner.*`` (and, for IVLP's prompts, which the
reference keeps inside its forked encoders, under those encoders' names). ``ReferenceCheckpoint``
saves and loads the prompt learner under exactly those keys; CLIP's frozen weights, which the
references also save, are not written and are ignored when a reference checkpoint is loaded.
"""
import contextlib
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .backbone import CLIP, BlockHook, FeatureTap, TextEncoder, tokenize
from .prefix_encoding import common_prefix_length, encode_with_prefix, shared_prefix_enabled
from .prompting import PromptTrainer, class_prompts

MAX_INIT_TOKENS = 4  # the references initialise from CTX_INIT only when N_CTX <= 4


# ---------------------------------------------------------------------------------------------
# Shapes of the loaded CLIP
# ---------------------------------------------------------------------------------------------
def require_vision_transformer(clip_model: CLIP, method: str) -> None:
    """Refuse a ResNet image encoder: deep vision prompts need the ViT's token sequence."""
    if not hasattr(clip_model.visual, "transformer"):
        raise ValueError(
            f"{method} needs a ViT CLIP: its prompts enter the image encoder's transformer blocks, and the "
            "loaded CLIP has a ResNet image encoder; set MODEL.BACKBONE.NAME to ViT-B/32, ViT-B/16 or ViT-L/14 "
            "(or CLIP_CHECKPOINT to a ViT checkpoint)"
        )


def text_width(clip_model: CLIP) -> int:
    return clip_model.ln_final.weight.shape[0]


def vision_width(clip_model: CLIP) -> int:
    return clip_model.visual.conv1.weight.shape[0]


def prompt_layers(clip_model: CLIP) -> int:
    """The most blocks a prompt depth can cover: the shallower tower's number of blocks."""
    return min(len(clip_model.transformer.resblocks), len(clip_model.visual.transformer.resblocks))


def check_depth(key: str, depth: int, minimum: int, clip_model: CLIP) -> None:
    """One line when a prompt depth is outside [minimum, number of blocks]."""
    layers = prompt_layers(clip_model)
    if not minimum <= depth <= layers:
        raise ValueError(f"{key} must be between {minimum} and {layers} (this CLIP's number of blocks), got {depth}")


# ---------------------------------------------------------------------------------------------
# The towers
# ---------------------------------------------------------------------------------------------
class DeepPrompts(NamedTuple):
    """Which prompt tokens each block of each tower receives."""

    text: torch.Tensor  # first-layer prompt embeddings of every class [n_cls, 77, d_text]
    text_deep: Sequence[torch.Tensor]  # [n, d_text] each: positions 1..n at the input of blocks 1, 2, ...
    vision: Optional[torch.Tensor] = None  # [m, d_vision] appended to the image tokens; None: no prompts
    vision_deep: Sequence[torch.Tensor] = ()  # [m, d_vision] each: the last m tokens at blocks 1, 2, ...


def replace_tokens(x: torch.Tensor, tokens: torch.Tensor, start: int) -> torch.Tensor:
    """x [L, N, d] with positions start .. start+n replaced by tokens [n, d] (or [N, n, d]) in
    every sequence; a negative ``start`` counts from the end."""
    start = start if start >= 0 else x.shape[0] + start
    tokens = tokens.type(x.dtype).expand(x.shape[1], -1, -1).permute(1, 0, 2)
    return torch.cat([x[:start], tokens, x[start + tokens.shape[0]:]], dim=0)


def deep_prompt_hook(deep_prompts: Sequence[torch.Tensor], start: int) -> Optional[BlockHook]:
    """``before_block`` that puts ``deep_prompts[k - 1]`` at ``start`` in the input of block k."""
    if not deep_prompts:
        return None

    def before_block(index: int, x: torch.Tensor) -> torch.Tensor:
        if 1 <= index <= len(deep_prompts):
            return replace_tokens(x, deep_prompts[index - 1], start)
        return x

    return before_block


class PromptedImageEncoder(nn.Module):
    """CLIP's ViT image encoder with prompt tokens; without them, exactly ``clip_model.visual``.

    It holds the ViT's own modules under the ViT's names, so parameter names read as the
    references' ``image_encoder.*``.
    """

    def __init__(self, clip_model: CLIP):
        super().__init__()
        visual = clip_model.visual
        self.conv1 = visual.conv1
        self.class_embedding = visual.class_embedding
        self.positional_embedding = visual.positional_embedding
        self.ln_pre = visual.ln_pre
        self.transformer = visual.transformer
        self.ln_post = visual.ln_post
        self.proj = visual.proj
        self.input_resolution = visual.input_resolution
        self.dtype = clip_model.dtype

    def forward(self, image: torch.Tensor, prompts: Optional[torch.Tensor] = None,
                deep_prompts: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """Images [B, 3, H, W] -> features [B, embed_dim]; ``prompts`` [m, width] are appended to
        the patch tokens, ``deep_prompts`` replace them at the input of blocks 1, 2, ..."""
        x = self.conv1(image.type(self.dtype))
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # [B, grid ** 2, width]
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        if prompts is not None:
            x = torch.cat([x, prompts.type(x.dtype).expand(x.shape[0], -1, -1)], dim=1)
        elif deep_prompts:
            raise ValueError("deep vision prompts need first-layer vision prompts to replace")
        x = self.ln_pre(x).permute(1, 0, 2)  # NLD -> LND
        before_block = deep_prompt_hook(deep_prompts, -prompts.shape[-2]) if prompts is not None else None
        for index, block in enumerate(self.transformer.resblocks):
            if before_block is not None:
                x = before_block(index, x)
            x = block(x)
        x = self.ln_post(x.permute(1, 0, 2)[:, 0, :])
        return x @ self.proj


def unit(features: torch.Tensor) -> torch.Tensor:
    return features / features.norm(dim=-1, keepdim=True)


class DeepPromptCLIP(nn.Module):
    """CLIP whose towers take a prompt learner's ``DeepPrompts`` (the references' ``CustomCLIP``)."""

    def __init__(self, prompt_learner: "DeepPromptLearner", clip_model: CLIP, shared_prefix: bool = True):
        super().__init__()
        self.prompt_learner = prompt_learner
        self.tokenized_prompts = prompt_learner.tokenized_prompts
        self.image_encoder = PromptedImageEncoder(clip_model)
        self.text_encoder = TextEncoder(clip_model)
        self.text_features_out = FeatureTap()
        self.logit_scale = clip_model.logit_scale
        self.dtype = clip_model.dtype
        self.fixed: Optional[Tuple[DeepPrompts, torch.Tensor]] = None  # (prompts, text features) in evaluation
        # MODEL.SHARED_PREFIX: SOS, the context (where the deep text prompts go) and any common
        # words after it are encoded once, each class's rest against them (0: full sequences).
        self.prefix_length = common_prefix_length(self.tokenized_prompts) if shared_prefix else 0
        self.suffix_eot = self.tokenized_prompts.argmax(dim=-1) - self.prefix_length

    def encode_text(self, prompts: DeepPrompts) -> torch.Tensor:
        """Unit-norm text features of every class [n_cls, embed_dim] (trimmed sequences)."""
        hook = deep_prompt_hook(prompts.text_deep, 1)
        if self.prefix_length:
            prefix, suffix = prompts.text[:1, : self.prefix_length], prompts.text[:, self.prefix_length :]
            features = encode_with_prefix(self.text_encoder, prefix, suffix, self.suffix_eot, hook)[0]
        else:
            features = self.text_encoder(prompts.text, self.tokenized_prompts, before_block=hook)
        return unit(self.text_features_out(features))

    def encode_image(self, image: torch.Tensor, prompts: Optional[DeepPrompts] = None) -> torch.Tensor:
        """Unit-norm image features [B, embed_dim]; without prompts, frozen CLIP's."""
        if prompts is None:
            return unit(self.image_encoder(image))
        return unit(self.image_encoder(image, prompts.vision, prompts.vision_deep))

    def features(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Unit-norm (image features [B, D], class text features [C, D]) under the learned prompts."""
        if self.fixed is None:
            prompts = self.prompt_learner()
            text_features = self.encode_text(prompts)
        else:
            prompts, text_features = self.fixed
        return self.encode_image(image, prompts), text_features

    def logits(self, image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        return self.logit_scale.exp() * image_features @ text_features.t()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.logits(*self.features(image))

    @contextlib.contextmanager
    def prompts_fixed(self) -> Iterator[None]:
        """Compute the prompts and the class text features once, reuse them until the block ends."""
        with torch.no_grad():
            prompts = self.prompt_learner()
            self.fixed = (prompts, self.encode_text(prompts))
        try:
            yield
        finally:
            self.fixed = None


# ---------------------------------------------------------------------------------------------
# Prompt learners
# ---------------------------------------------------------------------------------------------
def leading_words_context(clip_model: CLIP, ctx_init: str, n_ctx: int) -> Tuple[torch.Tensor, str]:
    """The first-layer text context and the prompt text around it, as MaPLe, IVLP and PromptSRC
    start: with CTX_INIT and N_CTX <= 4, the embeddings of CTX_INIT's first N_CTX tokens, while the
    prompt keeps every word ("a photo of a" and N_CTX 2: "a photo" is learned, "of a" stays
    fixed); otherwise N_CTX vectors from N(0, 0.02^2) and the prompt "X X ... X"."""
    if n_ctx < 1:
        raise ValueError(f"the number of text context tokens must be >= 1, got {n_ctx}")
    if ctx_init and n_ctx <= MAX_INIT_TOKENS:
        text = ctx_init.replace("_", " ")
        tokens = tokenize(clip_model, text, for_prompt=True)
        n_tokens = int(tokens.argmax(dim=-1)) - 1  # between SOS and EOT
        if n_ctx > n_tokens:
            raise ValueError(f'CTX_INIT "{text}" has {n_tokens} tokens, fewer than the {n_ctx} context tokens asked for')
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokens).type(clip_model.dtype)
        return embedding[0, 1 : 1 + n_ctx, :], text
    if ctx_init:
        print(f"Note: CTX_INIT is used only with at most {MAX_INIT_TOKENS} context tokens; "
              f"initialising {n_ctx} at random, as the reference does")
    ctx_vectors = torch.empty(n_ctx, text_width(clip_model), dtype=clip_model.dtype)
    nn.init.normal_(ctx_vectors, std=0.02)
    return ctx_vectors, " ".join(["X"] * n_ctx)


def random_prompts(count: int, n_tokens: int, width: int) -> nn.ParameterList:
    """``count`` learnable prompts [n_tokens, width] from N(0, 0.02^2), drawn in order."""
    prompts = nn.ParameterList([nn.Parameter(torch.empty(n_tokens, width)) for _ in range(count)])
    for prompt in prompts:
        nn.init.normal_(prompt, std=0.02)
    return prompts


class DeepPromptLearner(nn.Module):
    """The first-layer text context and the frozen class-name tokens around it. A method adds
    its deeper prompts, returns them from ``forward`` and, where its reference saves them under
    other names, maps its names to those (``reference_keys``)."""

    def __init__(self, clip_model: CLIP, classnames: Sequence[str], n_ctx: int, ctx_init: str):
        super().__init__()
        ctx_vectors, prompt_prefix = leading_words_context(clip_model, ctx_init, n_ctx)
        print(f'Initial context: "{prompt_prefix}"')
        print(f"Number of context words (tokens): {n_ctx}")
        self.ctx = nn.Parameter(ctx_vectors)
        prompts = class_prompts(clip_model, prompt_prefix, classnames)
        # Saved (the references' format) but never loaded: they hold the current class names.
        self.register_buffer("token_prefix", prompts.embedding[:, :1, :])  # SOS
        self.register_buffer("token_suffix", prompts.embedding[:, 1 + n_ctx :, :])  # rest, class, ".", EOT
        self.n_cls = len(classnames)
        self.n_ctx = n_ctx
        self.tokenized_prompts = prompts.tokens
        self.name_lens = prompts.name_lens

    def text_prompts(self) -> torch.Tensor:
        """First-layer prompt embeddings [n_cls, 77, d]: SOS, the context, the rest of the prompt."""
        ctx = self.ctx.unsqueeze(0).expand(self.n_cls, -1, -1)
        return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)

    def forward(self) -> DeepPrompts:
        raise NotImplementedError

    def reference_keys(self) -> Dict[str, str]:
        """{own state-dict key: the reference checkpoint's key} where the two differ."""
        return {}


class ReferenceCheckpoint(nn.Module):
    """What a deep-prompting trainer optimises, registers and saves: its prompt learner, whose
    state dict reads as the reference's ``CustomCLIP`` one (``prompt_learner.ctx`` ...). Loading
    takes either naming of the keys; keys of the reference's frozen CLIP weights are unexpected
    and ignored by ``load_prompt_checkpoints`` (it loads with ``strict=False``)."""

    def __init__(self, prompt_learner: DeepPromptLearner):
        super().__init__()
        self.prompt_learner = prompt_learner
        self.renames = {f"prompt_learner.{own}": ref for own, ref in prompt_learner.reference_keys().items()}
        self.inverse = {ref: own for own, ref in self.renames.items()}

    def state_dict(self, *args, **kwargs):
        state = super().state_dict(*args, **kwargs)
        return type(state)((self.renames.get(key, key), value) for key, value in state.items())

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        own = {self.inverse.get(key, key): value for key, value in state_dict.items()}
        return super().load_state_dict(own, strict=strict, assign=assign)


# ---------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------
class DeepPromptTrainer(PromptTrainer):
    """``PromptTrainer`` for deep prompts: a method implements ``build_prompt_learner`` and sets
    ``config_node`` and ``model_name`` (the reference's registered name, the checkpoint folder)."""

    def build_prompt_learner(self, cfg, classnames: Sequence[str], clip_model: CLIP) -> DeepPromptLearner:
        raise NotImplementedError

    def build_clip(self, cfg, classnames, clip_model):
        require_vision_transformer(clip_model, type(self).__name__)
        model = DeepPromptCLIP(self.build_prompt_learner(cfg, classnames, clip_model), clip_model, shared_prefix_enabled(cfg, clip_model))
        self.checkpoint_module = ReferenceCheckpoint(model.prompt_learner)
        return model

    def learned_module(self) -> nn.Module:
        return self.checkpoint_module

    def evaluation_context(self):
        """The prompts do not change during evaluation: build them and the text features once."""
        return self.model.prompts_fixed()

    @classmethod
    def plugin_hooks(cls):
        return {"context": FirstLayerContext}


class FirstLayerContext:
    """How PLPP reads a deep-prompting host (MaPLe, IVLP, PromptSRC), the "context" hook they offer
    plug-in trainers (trainers/plugins.py): it scores the first-layer text context, the one prompt in the token-embedding space (deep prompts and vision prompts are not
    words), with the states of the host's own prompted text pass. Attention is causal, so the
    states up to p_M are the same in every class sequence and are read from the first."""

    def perplexity_inputs(self, states: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        ctx = self.model.prompt_learner.ctx.unsqueeze(0)
        return ctx, self.lm_head_states(states[0][:1], ctx.shape[1])
