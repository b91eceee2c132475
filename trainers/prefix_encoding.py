"""The shared start of every class prompt, encoded once (``MODEL.SHARED_PREFIX``, default on).

CLIP's text transformer is causal: the hidden states of the positions every class prompt shares
("[SOS] p_1 ... p_M", and any fixed words after them) do not depend on the class name that
follows. They are computed once (``encode_prefix``: once per prompt, or once per image for
CoCoOp), and each class's remaining tokens, the suffix, runs alone (``encode_suffixes``): in
every block its queries attend to the prefix's keys and values, then to its own under the
causal mask, with the positional embeddings of the positions it holds in the full sequence.
That is the full sequence's computation, row by row, up to float rounding; only the order of
the softmax's sums differs.

Queries, keys and values come from each stock ``clip.model`` block's own ``nn.MultiheadAttention``
weights, so no fork of CLIP is needed. Suffixes are grouped by length (``length_buckets``) and
each group is trimmed to its longest end-of-text (EOT) position, so short class names do not pay
for long ones. ``ln_final`` runs twice per encoding: first on the prefix's final states (a hook
on it sees them as a full pass would show them; PLPP's LM head reads them), then on the EOT
states of every suffix.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .backbone import BlockHook, TextEncoder, causal_mask

MAX_BUCKETS = 4  # suffix length groups per encoding: fewer padded tokens against more, smaller passes


def extend_cfg(cfg) -> None:
    """Add ``MODEL.SHARED_PREFIX``: encode the prompts' shared prefix once (True) or every class's
    full (trimmed) sequence as before this option (False; for comparison and debugging)."""
    cfg.MODEL.SHARED_PREFIX = True


def shared_prefix_enabled(cfg, clip_model: torch.nn.Module) -> bool:
    """``MODEL.SHARED_PREFIX`` (on where a hand-built config lacks the key), where the text tower
    allows it: causal CLIP-style attention (in a bidirectional tower such as SigLIP's, the prefix's
    states depend on what follows it) in blocks without open_clip's layer scale, which the
    block-by-block suffix pass does not apply."""
    if not cfg.get("MODEL", {}).get("SHARED_PREFIX", True) or not getattr(clip_model, "clip_style_text", True):
        return False
    return all(isinstance(getattr(block, name, None), (torch.nn.Identity, type(None)))
               for block in clip_model.transformer.resblocks for name in ("ls_1", "ls_2", "ln_attn"))


def common_prefix_length(tokens: torch.Tensor) -> int:
    """Leading positions whose token is the same in every prompt of ``tokens`` [n, 77], stopping
    before the first EOT so that every suffix keeps its own EOT."""
    same = (tokens == tokens[:1]).all(dim=0).int()
    shared = int(same.cumprod(dim=0).sum())
    return min(shared, int(tokens.argmax(dim=-1).min()))


class PrefixStates(NamedTuple):
    keys: List[torch.Tensor]  # per block, the prefix's keys [P, Lp, heads, head_dim]
    values: List[torch.Tensor]  # per block, its values, same shape
    final: torch.Tensor  # its final states after ln_final [P, Lp, d]

    def select(self, start: int, end: int) -> "PrefixStates":
        """The states of prefixes start .. end-1."""
        return PrefixStates([k[start:end] for k in self.keys], [v[start:end] for v in self.values], self.final[start:end])


def split_heads(x: torch.Tensor, attn: torch.nn.MultiheadAttention) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Queries (scaled), keys and values [..., L, heads, head_dim] of x [..., L, d], from the
    block's own in-projection."""
    if not attn._qkv_same_embed_dim or attn.batch_first:
        raise ValueError("the shared-prefix text encoding needs CLIP's attention blocks (one in_proj_weight, "
                         "sequence-first); set MODEL.SHARED_PREFIX False for this text tower")
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.view(*x.shape[:-1], 3, attn.num_heads, attn.head_dim).unbind(-3)
    return q * attn.head_dim ** -0.5, k, v


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, prefix_k: Optional[torch.Tensor] = None,
           prefix_v: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Causal attention of q, k, v [P, C, L, H, hd] (C sequences per prefix), each query also
    seeing all of its prefix's keys and values [P, Lp, H, hd]; returns [P, C, L, H * hd]."""
    own = torch.einsum("pcqhd,pckhd->pchqk", q, k)
    own = own + causal_mask(q.shape[2], own.dtype, own.device)
    if prefix_k is None:
        probs = own.softmax(dim=-1)
        out = torch.einsum("pchqk,pckhd->pcqhd", probs, v)
    else:
        scores = torch.cat([torch.einsum("pcqhd,pkhd->pchqk", q, prefix_k), own], dim=-1)
        probs = scores.softmax(dim=-1)
        n_prefix = prefix_k.shape[1]
        out = (torch.einsum("pchqk,pkhd->pcqhd", probs[..., :n_prefix], prefix_v)
               + torch.einsum("pchqk,pckhd->pcqhd", probs[..., n_prefix:], v))
    return out.flatten(-2)


