"""Train or evaluate a prompt learner on CLIP, with CoOp's command line (``--help`` lists it).

The command line and the run live in ``runtime/cli.py``, so nothing has to import this file.
"""
from runtime.cli import entry_point

if __name__ == "__main__":
    entry_point()
