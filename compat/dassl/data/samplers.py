"""``build_sampler``: torch's random and sequential samplers under Dassl's names."""
from typing import Any, Optional, Sequence

from torch.utils.data.sampler import RandomSampler, Sampler, SequentialSampler

# Dassl's domain-generalisation samplers; CoOp-family training never uses them.
NOT_BUNDLED = ("RandomDomainSampler", "SeqDomainSampler", "RandomClassSampler")


def build_sampler(
    sampler_type: str,
    cfg: Optional[Any] = None,
    data_source: Optional[Sequence[Any]] = None,
    batch_size: int = 32,
    n_domain: int = 0,
    n_ins: int = 16,
) -> Sampler:
    """A sampler over ``data_source`` (shuffling uses torch's global RNG, as in Dassl)."""
    if sampler_type == "RandomSampler":
        return RandomSampler(data_source)
    if sampler_type == "SequentialSampler":
        return SequentialSampler(data_source)
    if sampler_type in NOT_BUNDLED:
        raise ValueError(
            f'Sampler "{sampler_type}" is a Dassl domain-generalisation sampler that the bundled engine '
            "does not include; use RandomSampler or SequentialSampler, or install real Dassl"
        )
    raise ValueError(f'Unknown sampler "{sampler_type}"; use RandomSampler or SequentialSampler')
