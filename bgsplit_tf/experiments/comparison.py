"""The paper's comparison, one command away, on any rare-task source.

Runs a grid of methods x background fractions x seeds. Every run is a full `bgsplit-train` run in its
own folder <output_dir>/runs/<method>/<hyperparameters>/bg_<fraction>/seed_<seed> (flags.txt,
metrics.json, TensorBoard with HParams, model). Runs share teacher targets within the process.

Methods (METHODS): fine-tuning, each imbalance baseline, Background Splitting ("bgsplit"), and
"bgsplit+<baseline>" for any baseline: the baseline's main-head settings plus the aux loss.

Hyperparameters are chosen on validation mAP, never on test: with --tune, every value in a method's
grid (METHODS[...].grid, at most a few values, listed in `--helpfull` and the README) is trained at
--tune_fraction with --tune_seed, and the value with the best val mAP is used for all fractions and
seeds. A "bgsplit+<baseline>" run combines the baseline's chosen values with bgsplit's chosen aux
weight (combinations are not re-tuned). With --notune, each grid's first value is used. A grid key
given on the command line (e.g. --aux_weight=0.1) is pinned: that value is used and not tuned.

Interrupted, it resumes: a run whose metrics.json exists with the same flags is skipped (the tuning
run at the chosen value is also the final run of its cell, so it is not trained twice).
Writes results.csv (one row per final run), tuning.csv (one row per tuning run), paired.csv and
results.md (test mAP mean +- std per method and fraction; each method with the aux loss minus without,
paired by seed, with a bootstrap interval, also drawn in paired.png; the tuning choices) and comparison.png (test mAP against
background fraction, one line per method) to --output_dir; `tensorboard --logdir <output_dir>` shows
every run in the HParams dashboard.
"""

from __future__ import annotations

import collections
import concurrent.futures
import csv
import dataclasses
import json
import multiprocessing
import pathlib
import time

import numpy as np
from absl import logging

from bgsplit_tf import config as config_lib, phases
from bgsplit_tf.evaluation import paired, plots, tensorboard_logging
from bgsplit_tf.training import run as run_lib, run_folder, run_inputs, targets_memo


@dataclasses.dataclass(frozen=True)
class Method:
    """A training recipe: fixed TrainConfig overrides, plus a grid of values chosen on validation.

    overrides: flag -> value, or a callable base config -> value (e.g. DRW's epoch follows --epochs).
    grid: flag -> candidate values (the first is the default when not tuning).
    """

    overrides: dict = dataclasses.field(default_factory=dict)
    grid: dict = dataclasses.field(default_factory=dict)
    description: str = ""

    def resolved_overrides(self, base: config_lib.TrainConfig) -> dict:
        """The method's flag overrides, those computed from the base config resolved against it."""
        return {key: value(base) if callable(value) else value for key, value in self.overrides.items()}


