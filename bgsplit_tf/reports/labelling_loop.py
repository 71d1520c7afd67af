"""docs/labelling_loop.md's values: positives found per 100 images reviewed by the labelling loop and its
baselines, and the loop's round time, from the JSON reports bgsplit-bench-search wrote under
benchmarks/results/search/."""

from __future__ import annotations

import pathlib

from bgsplit_tf.reports import results_files

RESULTS = pathlib.Path("benchmarks/results/search")
POOLS = {"shapes_v2": "bgsplit_shapes_2.0.0.json", "shapes_v1": "bgsplit_shapes_1.0.0.json",
         "fashion_mnist": "fashion_mnist_test_efficientnet_lite0.json"}
ROUND_TIMES = {"top": "round_time_61k.json", "all": "round_time_61k_full.json"}
STRATEGY_NAMES = {"bgsplit": "loop, Background Splitting", "finetune": "loop, fine-tuning",
                  "nearest_neighbours": "nearest neighbours of the examples (teacher features)", "random": "random"}


def found_table(report: dict) -> str:
    """Markdown: per strategy, positives found per 100 reviewed after each round, mean +- std over seeds."""
    first = next(iter(report["summary"].values()))
    lines = ["| strategy | " + " | ".join(f"after {n} reviewed" for n in first["reviewed"]) + " | seeds |",
             "|---" * (len(first["reviewed"]) + 2) + "|"]
    for strategy in ("bgsplit", "finetune", "nearest_neighbours", "random"):
        s = report["summary"][strategy]
        cells = [f"{m:.1f} +- {d:.1f}" for m, d in zip(s["found_per_100_reviewed_mean"], s["found_per_100_reviewed_std"])]
        lines.append(f"| {STRATEGY_NAMES[strategy]} | " + " | ".join(cells) + f" | {s['seeds']} |")
    return "\n".join(lines) + "\n"


def _seconds(report: dict) -> str:
    """'4.0 s (3.4, 4.4, 4.0)': the median round and each timed round."""
    times = report["round_seconds"]
    return f"{times['median']:.1f} s ({', '.join(f'{t:.1f}' for t in times['all'])})"


def labelling_loop_values(repo: pathlib.Path) -> dict[str, str]:
    """docs/labelling_loop.md's values: per pool its table, name, round time and cache time; the round
    times of the 61,440-image pool (round.top, round.all)."""
    values = {}
    for name, file in POOLS.items():
        report = results_files.read_json(repo / RESULTS / file)
        values[f"{name}.table"] = "\n" + found_table(report) + "\n"
        values[f"{name}.pool"] = f"{report['pool']}, {int(report['pool_images']):,} images"
        values[f"{name}.round"] = _seconds(report)
        values[f"{name}.cache"] = f"{report['cache_seconds']:.0f} s"
    for trainable, file in ROUND_TIMES.items():
        report = results_files.read_json(repo / RESULTS / file)
        values[f"round.{trainable}"] = _seconds(report)
        values[f"round.{trainable}.cache"] = f"{report['cache_seconds']:.1f} s"
        values["round.pool"] = f"{report['pool']}, {int(report['pool_images']):,} images"
    return values
