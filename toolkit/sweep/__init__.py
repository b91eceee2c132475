"""Sweeps: every run of a paper table, on this machine or a SLURM cluster, through submitit
(``python -m toolkit.sweep``; see ``cli.py``)."""
