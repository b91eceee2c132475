"""Data-parallel training over the processes ``torchrun --nproc_per_node N train.py ...`` starts.

One run on N processes trains exactly as one process does (up to floating-point rounding):

- Batch size: ``DATALOADER.TRAIN_X.BATCH_SIZE`` is the global batch B. Each epoch the batches of
  one process (the same order, drawn by rank 0 and shared) are cut into N equal shards of B/N
  images, one per process, so B must split evenly (as must a split smaller than B, which gives
  one batch). The learning rate is the one-process learning rate: nothing is rescaled, because
  the update is the same.
- Gradients: before every optimiser step, the trainable parameters' gradients are averaged over
  the processes (equal shards: the gradient of the global batch's mean loss); the parameters are
  broadcast from rank 0 when a model is registered. The model is never wrapped (no
  DistributedDataParallel, never DataParallel): trainers keep their own forward passes.
- Evaluation: each process evaluates every N-th test batch; all receive every batch's outputs,
  in order, so the evaluator prints the same result block as one process.
- Logging, checkpoints and run records: rank 0 only (``runtime/distributed.py`` gives the other
  ranks a scratch output folder and no console).

The backend is NCCL on CUDA and gloo on the CPU.
"""
import os
from typing import Callable, Iterator, List, Sequence, Tuple

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    return rank() == 0


def join_process_group(use_cuda: bool = True) -> int:
    """Join the process group torchrun describes in the environment (once); returns the rank
    (0 for a run on one process)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    if not dist.is_initialized():
        cuda = use_cuda and torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return rank()


class ShardedBatchSampler(Sampler):
    """The batches one process draws from ``sampler`` with ``batch_size``, each cut into
    world-size equal shards, of which this process yields its own. Every process iterates
    ``sampler`` (so random states advance alike) and all use rank 0's order."""

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool):
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last
        n, world = len(sampler), world_size()
        self.sizes = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size and not drop_last else [])
        uneven = sorted({size for size in self.sizes if size % world})
        if uneven:
            raise ValueError(
                f"A batch of {uneven[0]} training images cannot be split evenly over {world} processes; choose "
                f"DATALOADER.TRAIN_X.BATCH_SIZE (the global batch) and a split size divisible by --nproc_per_node"
            )

    def __len__(self) -> int:
        return len(self.sizes)

    def __iter__(self) -> Iterator[List[int]]:
        order = [list(iter(self.sampler))]
        dist.broadcast_object_list(order, src=0)
        start, me, world = 0, rank(), world_size()
        for size in self.sizes:
            shard = size // world
            yield order[0][start + me * shard : start + (me + 1) * shard]
            start += size


def synchronize_training(module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Start every process from rank 0's parameters and average gradients before each step."""
    for param in module.parameters():
        dist.broadcast(param.data, src=0)

    def average_gradients(opt, _args, _kwargs) -> None:
        params = [p for group in opt.param_groups for p in group["params"] if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= world_size()
        offset = 0
        for p in params:
            p.grad.copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()

    optimizer.register_step_pre_hook(average_gradients)


def evaluate_batches(loader, infer: Callable[[dict], Tuple[torch.Tensor, torch.Tensor]]
                     ) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """(outputs, labels) of every batch of ``loader`` in order, ``infer(batch)`` computing them.

    With several processes each computes every world-size-th batch of a ``DataLoader`` and all
    receive all of them (any other iterable is evaluated whole by every process)."""
    world = world_size()
    if world == 1 or not isinstance(loader, DataLoader):
        for batch in tqdm(loader):
            yield infer(batch)
        return
    batches: Sequence[List[int]] = list(loader.batch_sampler)
    mine = DataLoader(loader.dataset, batch_sampler=batches[rank()::world], num_workers=loader.num_workers,
                      collate_fn=loader.collate_fn, pin_memory=loader.pin_memory)
    local = [tuple(t.cpu() for t in infer(batch)) for batch in tqdm(mine)]
    gathered: List[List[Tuple[torch.Tensor, torch.Tensor]]] = [[] for _ in range(world)]
    dist.all_gather_object(gathered, local)
    for i in range(len(batches)):
        yield gathered[i % world][i // world]
