"""bgsplit-experiment: trains several methods over several seeds and tables their test mAP.

Every run is a full `bgsplit-train` run with its own folder <output_dir>/<method>/seed_<seed>
(flags.txt, metrics.json, TensorBoard, model). Runs share teacher targets within the process.
An interrupted experiment resumes: a run whose metrics.json exists with the same flags is skipped.
Writes results.csv (one row per run), results.md (mean +- std per method) and comparison.png
(test mAP per method and seed) to --output_dir.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib

import numpy as np
from absl import app, flags, logging

from bgsplit_tf import config as config_lib
from bgsplit_tf import plots, train

# Each method is a set of TrainConfig overrides on top of the flags.
METHODS = {
    "finetune": {"aux_weight": 0.0},
    "bgsplit": {},
}

FLAGS = flags.FLAGS


def _define_flags():
    flags.DEFINE_list("methods", ["finetune", "bgsplit"], f"Methods to compare, from {sorted(METHODS)}.")
    flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; each draws its own rare task, shared by all methods.")
    flags.register_validator("methods", lambda ms: all(m in METHODS for m in ms),
                             message=f"--methods must name methods from {sorted(METHODS)}")
    flags.register_validator("seeds", lambda ss: bool(ss) and all(s.lstrip("-").isdigit() for s in ss),
                             message="--seeds must be a comma-separated list of integers, e.g. 0,1,2")


def run_configs(base: config_lib.TrainConfig, methods: list[str], seeds: list[int]):
    """(method, seed, config) of every run, with per-run output folders under base.output_dir."""
    root = pathlib.Path(base.output_dir)
    for seed in seeds:
        for method in methods:
            overrides = {**METHODS[method], "seed": seed, "output_dir": str(root / method / f"seed_{seed}")}
            yield method, seed, dataclasses.replace(base, **overrides)


def finished_metrics(config: config_lib.TrainConfig) -> dict | None:
    """The metrics of a finished run of exactly this config, else None."""
    run_dir = pathlib.Path(config.output_dir)
    metrics, flag_file = run_dir / "metrics.json", run_dir / "flags.txt"
    if not metrics.exists():
        return None
    if flag_file.read_text().split() != config.to_flag_lines():
        raise ValueError(
            f"{run_dir} holds a finished run with different flags (see its flags.txt); use another "
            "--output_dir or delete that folder to re-run it."
        )
    return json.loads(metrics.read_text())


def summarize(rows: list[dict]) -> str:
    """Markdown table: test and val mAP mean +- population std (over seeds) per method."""
    lines = [
        "| method | test mAP (mean +- std) | val mAP (mean +- std) | seeds | train background fraction |",
        "|---|---|---|---|---|",
    ]
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        test, val = np.array([r["test_mAP"] for r in mine]), np.array([r["val_mAP"] for r in mine])
        fraction = np.mean([r["background_fraction"] for r in mine])
        lines.append(f"| {method} | {test.mean():.3f} +- {test.std():.3f} | {val.mean():.3f} +- {val.std():.3f} "
                     f"| {len(mine)} | {fraction:.4f} |")
    return "\n".join(lines) + "\n"


def run_experiment(base: config_lib.TrainConfig, methods: list[str], seeds: list[int]) -> list[dict]:
    """Runs (or resumes) the grid; writes results.csv and results.md; returns the rows."""
    memo = train.TargetsMemo()
    rows = []
    for method, seed, config in run_configs(base, methods, seeds):
        metrics = finished_metrics(config)
        if metrics is None:
            logging.info("=== %s, seed %d -> %s", method, seed, config.output_dir)
            metrics = train.run_training(config, memo)
        else:
            logging.info("=== %s, seed %d: finished before, skipped", method, seed)
        rows.append({
            "method": method,
            "seed": seed,
            "aux_weight": config.aux_weight,
            "background_fraction": metrics["task"]["train"]["background_fraction"],
            "val_mAP": metrics["val"]["mAP"],
            "test_mAP": metrics["test"]["mAP"],
            "train_seconds": metrics["train_seconds"],
        })
    root = pathlib.Path(base.output_dir)
    with open(root / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (root / "results.md").write_text(summarize(rows))
    title = f"{base.dataset}: K={base.num_rare}, N={base.positives_per_class}, {len(seeds)} seeds"
    (root / "comparison.png").write_bytes(plots.comparison_png(rows, title))
    return rows


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    base = config_lib.config_from_flags()
    rows = run_experiment(base, FLAGS.methods, [int(s) for s in FLAGS.seeds])
    table = summarize(rows)
    print(f"\nTest mAP over {len(FLAGS.seeds)} seeds ({base.dataset}, K={base.num_rare}, "
          f"N={base.positives_per_class} positives per class):\n\n{table}\nWritten to {base.output_dir}/results.md")


def run():
    """Console-script entry point."""
    config_lib.define_flags()
    _define_flags()
    config_lib.show_in_help(config_lib.__name__, __name__)
    app.run(main)


if __name__ == "__main__":
    run()
