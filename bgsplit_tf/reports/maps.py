"""The two maps' pages (docs/regime_map.md, docs/real_map.md): one axis at a time around a central cell,
Background Splitting against tuned fine-tuning, from each map's results.csv, tuning.csv and ledger.jsonl
(written by bgsplit-regime-map and bgsplit-real-map)."""

from __future__ import annotations

import json
import pathlib
import re

import numpy as np

from bgsplit_tf.evaluation import plots
from bgsplit_tf.experiments import ledger, regime_map
from bgsplit_tf.reports import results_files

REGIME_MAP = pathlib.Path("benchmarks/results/regime_map_quick")
TEACHER_CARDS = pathlib.Path("bgsplit_tf/models/assets")
REAL_MAP = pathlib.Path("benchmarks/results/real_map_quick")


def slug(text: str) -> str:
    """'positives per class' -> 'positives_per_class': a span-name part."""
    return re.sub(r"\W+", "_", str(text)).strip("_").lower()


def _summaries(results_dir: pathlib.Path) -> list[dict]:
    """results.csv's cells as regime_map.summarize_cell made them: a probe cell's empty columns left out,
    and the pair count under its present name (older maps wrote it as seeds)."""
    rows = [{key: value for key, value in row.items() if value is not None}
            for row in results_files.read_csv(results_dir / "results.csv")]
    return [{**row, "tasks": row.get("tasks", row.get("seeds"))} for row in rows]


def _cell_values(summaries: list[dict], unit: str) -> dict[str, str]:
    """Per cell, `cell.<axis>.<value>`: 'BG - FT (interval), ahead on a of n <unit>' or a probe's mean."""
    values = {}
    for s in summaries:
        name = "central" if s["axis"] == "central" else f"cell.{slug(s['axis'])}.{slug(s['value'])}"
        if s.get("diff_mean") is None:
            values[name] = f"{s['bg_mean']:.3f} +- {s['bg_std']:.3f}"
            continue
        values[name] = (f"{results_files.interval(s['diff_mean'], s['diff_low'], s['diff_high'])}, "
                        f"ahead on {s['wins']} of {s['pairs']} {unit}")
        values[name + ".ft"] = f"{s['ft_mean']:.3f} +- {s['ft_std']:.3f}"
        values[name + ".bg"] = f"{s['bg_mean']:.3f} +- {s['bg_std']:.3f}"
        values[name + ".background"] = f"{s['train_background_fraction']:.2%}"
    return values


def _tuning_table(results_dir: pathlib.Path, unit: str) -> str:
    tuning = [{**t, "val_mAP": json.loads(t["val_mAP"])} for t in results_files.read_csv(results_dir / "tuning.csv")]
    return ledger.tuning_table(tuning, unit)


def _tag_value(tag: str, name: str) -> str:
    """A setting tag's value for one of its parts: ('...-lr_0.1-lambda_0.1-hard', 'lambda') -> '0.1'."""
    match = re.search(rf"(?:^|-){name}_([^-]+)", tag)
    return match.group(1) if match else "?"


