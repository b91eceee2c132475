"""CoCoOp: Conditional Context Optimization (Zhou et al., "Conditional Prompt Learning for
Vision-Language Models", CVPR 2022, arXiv 2203.05557).

CoOp's learned context plus a small meta-network on each image's features whose output shifts
every context vector: the prompt "[SOS] p_1+pi(x) ... p_M+pi(x) [class name] . [EOS]" depends on
the image, so every image needs its own text features for every class. Names follow the
reference (``prompt_learner.ctx``, ``prompt_learner.meta_net.linear1/linear2``, ``token_prefix``,
``token_suffix``; registered model ``prompt_learner``), so checkpoints move both ways between this
repository and KaiyangZhou/CoOp.

The reference's logits, cheaper: the reference encodes each image's class prompts in a Python
loop at the full 77 tokens. Here the batch x classes sequences are encoded together, trimmed to
the longest EOT position (the text transformer is causal), in chunks whose activations fit
``TRAINER.COCOOP.TEXT_MEMORY_MB``; when training needs more than that, each chunk recomputes its
activations in the backward pass instead of keeping them, so 1000 classes fit.
"""
from collections import OrderedDict
from typing import List, Tuple

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from dassl.engine import TRAINER_REGISTRY

from .backbone import PromptedCLIP
from .plpp import captured_outputs
from .prefix_encoding import common_prefix_length, encode_prefix, encode_suffixes, shared_prefix_enabled
from .prompting import PromptTrainer, class_prompts, initial_context

PLPP_CONTEXTS = ("shifted", "shared")

# Activation values held per token position, in units of the text width, per transformer layer:
# kept for the backward pass (measured with frozen weights: about 19 in fp32), or alive at once
# in a forward pass without gradients. Attention adds heads x length values per token.
TRAINING_VALUES_PER_TOKEN = 20
INFERENCE_VALUES_PER_TOKEN = 16


def extend_cfg(cfg) -> None:
    """Add CoCoOp's config node ``TRAINER.COCOOP`` (the reference's keys and defaults, plus two
    documented keys of ours)."""
    from yacs.config import CfgNode as CN

    cfg.TRAINER.COCOOP = CN()
    cfg.TRAINER.COCOOP.N_CTX = 16  # number of context vectors
    cfg.TRAINER.COCOOP.CTX_INIT = ""  # initialization words, e.g. "a photo of a"
    cfg.TRAINER.COCOOP.PREC = "fp16"  # fp16, fp32, amp or bf16
    # [ours] Memory the text encoder's activations may use at once, in MiB: the batch x classes
    # sequences are encoded in chunks that fit it (training beyond it recomputes activations in
    # the backward pass). Changes speed and memory only, the numbers only by float rounding.
    cfg.TRAINER.COCOOP.TEXT_MEMORY_MB = 2048
    # [ours] CoCoOp_PLPP only: which context the perplexity regulariser scores, "shifted" (each
    # image's context p_m + pi(x)) or "shared" (the context p_m before the image shift).
    cfg.TRAINER.COCOOP.PLPP_CONTEXT = "shifted"


