"""PNG plots: few-shot curves (with the published points beside ours) and base-to-new bars, one
colour per method in every panel, the methods in the tables' order.

matplotlib is imported only when a plot is drawn, and through a bare ``Figure`` (Agg), so the
results command leaves pyplot's state and the caller's backend alone.
"""
from collections import defaultdict
from typing import Dict, List, Sequence

from .aggregate import Entry, method_rank
from .discover import Method
from .paper import PaperCell
from .protocols import AVERAGE, dataset_order, dataset_title

PLOT_FILES = ("fewshot_curves.png", "base2new_bars.png")


def method_colours(methods: List[Method]) -> Dict[Method, str]:
    """The same colour for a method in every panel."""
    import matplotlib

    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cycle[i % len(cycle)] for i, m in enumerate(methods)}


def plotted_datasets(entries: List[Entry]) -> List[str]:
    """The datasets in order, and the average unless the methods average over different datasets
    (bars or points side by side would then not compare)."""
    datasets = sorted({e.dataset for e in entries}, key=dataset_order)
    overs = defaultdict(set)
    for e in entries:
        if e.dataset == AVERAGE:
            overs[e.column].add(e.summary.over)
    if any(len(over) > 1 for over in overs.values()):
        datasets.remove(AVERAGE)
    return datasets


def save_with_legend(fig, path: str) -> None:
    """One legend for all panels, below them. A bare ``Figure`` renders with Agg and leaves
    pyplot's global state (and the caller's backend) alone."""
    legend = {}
    for ax in fig.axes:
        handles, labels = ax.get_legend_handles_labels()
        legend.update(zip(labels, handles))
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=min(4, len(legend)), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=120)


def plot_fewshot(entries: List[Entry], path: str, metric: str, published: Sequence[PaperCell] = ()) -> bool:
    """Save ``fewshot_figure`` to ``path``; False (no file) without few-shot results."""
    fig = fewshot_figure(entries, metric, published)
    if fig is None:
        return False
    save_with_legend(fig, path)
    return True


def fewshot_figure(entries: List[Entry], metric: str, published: Sequence[PaperCell] = ()):
    """Accuracy vs shots, one line per method (zero-shot CLIP dashed), one panel per dataset and
    one for the average; a method's published points (``toolkit.published``) beside its curve as
    crosses on a dotted line of its colour. None without few-shot results."""
    from matplotlib.figure import Figure

    curves = [e for e in entries if e.protocol == "fewshot"]
    if not any(e.shots for e in curves):
        return None
    methods = sorted({e.method for e in curves}, key=method_rank)
    colours = method_colours(methods)
    panels = plotted_datasets(curves)
    shots = sorted({e.shots for e in curves if e.shots})
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(4 * ncols, 3.2 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).flat
    for ax, dataset in zip(axes, panels):
        for method in methods:
            points = sorted((e for e in curves if e.method == method and e.dataset == dataset), key=lambda e: e.shots)
            for zero_shot in (e for e in points if e.shots == 0):
                ax.axhline(zero_shot.summary.mean, color=colours[method], linestyle="--", label=method.label)
            trained = [e for e in points if e.shots]
            if trained:
                means, errors = [e.summary.mean for e in trained], [e.summary.std or 0.0 for e in trained]
                ax.errorbar(
                    [e.shots for e in trained],
                    means,
                    yerr=errors,
                    marker="o",
                    capsize=3,
                    color=colours[method],
                    label=method.label,
                )
            paper = sorted((int(c.column.split()[0]), c.published) for c in published
                           if c.protocol == "fewshot" and c.method == method and c.dataset == dataset)
            if paper:
                ax.plot(*zip(*paper), marker="x", linestyle=":", color=colours[method], label=f"{method.label} (published)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(shots, [str(s) for s in shots])
        ax.set(title=dataset_title(dataset), xlabel="shots per class", ylabel=f"{metric} (%)")
    for ax in list(fig.axes)[len(panels) :]:
        ax.axis("off")
    return fig


def plot_base2new(entries: List[Entry], path: str, metric: str) -> bool:
    """Grouped bars per dataset (and the average), one bar per method, panels Base / New / HM.
    Returns False (no file) without base-to-new results."""
    from matplotlib.figure import Figure

    b2n = [e for e in entries if e.protocol == "base2new"]
    if not b2n:
        return False
    methods = sorted({e.method for e in b2n}, key=method_rank)
    colours = method_colours(methods)
    datasets = plotted_datasets(b2n)
    width = 0.8 / len(methods)
    fig = Figure(figsize=(max(8.0, 0.4 * len(datasets) * (len(methods) + 1)), 9))
    axes = fig.subplots(3, 1, sharex=True)
    for ax, column in zip(axes, ("Base", "New", "HM")):
        values = {(e.method, e.dataset): e.summary for e in b2n if e.column == column}
        for i, method in enumerate(methods):
            xs = [j for j, d in enumerate(datasets) if (method, d) in values]
            bars = [values[method, datasets[j]] for j in xs]
            offsets = [x + (i - (len(methods) - 1) / 2) * width for x in xs]
            errors = [s.std or 0.0 for s in bars]
            ax.bar(
                offsets,
                [s.mean for s in bars],
                width,
                yerr=errors,
                capsize=2,
                color=colours[method],
                label=method.label,
            )
        ax.set_ylabel(f"{column} {metric} (%)")
    axes[-1].set_xticks(range(len(datasets)), [dataset_title(d) for d in datasets], rotation=30, ha="right")
    save_with_legend(fig, path)
    return True
