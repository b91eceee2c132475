"""PLPP: Prompt Learning with PerPlexity (Liu et al., arXiv 2412.15277).

CoOp's learned context vectors drift away from anything the text encoder has seen as words,
which overfits the prompt to the training classes. PLPP adds a perplexity regulariser that keeps
the prompt "readable" for CLIP's own text model, by self-distillation:

- teacher: the vocabulary word each context vector is closest to (cosine similarity with the
  frozen token-embedding matrix E), as a soft label over its top-k words;
- student: a training-free language-model head, E^T applied to the text encoder's final hidden
  states (after ``ln_final``): with ``ALIGN same`` (default) the state at each context token's
  own position reads that token back, with ``ALIGN next`` the state before it predicts it.

The perplexity loss makes the student match the teacher; the inverted perplexity loss makes the
teacher match the student. Equations, defaults and which choices are ours: ``docs/PLPP.md``.

The regulariser is a plug-in: ``PerplexityRegularized`` adds it to any host trainer that says
which context vectors it scores and which hidden states the LM head reads for them
(``perplexity_inputs``; ``lm_head_states`` applies ``TRAINER.PLPP.ALIGN``).
``PLPP`` is the CoOp host (the paper's name); the trainers on the other hosts are made in
``trainers/plugins.py`` from each host's "context" hook: ``CoOpContext`` here (CoOp, KgCoOp),
``cocoop.CoCoOpContext``, ``deep_prompting.FirstLayerContext`` (MaPLe, IVLP, PromptSRC).

This file is self-contained on purpose: copied alone into KaiyangZhou/CoOp (real Dassl, its
vendored ``clip``) it trains there after two added lines in that repository's ``train.py``:
``import trainers.plpp`` and ``trainers.plpp.extend_cfg(cfg)`` inside its ``extend_cfg``.
It therefore uses only CoOp's public names (``CoOp``, ``load_clip_to_cpu``, the ``CustomCLIP``
and ``PromptLearner`` attributes), the ``clip`` API and ``dassl``; what this repository's shared
trainer base adds, ``ReferenceCoOpHost`` supplies there.
"""
import contextlib
import math
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from dassl.engine import TRAINER_REGISTRY
from dassl.metrics import compute_accuracy

from .coop import CoOp, load_clip_to_cpu

LABEL_KINDS = ("soft", "hard")
# Which final hidden state the LM head reads for context token p_t: its own position's ("same")
# or the one before it ("next", next-token prediction). The paper does not say (docs/PLPP.md).
ALIGNMENTS = ("same", "next")
# Below this mean KL(LM-head distribution || uniform over the k candidate words), in nats, the
# perplexity term is flat: it stays at ln k and gives the prompt no direction.
NO_SIGNAL_NATS = 0.02
# Top-k similarities and LM-head words are computed for this many bytes of fp32 values at a time
# (a chunk of positions' [V] similarities, or their [K, d] word embeddings).
SIMILARITY_CHUNK_BYTES = 64 * 2**20


def extend_cfg(cfg) -> None:
    """Add ``TRAINER.PLPP``: the regulariser's keys only (the prompt stays in ``TRAINER.COOP``).

    Every default is this project's choice: the paper publishes no hyperparameters.
    """
    from yacs.config import CfgNode as CN

    cfg.TRAINER.PLPP = CN()
    cfg.TRAINER.PLPP.PPL_WEIGHT = 0.1  # lambda_ppl, weight of the perplexity loss [choice]
    cfg.TRAINER.PLPP.INV_WEIGHT = 0.1  # lambda_inv, weight of the inverted perplexity loss [choice]
    cfg.TRAINER.PLPP.TOPK = 32  # k words per label; 0 = the full vocabulary [choice]
    cfg.TRAINER.PLPP.LABEL = "soft"  # "soft" (top-k softmax) or "hard" (nearest word) [choice]
    cfg.TRAINER.PLPP.TAU_LABEL = 0.05  # temperature of the soft labels over cosine similarity [choice]
    cfg.TRAINER.PLPP.TAU_LM = 1.0  # temperature of the LM head's word distribution [choice]
    cfg.TRAINER.PLPP.ALIGN = "same"  # the LM head reads p_t's own state ("same") or the one before ("next") [choice]
    cfg.TRAINER.PLPP.DETACH_TEACHER = True  # no gradient through each loss's teacher side [choice]


