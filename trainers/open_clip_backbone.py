"""open_clip backbones (LAION, DataComp, MetaCLIP, DFN, EVA, SigLIP ...) behind OpenAI CLIP's interface.

Which model and weights: ``trainers/open_clip_weights.py``. The methods were written against
``clip.model.CLIP``; ``OpenCLIPBackbone`` presents an open_clip model under its attribute names
(``token_embedding``, ``positional_embedding``, ``transformer``, ``attn_mask``, ``ln_final``,
``text_projection``, ``visual`` with its blocks, ``logit_scale``, ``dtype``, ``encode_image``)
plus what the shared code asks it for: ``tokenize`` and ``count_tokens`` (open_clip's tokenizer)
and ``text_encoder_class``. open_clip runs its blocks batch-first, OpenAI's sequence-first
([L, N, d]); the adapter flips the layout flags of open_clip's attention (the only
layout-dependent part of a block), so its blocks take [L, N, d] like OpenAI's while open_clip's
own forward still works.

Text towers: CLIP-style ones (causal mask, EOT pooling by argmax, projection matrix) run through
the shared ``TextEncoder`` unchanged. Others (SigLIP: bidirectional attention, last-token pooling,
a projection with bias) run through ``FullSequenceTextEncoder``, which always computes the whole
sequence. A method that cannot use a tower is refused with one line (``refuse_unsupported``).
"""
from typing import Optional

import torch
import torch.nn as nn

from .backbone import TextEncoder
from .open_clip_weights import SCHEMAS, hub_offline, one_line, resolve


# ---------------------------------------------------------------------------------------------
# Loading, and the adapter
# ---------------------------------------------------------------------------------------------
def load_open_clip(cfg) -> "OpenCLIPBackbone":
    """The configured open_clip model on the CPU, behind the adapter. Its weights stay as stored
    (fp32 for most open_clip releases, where OpenAI's are fp16): an fp32 run uses them exactly,
    and an fp16 run converts them (``prepare_backbone``). Patch dropout is off: the towers are frozen."""
    import open_clip

    source = resolve(cfg)
    # OpenAI's released files are TorchScript archives, which torch.load reads only with
    # weights_only=False (the clip package reads them with torch.jit.load, the same trust).
    with hub_offline():  # resolve() has put every file in the cache: never wait for the network
        model = open_clip.create_model(source.name, pretrained=None if source.name.startswith(SCHEMAS) else source.weights,
                                       precision="fp32", device="cpu", force_patch_dropout=0.0,
                                       weights_only=not is_torchscript_archive(source.weights))
        if source.name.startswith(SCHEMAS) and cfg.MODEL.BACKBONE.get("PATH", ""):
            open_clip.load_checkpoint(model, source.weights, weights_only=not is_torchscript_archive(source.weights))
        try:
            tokenizer = open_clip.get_tokenizer(source.name)
        except Exception as e:
            raise ValueError(
                f"{cfg.MODEL.BACKBONE.NAME}: its tokenizer cannot be built ({one_line(e)}); SigLIP-family tokenizers "
                "need `pip install transformers sentencepiece` and their files in the Hugging Face cache (run once online)"
            ) from None
    return OpenCLIPBackbone(model.eval(), tokenizer, f"{cfg.MODEL.BACKBONE.NAME} ({source.pretrained or 'hub'})",
                            source.preprocess["size"], source.model_cfg.get("embed_dim"))


def is_torchscript_archive(path: str) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def sequence_first(transformer: nn.Module, tower: str) -> nn.Module:
    """open_clip's ``Transformer`` whose blocks take [L, N, d] as OpenAI's do (its own forward
    still takes [N, L, d]): only ``nn.MultiheadAttention`` depends on the layout."""
    from open_clip.transformer import ResidualAttentionBlock

    for block in transformer.resblocks:
        if not isinstance(block, ResidualAttentionBlock):
            raise ValueError(f"the {tower} tower's blocks are {type(block).__name__}, not open_clip's ResidualAttentionBlock: "
                             "prompts cannot enter them")
        block.attn.batch_first = False
    transformer.batch_first = False
    return transformer


