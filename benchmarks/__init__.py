"""Speed and memory benchmarks; ``python -m benchmarks`` runs every one (``benchmarks/__main__.py``).

A benchmark is a module ``benchmarks/<name>.py`` with ``figures(ctx: benchmarks.common.Context)
-> List[dict]``, each figure made by ``benchmarks.common.figure`` (two sides measured alternately
in one run, and their ratio). A module with only a ``main()`` is run as a script and its output
quoted, so nothing a method issue adds is left out.
"""
