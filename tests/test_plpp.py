"""The perplexity regulariser's math, against direct computations on small random tensors."""
import math

import pytest
import torch
from torch.nn import functional as F

from trainers.plpp import PerplexityRegularizer

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
