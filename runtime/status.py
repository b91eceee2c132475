"""Exit statuses of ``train.py``, shared by the protocol scripts, the sweep and SLURM requeueing."""

OK = 0
FAILED = 1  # an unexpected error (a traceback is printed)
BAD_INPUT = 2  # bad input: one line on stderr says what to do; nothing in the output folder changed
BUSY = 3  # another run holds the output folder (its PID and host are named)
DIVERGED = 4  # a non-finite loss or weight stopped training (one line names the epoch, batch and last good checkpoint)
INTERRUPTED = 75  # stopped by SIGTERM/SIGUSR1 after saving a resumable checkpoint: rerun to continue
CTRL_C = 130  # stopped by Ctrl-C (SIGINT)
