"""The perplexity regulariser's math, against direct computations on small random tensors; which
state the LM head reads (ALIGN); and the direction each term's gradient moves the prompt, through a
text tower at a real CLIP's scale."""
import math

import pytest
import torch
from torch.nn import functional as F

from testing.tiny_clip import REAL_TEXT_WIDTH, build_tiny_clip
from trainers.backbone import TextEncoder, tokenizer
from trainers.plpp import PerplexityRegularizer, aligned_states, captured_outputs, no_signal_warning, signal_report

V, D, M = 50, 8, 4  # vocabulary, width, context length


@pytest.fixture
def tensors():
    gen = torch.Generator().manual_seed(0)
    embedding = torch.randn(V, D, generator=gen)
    ctx = torch.randn(1, M, D, generator=gen, requires_grad=True)
    states = torch.randn(1, M, D, generator=gen, requires_grad=True)
    return embedding, ctx, states


def cosine(ctx, embedding):
    return F.normalize(ctx, dim=-1) @ F.normalize(embedding, dim=-1).t()


def test_hard_labels_full_vocabulary_is_log_perplexity(tensors):
    embedding, ctx, states = tensors
    reg = PerplexityRegularizer(embedding, topk=0, label="hard")
    loss = reg(ctx, states).ppl

    nll = 0.0
    ctx, states = ctx.detach(), states.detach()
    for t in range(M):  # by hand: nearest word of p_t, probability under softmax(h_{t-1} E^T)
        word = max(range(V), key=lambda v: F.cosine_similarity(ctx[0, t], embedding[v], dim=0).item())
        logits = [float(states[0, t] @ embedding[v]) for v in range(V)]
        log_z = math.log(sum(math.exp(z) for z in logits))
        nll += log_z - logits[word]
    assert loss.item() == pytest.approx(nll / M, rel=1e-5)
    assert reg.perplexity(ctx, states) == pytest.approx(math.exp(nll / M), rel=1e-5)


def test_topk_at_or_above_vocabulary_means_full_vocabulary(tensors):
    embedding, ctx, states = tensors
    full = PerplexityRegularizer(embedding, topk=0)(ctx, states)
    over = PerplexityRegularizer(embedding, topk=V + 10)(ctx, states)
    assert torch.allclose(full.ppl, over.ppl) and torch.allclose(full.inv, over.inv)


@pytest.mark.parametrize("k", [1, 5, V])
@pytest.mark.parametrize("tau_label,tau_lm", [(0.1, 1.0), (0.05, 2.0)])
def test_soft_topk_losses_match_direct_computation(tensors, k, tau_label, tau_lm):
    embedding, ctx, states = tensors
    terms = PerplexityRegularizer(embedding, topk=k, label="soft", tau_label=tau_label, tau_lm=tau_lm)(ctx, states)

    sim = cosine(ctx, embedding)[0]  # [M, V]
    lm = states[0] @ embedding.t()  # [M, V]
    ppl = inv = 0.0
    for t in range(M):
        words = sim[t].argsort(descending=True)[:k]
        q = F.softmax(sim[t, words] / tau_label, dim=0)
        log_pi = F.log_softmax(lm[t, words] / tau_lm, dim=0)
        ppl += -(q * log_pi).sum()
        inv += -(log_pi.exp() * torch.log(q)).sum()
    assert terms.ppl.item() == pytest.approx(ppl.item() / M, rel=1e-5)
    assert terms.inv.item() == pytest.approx(inv.item() / M, rel=1e-5)


def test_hard_topk_uses_nearest_word_within_topk(tensors):
    embedding, ctx, states = tensors
    k = 6
    loss = PerplexityRegularizer(embedding, topk=k, label="hard", tau_lm=1.5)(ctx, states).ppl
    sim = cosine(ctx, embedding)[0]
    expected = 0.0
    for t in range(M):
        words = sim[t].argsort(descending=True)[:k]
        expected += -F.log_softmax(states[0, t] @ embedding[words].t() / 1.5, dim=0)[0]
    assert loss.item() == pytest.approx(expected.item() / M, rel=1e-5)


def test_detached_teacher_gets_no_gradient(tensors):
    embedding, ctx, states = tensors
    reg = PerplexityRegularizer(embedding, topk=5, detach_teacher=True)
    terms = reg(ctx, states)

    # The perplexity loss teaches the LM head: its gradient reaches the states, not the labels.
    (ctx_grad, states_grad) = torch.autograd.grad(terms.ppl, [ctx, states], allow_unused=True)
    assert ctx_grad is None and states_grad.abs().sum() > 0
    # The inverted loss teaches the labels: its gradient reaches the context, not the states.
    (ctx_grad, states_grad) = torch.autograd.grad(terms.inv, [ctx, states], allow_unused=True)
    assert states_grad is None and ctx_grad.abs().sum() > 0


