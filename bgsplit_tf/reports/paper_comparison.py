"""docs/paper_comparison.md's values: every imbalance baseline with and without the auxiliary loss, at
three background fractions (bgsplit-experiment --flagfile=flags/paper_comparison_quick_v2.cfg), and the
follow-up with more seeds at the highest fraction, from their results.csv and tuning.csv."""

from __future__ import annotations

import json
import pathlib

from bgsplit_tf.experiments import comparison
from bgsplit_tf.reports import results_files

RESULTS = pathlib.Path("benchmarks/results/paper_comparison_quick_v2")
FOLLOW_UP = RESULTS / "extra_seeds_999"


def typed_rows(path: pathlib.Path) -> list[dict]:
    """results.csv's runs with the types comparison's tables expect (hyperparameters stay JSON text)."""
    return [{**row, "hyperparameters": json.dumps(json.loads(row["hyperparameters"]), sort_keys=True)}
            for row in results_files.read_csv(path)]


def _chosen(rows: list[dict]) -> dict[str, dict]:
    """Each method's values as its final runs used them (the tuned grid points)."""
    return {row["method"]: json.loads(row["hyperparameters"]) for row in rows}


def _pair_values(prefix: str, pairs: list[dict]) -> dict[str, str]:
    """`<prefix>.<pair>.<fraction>`: 'mean (low to high), ahead on a of n tasks' per pair and fraction."""
    values = {}
    for p in pairs:
        ours = p["pair"].split(" - ")[0].replace("+", "_")
        name = f"{prefix}.{ours}.{str(p['background_fraction']).replace('.', '_')}"
        values[name] = (f"{results_files.interval(p['mean'], p['low'], p['high'])}, ahead on {p['ahead']} of "
                        f"{p['pairs']} tasks")
    return values


def paper_comparison_values(repo: pathlib.Path) -> dict[str, str]:
    """docs/paper_comparison.md's values: the tables (methods x fractions, pairs, tuning, the follow-up)
    and each pair's interval as `pair.<method>.<fraction>` and `follow_up.<method>.<fraction>`."""
    rows = typed_rows(repo / RESULTS / "results.csv")
    tuning = typed_rows(repo / RESULTS / "tuning.csv")
    follow_up = typed_rows(repo / FOLLOW_UP / "results.csv")
    pairs, follow_up_pairs = comparison.paired_rows(rows), comparison.paired_rows(follow_up)
    runs = {(r["method"], r["hyperparameters"], r["background_fraction"], r["seed"]): r["wall_seconds"]
            for r in [*tuning, *rows]}  # a tuning run that is also final counted once
    return {
        "table": "\n" + comparison.markdown_table(rows) + "\n",
        "paired": "\n" + comparison.paired_table(pairs) + "\n",
        "tuning": "\n" + comparison.tuning_summary(tuning, _chosen(rows)) + "\n",
        "runs": f"{len(runs)}",
        "run_hours": f"{sum(runs.values()) / 3600:.2f}",
        "follow_up.table": "\n" + comparison.markdown_table(follow_up) + "\n",
        "follow_up.paired": "\n" + comparison.paired_table(follow_up_pairs) + "\n",
        "follow_up.seeds": f"{len({r['seed'] for r in follow_up})}",
        **_pair_values("pair", pairs),
        **_pair_values("follow_up", follow_up_pairs),
    }
