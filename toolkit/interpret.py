"""Read a learned prompt: the nearest vocabulary words of each context vector, how far CLIP's
training-free LM head is from uniform over each position's candidate words, and the prompt's
perplexity under that head (the quantities PLPP regularises). Two checkpoints are shown side by
side, read the same way (e.g. CoOp's and PLPP's prompts on the same data, as the paper's table of
learned prompts).

    python -m toolkit.interpret output/.../prompt_learner/model.pth.tar-50 --backbone ViT-B/16
    python -m toolkit.interpret COOP_RUN_DIR PLPP_RUN_DIR --align same --candidates 32
    CLIP_CHECKPOINT=/path/to/ViT-B-16.pt python -m toolkit.interpret CKPT --topk 5

A finished run's folder stands for its final checkpoint. Works for checkpoints of CoOp, PLPP,
KgCoOp and the reference CoOp repository: only ``ctx`` is read,
and the context is read on its own ("[SOS] p_1 ... p_M"; the text tower is causal, so these are
the states a prompt with the class name at the end has).
"""
import argparse
import math
import os
import sys
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch.nn import functional as F
from yacs.config import CfgNode as CN

from trainers.plpp import (ALIGNMENTS, PerplexityRegularizer, aligned_states, captured_outputs,  # importing trainers selects the engine
                           no_signal_warning, signal_report)
from trainers.backbone import TextEncoder, load_clip_to_cpu, tokenizer

from dassl.utils import load_checkpoint  # noqa: E402  (after the engine choice)

Word = Tuple[str, float]  # a vocabulary word and its cosine similarity with a context vector


class Reading(NamedTuple):
    """One prompt as CLIP reads it."""

    path: str
    ctx: torch.Tensor  # [S, M, d]
    words: List[List[List[Word]]]  # per sequence and position, the nearest words
    entropy: float  # mean entropy of the LM head over each position's candidate words
    perplexity: float  # over the whole vocabulary, the nearest words as labels


class ReadSettings(NamedTuple):
    align: str  # TRAINER.PLPP.ALIGN
    candidates: int  # TRAINER.PLPP.TOPK
    tau_lm: float  # TRAINER.PLPP.TAU_LM

    def __str__(self) -> str:
        return f"ALIGN {self.align}, TOPK {self.candidates}, TAU_LM {self.tau_lm:g}"


def context_states(clip_model, ctx: torch.Tensor) -> torch.Tensor:
    """Final hidden states of "[SOS] p_1 ... p_M" from SOS on [S, M + 1, d]."""
    n_seq, n_ctx, _ = ctx.shape
    sos = clip_model.token_embedding(torch.full((n_seq, 1), tokenizer.encoder["<|startoftext|>"]))
    tokens = torch.zeros(n_seq, n_ctx + 2, dtype=torch.long)
    tokens[:, -1] = 1  # the text encoder reads its output at the argmax; the position is irrelevant here
    sequence = torch.cat([sos.type(ctx.dtype), ctx, torch.zeros_like(sos).type(ctx.dtype)], dim=1)
    encoder = TextEncoder(clip_model)
    with captured_outputs(encoder.ln_final) as states:
        encoder(sequence, tokens, trim=False)
    return states[0][:, : n_ctx + 1]


def nearest_words(ctx: torch.Tensor, embedding: torch.Tensor, topk: int) -> List[List[List[Word]]]:
    """Per sequence and position, the ``topk`` (word, cosine similarity) pairs."""
    sim = F.normalize(ctx.float(), dim=-1) @ F.normalize(embedding.float(), dim=-1).t()
    values, ids = sim.topk(topk, dim=-1)
    decode = lambda i: tokenizer.decoder[int(i)].replace("</w>", "")  # noqa: E731
    return [[[(decode(i), float(v)) for i, v in zip(pos_ids, pos_vals)] for pos_ids, pos_vals in zip(seq_ids, seq_vals)]
            for seq_ids, seq_vals in zip(ids, values)]


def prompt_checkpoint(path: str) -> str:
    """``path`` itself, or for a finished run's folder the prompt checkpoint it ended with."""
    if not os.path.isdir(path):
        return path
    from runtime.records import read_finished

    epoch = read_finished(path).get("load_epoch")
    if epoch is None:
        raise ValueError(f"{path} is not a finished training run: pass a prompt_learner/model.pth.tar-<epoch> file")
    return os.path.join(path, "prompt_learner", f"model.pth.tar-{epoch}")


def load_context(checkpoint_path: str, width: int) -> torch.Tensor:
    ctx = load_checkpoint(checkpoint_path)["state_dict"]["ctx"].float()
    if ctx.dim() == 2:
        ctx = ctx.unsqueeze(0)
    if ctx.shape[-1] != width:
        raise ValueError(f"{checkpoint_path}: the context has width {ctx.shape[-1]} but the CLIP text encoder has {width}: "
                         "pass the backbone the prompt was trained with")
    return ctx


