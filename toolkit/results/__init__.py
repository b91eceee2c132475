"""The results command (``python -m toolkit.results``, see ``cli``): run folders in, tables out.

One module per step: ``logs`` (one run's result, from our logs and the reference repositories'),
``discover`` (the output layouts), ``aggregate`` (seeds into means, HM, averages, differences),
``checks`` (warnings), ``paper`` and ``reproduction`` (ours beside the published numbers of
``toolkit.published``, and what did not reproduce), ``report`` (all of it in one pass), ``tables`` and ``render`` (text,
Markdown, LaTeX), ``files`` (CSV, JSON), ``plots`` (PNG) and ``cli``.
"""
from .cli import main
from .files import write_outputs
from .logs import read_log, read_run
from .render import report_text
from .report import Report, collect

__all__ = ["Report", "collect", "main", "read_log", "read_run", "report_text", "write_outputs"]
