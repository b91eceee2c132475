"""The published-vs-ours tables (one per protocol) and the reproduction report (what did not
reproduce, worst first), as ``Table``s every renderer writes; the numbers come from ``paper``."""
from typing import List, Optional

import toolkit.published as published
from toolkit.published.data import NOT_FOUND

from .paper import HEADER, ordered, protocol_notes, report_line, row, worst_first
from .protocols import PROTOCOLS, Protocol
from .report import Report
from .tables import Table


def paper_table(report: Report, protocol: Protocol) -> Optional[Table]:
    """Ours beside the published numbers for one protocol; None without a published counterpart
    (or with ``--no-published``)."""
    if not report.compare_published:
        return None
    cells = [c for c in report.paper if c.protocol == protocol.name]
    methods = sorted({e.method for e in report.entries if e.protocol == protocol.name})
    if not cells and not methods:
        return None
    unpublished = any(published.not_published(m.trainer) for m in methods)
    if not cells and not unpublished and protocol.name not in NOT_FOUND:
        return None  # nothing published for these methods, and nothing more to say
    notes = protocol_notes(protocol.name, cells, methods)
    if not cells:
        return Table(f"{protocol.title}: published vs ours", ["Published"], [["none for these methods (notes below)"]],
                     notes)
    return Table(f"{protocol.title}: published vs ours", HEADER, [row(c) for c in ordered(cells)], notes, 3)


def reproduction_table(report: Report) -> Optional[Table]:
    """Every cell that does not reproduce, worst (largest |Δ|) first; None when nothing compared."""
    if not report.compare_published or not report.paper:
        return None
    failed = worst_first(report.paper)
    rows = [[PROTOCOLS[c.protocol].title] + row(c)[:-1] for c in failed]
    compared = len(report.paper)
    note = f"{len(failed)} of {compared} published numbers compared do not reproduce" if failed else (
        f"all {compared} published numbers compared reproduce")
    return Table("Reproduction report", ["Protocol"] + HEADER[:-1], rows, [note], 4)


def reproduction_lines(report: Report) -> List[str]:
    """The reproduction report for the terminal: one line per failed cell, worst first."""
    table = reproduction_table(report)
    if table is None:
        return []
    return ["Reproduction report: " + table.notes[0]] + [f"  ✗ {report_line(c)}" for c in worst_first(report.paper)]