@torch.no_grad()
def read_prompt(checkpoint_path: str, clip_model, settings: ReadSettings, topk: int) -> Reading:
    embedding = clip_model.token_embedding.weight.detach()
    ctx = load_context(checkpoint_path, embedding.shape[1])
    states = aligned_states(context_states(clip_model, ctx), ctx.shape[1], settings.align)
    regularizer = PerplexityRegularizer(embedding, topk=settings.candidates, tau_lm=settings.tau_lm)
    return Reading(checkpoint_path, ctx, nearest_words(ctx, embedding, topk), regularizer(ctx, states).entropy.item(),
                   regularizer.perplexity(ctx, states))


def print_reading(reading: Reading, candidates: int, vocabulary: int) -> None:
    ctx = reading.ctx
    kind = "class-specific contexts" if ctx.shape[0] > 1 else "a unified context"
    print(f"{reading.path}: {kind}, {ctx.shape[1]} vectors of width {ctx.shape[2]}")
    for s, sequence in enumerate(reading.words):
        if len(reading.words) > 1:
            print(f"class {s}:")
        print("  nearest words: " + " ".join(position[0][0] for position in sequence))
        for t, position in enumerate(sequence):
            print(f"  p{t + 1:<3d}" + "  ".join(f"{word} ({sim:.3f})" for word, sim in position))
    print(signal_report(reading.entropy, candidates, reading.perplexity, vocabulary))
    print(f"perplexity under CLIP's LM head: {reading.perplexity:.1f} (vocabulary {vocabulary}; lower reads more like language)")


def print_side_by_side(readings: Sequence[Reading], candidates: int, vocabulary: int) -> None:
    """Position by position, each prompt's nearest words and similarities; then the LM head's
    entropy over the candidate words and the perplexity of each. A unified context faces every
    class of a class-specific one."""
    for label, reading in zip("AB", readings):
        print(f"{label}: {reading.path}")
    n_seq = max(len(r.words) for r in readings)
    rows = [("", *"AB")]
    for s in range(n_seq):
        sequences = [r.words[min(s, len(r.words) - 1)] for r in readings]
        rows.append((f"class {s}" if n_seq > 1 else "words", *(" ".join(p[0][0] for p in seq) for seq in sequences)))
        for t in range(max(len(seq) for seq in sequences)):
            rows.append((f"  p{t + 1}", *(words_cell(seq[t]) if t < len(seq) else "" for seq in sequences)))
    rows.append(("entropy", *(f"{r.entropy:.4f}" for r in readings)))
    rows.append(("perplexity", *(f"{r.perplexity:.1f}" for r in readings)))
    widths = [max(len(row[c]) for row in rows) + 3 for c in range(len(rows[0]))]
    for row in rows:
        print("".join(f"{cell:{w}s}" for cell, w in zip(row, widths)).rstrip())
    print(f"entropy: the LM head's mean entropy over the {candidates} candidate words of each position (uniform: ln {candidates}"
          f" = {math.log(candidates):.4f}); perplexity: of the nearest words, over the {vocabulary}-word vocabulary "
          "(lower reads more like language)")


def words_cell(position: Sequence[Word]) -> str:
    return "  ".join(f"{word} ({sim:.3f})" for word, sim in position)


def interpret(checkpoint_paths: Sequence[str], backbone: str, topk: int, settings: ReadSettings) -> None:
    cfg = CN()
    cfg.MODEL = CN()
    cfg.MODEL.BACKBONE = CN()
    cfg.MODEL.BACKBONE.NAME = backbone
    cfg.MODEL.BACKBONE.PATH = ""
    clip_model = load_clip_to_cpu(cfg).float()
    readings = [read_prompt(prompt_checkpoint(path), clip_model, settings, topk) for path in checkpoint_paths]
    vocabulary = clip_model.token_embedding.weight.shape[0]
    candidates = settings.candidates if 0 < settings.candidates < vocabulary else vocabulary
    print(f"Read with {settings} (the LM head's k = {candidates} candidate words per position)")
    if len(readings) == 1:
        print_reading(readings[0], candidates, vocabulary)
    else:
        print_side_by_side(readings, candidates, vocabulary)
    warnings = {no_signal_warning(reading.entropy, candidates) for reading in readings} - {None}
    for warning in warnings:
        print(warning)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", metavar="checkpoint",
                        help="a prompt_learner checkpoint (e.g. .../prompt_learner/model.pth.tar-50) or a finished run's "
                             "folder; two: side by side")
    parser.add_argument("--backbone", default="ViT-B/16", help="CLIP backbone the prompt was trained with")
    parser.add_argument("--topk", type=int, default=3, help="nearest words shown per context vector")
    parser.add_argument("--align", choices=ALIGNMENTS, default="same", help="TRAINER.PLPP.ALIGN: the state the LM head reads")
    parser.add_argument("--candidates", type=int, default=32, help="TRAINER.PLPP.TOPK: candidate words per position (0: all)")
    parser.add_argument("--tau-lm", type=float, default=1.0, help="TRAINER.PLPP.TAU_LM: the LM head's temperature")
    args = parser.parse_args(argv)
    if len(args.checkpoints) > 2:
        parser.error("give one checkpoint, or two to compare")
    if args.candidates < 0 or args.tau_lm <= 0:
        parser.error("--candidates must be >= 0 and --tau-lm > 0")
    try:
        interpret(args.checkpoints, args.backbone, args.topk, ReadSettings(args.align, args.candidates, args.tau_lm))
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
