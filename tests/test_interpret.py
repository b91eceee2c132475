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


@pytest.mark.parametrize("align", ["same", "next"])
def test_words_as_context_read_back_as_those_words(tmp_path, clip_checkpoint, capsys, align):
    model = build_tiny_clip()  # the same weights as the checkpoint the loader reads
    ctx = model.token_embedding(clip.tokenize("a photo of a"))[0, 1:5].detach()
    path = str(tmp_path / "prompt_learner" / "model.pth.tar-1")
    write_checkpoint(path, ctx)

    assert interpret.main([path, "--topk", "2", "--align", align]) == 0
    out = capsys.readouterr().out
    assert "a unified context, 4 vectors of width 64" in out
    assert "nearest words: a photo of a" in out
    assert "p1  a (1.000)" in out
    perplexity = float(out.split("perplexity under CLIP's LM head: ")[1].split(" ")[0])
    assert perplexity == pytest.approx(text_perplexity(model.float(), "a photo of a", align), abs=0.05)


def text_perplexity(model, text, align):
    """exp(mean NLL) of the words of ``text`` under h E^T, with h from CLIP's own text tower at
    each word's own position (same) or the one before it (next): a context equal to the words'
    embeddings must read exactly as the text itself."""
    tokens = clip.tokenize(text)
    n_words = int(tokens.argmax(-1)) - 1
    with torch.no_grad():
        x = model.token_embedding(tokens) + model.positional_embedding
        states = model.ln_final(model.transformer(x.permute(1, 0, 2)).permute(1, 0, 2))
        first = 1 if align == "same" else 0
        log_probs = torch.log_softmax(states[0, first : first + n_words] @ model.token_embedding.weight.t(), dim=-1)
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


@pytest.mark.parametrize("align", ["same", "next"])
def test_the_lm_heads_distance_from_uniform_is_shown_and_a_flat_head_warned(tmp_path, clip_checkpoint, capsys, align):
    """The 64-wide tiny CLIP's LM head is uniform over 32 words: the reading says so, in one line."""
    path = str(tmp_path / "p" / "model.pth.tar-1")
    write_checkpoint(path, torch.randn(4, 64) * 0.02)
    assert interpret.main([path, "--align", align]) == 0
    out = capsys.readouterr().out
    assert f"Read with ALIGN {align}, TOPK 32, TAU_LM 1 " in out
    assert "over 32 candidate words per position (uniform: ln 32 = 3.4657, 0.0" in out
    assert sum(line.startswith("warning: PLPP's perplexity term has no signal") for line in out.splitlines()) == 1


def test_two_prompts_side_by_side_read_the_same_way(tmp_path, clip_checkpoint, capsys):
    """A prompt of real words beside a random one: nearest words and similarities per position,
    then each one's LM-head entropy and perplexity, equal to each read alone."""
    model = build_tiny_clip()
    words = str(tmp_path / "coop" / "model.pth.tar-1")
    write_checkpoint(words, model.token_embedding(clip.tokenize("a photo of a"))[0, 1:5].detach())
    random = str(tmp_path / "plpp" / "model.pth.tar-1")
    write_checkpoint(random, torch.randn(3, 4, 64) * 0.02)  # class-specific: the unified one faces each class

    assert interpret.main([words, random, "--topk", "1", "--candidates", "0"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert f"A: {words}" in lines and f"B: {random}" in lines
    assert sum(line.startswith("class ") for line in lines) == 3
    assert sum(line.lstrip().startswith("p1 ") and "a (1.000)" in line for line in lines) == 3
    row = {line.split()[0]: line.split()[1:] for line in lines if line.startswith(("entropy ", "perplexity "))}
    for column, path in enumerate((words, random)):
        assert interpret.main([path, "--candidates", "0"]) == 0
        alone = capsys.readouterr().out
        assert f"perplexity under CLIP's LM head: {row['perplexity'][column]} " in alone
        assert f"LM head entropy {row['entropy'][column]} over 49408 candidate words" in alone


def test_more_than_two_checkpoints_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_status:
        interpret.main(["a", "b", "c"])
    assert exit_status.value.code == 2 and "give one checkpoint, or two to compare" in capsys.readouterr().err


def test_a_finished_run_folder_stands_for_its_final_checkpoint(tmp_path, clip_checkpoint, capsys):
    run = tmp_path / "run"
    write_checkpoint(str(run / "prompt_learner" / "model.pth.tar-2"), torch.randn(4, 64) * 0.02)
    (run / "finished.json").write_text('{"load_epoch": 2}')
    assert interpret.main([str(run)]) == 0
    assert f"{run}/prompt_learner/model.pth.tar-2: a unified context" in capsys.readouterr().out

    (run / "finished.json").unlink()
    assert interpret.main([str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a finished training run: pass a prompt_learner/model.pth.tar-<epoch> file" in err
