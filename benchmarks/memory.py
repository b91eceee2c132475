"""Peak memory of PLPP's regulariser with class-specific contexts (CSC): one [S, 16, 49408]
similarity tensor (3.2 GB in fp32 at 1000 classes) against top-k similarities and LM-head words
computed a chunk of positions at a time (trainers/plpp.py), forward and backward, on random
tensors of CLIP ViT-B/16's width. Each side runs in a fresh process, the two alternately: on the CPU, the peak
resident memory (Linux's VmHWM, reset before the step) above the resident memory before it; on
CUDA, the peak allocated memory. 1000 classes (``--quick``: 100).
"""
import json
import statistics
import subprocess
import sys
from typing import Dict, List

from benchmarks.common import REPO, Context, context_from_args, figure

ONE_PIECE_BYTES = 2**40  # a chunk larger than any tensor here: the whole computation at once

CHILD = """
import json, sys, time
sys.path.insert(0, {repo!r})


def status_kib(field):
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith(field + ":")).split()[1])


import torch
import runtime  # noqa: F401  (selects the engine)
import trainers.plpp as plpp
plpp.SIMILARITY_CHUNK_BYTES = {chunk_bytes}
cuda = torch.cuda.is_available()
device = "cuda" if cuda else "cpu"
torch.manual_seed(0)
n_cls, n_ctx, width, vocab = {n_classes}, 16, 512, 49408
reg = plpp.PerplexityRegularizer(torch.randn(vocab, width).mul_(0.02), topk=32).to(device)
ctx = (torch.randn(n_cls, n_ctx, width, device=device) * 0.02).requires_grad_()
states = torch.randn(n_cls, n_ctx, width, device=device).requires_grad_()
if cuda:
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
else:
    with open("/proc/self/clear_refs", "w") as f:  # the peak resident memory restarts from now
        f.write("5")
    base = status_kib("VmRSS") * 1024
start = time.perf_counter()
terms = reg(ctx, states)
(terms.ppl + terms.inv).backward()
if cuda:
    torch.cuda.synchronize(); peak = torch.cuda.max_memory_allocated()
else:
    peak = status_kib("VmHWM") * 1024
print(json.dumps({{"peak_mb": (peak - base) / 2**20, "seconds": time.perf_counter() - start,
                  "loss": (terms.ppl + terms.inv).item(), "grad_sum": ctx.grad.abs().sum().item()}}))
"""


def measure(n_classes: int, chunk_bytes: int) -> Dict:
    script = CHILD.format(repo=REPO, chunk_bytes=chunk_bytes, n_classes=n_classes)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def figures(ctx: Context) -> List[Dict]:
    import trainers.plpp as plpp

    n_classes = 100 if ctx.quick else 1000
    pairs = [(measure(n_classes, ONE_PIECE_BYTES), measure(n_classes, plpp.SIMILARITY_CHUNK_BYTES)) for _ in range(ctx.repeats)]

    def median(side: int, key: str) -> float:
        return statistics.median(pair[side][key] for pair in pairs)

    one_piece, chunked = pairs[0]
    same = abs(one_piece["loss"] - chunked["loss"]) <= 1e-5 * abs(one_piece["loss"])
    return [
        figure(f"PLPP regulariser peak memory, CSC, {n_classes} classes (forward + backward)", "one piece",
               median(0, "peak_mb"), "chunked (ours)", median(1, "peak_mb"), unit="MB", same_loss=same,
               loss_one_piece=one_piece["loss"], loss_chunked=chunked["loss"]),
        figure(f"PLPP regulariser forward + backward time, CSC, {n_classes} classes", "one piece", median(0, "seconds"),
               "chunked (ours)", median(1, "seconds")),
    ]


if __name__ == "__main__":
    from benchmarks.__main__ import print_figures

    print_figures(figures(context_from_args(__doc__)))