# ---------------------------------------------------------------------------------------------
# The regulariser: tensors in, losses out. It knows nothing about trainers.
# ---------------------------------------------------------------------------------------------
class PerplexityTerms(NamedTuple):
    ppl: torch.Tensor  # perplexity loss, CE(teacher labels, LM-head distribution)
    inv: torch.Tensor  # inverted perplexity loss, CE(LM-head distribution, label distribution)
    entropy: torch.Tensor  # mean entropy of the LM-head distribution (no gradient): ln k is uniform


def aligned_states(window: torch.Tensor, n_ctx: int, align: str) -> torch.Tensor:
    """The final hidden states the LM head reads for p_1 .. p_M [S, M, d], from ``window``
    [S, >= M + 1, d]: the states from the position just before p_1 on.

    "next": the state before each token, which predicts it (h_{t-1} for p_t); "same": the
    token's own state, which reads it back (h_t for p_t).
    """
    check_alignment(align)
    start = 1 if align == "same" else 0
    return window[:, start : start + n_ctx]


def check_alignment(align: str) -> None:
    if align not in ALIGNMENTS:
        raise ValueError(f"TRAINER.PLPP.ALIGN must be one of {', '.join(ALIGNMENTS)}, got {align!r}")


def signal_report(entropy: float, candidates: int, perplexity: float, vocabulary: int) -> str:
    """How far the LM head is from uniform over the candidate words, and the prompt's perplexity."""
    uniform = math.log(candidates)
    return (f"LM head entropy {entropy:.4f} over {candidates} candidate words per position (uniform: ln {candidates} = "
            f"{uniform:.4f}, {uniform - entropy:.4f} nats from it); prompt perplexity {perplexity:.1f} of a {vocabulary}-word vocabulary")


def no_signal_warning(entropy: float, candidates: int) -> Optional[str]:
    """One line when the perplexity term has no signal (the LM head is uniform over the words), else None."""
    if math.log(candidates) - entropy >= NO_SIGNAL_NATS:
        return None
    return (f"warning: PLPP's perplexity term has no signal: the LM head's distribution over the {candidates} candidate "
            f"words is within {NO_SIGNAL_NATS} nats of uniform, so ppl stays near ln {candidates} and barely moves the prompt; "
            "lower TRAINER.PLPP.TAU_LM (a sharper head) or TRAINER.PLPP.TOPK (fewer, closer words), or use a CLIP "
            "whose word embeddings and final states are at a real CLIP's scale (docs/PLPP.md)")


