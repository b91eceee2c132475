"""The tables as text for a terminal, Markdown (``results.md``) and LaTeX (``results.tex``)."""
import os.path as osp
from typing import Callable, List

from .ablation import ablation_tables
from .protocols import PROTOCOLS
from .report import Report
from .reproduction import paper_table, reproduction_lines, reproduction_table
from .tables import STD_NOTE, Table, protocol_tables, seed_table

# What LaTeX treats as markup in the method, config and dataset names and the notes.
LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "−": "$-$",
    "–": "--",
    "Δ": r"$\Delta$",
    "·": r"$\cdot$",
    "✗": r"$\times$",
}


def render_text(table: Table) -> str:
    """Aligned columns for a terminal: names left, numbers right."""
    widths = [max(len(line[i]) for line in [table.header] + table.rows) for i in range(len(table.header))]

    def line(cells: List[str]) -> str:
        pairs = enumerate(zip(cells, widths))
        return "  ".join(cell.ljust(w) if i < table.names else cell.rjust(w) for i, (cell, w) in pairs)

    lines = [table.title, line(table.header), "  ".join("-" * w for w in widths)] + [line(row) for row in table.rows]
    return "\n".join(lines + [f"  {note}" for note in table.notes])


def render_markdown(table: Table) -> str:
    lines = [f"### {table.title}", "", "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(lines + [""] + [f"{note}  " for note in table.notes])


def latex_escape(text: str) -> str:
    return "".join(LATEX_ESCAPES.get(char, char) for char in text)


def render_latex(table: Table) -> str:
    """A booktabs ``table`` with the title as caption and the notes as comments."""
    spec = "l" * table.names + "r" * (len(table.header) - table.names)

    def line(cells: List[str]) -> str:
        return " & ".join(latex_escape(cell) for cell in cells) + r" \\"

    body = [line(row) for row in table.rows]
    return "\n".join(
        [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(table.title)}}}"]
        + [rf"\begin{{tabular}}{{{spec}}}"]
        + [r"\toprule", line(table.header), r"\midrule", *body, r"\bottomrule", r"\end{tabular}"]
        + [f"% {note}" for note in table.notes]
        + [r"\end{table}"]
    )


def selected_tables(report: Report) -> List[List[Table]]:
    """The tables of each selected protocol, in the protocols' order, each protocol's
    published-vs-ours table last."""
    return [with_paper(report, protocol_tables(report, PROTOCOLS[name])
                       + ablation_tables(PROTOCOLS[name], report.entries), name) for name in report.protocols]


def with_paper(report: Report, tables: List[Table], protocol: str) -> List[Table]:
    paper = paper_table(report, PROTOCOLS[protocol]) if tables else None
    return tables + ([paper] if paper else [])


def reproduction_tables(report: Report) -> List[Table]:
    table = reproduction_table(report)
    return [table] if table else []


def report_text(report: Report) -> str:
    parts = []
    for name, tables in zip(report.protocols, selected_tables(report)):
        if tables:
            parts.append(f"== {PROTOCOLS[name].title} ==\n\n" + "\n\n".join(render_text(t) for t in tables))
    reproduction = reproduction_lines(report)
    if reproduction:
        parts.append("\n".join(reproduction))
    if report.notes:
        parts.append(f"Warnings ({len(report.notes)}):\n" + "\n".join(f"  warning: {n.message}" for n in report.notes))
    else:
        parts.append("No warnings.")
    if report.files:
        parts.append("Files:\n" + "\n".join(f"  {f}" for f in report.files))
    return "\n\n".join(parts)


def per_seed_tables(report: Report, render: Callable[[Table], str]) -> List[str]:
    chosen = [(name, [e for e in report.entries if e.protocol == name]) for name in report.protocols]
    return [render(seed_table(PROTOCOLS[name], entries)) for name, entries in chosen if entries]


def report_markdown(report: Report, plots: List[str]) -> str:
    lines = [f"# Results: {report.root}", "", f"Metric: {report.metric}. {STD_NOTE}.", ""]
    lines += [render_markdown(table) + "\n" for tables in selected_tables(report) for table in tables]
    for table in reproduction_tables(report):
        lines += ["## Reproduction report", "", render_markdown(table) + "\n"]
    lines += ["## Warnings", ""] + ([f"- {n.message}" for n in report.notes] or ["None."]) + [""]
    lines += [f"![{osp.basename(p)}]({osp.basename(p)})\n" for p in plots]
    lines += ["## Per-seed values", ""]
    lines += [table + "\n" for table in per_seed_tables(report, render_markdown)]
    return "\n".join(lines)


def report_latex(report: Report) -> str:
    """Every table as a LaTeX float (``\\usepackage{booktabs}``), the per-seed ones last."""
    header = f"% Results: {report.root}; metric: {report.metric}; {STD_NOTE}\n% needs \\usepackage{{booktabs}}"
    tables = [render_latex(table) for tables in selected_tables(report) for table in tables]
    tables += [render_latex(table) for table in reproduction_tables(report)]
    return "\n\n".join([header] + tables + per_seed_tables(report, render_latex)) + "\n"
