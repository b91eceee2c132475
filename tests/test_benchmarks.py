"""``python -m benchmarks``: every module is found, and the table says what was measured where."""
from benchmarks.__main__ import discover, markdown
from benchmarks.common import figure


def test_every_benchmark_module_is_discovered():
    names = discover()
    assert {"speed", "cache", "growth", "memory", "prefix"} <= set(names)
    assert not {"__main__", "common"} & set(names)


def test_markdown_table_has_the_machine_both_sides_and_the_ratio():
    rows = [{"benchmark": "cache", **figure("evaluation", "image tower run", 2.0, "cached", 0.5)},
            {"benchmark": "memory", **figure("peak", "one piece", 3200.0, "chunked", 300.0, unit="MB")},
            {"benchmark": "broken", "error": "RuntimeError: no"}]
    info = {"command": "python -m benchmarks --quick", "repeats": 3, "weights": "random",
            "machine": {"processor": "x86_64", "cpu_cores": 2, "device": "CPU", "torch": "2", "platform": "Linux"}}
    table = markdown(rows, info)
    assert "`python -m benchmarks --quick`" in table and "2 cores" in table
    assert "| cache | evaluation | image tower run: 2.00 s | cached: 500.0 ms | 4.00x |" in table
    assert "| memory | peak | one piece: 3,200 MB | chunked: 300 MB | 10.67x |" in table
    assert "| broken | RuntimeError: no |" in table
