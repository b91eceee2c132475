"""Read a learned prompt: the nearest vocabulary words of each context vector and the prompt's
perplexity under CLIP's training-free LM head (the quantity PLPP regularises).

    python -m toolkit.interpret output/.../prompt_learner/model.pth.tar-50 --backbone ViT-B/16
    CLIP_CHECKPOINT=/path/to/ViT-B-16.pt python -m toolkit.interpret CKPT --topk 5

Works for checkpoints of CoOp and PLPP (and of the reference CoOp repository): only ``ctx`` is read.
"""
import argparse
import sys
from typing import List, Optional, Sequence

import torch
from torch.nn import functional as F
from yacs.config import CfgNode as CN

from trainers.plpp import PerplexityRegularizer, captured_outputs  # importing trainers selects the engine
from trainers.backbone import TextEncoder, load_clip_to_cpu, tokenizer

from dassl.utils import load_checkpoint  # noqa: E402  (after the engine choice)


def context_states(clip_model, ctx: torch.Tensor) -> torch.Tensor:
    """Final hidden states at SOS, p_1 ... p_{M-1} of "[SOS] p_1 ... p_M" [S, M, d]."""
    n_seq, n_ctx, _ = ctx.shape
    sos = clip_model.token_embedding(torch.full((n_seq, 1), tokenizer.encoder["<|startoftext|>"]))
    tokens = torch.zeros(n_seq, n_ctx + 2, dtype=torch.long)
    tokens[:, -1] = 1  # the text encoder reads its output at the argmax; the position is irrelevant here
    sequence = torch.cat([sos.type(ctx.dtype), ctx, torch.zeros_like(sos).type(ctx.dtype)], dim=1)
    encoder = TextEncoder(clip_model)
    with captured_outputs(encoder.ln_final) as states:
        encoder(sequence, tokens, trim=False)
    return states[0][:, :n_ctx]


def nearest_words(ctx: torch.Tensor, embedding: torch.Tensor, topk: int) -> List[List[List[tuple]]]:
    """Per sequence and position, the ``topk`` (word, cosine similarity) pairs."""
    sim = F.normalize(ctx.float(), dim=-1) @ F.normalize(embedding.float(), dim=-1).t()
    values, ids = sim.topk(topk, dim=-1)
    decode = lambda i: tokenizer.decoder[int(i)].replace("</w>", "")  # noqa: E731
    return [[[(decode(i), float(v)) for i, v in zip(pos_ids, pos_vals)] for pos_ids, pos_vals in zip(seq_ids, seq_vals)]
            for seq_ids, seq_vals in zip(ids, values)]


def interpret(checkpoint_path: str, backbone: str, topk: int) -> None:
    ctx = load_checkpoint(checkpoint_path)["state_dict"]["ctx"].float()
    if ctx.dim() == 2:
        ctx = ctx.unsqueeze(0)
    cfg = CN()
    cfg.MODEL = CN()
    cfg.MODEL.BACKBONE = CN()
    cfg.MODEL.BACKBONE.NAME = backbone
    cfg.MODEL.BACKBONE.PATH = ""
    clip_model = load_clip_to_cpu(cfg).float()
    if ctx.shape[-1] != clip_model.token_embedding.weight.shape[1]:
        raise ValueError(
            f"The context has width {ctx.shape[-1]} but the CLIP text encoder has "
            f"{clip_model.token_embedding.weight.shape[1]}: pass the backbone the prompt was trained with"
        )
    embedding = clip_model.token_embedding.weight.detach()
    with torch.no_grad():
        states = context_states(clip_model, ctx)
        perplexity = PerplexityRegularizer(embedding).perplexity(ctx, states)
        words = nearest_words(ctx, embedding, topk)

    kind = "class-specific contexts" if ctx.shape[0] > 1 else "a unified context"
    print(f"{checkpoint_path}: {kind}, {ctx.shape[1]} vectors of width {ctx.shape[2]}")
    for s, sequence in enumerate(words):
        if len(words) > 1:
            print(f"class {s}:")
        print("  nearest words: " + " ".join(position[0][0] for position in sequence))
        for t, position in enumerate(sequence):
            print(f"  p{t + 1:<3d}" + "  ".join(f"{word} ({sim:.3f})" for word, sim in position))
    print(f"perplexity under CLIP's LM head: {perplexity:.1f} (vocabulary {embedding.shape[0]}; lower reads more like language)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a prompt_learner checkpoint, e.g. .../prompt_learner/model.pth.tar-50")
    parser.add_argument("--backbone", default="ViT-B/16", help="CLIP backbone the prompt was trained with")
    parser.add_argument("--topk", type=int, default=3, help="nearest words shown per context vector")
    args = parser.parse_args(argv)
    try:
        interpret(args.checkpoint, args.backbone, args.topk)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