class OpenCLIPBackbone(nn.Module):
    """An open_clip model under ``clip.model.CLIP``'s attribute names (module docstring)."""

    def __init__(self, model: nn.Module, tokenizer, description: str, image_size, embed_dim: Optional[int]):
        super().__init__()
        text = getattr(model, "text", model)  # CustomTextCLIP (SigLIP, EVA) keeps its text tower in .text
        if not hasattr(text, "token_embedding") or getattr(text, "cls_emb", None) is not None:
            raise ValueError(f"{description}: its text tower ({type(text).__name__}) is not a CLIP-style token "
                             "transformer (Hugging Face text towers and CoCa are not supported)")
        self.description = description
        self.visual = model.visual
        self.token_embedding = text.token_embedding
        self.positional_embedding = text.positional_embedding
        self.transformer = sequence_first(text.transformer, "text")
        self.ln_final = text.ln_final
        self.text_projection = text.text_projection
        self.logit_scale = model.logit_scale
        self.logit_bias = model.logit_bias  # SigLIP's; None for CLIP-style models
        self.text_pool_type = getattr(text, "text_pool_type", None) or text.pool_type
        self.eos_id = getattr(text, "text_eos_id", getattr(text, "eos_id", None))
        self.causal = text.attn_mask is not None
        self.pad_mask = text._build_additive_mask if getattr(text, "use_pad_mask", False) else None
        self.register_buffer("attn_mask", text.attn_mask, persistent=False)
        self.tokenizer = tokenizer
        size = image_size if isinstance(image_size, int) else image_size[0]
        self.visual.input_resolution = size
        if not hasattr(self.visual, "output_dim"):
            self.visual.output_dim = embed_dim
        self.promptable_vision = self._promptable_vision()
        if self.promptable_vision:
            sequence_first(self.visual.transformer, "image")

    def _promptable_vision(self) -> bool:
        """Whether deep prompts can enter the image tower: open_clip's own ViT, pooling its class token."""
        from open_clip.transformer import ResidualAttentionBlock, VisionTransformer

        visual = self.visual
        return (isinstance(visual, VisionTransformer) and visual.pool_type == "tok" and visual.attn_pool is None
                and visual.proj is not None and all(isinstance(b, ResidualAttentionBlock) for b in visual.transformer.resblocks))

    @property
    def clip_style_text(self) -> bool:
        """Causal attention, EOT pooling by argmax, projection matrix: the shared TextEncoder's case."""
        return self.causal and self.text_pool_type == "argmax" and isinstance(self.text_projection, nn.Parameter) and self.pad_mask is None

    @property
    def text_encoder_class(self) -> type:
        return TextEncoder if self.clip_style_text else FullSequenceTextEncoder

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.resblocks[0].mlp.c_fc.weight.dtype

    def to_fp16(self) -> None:
        """fp16 weights with LayerNorms computing in fp32, as open_clip's own "fp16" precision and
        ``clip.build_model`` give them (embeddings stay fp32 there too)."""
        from open_clip.model import convert_weights_to_lp
        from open_clip.transformer import LayerNorm, LayerNormFp32

        for module in self.modules():
            if type(module) is LayerNorm:
                module.__class__ = LayerNormFp32  # same parameters; computes in fp32, returns the input's dtype
        if not self.promptable_vision and not hasattr(self.visual, "conv1"):
            self.visual.half()  # timm towers: open_clip's fp16 converts the whole tower too
        convert_weights_to_lp(self)
        if isinstance(self.text_projection, nn.Parameter):
            self.text_projection.data = self.text_projection.data.half()

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)

    def tokenize(self, texts, for_prompt: bool = False) -> torch.Tensor:
        """Token ids [N, context length] from open_clip's tokenizer for this model.

        ``for_prompt``: CoOp-family prompts keep position 0 frozen (OpenAI's start token) and put
        their context right after it. SigLIP's tokenizers write no start token, so there the pad
        token is put in front (and the last, padding, position dropped); zero-shot prompts stay
        exactly as open_clip tokenizes them.
        """
        tokens = self.tokenizer([texts] if isinstance(texts, str) else list(texts))
        inner = getattr(self.tokenizer, "tokenizer", None)  # open_clip's HFTokenizer wraps a transformers one
        if not for_prompt or inner is None:
            return tokens
        probe = inner.encode("a", add_special_tokens=False)
        if inner.encode("a")[: len(probe)] != probe:  # a start token comes first already
            return tokens
        pad = inner.pad_token_id if inner.pad_token_id is not None else 0
        return torch.cat([torch.full_like(tokens[:, :1], pad), tokens[:, :-1]], dim=1)

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes inside a prompt (no start or end token)."""
        inner = getattr(self.tokenizer, "tokenizer", None)  # open_clip's HFTokenizer wraps a transformers one
        if inner is not None:
            return len(inner.encode(text, add_special_tokens=False))
        return len(self.tokenizer.encode(text))


class FullSequenceTextEncoder(TextEncoder):
    """A text tower that is not CLIP-style (SigLIP: bidirectional attention, last-token pooling,
    projection with bias): every sequence runs at its full context length, since with
    bidirectional attention the padding changes every feature. Prompts shorter than that (CoCoOp
    trims them) are completed with the embeddings of their own remaining token ids."""

    def __init__(self, clip_model: OpenCLIPBackbone):
        super().__init__(clip_model)
        self.token_embedding = clip_model.token_embedding
        self.pool_type, self.eos_id, self.pad_mask = clip_model.text_pool_type, clip_model.eos_id, clip_model.pad_mask
        self.register_buffer("attn_mask", clip_model.attn_mask, persistent=False)

    def forward(self, prompts: torch.Tensor, tokenized_prompts: torch.Tensor, trim: bool = True,
                before_block=None) -> torch.Tensor:
        from open_clip.transformer import text_global_pool

        length = self.positional_embedding.shape[0]
        tokenized_prompts = tokenized_prompts.to(prompts.device)
        if prompts.shape[1] < length:
            rest = self.token_embedding(tokenized_prompts[:, prompts.shape[1]:]).type(self.dtype)
            prompts = torch.cat([prompts, rest], dim=1)
        x = (prompts + self.positional_embedding.type(self.dtype)).permute(1, 0, 2)  # NLD -> LND
        mask = self.attn_mask
        if self.pad_mask is not None:
            pad = self.pad_mask(tokenized_prompts, length, x.dtype)
            mask = pad if mask is None else mask.unsqueeze(0) + pad
        for index, block in enumerate(self.transformer.resblocks):
            if before_block is not None:
                x = before_block(index, x)
            x = block(x, attn_mask=mask)
        x = self.ln_final(x.permute(1, 0, 2)).type(self.dtype)
        pooled = text_global_pool(x, tokenized_prompts, self.pool_type, eos_token_id=self.eos_id)
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(pooled)
        return pooled if self.text_projection is None else pooled @ self.text_projection


# ---------------------------------------------------------------------------------------------
# What a method cannot use
# ---------------------------------------------------------------------------------------------
def prepare_backbone(trainer, clip_model: nn.Module) -> None:
    """For an open_clip model: one line when ``trainer``'s method cannot use its towers, and fp16
    weights when the run's precision is fp16. Nothing for OpenAI's CLIP."""
    if not isinstance(clip_model, OpenCLIPBackbone):
        return
    refuse_unsupported(trainer, clip_model)
    if trainer.precision == "fp16":
        clip_model.to_fp16()


def refuse_unsupported(trainer, clip_model: "OpenCLIPBackbone") -> None:
    """One line when ``trainer``'s method cannot run on this open_clip model."""
    method, model = type(trainer).__name__, clip_model.description
    from .deep_prompting import DeepPromptTrainer
    from .plpp import PerplexityRegularized

    if isinstance(trainer, DeepPromptTrainer) and not (clip_model.promptable_vision and clip_model.clip_style_text):
        raise ValueError(
            f"{method} cannot run on {model}: its deep prompts enter both towers' transformer blocks, and this model's "
            f"image tower ({type(clip_model.visual).__name__}) or text tower is not open_clip's CLIP-style ViT "
            "(timm, ResNet and SigLIP towers are not); use CoOp, CoCoOp or KgCoOp there, or a ViT CLIP model"
        )
    plpp = trainer.cfg.TRAINER.get("PLPP")
    if isinstance(trainer, PerplexityRegularized) and plpp is not None and not clip_model.causal \
            and (plpp.PPL_WEIGHT or plpp.INV_WEIGHT) and plpp.ALIGN == "next":
        raise ValueError(
            f"{method} cannot run on {model}: PLPP's next-token reading needs a causal text tower and this one's "
            "attention is bidirectional (SigLIP); set TRAINER.PLPP.ALIGN same, or train the host method without PLPP"
        )

