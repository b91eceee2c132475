"""Prompt interpretation: nearest words of the context and its perplexity."""
import math
import os

import pytest
import torch

from toolkit import interpret
from testing.tiny_clip import build_tiny_clip
from trainers.backbone import clip


def write_checkpoint(path, ctx):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save({"state_dict": {"ctx": ctx}, "epoch": 1, "optimizer": None, "scheduler": None, "val_result": None}, path)


def test_words_as_context_read_back_as_those_words(tmp_path, clip_checkpoint, capsys):
    model = build_tiny_clip()  # the same weights as the checkpoint the loader reads
    ctx = model.token_embedding(clip.tokenize("a photo of a"))[0, 1:5].detach()
    path = str(tmp_path / "prompt_learner" / "model.pth.tar-1")
    write_checkpoint(path, ctx)

    assert interpret.main([path, "--topk", "2"]) == 0
    out = capsys.readouterr().out
    assert "a unified context, 4 vectors of width 64" in out
    assert "nearest words: a photo of a" in out
    assert "p1  a (1.000)" in out
    perplexity = float(out.split("perplexity under CLIP's LM head: ")[1].split(" ")[0])
    assert perplexity == pytest.approx(text_perplexity(model.float(), "a photo of a"), abs=0.05)


def text_perplexity(model, text):
    """exp(mean NLL) of the words of ``text`` under h E^T, with h from CLIP's own text tower:
    a context equal to the words' embeddings must read exactly as the text itself."""
    tokens = clip.tokenize(text)
    n_words = int(tokens.argmax(-1)) - 1
    with torch.no_grad():
        x = model.token_embedding(tokens) + model.positional_embedding
        states = model.ln_final(model.transformer(x.permute(1, 0, 2)).permute(1, 0, 2))
        log_probs = torch.log_softmax(states[0, :n_words] @ model.token_embedding.weight.t(), dim=-1)
        nll = -log_probs.gather(-1, tokens[0, 1 : 1 + n_words, None]).mean()
    return math.exp(nll)


def test_class_specific_contexts_are_read_per_class(tmp_path, clip_checkpoint, capsys):
    path = str(tmp_path / "csc" / "model.pth.tar-1")
    write_checkpoint(path, torch.randn(3, 2, 64) * 0.02)
    assert interpret.main([path]) == 0
    out = capsys.readouterr().out
    assert "class-specific contexts" in out and "class 2:" in out


def test_wrong_backbone_width_is_one_line_error(tmp_path, clip_checkpoint, capsys):
    path = str(tmp_path / "wide" / "model.pth.tar-1")
    write_checkpoint(path, torch.zeros(4, 512))
    assert interpret.main([path]) == 2
    assert "has width 512 but the CLIP text encoder has 64" in capsys.readouterr().err