def run_block(block, x: torch.Tensor, prefix_k: Optional[torch.Tensor] = None, prefix_v: Optional[torch.Tensor] = None
              ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One residual attention block on x [P, C, L, d]; returns (output, keys, values)."""
    attn = block.attn
    q, k, v = split_heads(block.ln_1(x), attn)
    out = attend(q, k, v, prefix_k, prefix_v)
    x = x + F.linear(out, attn.out_proj.weight, attn.out_proj.bias)
    return x + block.mlp(block.ln_2(x)), k, v


def encode_prefix(encoder: TextEncoder, prefix: torch.Tensor, before_block: Optional[BlockHook] = None) -> PrefixStates:
    """The blocks' keys and values of the shared prefix embeddings [P, Lp, d] (one per prompt
    family: P = 1, or one per image), and its final states. ``before_block`` (deep prompting)
    may replace prefix positions at a block's input, as in ``TextEncoder.run_transformer``."""
    x = (prefix + encoder.positional_embedding[: prefix.shape[1]].type(encoder.dtype)).unsqueeze(1)
    keys, values = [], []
    for index, block in enumerate(encoder.transformer.resblocks):
        if before_block is not None:
            x = before_block(index, x[:, 0].permute(1, 0, 2)).permute(1, 0, 2).unsqueeze(1)
        x, k, v = run_block(block, x)
        keys.append(k[:, 0])
        values.append(v[:, 0])
    return PrefixStates(keys, values, encoder.ln_final(x[:, 0]))


def encode_with_prefix(encoder: TextEncoder, prefix: torch.Tensor, suffix: torch.Tensor, eot: torch.Tensor,
                       before_block: Optional[BlockHook] = None) -> torch.Tensor:
    """Projected EOT features [P, C, embed_dim] of the prompts prefix [P, Lp, d] + suffix [C, Ls, d]
    (``encode_prefix`` then ``encode_suffixes``)."""
    return encode_suffixes(encoder, encode_prefix(encoder, prefix, before_block), suffix, eot)


def encode_suffixes(encoder: TextEncoder, states: PrefixStates, suffix: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
    """Projected EOT features [P, C, embed_dim] of every suffix after every prefix.

    suffix [C, Ls, d]: the embeddings after the prefix (padded; tokens after a suffix's EOT never
    reach it); eot [C]: each EOT's index in its suffix. Suffixes are encoded in length groups;
    their EOT states then pass ``ln_final`` and the projection together.
    """
    groups = length_buckets(eot.tolist())  # before moving eot: no device synchronisation
    eot = eot.to(suffix.device)
    eot_states = []
    for group in groups:
        index = torch.tensor(group, device=suffix.device)
        eot_states.append(suffix_eot_states(encoder, states, suffix[index, : int(eot[index].max()) + 1], eot[index]))
    order = torch.tensor([cls for group in groups for cls in group], device=suffix.device)
    x = torch.cat(eot_states, dim=1)[:, torch.argsort(order)]
    return encoder.ln_final(x).type(encoder.dtype) @ encoder.text_projection


def suffix_eot_states(encoder: TextEncoder, states: PrefixStates, suffix: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
    """The last block's output at each EOT [P, C, d], for suffixes trimmed to one length."""
    n_prefix = states.final.shape[1]
    position = encoder.positional_embedding[n_prefix : n_prefix + suffix.shape[1]].type(encoder.dtype)
    x = (suffix + position).unsqueeze(0).expand(states.final.shape[0], -1, -1, -1)
    for block, k, v in zip(encoder.transformer.resblocks, states.keys, states.values):
        x = run_block(block, x, k, v)[0]
    return x[:, torch.arange(x.shape[1], device=x.device), eot]


def length_buckets(lengths: Sequence[int], max_buckets: int = MAX_BUCKETS) -> List[List[int]]:
    """Indices grouped by length (at most ``max_buckets`` groups), so that the padded tokens,
    sum over groups of size x longest length, are fewest (dynamic programming over the sorted
    distinct lengths)."""
    distinct = sorted(set(lengths))
    count = [sum(1 for n in lengths if n <= d) for d in distinct]  # how many have length <= distinct[i]
    # cost[b][i]: fewest padded tokens covering lengths <= distinct[i] with at most b + 1 groups;
    # cut[b][i]: where the last of those groups starts
    cost = [[0] * len(distinct) for _ in range(max_buckets)]
    cut = [[0] * len(distinct) for _ in range(max_buckets)]
    for i, d in enumerate(distinct):
        cost[0][i] = count[i] * (d + 1)
    for b in range(1, max_buckets):
        for i, d in enumerate(distinct):
            cost[b][i], cut[b][i] = cost[b - 1][i], cut[b - 1][i]
            for j in range(i):  # last group: lengths distinct[j+1 .. i]
                candidate = cost[b - 1][j] + (count[i] - count[j]) * (d + 1)
                if candidate < cost[b][i]:
                    cost[b][i], cut[b][i] = candidate, j + 1
    bounds, b, i = [], max_buckets - 1, len(distinct) - 1
    while i >= 0:
        start = cut[b][i]
        bounds.append((distinct[start], distinct[i]))
        i, b = start - 1, max(b - 1, 0)
    groups = [[k for k, n in enumerate(lengths) if low <= n <= high] for low, high in reversed(bounds)]
    return [g for g in groups if g]