def test_undetached_teacher_gets_gradient(tensors):
    embedding, ctx, states = tensors
    terms = PerplexityRegularizer(embedding, topk=5, detach_teacher=False)(ctx, states)
    ctx_grad, _ = torch.autograd.grad(terms.ppl, [ctx, states], retain_graph=True)
    _, states_grad = torch.autograd.grad(terms.inv, [ctx, states])
    assert ctx_grad.abs().sum() > 0 and states_grad.abs().sum() > 0


def test_embedding_is_frozen_and_not_in_state_dict(tensors):
    embedding, ctx, states = tensors
    reg = PerplexityRegularizer(embedding.clone().requires_grad_(True), topk=5)
    assert list(reg.parameters()) == [] and reg.state_dict() == {}
    reg(ctx, states).ppl.backward()
    assert reg.embedding.grad is None


def test_one_sequence_equals_per_class_computation_for_unified_context(tensors):
    embedding, ctx, states = tensors
    n_cls = 7
    reg = PerplexityRegularizer(embedding, topk=5)
    one = reg(ctx, states)
    per_class = reg(ctx.expand(n_cls, -1, -1), states.expand(n_cls, -1, -1))
    assert torch.allclose(one.ppl, per_class.ppl) and torch.allclose(one.inv, per_class.inv)


def test_invalid_settings_are_rejected(tensors):
    embedding = tensors[0]
    with pytest.raises(ValueError, match="label"):
        PerplexityRegularizer(embedding, label="fuzzy")
    with pytest.raises(ValueError, match="temperatures"):
        PerplexityRegularizer(embedding, tau_label=0)


@pytest.mark.parametrize("label", ["soft", "hard"])
def test_chunked_class_specific_context_equals_one_piece(label, monkeypatch):
    """Class-specific contexts (one per class) scored a few positions at a time give the losses,
    top-k words and gradients of the [S, M, V] similarities and [S, M, K, d] LM-head words
    computed in one piece."""
    import trainers.plpp as plpp

    gen = torch.Generator().manual_seed(1)
    embedding = torch.randn(V, D, generator=gen)
    ctx = torch.randn(7, M, D, generator=gen, requires_grad=True)
    states = torch.randn(7, M, D, generator=gen, requires_grad=True)

    def run(chunk_bytes):
        monkeypatch.setattr(plpp, "SIMILARITY_CHUNK_BYTES", chunk_bytes)
        reg = PerplexityRegularizer(embedding, topk=5, label=label)
        terms = reg(ctx, states)
        return reg, terms, torch.autograd.grad(terms.ppl + terms.inv, [ctx, states])

    # 3 positions' similarities (and 3 positions' words) per chunk: 28 positions, the last chunk short.
    reg, chunked, chunked_grads = run(3 * V * 4)
    assert reg.similarity_chunk == 3
    values, words = reg.similarity(ctx)
    direct_values, direct_words = cosine(ctx, embedding).topk(5, dim=-1)
    assert torch.equal(words, direct_words)
    assert torch.allclose(values, direct_values, atol=1e-6)

    reg, whole, whole_grads = run(2**40)
    assert reg.similarity_chunk >= 7 * M
    assert torch.allclose(chunked.ppl, whole.ppl, atol=1e-6) and torch.allclose(chunked.inv, whole.inv, atol=1e-6)
    for a, b in zip(chunked_grads, whole_grads):
        assert torch.allclose(a, b, atol=1e-6)
        assert a.abs().sum() > 0


# ---- ALIGN: which state the LM head reads -------------------------------------------------------

def test_aligned_states_are_the_state_before_each_token_or_its_own():
    window = torch.arange(6.0).view(1, 6, 1).expand(2, 6, 3)  # the state at position i holds i; p_t sits at t
    assert aligned_states(window, M, "next")[0, :, 0].tolist() == [0, 1, 2, 3]  # SOS, p_1 .. p_3 predict p_1 .. p_4
    assert aligned_states(window, M, "same")[0, :, 0].tolist() == [1, 2, 3, 4]  # p_1 .. p_4 read back themselves
    with pytest.raises(ValueError, match="TRAINER.PLPP.ALIGN must be one of same, next, got 'both'"):
        aligned_states(window, M, "both")


def test_entropy_is_the_lm_heads_over_the_candidate_words(tensors):
    embedding, ctx, states = tensors
    reg = PerplexityRegularizer(embedding, topk=5, tau_lm=2.0)
    _, words = reg.similarity(ctx)
    log_pi = F.log_softmax(torch.einsum("smd,smkd->smk", states, embedding[words]) / 2.0, dim=-1)
    assert reg.candidates == 5 and PerplexityRegularizer(embedding, topk=0).candidates == V
    assert reg(ctx, states).entropy.item() == pytest.approx(-(log_pi.exp() * log_pi).sum(-1).mean().item(), rel=1e-5)