def mechanism_table(runs: ledger.Ledger, ft_tag: str, bg_tag: str) -> str:
    """Markdown: each mechanism measure after the first epoch and at the end of training, mean over the
    runs of the tuned fine-tuning and Background Splitting settings (tags) of the central cell."""
    histories = {name: ledger.histories_of(runs, tag)
                 for name, tag in (("fine-tuning", ft_tag), ("Background Splitting", bg_tag))}
    lines = ["| measure | fine-tuning, epoch 1 | fine-tuning, end | Background Splitting, epoch 1 "
             "| Background Splitting, end |", "|---|---|---|---|---|"]
    for key, label in plots.MECHANISM_PANELS:
        cells = []
        for runs in histories.values():
            series = [run[key] for run in runs if run.get(key)]
            first = np.mean([s[0] for s in series]) if series else None
            last = np.mean([s[-1] for s in series]) if series else None
            cells += ["" if v is None else f"{v:.3f}" if v < 10 else f"{v:.1f}" for v in (first, last)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    counts = " and ".join(f"{len(h)} ({name})" for name, h in histories.items())
    return "\n".join(lines) + f"\n\nRuns averaged: {counts}.\n"


def _map_values(results_dir: pathlib.Path, unit: str) -> dict[str, str]:
    """The values both maps' pages share: the table, each cell, tuning, the run count and time, the
    choices made on validation and the central cell's mechanism."""
    summaries = _summaries(results_dir)
    runs = ledger.Ledger.of_a_map(results_dir)
    central = summaries[0]
    hours = sum(row["wall_seconds"] for row in runs.rows.values()) / 3600
    return {
        "table": "\n" + regime_map.markdown_table(summaries, unit) + "\n",
        "tuning": "\n" + _tuning_table(results_dir, unit[:-1]) + "\n",
        "runs": f"{len(runs.rows)}",
        "run_hours": f"{hours:.1f}",
        "chosen.ft_lr": _tag_value(central["ft_setting"], "lr"),
        "chosen.lambda": _tag_value(central["bg_setting"], "lambda"),
        "mechanism": "\n" + mechanism_table(runs, central["ft_setting"], central["bg_setting"]) + "\n",
        **_cell_values(summaries, unit),
    }


def teacher_table(repo: pathlib.Path) -> str:
    """Markdown: the embedded benchmark 2.0.0's teachers, from the JSON bgsplit-pretrain wrote beside each:
    held-out accuracy on their own labels, and how certain they are on the rare-task images."""
    lines = ["| teacher | classes | held-out top-1 on its own labels | on the rare-task training images: mean "
             "entropy | mean hard-label loss (-log max p) | mean top-1 probability |", "|---|---|---|---|---|---|"]
    for granularity in ("fine", "medium", "coarse"):
        card = results_files.read_json(repo / TEACHER_CARDS / f"shapes_v2_{granularity}.json")
        certainty = card["on_rare_task_train_split"]
        lines.append(f"| `embedded:shapes_v2_{granularity}` | {card['num_classes']} | {card['holdout_top1']:.4f} | "
                     f"{certainty['mean_entropy']:.3f} nats ({certainty['mean_entropy_fraction_of_max']:.1%} of the "
                     f"maximum) | {certainty['mean_hard_label_loss']:.3f} | {certainty['mean_top1_probability']:.3f} |")
    return "\n".join(lines) + "\n"


def regime_map_values(repo: pathlib.Path) -> dict[str, str]:
    """docs/regime_map.md's values, from benchmarks/results/regime_map_quick/ and the teachers' cards."""
    results_dir = repo / REGIME_MAP
    values = _map_values(results_dir, "seeds")
    values["teachers"] = "\n" + teacher_table(repo) + "\n"
    ft_tag = _summaries(results_dir)[0]["ft_setting"]
    values["chosen.ft_length"] = "short (6 epochs, cosine)" if "-short-" in ft_tag else "long (18 epochs, step)"
    return values


def _per_category_table(rows: list[dict]) -> str:
    lines = ["| rare category | tuned FT test AP | BG test AP | BG - FT | linear probe test AP |", "|---|---|---|---|---|"]
    probe = {r["task"]: r["bg_test_mAP"] for r in rows if r["cell"] == "linear probe"}
    for r in (r for r in rows if r["cell"] == "central"):
        lines.append(f"| {r['categories']} | {r['ft_test_mAP']:.3f} | {r['bg_test_mAP']:.3f} | {r['difference']:+.3f} "
                     f"| {probe[r['task']]:.3f} |")
    return "\n".join(lines) + "\n"


def real_map_values(repo: pathlib.Path) -> dict[str, str]:
    """docs/real_map.md's values, from benchmarks/results/real_map_quick/."""
    results_dir = repo / REAL_MAP
    values = _map_values(results_dir, "tasks")
    per_category = results_files.read_csv(results_dir / "per_category.csv")
    central = [r for r in per_category if r["cell"] == "central"]
    differences = [r["difference"] for r in central]
    lambdas = [s for s in _summaries(results_dir) if s["axis"] == "lambda"]
    values.update({
        "per_category": "\n" + _per_category_table(per_category) + "\n",
        "central.behind_on": f"{sum(d < 0 for d in differences)} of {len(differences)}",
        "central.range": f"{min(differences):+.3f} to {max(differences):+.3f}",
        "lambda.range": f"{min(s['diff_mean'] for s in lambdas):+.3f} to {max(s['diff_mean'] for s in lambdas):+.3f}",
    })
    return values
