"""``torchrun --nproc_per_node N train.py ...``: one run on N processes (the bundled engine's
data parallelism, ``compat/dassl/utils/distributed.py``, says how batches, gradients and
evaluation are shared). Rank 0 is the run as a single process makes it: console, log, output
folder, lock and run records. The other ranks train and evaluate alongside it silently, writing
their (identical) checkpoints into a scratch folder that is removed at the end; they resume from
the run's own folder.
"""
import contextlib
import os
import shutil
import sys
import tempfile


def join(cfg) -> int:
    """Join torchrun's process group when started by it; returns this process's rank (0 alone)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    from dassl.utils.distributed import join_process_group

    return join_process_group(cfg.USE_CUDA)


def run_worker(args, cfg) -> None:
    """What a rank other than 0 does: rank 0's run, without console, log, records or lock."""
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed

    scratch = tempfile.mkdtemp(prefix=f"plpp-rank{os.environ.get('RANK', '')}-")
    cfg.defrost()
    cfg.RESUME = cfg.RESUME or cfg.OUTPUT_DIR
    cfg.OUTPUT_DIR = scratch
    cfg.freeze()
    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            if cfg.SEED >= 0:
                set_random_seed(cfg.SEED)
            trainer = build_trainer(cfg)
            if args.eval_only:
                trainer.load_model(args.model_dir, epoch=args.load_epoch)
                trainer.test()
            elif not args.no_train:
                trainer.train()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        sys.stdout.flush()