def test_signal_report_and_warning_name_the_distance_from_uniform():
    report = signal_report(3.4, 32, 1234.56, 49408)
    assert "entropy 3.4000 over 32 candidate words" in report and "ln 32 = 3.4657, 0.0657 nats from it" in report
    assert "prompt perplexity 1234.6 of a 49408-word vocabulary" in report
    assert no_signal_warning(math.log(32) - 0.05, 32) is None
    warning = no_signal_warning(math.log(32) - 0.001, 32)
    assert "\n" not in warning and all(key in warning for key in ("TAU_LM", "TOPK", "CLIP"))


# ---- Each term's gradient, through a text tower at a real CLIP's scale ----------------------------

@pytest.fixture(scope="module")
def real_scale_clip():
    """A 1-block tiny CLIP with ViT-B/16's text width: word embeddings of norm ~0.45 and final
    states of ~1 per dimension, so the LM head's logits are at a real CLIP's scale."""
    return build_tiny_clip(text_width=REAL_TEXT_WIDTH).float()


def lm_head_states(model, ctx, align):
    """The final states the LM head reads for each context token of "[SOS] p_1 .. p_M"."""
    sos = model.token_embedding(torch.full((ctx.shape[0], 1), tokenizer.encoder["<|startoftext|>"]))
    tokens = torch.zeros(ctx.shape[0], 77, dtype=torch.long)
    tokens[:, M + 1] = 1
    padding = ctx.new_zeros(ctx.shape[0], 76 - M, ctx.shape[-1])
    encoder = TextEncoder(model)
    with captured_outputs(encoder.ln_final) as states:
        encoder(torch.cat([sos, ctx, padding], dim=1), tokens)
    return aligned_states(states[0], M, align)


def correlation(a, b):
    return F.cosine_similarity(a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True), dim=-1)


@pytest.mark.parametrize("align", ["same", "next"])
def test_perplexity_term_moves_the_lm_heads_reading_towards_the_labels(real_scale_clip, align):
    """docs/PLPP.md: L_ppl teaches the LM head (the embedding is the teacher). A small step of the
    context against its gradient raises the head's logits where the labels q_t put more mass than
    the head's distribution pi_t, and lowers them where less; the nearest words stay. With ALIGN next the first token is predicted by the SOS state, which no prompt
    can change."""
    embedding = real_scale_clip.token_embedding.weight.detach()
    reg = PerplexityRegularizer(embedding, topk=32)
    ctx = (torch.randn(1, M, REAL_TEXT_WIDTH, generator=torch.Generator().manual_seed(0)) * 0.02).requires_grad_()
    states = lm_head_states(real_scale_clip, ctx, align)
    sim, words = reg.similarity(ctx)
    labels = F.softmax(sim / reg.tau_label, dim=-1)
    lm_logits = reg.lm_logits(states, words)
    (grad,) = torch.autograd.grad(reg(ctx, states).ppl, ctx)

    moved = (ctx - 1e-3 * grad / grad.norm()).detach()
    assert torch.equal(reg.similarity(moved)[1][..., 0], words[..., 0])  # the same nearest words
    change = reg.lm_logits(lm_head_states(real_scale_clip, moved, align), words) - lm_logits
    moving = slice(1, M) if align == "next" else slice(0, M)
    if align == "next":
        assert change[0, 0].abs().max() < 1e-6
    assert (correlation(change[0, moving], (labels - F.softmax(lm_logits, dim=-1))[0, moving].detach()) > 0.5).all()


@pytest.mark.parametrize("align", ["same", "next"])
def test_inverted_term_moves_the_labels_towards_the_lm_heads_reading(real_scale_clip, align):
    """docs/PLPP.md: L_inv teaches the labels (the LM head is the teacher), through the cosine
    similarities only: its gradient is orthogonal to every context vector (it turns p_t, never
    rescales it), and a small step raises p_t's similarity to the words where pi_t puts more mass
    than the labels q_t and lowers it where less."""
    embedding = real_scale_clip.token_embedding.weight.detach()
    reg = PerplexityRegularizer(embedding, topk=32)
    ctx = (torch.randn(1, M, REAL_TEXT_WIDTH, generator=torch.Generator().manual_seed(0)) * 0.02).requires_grad_()
    states = lm_head_states(real_scale_clip, ctx, align)
    sim, words = reg.similarity(ctx)
    head = F.softmax(reg.lm_logits(states, words), dim=-1).detach()
    (grad,) = torch.autograd.grad(reg(ctx, states).inv, ctx)

    assert ((grad * ctx).sum(-1).abs() / (grad.norm(dim=-1) * ctx.norm(dim=-1)) < 1e-4).all()
    moved = (ctx - 1e-3 * grad / grad.norm()).detach()
    change = F.normalize(moved, dim=-1)[0].unsqueeze(1).mul(F.normalize(embedding[words[0]], dim=-1)).sum(-1) - sim[0].detach()
    assert (correlation(change, (head - F.softmax(sim / reg.tau_label, dim=-1))[0].detach()) > 0.5).all()
