"""The README's quick-start figures: what `bgsplit-experiment --flagfile=flags/demo.cfg` printed on a
fresh clone, from the output folder of that run, committed as benchmarks/results/demo/ (results.csv and
results.md, written by the experiment harness)."""

from __future__ import annotations

import pathlib

from bgsplit_tf.experiments import comparison
from bgsplit_tf.reports import paper_comparison, results_files

RESULTS = pathlib.Path("benchmarks/results/demo")
WALL_TIME_LINE = "Wall time of this invocation: "


def demo_values(repo: pathlib.Path) -> dict[str, str]:
    """The demo's test mAP table, Background Splitting minus fine-tuning paired by seed, and the wall time
    and phases the harness reported."""
    rows = paper_comparison.typed_rows(repo / RESULTS / "results.csv")
    pair = comparison.paired_rows(rows)[0]
    report = (repo / RESULTS / "results.md").read_text()
    wall = next(line for line in report.splitlines() if line.startswith(WALL_TIME_LINE))
    return {
        "table": "\n" + comparison.markdown_table(rows) + "\n",
        "paired": f"{results_files.interval(pair['mean'], pair['low'], pair['high'])}, ahead on {pair['ahead']} of "
                  f"{pair['pairs']} seeds",
        "wall": wall.removeprefix(WALL_TIME_LINE),
    }
