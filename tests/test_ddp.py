"""torchrun with the bundled engine: 2 gloo processes with global batch B train and evaluate as
1 process with batch B (same prompt within 1e-6, same result block); rank 0 alone writes."""
import os
import re
import subprocess
import sys

import pytest
import torch
from torch.utils.data import RandomSampler

from runs import REPO, make_dataset, read_log, run_train, train_args

# Deterministic transforms: each process draws its own augmentations, so with random crops the
# runs agree in distribution only.
OPTS = ["OPTIM.MAX_EPOCH", "2", "TRAINER.COOP.N_CTX", "4", "INPUT.TRANSFORMS", "['normalize']",
        "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "DATALOADER.TEST.BATCH_SIZE", "8"]
RESULT_BLOCK = re.compile(r"^=> result\n(?:\* .*\n)+", re.M)


def test_shards_of_two_processes_make_up_the_one_process_batches(monkeypatch):
    """Rank 0's and rank 1's shards of each batch, side by side, are one process's batch."""
    from dassl.utils import distributed

    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setattr(distributed.dist, "broadcast_object_list", lambda objects, src: None)
    data = list(range(21))
    shards = {}
    for rank in (0, 1):
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        torch.manual_seed(3)
        shards[rank] = list(distributed.ShardedBatchSampler(RandomSampler(data), batch_size=6, drop_last=True))
    torch.manual_seed(3)
    order = list(RandomSampler(data))
    expected = [order[i : i + 6] for i in range(0, 18, 6)]
    assert [a + b for a, b in zip(shards[0], shards[1])] == expected
    assert all(len(shard) == 3 for shard in shards[0] + shards[1])

    with pytest.raises(ValueError, match="cannot be split evenly over 2 processes"):
        distributed.ShardedBatchSampler(RandomSampler(data), batch_size=7, drop_last=True)


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process(tmp_path, clip_checkpoint):
    data_root = make_dataset(str(tmp_path / "data"))
    single, double = str(tmp_path / "one"), str(tmp_path / "two")
    run_train(train_args(data_root, single, opts=OPTS))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               os.path.join(REPO, "train.py"), *train_args(data_root, double, opts=OPTS)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    def prompt(out):
        checkpoint = torch.load(os.path.join(out, "prompt_learner", "model.pth.tar-2"), weights_only=False)
        return checkpoint["state_dict"]["ctx"]

    assert (prompt(single) - prompt(double)).abs().max() <= 1e-6
    one_log, two_log = read_log(single), read_log(double)
    assert RESULT_BLOCK.findall(two_log) == RESULT_BLOCK.findall(one_log) != []
    # Same batches per epoch: the global batch, not the per-process one, sets the count.
    batches = re.findall(r"^epoch \[\d+/2\] batch \[\d+/(\d+)\]", one_log, re.M)
    assert re.findall(r"^epoch \[\d+/2\] batch \[\d+/(\d+)\]", two_log, re.M) == batches
    # Only rank 0 logs and writes; one set of records.
    assert two_log.count("=> result") == one_log.count("=> result")
    assert sorted(os.listdir(double)) == sorted(os.listdir(single))