class PromptLearner(nn.Module):
    """The learnable context, the meta-network that shifts it per image, and the frozen token
    embeddings of the class prompts around it."""

    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        cocoop = cfg.TRAINER.COCOOP
        ctx_vectors, prompt_prefix = initial_context(clip_model, cocoop.CTX_INIT, cocoop.N_CTX)
        n_ctx, ctx_dim = ctx_vectors.shape
        print(f'Initial context: "{prompt_prefix}"')
        print(f"Number of context words (tokens): {n_ctx}")
        self.ctx = nn.Parameter(ctx_vectors)

        vis_dim = clip_model.visual.output_dim
        self.meta_net = nn.Sequential(OrderedDict([
            ("linear1", nn.Linear(vis_dim, vis_dim // 16)),
            ("relu", nn.ReLU(inplace=True)),
            ("linear2", nn.Linear(vis_dim // 16, ctx_dim)),
        ])).to(clip_model.dtype)  # fp16 with CLIP's fp16 weights (PREC fp16), as in the reference

        prompts = class_prompts(clip_model, prompt_prefix, classnames)
        # Saved with the checkpoint (the reference format) but skipped when loading, so that a
        # prompt trained on some classes can be evaluated on others.
        self.register_buffer("token_prefix", prompts.embedding[:, :1, :])  # SOS
        self.register_buffer("token_suffix", prompts.embedding[:, 1 + n_ctx :, :])  # class name, ".", EOS

        self.n_cls = len(classnames)
        self.n_ctx = n_ctx
        self.tokenized_prompts = prompts.tokens
        self.name_lens = prompts.name_lens

    def shifted_context(self, im_features: torch.Tensor) -> torch.Tensor:
        """Each image's context, ctx + meta_net(image features): [batch, n_ctx, d]."""
        return self.ctx.unsqueeze(0) + self.meta_net(im_features).unsqueeze(1)

    def forward(self, im_features: torch.Tensor) -> torch.Tensor:
        """Every image's 77-token class prompts [batch, n_cls, 77, d], as the reference builds them."""
        ctx = self.shifted_context(im_features)
        n_batch = ctx.shape[0]
        return torch.cat([
            self.token_prefix.expand(n_batch, -1, -1, -1),
            ctx.unsqueeze(1).expand(-1, self.n_cls, -1, -1),
            self.token_suffix.expand(n_batch, -1, -1, -1),
        ], dim=2)


class CustomCLIP(PromptedCLIP):
    """CLIP whose class text features come from the image-conditioned prompts."""

    def __init__(self, cfg, classnames, clip_model):
        super().__init__(PromptLearner(cfg, classnames, clip_model), clip_model)
        self.text_memory_bytes = cfg.TRAINER.COCOOP.TEXT_MEMORY_MB * 2**20
        eot = self.tokenized_prompts.argmax(dim=-1)
        self.prompt_length = int(eot.max()) + 1  # every class prompt ends before this position
        # MODEL.SHARED_PREFIX: "[SOS] p_1+pi(x) ... p_M+pi(x)" (and common words after it) is
        # encoded once per image, each class's rest against it (0: full sequences).
        self.prefix_length = common_prefix_length(self.tokenized_prompts) if shared_prefix_enabled(cfg, clip_model) else 0
        self.suffix_eot = eot - self.prefix_length

    def logits(self, image_features: torch.Tensor) -> torch.Tensor:
        """Logits [batch, n_cls] of unit-norm image features: the meta-network reads only these,
        so evaluation can start from cached ones (trainers/feature_cache.py)."""
        text_features = self.encode_text(self.prompt_learner.shifted_context(image_features))
        return self.logit_scale.exp() * torch.einsum("bd,bcd->bc", image_features, text_features)

    def forward_per_image(self, image: torch.Tensor) -> torch.Tensor:
        """The reference's computation of the same logits: one image at a time, every class
        prompt at the full 77 tokens. Not used to train or evaluate; the oracle of the tests and
        the baseline of ``benchmarks/cocoop.py``."""
        image_features = self.encode_image(image)
        logits = []
        for prompts, features in zip(self.prompt_learner(image_features), image_features):
            text_features = self.text_encoder(prompts, self.tokenized_prompts, trim=False)
            text_features = text_features / text_features.norm(dim=-1, keepdim=True)
            logits.append(self.logit_scale.exp() * features @ text_features.t())
        return torch.stack(logits)

    # ---- the batch x classes text encoding ---------------------------------------------------

    def encode_text(self, ctx: torch.Tensor) -> torch.Tensor:
        """Unit-norm text features [batch, n_cls, embed_dim] of every image's class prompts,
        given each image's context ctx [batch, n_ctx, d]."""
        if self.prefix_length:
            features = self.encode_with_shared_prefix(ctx)
        else:
            n_sequences = ctx.shape[0] * self.prompt_learner.n_cls
            chunk = self.sequences_per_chunk(self.training_pass(ctx))
            features = self.in_chunks(self.encode_sequences, ctx, [(start, min(start + chunk, n_sequences))
                                                                  for start in range(0, n_sequences, chunk)])
            features = torch.cat(features).view(ctx.shape[0], self.prompt_learner.n_cls, -1)
        features = self.text_features_out(features)
        return features / features.norm(dim=-1, keepdim=True)

    @staticmethod
    def training_pass(ctx: torch.Tensor) -> bool:
        return torch.is_grad_enabled() and ctx.requires_grad

    def in_chunks(self, encode, ctx: torch.Tensor, chunks: List[tuple]) -> List[torch.Tensor]:
        """``encode(ctx, *chunk)`` for every chunk; in training with several chunks each keeps only
        its output and recomputes its activations in the backward pass."""
        if self.training_pass(ctx) and len(chunks) > 1:
            return [checkpoint(encode, ctx, *chunk, use_reentrant=False) for chunk in chunks]
        return [encode(ctx, *chunk) for chunk in chunks]

    def encode_with_shared_prefix(self, ctx: torch.Tensor) -> torch.Tensor:
        """``encode_text``'s features [batch, n_cls, embed_dim], unnormalised: each image's prefix
        encoded once, then blocks of (images, classes) suffixes against it."""
        learner = self.prompt_learner
        n_images, n_cls = ctx.shape[0], learner.n_cls
        fixed = self.prefix_length - 1 - learner.n_ctx  # common words after the context
        prefix = torch.cat([learner.token_prefix[:1].expand(n_images, -1, -1), ctx,
                            learner.token_suffix[:1, :fixed].expand(n_images, -1, -1)], dim=1)
        states = encode_prefix(self.text_encoder, prefix)
        suffix_length = int(self.suffix_eot.max()) + 1
        chunk = self.sequences_per_chunk(self.training_pass(ctx), suffix_length, self.prefix_length + suffix_length)
        classes = min(n_cls, chunk)
        images = max(1, chunk // classes)
        blocks = [(i, min(i + images, n_images), c, min(c + classes, n_cls))
                  for i in range(0, n_images, images) for c in range(0, n_cls, classes)]

        def encode_block(_ctx, image_start, image_end, class_start, class_end):  # the prefix states carry ctx
            suffix = learner.token_suffix[class_start:class_end, fixed : fixed + suffix_length]
            return encode_suffixes(self.text_encoder, states.select(image_start, image_end), suffix,
                                   self.suffix_eot[class_start:class_end])

        features = self.in_chunks(encode_block, ctx, blocks)
        per_row = len(range(0, n_cls, classes))
        return torch.cat([torch.cat(features[k : k + per_row], dim=1) for k in range(0, len(features), per_row)])

    def encode_sequences(self, ctx: torch.Tensor, start: int, end: int) -> torch.Tensor:
        """Text features of the prompts start..end-1 of the image-major (image, class) order."""
        learner = self.prompt_learner
        index = torch.arange(start, end, device=ctx.device)
        image, cls = index // learner.n_cls, index % learner.n_cls
        suffix = learner.token_suffix[:, : self.prompt_length - 1 - learner.n_ctx]
        prompts = torch.cat([learner.token_prefix[cls], ctx[image], suffix[cls]], dim=1)
        return self.text_encoder(prompts, self.tokenized_prompts[cls.cpu()])

    def sequences_per_chunk(self, training: bool, length: int = 0, keys: int = 0) -> int:
        """How many prompts fit ``TEXT_MEMORY_MB`` at once (with or without the backward pass),
        each computing ``length`` positions that attend to up to ``keys`` (default: the prompt)."""
        length, keys = length or self.prompt_length, keys or self.prompt_length
        resblock = self.text_encoder.transformer.resblocks[0]
        width, heads = resblock.attn.embed_dim, resblock.attn.num_heads
        device = self.text_encoder.positional_embedding.device
        half = self.dtype == torch.float16 or torch.is_autocast_enabled(device.type)
        per_token = (TRAINING_VALUES_PER_TOKEN if training else INFERENCE_VALUES_PER_TOKEN) * width + heads * keys
        layers = len(self.text_encoder.transformer.resblocks) if training else 1
        per_sequence = (2 if half else 4) * length * per_token * layers
        return max(1, self.text_memory_bytes // per_sequence)


@TRAINER_REGISTRY.register()
class CoCoOp(PromptTrainer):
    """Conditional Context Optimization (CoCoOp), https://arxiv.org/abs/2203.05557."""

    config_node = "COCOOP"
    frozen_image_tower = True  # the image tower is frozen and unprompted; its features condition the text

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        if cfg.TRAINER.COCOOP.TEXT_MEMORY_MB <= 0:
            raise ValueError(f"TRAINER.COCOOP.TEXT_MEMORY_MB must be > 0 (default 2048), got {cfg.TRAINER.COCOOP.TEXT_MEMORY_MB}")

    def build_clip(self, cfg, classnames, clip_model):
        return CustomCLIP(cfg, classnames, clip_model)

    @classmethod
    def plugin_hooks(cls):
        return {"context": CoCoOpContext}


class CoCoOpContext:
    """How PLPP reads CoCoOp's context (``docs/PLPP.md``, "PLPP on CoCoOp"): the "context" hook
    CoCoOp offers plug-in trainers (``CoCoOp_PLPP``, made in trainers/plugins.py).

    ``TRAINER.COCOOP.PLPP_CONTEXT`` "shifted" (default) scores each image's context p_m + pi(x),
    the prompt CLIP reads, with its states read from the host's own pass (the first class
    sequence of each image: attention is causal); "shared" scores p_m before the shift, read from
    one extra "[SOS] p_1 ... p_M" sequence.
    """

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        if cfg.TRAINER.COCOOP.PLPP_CONTEXT not in PLPP_CONTEXTS:
            raise ValueError(
                f"TRAINER.COCOOP.PLPP_CONTEXT must be one of {', '.join(PLPP_CONTEXTS)}, got {cfg.TRAINER.COCOOP.PLPP_CONTEXT!r}"
            )

    def compute_loss(self, batch):
        plpp = self.cfg.TRAINER.PLPP
        if self.cfg.TRAINER.COCOOP.PLPP_CONTEXT == "shared" or (plpp.PPL_WEIGHT == 0 and plpp.INV_WEIGHT == 0):
            return super().compute_loss(batch)
        # The batch's image shifts pi(x), read back by perplexity_inputs (the mixin captures the states).
        with captured_outputs(self.model.prompt_learner.meta_net) as self.image_shifts:
            try:
                return super().compute_loss(batch)
            finally:
                del self.image_shifts

    def perplexity_inputs(self, states: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        learner = self.model.prompt_learner
        if self.cfg.TRAINER.COCOOP.PLPP_CONTEXT == "shared":
            ctx = learner.ctx.unsqueeze(0)
            return ctx, self.context_states(ctx)
        ctx = learner.ctx.unsqueeze(0) + self.image_shifts[0].unsqueeze(1)
        if self.model.prefix_length:  # the first pass is every image's shared prefix
            return ctx, self.lm_head_states(states[0][:, : learner.n_ctx + 1], learner.n_ctx)
        # The host encodes (image, class) image-major: every n_cls-th sequence starts a new image.
        window = torch.cat([chunk[:, : learner.n_ctx + 1] for chunk in states])[:: learner.n_cls]
        return ctx, self.lm_head_states(window, learner.n_ctx)

    def context_states(self, ctx: torch.Tensor) -> torch.Tensor:
        """The states the LM head reads for p_1 .. p_M of "[SOS] p_1 ... p_M" read on its own [S, M, d]."""
        n_seq, n_ctx = ctx.shape[:2]
        sos = self.model.prompt_learner.token_prefix[:1].expand(n_seq, -1, -1)
        tokens = torch.zeros(n_seq, 1 + n_ctx, dtype=torch.long)
        tokens[:, -1] = 1  # marks where the sequence ends: after p_M
        with captured_outputs(self.perplexity_state_module()) as context_states:
            self.model.text_encoder(torch.cat([sos, ctx], dim=1), tokens)
        return self.lm_head_states(context_states[0], n_ctx)