def _drw_epoch(base: config_lib.TrainConfig) -> int:
    """Deferred re-weighting starts after two thirds of training (LDAM-DRW: epoch 160 of 200)."""
    return max(1, (2 * base.epochs) // 3)


# Main-head baselines: aux_weight is 0 for them and bgsplit's chosen value for "bgsplit+<name>".
BASELINES = {
    "finetune": Method(description="softmax cross-entropy, natural sampling"),
    "focal": Method(grid={"focal_gamma": [2.0, 1.0]}, description="focal loss"),
    "class_balanced": Method(grid={"cb_beta": [0.9999, 0.99]},
                             description="class-balanced softmax (effective number)"),
    "class_balanced_focal": Method(overrides={"focal_gamma": 2.0}, grid={"cb_beta": [0.9999, 0.99]},
                                   description="class-balanced focal loss"),
    "ldam_drw": Method(
        overrides={"cosine_head": True, "logit_scale": 30.0, "cb_beta": 0.9999, "reweight_from_epoch": _drw_epoch},
        grid={"ldam_max_margin": [0.5, 0.25]},
        description="LDAM margins, normalised head, deferred class-balanced re-weighting",
    ),
    "logit_adjusted": Method(overrides={"logit_adjustment": "loss"}, grid={"la_tau": [1.0, 2.0]},
                             description="logit-adjusted loss (tau 1 = balanced softmax)"),
    "balanced_softmax": Method(overrides={"logit_adjustment": "loss", "la_tau": 1.0}, description="balanced softmax"),
    "logit_adjusted_posthoc": Method(overrides={"logit_adjustment": "posthoc"}, grid={"la_tau": [1.0, 2.0]},
                                     description="post-hoc logit adjustment at evaluation"),
    "resample": Method(grid={"rare_batch_fraction": [0.25, 0.1]},
                       description="oversample rare classes to a fraction of each batch"),
}
BGSPLIT = Method(grid={"aux_weight": [0.01, 0.1]}, description="Background Splitting aux loss")
METHODS = {
    **BASELINES,
    "bgsplit": BGSPLIT,
    **{f"bgsplit+{name}": BASELINES[name] for name in BASELINES if name != "finetune"},
}

@dataclasses.dataclass(frozen=True)
class Grid:
    """What to run: methods x fractions x seeds, and where hyperparameters are tuned."""

    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    fractions: tuple[float | None, ...] = (None,)  # None: the base config's own task
    tune: bool = True
    tune_seed: int | None = None
    tune_fraction: float | None = None
    pinned: dict = dataclasses.field(default_factory=dict)  # grid key -> the one value it takes
    parallel_runs: int = 1  # training runs at once, each in its own process (Runner.run_many)

    @property
    def tuning_cell(self) -> tuple[float | None, int]:
        fraction = self.tune_fraction if self.tune_fraction is not None else self.fractions[len(self.fractions) // 2]
        return fraction, self.tune_seed if self.tune_seed is not None else self.seeds[0]


def _tag(values: dict) -> str:
    """Folder name for a set of grid values, e.g. focal_gamma=2.0 -> 'focal_gamma_2.0'."""
    return "_".join(f"{key}_{value}" for key, value in sorted(values.items())) or "default"


def _fraction_tag(fraction: float | None) -> str:
    return "bg_task" if fraction is None else f"bg_{fraction}"


class Runner:
    """Runs (or skips, when finished) single training runs and remembers their rows."""

    def __init__(self, base: config_lib.TrainConfig, memo: targets_memo.TargetsMemo | None = None):
        self.base = base
        self.root = pathlib.Path(base.output_dir)
        self.memo = memo or targets_memo.TargetsMemo()  # shared by runners over the same data: targets once
        self.worker_phase_seconds: collections.Counter = collections.Counter()  # of runs trained in workers

    def config(self, method: str, values: dict, fraction: float | None, seed: int) -> config_lib.TrainConfig:
        """The config of one run: base flags, the method's overrides and grid values, the cell."""
        recipe = METHODS[method.removeprefix("bgsplit+")]
        overrides = {"aux_weight": 0.0, **recipe.resolved_overrides(self.base), **values, "seed": seed,
                     "output_dir": str(self.root / "runs" / method / _tag(values) / _fraction_tag(fraction) /
                                       f"seed_{seed}")}
        if fraction is not None:
            overrides["background_fraction"] = fraction
        return dataclasses.replace(self.base, **overrides)

    def run_many(self, jobs: list[tuple[str, dict, float | None, int]], parallel_runs: int = 1) -> list[dict]:
        """run() of each (method, values, fraction, seed), in order. With parallel_runs > 1 the unfinished
        ones first train that many at a time, each in a worker process of its own (spawned; a worker
        computes the teacher targets once for all its runs), so a CPU that one run leaves partly idle
        finishes the grid sooner; the rows are then read from their finished folders."""
        todo = [job for job in jobs if run_folder.finished_results(self.config(*job)) is None]
        if parallel_runs > 1 and len(todo) > 1:
            run_inputs.prepare_dataset(self.base)  # once, here: workers preparing it at once would collide
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(min(parallel_runs, len(todo)), mp_context=context,
                                                        initializer=_start_worker) as pool:
                logging.info("Training %d runs, %d at a time in worker processes", len(todo),
                             min(parallel_runs, len(todo)))
                futures = [pool.submit(_train_in_worker, self.config(*job), _hparams(*job)) for job in todo]
                for future in futures:
                    future.result()  # a worker's exception is raised here, as a run of this process's would be
            for job in todo:
                self.worker_phase_seconds.update(run_folder.finished_results(self.config(*job)).phase_seconds)
        return [self.run(*job) for job in jobs]

    def run(self, method: str, values: dict, fraction: float | None, seed: int) -> dict:
        """Trains one grid cell (or reads its finished metrics.json) and returns its row."""
        config = self.config(method, values, fraction, seed)
        results = run_folder.finished_results(config)
        if results is None:
            logging.info("=== %s %s, background %s, seed %d -> %s", method, values or "", fraction, seed,
                         config.output_dir)
            results = run_lib.run_training(config, self.memo, hparams=_hparams(method, values, fraction, seed))
        else:
            logging.info("=== %s %s, background %s, seed %d: finished before, skipped", method, values or "",
                         fraction, seed)
        return {
            "method": method,
            "hyperparameters": json.dumps(values, sort_keys=True),
            "background_fraction": fraction,  # None: the base config's task (see train_background_fraction)
            "train_background_fraction": results.task.train.background_fraction,
            "positives_per_class": min(list(results.task.train.counts.values())[1:]),
            "seed": seed,
            "aux_weight": config.aux_weight,
            "val_mAP": results.val.mAP,
            "test_mAP": results.test.mAP,
            "wall_seconds": results.wall_seconds,
        }


def _hparams(method: str, values: dict, fraction: float | None, seed: int) -> dict:
    """What the HParams dashboard shows of one grid run."""
    return {"method": method, "seed": seed, "background_fraction": fraction or -1.0, **values}


_WORKER_MEMO: targets_memo.TargetsMemo | None = None  # a worker process's targets, shared by its runs


def _start_worker() -> None:
    """A worker process's start: its own targets memo, and INFO logs as the main process writes them."""
    global _WORKER_MEMO
    _WORKER_MEMO = targets_memo.TargetsMemo()
    logging.set_verbosity(logging.INFO)


def _train_in_worker(config: config_lib.TrainConfig, hparams: dict) -> None:
    """One run of Runner.run_many, in a worker process (its metrics.json is what the main process reads)."""
    run_lib.run_training(config, _WORKER_MEMO, hparams=hparams)


def grid_keys() -> set[str]:
    """Every config field some method's grid tunes (the keys a command line may pin)."""
    return {key for method in METHODS.values() for key in method.grid}


def _grid_points(grid: dict, pinned: dict) -> list[dict]:
    """All combinations of a grid's values, a pinned key taking only its pinned value, e.g.
    {"a": [1, 2], "b": [3, 4]} with {"b": 5} pinned -> [{"a": 1, "b": 5}, {"a": 2, "b": 5}]."""
    points = [{}]
    for key, values in grid.items():
        points = [{**p, key: v} for p in points for v in ([pinned[key]] if key in pinned else values)]
    return points


def choose_hyperparameters(runner: Runner, grid: Grid) -> tuple[dict[str, dict], list[dict]]:
    """The grid values each method uses (chosen on val mAP at the tuning cell), and the tuning rows."""
    needed = {m.removeprefix("bgsplit+") for m in grid.methods}
    needed |= {"bgsplit"} if any(m.startswith("bgsplit") for m in grid.methods) else set()
    fraction, seed = grid.tuning_cell
    chosen, rows = {}, []
    for name in [n for n in METHODS if n in needed]:
        points = _grid_points(METHODS[name].grid, grid.pinned)
        if not grid.tune or len(points) == 1:
            chosen[name] = points[0]
            continue
        tuned = runner.run_many([(name, point, fraction, seed) for point in points], grid.parallel_runs)
        rows.extend(tuned)
        best = max(range(len(points)), key=lambda i: tuned[i]["val_mAP"])
        chosen[name] = points[best]
        logging.info("Tuning %s on val mAP: %s -> %s", name,
                     [(p, round(r["val_mAP"], 4)) for p, r in zip(points, tuned)], points[best])
    return chosen, rows


def method_values(method: str, chosen: dict[str, dict]) -> dict:
    """The grid values a method runs with: its own, plus bgsplit's aux weight for combinations."""
    if method.startswith("bgsplit+"):
        return {**chosen[method.removeprefix("bgsplit+")], **chosen["bgsplit"]}
    return chosen[method]


def fraction_label(rows: list[dict], fraction: float | None) -> str:
    """Column label of a grid fraction; the base task's (None) shows its mean achieved fraction."""
    if fraction is not None:
        return f"{fraction:.2%} background"
    achieved = np.mean([r["train_background_fraction"] for r in rows if r["background_fraction"] is None])
    return f"{achieved:.2%} background (mean)"


def markdown_table(rows: list[dict]) -> str:
    """Markdown table: test mAP mean +- population std over seeds, per method (rows) and fraction."""
    fractions = list(dict.fromkeys(r["background_fraction"] for r in rows))
    header = "| method | " + " | ".join(fraction_label(rows, f) for f in fractions) + " | val mAP (all) | seeds |"
    lines = [header, "|---" * (len(fractions) + 3) + "|"]
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        cells = []
        for fraction in fractions:
            test = np.array([r["test_mAP"] for r in mine if r["background_fraction"] == fraction])
            cells.append(f"{test.mean():.3f} +- {test.std():.3f}" if test.size else "-")
        val = np.array([r["val_mAP"] for r in mine])
        seeds = len({r["seed"] for r in mine})
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {val.mean():.3f} | {seeds} |")
    return "\n".join(lines) + "\n"


def method_pairs(methods: list[str]) -> list[tuple[str, str]]:
    """(with the aux loss, without) for every method the grid ran both ways: (bgsplit, finetune) and
    (bgsplit+X, X)."""
    pairs = [("bgsplit", "finetune")] + [(f"bgsplit+{m}", m) for m in methods if not m.startswith("bgsplit")]
    return [(ours, theirs) for ours, theirs in pairs if ours in methods and theirs in methods]


def paired_rows(rows: list[dict]) -> list[dict]:
    """One row per method pair (method_pairs) and fraction: the test mAP differences paired by seed
    (the seed fixes the rare task, the kept background and the initialisation, shared by both), their
    mean, 95% bootstrap interval and how many seeds the aux loss is ahead in."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fractions = list(dict.fromkeys(r["background_fraction"] for r in rows))
    result = []
    for ours, theirs in method_pairs(methods):
        for fraction in fractions:
            by_seed = [{r["seed"]: r["test_mAP"] for r in rows
                        if r["method"] == method and r["background_fraction"] == fraction} for method in (ours, theirs)]
            d = paired.Paired.of(*by_seed)
            if d is not None:
                result.append({"pair": f"{ours} - {theirs}", "background_fraction": fraction,
                               "label": fraction_label(rows, fraction), "mean": d.mean, "low": d.low, "high": d.high,
                               "ahead": d.ahead, "pairs": len(d.differences),
                               "differences": " ".join(f"{v:+.4f}" for v in d.differences), "text": d.describe()})
    return result


def paired_table(pairs: list[dict]) -> str:
    """Markdown: paired_rows' rows as a table, a row per pair, a column per fraction."""
    columns = {p["background_fraction"]: p["label"] for p in pairs}
    lines = ["| test mAP difference | " + " | ".join(columns.values()) + " |", "|---" * (len(columns) + 1) + "|"]
    for pair in dict.fromkeys(p["pair"] for p in pairs):
        cells = {p["background_fraction"]: f"{p['text']} [{p['differences']}]" for p in pairs if p["pair"] == pair}
        lines.append(f"| {pair} | " + " | ".join(cells.get(fraction, "-") for fraction in columns) + " |")
    return "\n".join(lines) + "\n"


def tuning_summary(tuning_rows: list[dict], chosen: dict[str, dict]) -> str:
    """Markdown: every tuning run's val mAP, and the chosen values."""
    if not tuning_rows:
        used = "; ".join(f"{method} {json.dumps(values, sort_keys=True)}" for method, values in chosen.items() if values)
        return ("No tuning runs (--notune, grid values given as flags, or no method has a grid). Values used: "
                f"{used or 'none'}.\n")
    lines = ["| method | values | val mAP | chosen |", "|---|---|---|---|"]
    for row in tuning_rows:
        values = json.loads(row["hyperparameters"])
        mark = "yes" if values == chosen[row["method"]] else ""
        lines.append(f"| {row['method']} | {row['hyperparameters']} | {row['val_mAP']:.3f} | {mark} |")
    return "\n".join(lines) + "\n"


def run_time_summary(rows: list[dict], tuning_rows: list[dict]) -> str:
    """A line: how many training runs the experiment holds (final and tuning, a tuning run that is also
    final counted once) and the sum of their wall times, whichever invocation trained them."""
    runs = {(r["method"], r["hyperparameters"], r["background_fraction"], r["seed"]): r["wall_seconds"]
            for r in [*tuning_rows, *rows]}
    total = sum(runs.values())
    return f"Training runs: {len(runs)}, {total:.0f} s ({total / 3600:.2f} h) of wall time summed over them\n"


def _time_summary(runner: Runner, phases_before: dict, wall_seconds: float) -> str:
    """Where an invocation's time went: this process's phases, or with runs trained in worker processes
    the wall time and the phases summed over every process (which may exceed it)."""
    here = phases.since(phases_before)
    if not runner.worker_phase_seconds:
        return phases.summary(here, wall_seconds)
    summed = collections.Counter(here) + runner.worker_phase_seconds
    return (f"{wall_seconds:.0f} s; summed over its processes (runs trained side by side): "
            + ", ".join(f"{phase} {summed[phase]:.0f} s" for phase in phases.ORDER if summed[phase] > 0))


def write_csv(path: pathlib.Path, rows: list[dict]) -> None:
    """rows (dicts, the union of their keys as columns) -> CSV."""
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _write_hparams_config(root: pathlib.Path, grid: Grid) -> None:
    """Declares the HParams dashboard's columns (method, fraction, seed, tuned values; val/test mAP)."""
    tuned_keys = sorted({key for m in grid.methods for key in METHODS[m.removeprefix("bgsplit+")].grid}
                        | ({"aux_weight"} if any(m.startswith("bgsplit") for m in grid.methods) else set()))
    tensorboard_logging.write_hparams_config(root, {"method": list(grid.methods), "background_fraction": None,
                                                    "seed": None, **{key: None for key in tuned_keys}})


def run_experiment(base: config_lib.TrainConfig, grid: Grid) -> list[dict]:
    """Runs (or resumes) the grid; writes results.csv, tuning.csv, results.md, comparison.png, and
    paired.csv and paired.png where a method ran with and without the aux loss."""
    root = pathlib.Path(base.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    started, phases_before = time.time(), phases.totals()
    _write_hparams_config(root, grid)
    runner = Runner(base)
    chosen, tuning_rows = choose_hyperparameters(runner, grid)
    rows = runner.run_many([(method, method_values(method, chosen), fraction, seed)
                            for fraction in grid.fractions for seed in grid.seeds for method in grid.methods],
                           grid.parallel_runs)
    write_csv(root / "results.csv", rows)
    if tuning_rows:
        write_csv(root / "tuning.csv", tuning_rows)
    task = (f"{base.dataset}: K={base.num_rare}, " +
            (f"N={base.positives_per_class}" if grid.fractions == (None,) else "N from the background fraction"))
    pairs, paired_section = paired_rows(rows), ""
    if pairs:
        write_csv(root / "paired.csv", [{k: v for k, v in p.items() if k not in ("label", "text")} for p in pairs])
        few = min(p["pairs"] for p in pairs) < paired.MIN_PAIRS
        paired_section = ("## With the aux loss minus without, paired by seed: mean (95% bootstrap interval), seeds "
                          f"ahead [per seed]\n\n{paired_table(pairs)}\n"
                          + (f"Fewer than {paired.MIN_PAIRS} seeds: an interval from so few lies within the range of "
                             "their differences and is narrower than a 95% interval should be; read the per-seed "
                             "values.\n\n" if few else "") + "![paired differences](paired.png)\n\n")
        (root / "paired.png").write_bytes(plots.paired_differences_png(pairs, task))
    else:  # no method ran both ways: nothing of an earlier invocation's pairs may stay
        (root / "paired.csv").unlink(missing_ok=True)
        (root / "paired.png").unlink(missing_ok=True)
    (root / "results.md").write_text(
        f"# Test mAP ({task}; {len(grid.seeds)} seeds; mean +- population std)\n\n{markdown_table(rows)}\n"
        f"{paired_section}"
        f"## Hyperparameters chosen on validation mAP (fraction {grid.tuning_cell[0]}, seed {grid.tuning_cell[1]})"
        f"\n\n{tuning_summary(tuning_rows, chosen)}\n{run_time_summary(rows, tuning_rows)}"
        f"Wall time of this invocation: {_time_summary(runner, phases_before, time.time() - started)}\n"
    )
    (root / "comparison.png").write_bytes(plots.fraction_comparison_png(rows, task))
    return rows