class PerplexityRegularizer(nn.Module):
    """Perplexity and inverted perplexity losses of learned prompt vectors.

    Args:
        token_embedding: the frozen token-embedding matrix E [V, d]; it serves both as the label
            vocabulary and, transposed, as the LM head. Kept as non-persistent buffers, so it is
            never part of a checkpoint.
        topk: words per position (0 or >= V: the whole vocabulary).
        label: "soft" (softmax of the top-k cosine similarities / tau_label) or "hard" (one-hot
            nearest word).
        tau_label, tau_lm: temperatures of the label and LM-head distributions.
        detach_teacher: stop gradients through the teacher side of each loss.

    ``forward(ctx, states)`` takes the context vectors ctx [S, M, d] of S prompt sequences and
    the text encoder's final hidden states [S, M, d] the LM head reads for each of them
    (``aligned_states``: at SOS, p_1 .. p_{M-1} for next-token prediction, at p_1 .. p_M for the
    same position).
    """

    def __init__(self, token_embedding: torch.Tensor, topk: int = 32, label: str = "soft",
                 tau_label: float = 0.05, tau_lm: float = 1.0, detach_teacher: bool = True):
        super().__init__()
        if label not in LABEL_KINDS:
            raise ValueError(f"label must be one of {LABEL_KINDS}, got {label!r}")
        if topk < 0 or tau_label <= 0 or tau_lm <= 0:
            raise ValueError("topk must be >= 0 and both temperatures > 0")
        embedding = token_embedding.detach().float()
        self.register_buffer("embedding", embedding, persistent=False)
        self.register_buffer("unit_embedding", F.normalize(embedding, dim=-1), persistent=False)
        self.topk = topk if 0 < topk < embedding.shape[0] else 0
        self.candidates = self.topk or embedding.shape[0]  # words per position in the LM head's distribution
        self.label = label
        self.tau_label = tau_label
        self.tau_lm = tau_lm
        self.detach_teacher = detach_teacher
        self.similarity_chunk = max(1, SIMILARITY_CHUNK_BYTES // (4 * embedding.shape[0]))  # positions

    def similarity(self, ctx: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Cosine similarity of each context vector with the vocabulary, restricted to its top-k.

        Returns the similarities [S, M, K] and the word ids [S, M, K] (None for the full
        vocabulary, K = V), sorted from the most similar word.

        With top-k, the [S, M, V] similarities are never held at once: they are computed and cut
        to their top k for ``similarity_chunk`` positions at a time (class-specific contexts on
        1000 classes would otherwise hold 3.2 GB in fp32, and as much again for its gradient).
        Each row is computed as in one piece, so the result is the same.
        """
        unit_ctx = F.normalize(ctx.float(), dim=-1)
        if not self.topk:
            return unit_ctx @ self.unit_embedding.t(), None
        rows = unit_ctx.flatten(0, -2)
        top = [(chunk @ self.unit_embedding.t()).topk(self.topk, dim=-1) for chunk in rows.split(self.similarity_chunk)]
        shape = (*ctx.shape[:-1], self.topk)
        return torch.cat([t.values for t in top]).view(shape), torch.cat([t.indices for t in top]).view(shape)

    def lm_logits(self, states: torch.Tensor, word_ids: Optional[torch.Tensor]) -> torch.Tensor:
        """The training-free LM head h E^T, evaluated on the given words only (or all of them).

        On the top-k words, each position needs its own k rows of E ([S, M, K, d]: 1 GB for
        class-specific contexts on 1000 classes). They are gathered a chunk of positions at a
        time and gathered again in the backward pass instead of being kept for it.
        """
        states = states.float()
        if word_ids is None:
            return states @ self.embedding.t()
        chunk = max(1, SIMILARITY_CHUNK_BYTES // (4 * word_ids.shape[-1] * self.embedding.shape[1]))
        rows = zip(states.flatten(0, -2).split(chunk), word_ids.flatten(0, -2).split(chunk))
        logits = [checkpoint(self.selected_logits, h, ids, use_reentrant=False) for h, ids in rows]
        return torch.cat(logits).view(word_ids.shape)

    def selected_logits(self, states: torch.Tensor, word_ids: torch.Tensor) -> torch.Tensor:
        """h E_w^T for each position's own words: states [P, d], word_ids [P, K] -> [P, K]."""
        return torch.einsum("pd,pkd->pk", states, self.embedding[word_ids])

    def forward(self, ctx: torch.Tensor, states: torch.Tensor) -> PerplexityTerms:
        with torch.autocast(ctx.device.type, enabled=False):  # the math is fp32 under amp too
            sim, word_ids = self.similarity(ctx)
            label_log_probs = F.log_softmax(sim / self.tau_label, dim=-1)
            if self.label == "soft":
                labels = label_log_probs.exp()
            else:  # the nearest word; the top-k list is sorted, so it is column 0 there
                nearest = sim.argmax(dim=-1) if word_ids is None else torch.zeros_like(sim[..., 0], dtype=torch.long)
                labels = F.one_hot(nearest, sim.shape[-1]).float()
            lm_log_probs = F.log_softmax(self.lm_logits(states, word_ids) / self.tau_lm, dim=-1)

            teacher_labels = labels.detach() if self.detach_teacher else labels
            teacher_lm = lm_log_probs.exp().detach() if self.detach_teacher else lm_log_probs.exp()
            ppl = -(teacher_labels * lm_log_probs).sum(-1).mean()
            inv = -(teacher_lm * label_log_probs).sum(-1).mean()
            entropy = -(lm_log_probs.exp() * lm_log_probs).sum(-1).mean().detach()
        return PerplexityTerms(ppl, inv, entropy)

    @torch.no_grad()
    def perplexity(self, ctx: torch.Tensor, states: torch.Tensor, chunk_size: int = 64) -> float:
        """The prompt's perplexity under the LM head: exp of the mean negative log-likelihood of
        each context vector's nearest word, over the whole vocabulary (a readout, no gradient)."""
        nll, count = 0.0, 0
        with torch.autocast(ctx.device.type, enabled=False):
            for ctx_chunk, states_chunk in zip(ctx.split(chunk_size), states.split(chunk_size)):
                nearest = (F.normalize(ctx_chunk.float(), dim=-1) @ self.unit_embedding.t()).argmax(-1)
                log_probs = F.log_softmax(states_chunk.float() @ self.embedding.t(), dim=-1)
                nll += -log_probs.gather(-1, nearest.unsqueeze(-1)).sum().item()
                count += nearest.numel()
        return float(torch.tensor(nll / count).exp())


# ---------------------------------------------------------------------------------------------
# The plug-in
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def captured_outputs(module: nn.Module) -> Iterator[List[torch.Tensor]]:
    """Collect ``module``'s outputs while the block runs (here: a text encoder's ``ln_final``,
    whose output is the final hidden state at every position)."""
    outputs: List[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _module, _inputs, output: outputs.append(output))
    try:
        yield outputs
    finally:
        handle.remove()


class PerplexityRegularized:
    """Mixin: the host trainer's loss plus PLPP's perplexity and inverted perplexity losses.

    The host answers one question, ``perplexity_inputs(states)``: which context vectors [S, M, d]
    are scored and which hidden states [S, M, d] the LM head reads for them, given the outputs of
    ``perplexity_state_module()`` (its text encoder's ``ln_final``) captured while its own
    ``compute_loss`` ran. Hosts pick those states with ``lm_head_states`` from the states starting
    just before p_1, so ``TRAINER.PLPP.ALIGN`` is applied in one place. With both weights at 0
    nothing is captured or computed: the loss, the update and the log are exactly the host's. The
    host's loss is logged as ``ce`` when it is a single cross-entropy (its summary names no terms
    of its own), else under the host's names.

    ``needs``: the host's "context" hook (``plugin_hooks`` in trainers/plugins.py) answers
    ``perplexity_inputs``.

    At the first step (the initial prompt) and after every epoch the run prints how far the LM
    head is from uniform over the candidate words and the prompt's perplexity, and warns once
    when the perplexity term has no signal.
    """

    needs = ("context",)

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        if cfg.TRAINER.PLPP.LABEL not in LABEL_KINDS:
            raise ValueError(f"TRAINER.PLPP.LABEL must be one of {LABEL_KINDS}, got {cfg.TRAINER.PLPP.LABEL!r}")
        check_alignment(cfg.TRAINER.PLPP.ALIGN)

    def build_model(self) -> None:
        super().build_model()
        if isinstance(self.model, nn.DataParallel):
            raise RuntimeError("PLPP trains on one GPU: set CUDA_VISIBLE_DEVICES to a single device")
        plpp = self.cfg.TRAINER.PLPP
        print(f"Building the perplexity regulariser (frozen token embedding as labels and LM head; ALIGN {plpp.ALIGN})")
        self.regularizer = PerplexityRegularizer(
            self.token_embedding_weight(), topk=plpp.TOPK, label=plpp.LABEL, tau_label=plpp.TAU_LABEL,
            tau_lm=plpp.TAU_LM, detach_teacher=plpp.DETACH_TEACHER,
        ).to(self.device)
        self.signal_steps: List[Tuple[float, float]] = []  # (LM-head entropy, perplexity) of this epoch's steps
        self.signal_reported = self.signal_warned = False

    def perplexity_state_module(self) -> nn.Module:
        """The module whose outputs are the text encoder's final hidden states."""
        return self.model.text_encoder.ln_final

    def perplexity_inputs(self, states: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """(context vectors [S, M, d], the hidden states the LM head reads for them [S, M, d])."""
        raise NotImplementedError

    def lm_head_states(self, window: torch.Tensor, n_ctx: int) -> torch.Tensor:
        """The states read for p_1 .. p_M under ``TRAINER.PLPP.ALIGN``, from ``window`` [S, >= M + 1, d],
        the final hidden states from the position just before p_1 on."""
        return aligned_states(window, n_ctx, self.cfg.TRAINER.PLPP.ALIGN)

    def compute_loss(self, batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        plpp = self.cfg.TRAINER.PLPP
        if plpp.PPL_WEIGHT == 0 and plpp.INV_WEIGHT == 0:
            return super().compute_loss(batch)
        with captured_outputs(self.perplexity_state_module()) as states:
            host_loss, host_summary = super().compute_loss(batch)
        ctx, lm_states = self.perplexity_inputs(states)
        terms = self.regularizer(ctx, lm_states)
        loss = host_loss + plpp.PPL_WEIGHT * terms.ppl + plpp.INV_WEIGHT * terms.inv
        perplexity = self.regularizer.perplexity(ctx, lm_states)
        summary = {key: value for key, value in host_summary.items() if key != "acc"} or {"ce": host_loss.item()}
        summary.update(ppl=terms.ppl.item(), inv=terms.inv.item(), perplexity=perplexity)
        if "acc" in host_summary:
            summary["acc"] = host_summary["acc"]
        self.record_signal(terms.entropy.item(), perplexity)
        return loss, summary

    def record_signal(self, entropy: float, perplexity: float) -> None:
        self.signal_steps.append((entropy, perplexity))
        if not self.signal_reported:  # the first step scores the prompt the run starts from
            self.signal_reported = True
            self.report_signal("at start", entropy, perplexity)

    def after_epoch(self) -> None:
        if self.signal_steps:
            entropy, perplexity = (sum(values) / len(values) for values in zip(*self.signal_steps))
            self.signal_steps = []
            self.report_signal(f"epoch {self.epoch + 1}/{self.max_epoch} (mean over its steps)", entropy, perplexity)
        super().after_epoch()

    def report_signal(self, when: str, entropy: float, perplexity: float) -> None:
        reg = self.regularizer
        print(f"PLPP signal {when}: " + signal_report(entropy, reg.candidates, perplexity, reg.embedding.shape[0]))
        warning = no_signal_warning(entropy, reg.candidates)
        if warning and not self.signal_warned:
            self.signal_warned = True
            print(warning)


class ReferenceCoOpHost:
    """What this repository's shared trainer base gives a host, for a CoOp without it: the
    reference repository's (used only when this file is dropped into KaiyangZhou/CoOp)."""

    def token_embedding_weight(self) -> torch.Tensor:
        # The reference keeps no copy. Building CLIP draws random initial weights: the seeded RNG
        # must not move, or data order and augmentation would differ from CoOp's and ours.
        with torch.random.fork_rng(devices=[]):
            return load_clip_to_cpu(self.cfg).token_embedding.weight

    def autocast(self) -> contextlib.AbstractContextManager:
        amp = {"amp": torch.float16, "bf16": torch.bfloat16}.get(self.cfg.TRAINER.COOP.PREC)
        return torch.autocast("cuda", dtype=amp) if amp and self.device.type == "cuda" else contextlib.nullcontext()

    def compute_loss(self, batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        image, label = self.parse_batch_train(batch)
        output = self.model(image)
        return F.cross_entropy(output, label), {"acc": compute_accuracy(output, label)[0].item()}

    def forward_backward(self, batch) -> Dict[str, float]:
        with self.autocast():
            loss, summary = self.compute_loss(batch)
        scaler = getattr(self, "scaler", None)
        if scaler is None:  # fp16 and fp32: Dassl's own step
            self.model_backward_and_update(loss)
        else:
            self.optim.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(self.optim)
            scaler.update()
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return {"loss": loss.item(), **summary}


# In this repository CoOp already has what the plug-in needs; the reference CoOp gets it here.
_CoOpHost = CoOp if hasattr(CoOp, "compute_loss") else type("CoOp", (ReferenceCoOpHost, CoOp), {})


class CoOpContext:
    """How PLPP reads CoOp's context (KgCoOp's too: its prompt is CoOp's); the "context" hook
    that CoOp and KgCoOp offer plug-in trainers (trainers/plugins.py).

    The hidden states come from CoOp's own forward pass: CLIP's text transformer is causal, so
    the states at SOS and the context positions do not depend on the class name after them. With
    the class token at the end, a unified context therefore reads them from one class sequence,
    and class-specific contexts from every class sequence. With the class name in front or in the
    middle, the context is read on its own, from an extra "[SOS] p_1 ... p_M" sequence per context.
    """

    def perplexity_inputs(self, states: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        prompt_learner = self.model.prompt_learner
        ctx = prompt_learner.ctx if prompt_learner.ctx.dim() == 3 else prompt_learner.ctx.unsqueeze(0)
        n_seq, n_ctx = ctx.shape[:2]
        if prompt_learner.class_token_position == "end":
            return ctx, self.lm_head_states(states[0][:n_seq], n_ctx)

        # Context read on its own: "[SOS] p_1 ... p_M" padded to the prompt length. Nothing after
        # p_M can reach the states we read, so the padding is arbitrary; the EOT marker only
        # tells the text encoder where the sequence ends.
        prompt_length = prompt_learner.token_prefix.shape[1] + prompt_learner.n_ctx + prompt_learner.token_suffix.shape[1]
        sos = prompt_learner.token_prefix[:n_seq]
        padding = sos.new_zeros(n_seq, prompt_length - 1 - n_ctx, sos.shape[-1])
        tokens = torch.zeros(n_seq, prompt_length, dtype=torch.long)
        tokens[:, n_ctx + 1] = 1
        with captured_outputs(self.perplexity_state_module()) as context_states:
            self.model.text_encoder(torch.cat([sos, ctx, padding], dim=1), tokens)
        return ctx, self.lm_head_states(context_states[0], n_ctx)


@TRAINER_REGISTRY.register()
class PLPP(CoOpContext, PerplexityRegularized, _CoOpHost):
    """CoOp plus the perplexity regulariser on its context vectors (read as ``CoOpContext`` says)."""
