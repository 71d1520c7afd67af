"""The regime map: where Background Splitting (BG) beats tuned fine-tuning (FT), paired by seed.

One axis at a time is varied around a central cell (benchmarks/regime_map.md fixes the design):
teacher granularity, positives per class, training length, lambda, hard vs soft targets, a fixed
background logit, and a linear probe of each teacher's frozen trunk as the difficulty figure. FT's
learning rate and length and BG's lambda are chosen on validation mAP with the same budget (4
configurations each), then every cell runs seeds 0-4 (more where the difference is unresolved).

Every run is a full `bgsplit-train` run, recorded in the map's ledger (experiments.ledger), from
which the map resumes and is reported.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import numpy as np
from absl import logging

from bgsplit_tf import config as config_lib
from bgsplit_tf.evaluation import paired
from bgsplit_tf.experiments import ledger as ledger_lib

TEACHERS = {"fine": "embedded:shapes_v2_fine", "medium": "embedded:shapes_v2_medium",
            "coarse": "embedded:shapes_v2_coarse"}
FT_LEARNING_RATES = (0.03, 0.1)
FT_LENGTHS = ("short", "long")
LAMBDAS = (0.03, 0.1, 0.3, 1.0)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A training length: epochs, and the step-decay epochs (empty: cosine decay)."""

    epochs: int
    decay_epochs: tuple[int, ...] = ()

    def overrides(self) -> dict:
        """The TrainConfig fields this schedule sets."""
        if self.decay_epochs:
            return {"epochs": self.epochs, "lr_schedule": "step", "lr_decay_epochs": self.decay_epochs}
        return {"epochs": self.epochs, "lr_schedule": "cosine", "lr_decay_epochs": config_lib.TrainConfig.lr_decay_epochs}


@dataclasses.dataclass(frozen=True)
class Tier:
    """How big the map is: the data kept, the schedules, the seeds."""

    name: str
    background_keep: float
    schedules: dict  # "short" | "long" -> Schedule
    seeds: tuple[int, ...]
    extra_seeds: tuple[int, ...]
    tune_seeds: tuple[int, ...]
    validation_every: int
    retune_every_cell: bool = False
    paper_ratio_cells: bool = False


TIERS = {
    "quick": Tier("quick", background_keep=0.25,
                  schedules={"short": Schedule(6), "long": Schedule(18, (4, 8, 12, 16))},
                  seeds=tuple(range(5)), extra_seeds=tuple(range(5, 10)), tune_seeds=(0, 1), validation_every=3),
    "full": Tier("full", background_keep=1.0,
                 schedules={"short": Schedule(18), "long": Schedule(90, (20, 40, 60, 80))},
                 seeds=tuple(range(10)), extra_seeds=(), tune_seeds=(0, 1), validation_every=5,
                 retune_every_cell=True, paper_ratio_cells=True),
}


@dataclasses.dataclass(frozen=True)
class Setting:
    """What one run's training varies: the map's axes. learning_rate None and aux_weight None stand for
    the values chosen on validation (FT's learning rate; BG's lambda)."""

    method: str  # finetune | bgsplit | linear_probe
    teacher: str = "fine"
    num_rare: int = 5
    positives: int = 2
    length: str = "long"
    learning_rate: float | None = None
    aux_weight: float | None = 0.0
    aux_targets: str = "hard"
    fixed_background_logit: float | None = None

    def tag(self) -> str:
        """A folder name unique to the resolved setting (call on resolved settings only)."""
        parts = [self.method, f"teacher_{self.teacher}", f"k_{self.num_rare}", f"n_{self.positives}", self.length,
                 f"lr_{self.learning_rate}"]
        if self.method == "bgsplit":
            parts += [f"lambda_{self.aux_weight}", self.aux_targets]
            if self.fixed_background_logit is not None:
                parts.append(f"bglogit_{self.fixed_background_logit}")
        return "-".join(parts)


@dataclasses.dataclass(frozen=True)
class Cell:
    """A point of the map: an axis, its value, and the BG and FT settings compared there (FT None:
    a cell with one method only, e.g. the linear probe)."""

    axis: str
    value: str
    bg: Setting
    ft: Setting | None


def cells(tier: Tier) -> list[Cell]:
    """The map's cells in the design's order: central, then one axis at a time."""
    central_bg, ft = Setting("bgsplit", aux_weight=None), Setting("finetune", length="chosen")
    out = [Cell("central", "fine teacher, N=2, long, lambda chosen", central_bg, ft)]
    for teacher in ("medium", "coarse"):
        out.append(Cell("teacher", teacher, dataclasses.replace(central_bg, teacher=teacher),
                        dataclasses.replace(ft, teacher=teacher)))
    for positives in (1, 5, 20):
        out.append(Cell("positives per class", str(positives), dataclasses.replace(central_bg, positives=positives),
                        dataclasses.replace(ft, positives=positives)))
    out.append(Cell("length", "short", dataclasses.replace(central_bg, length="short"), ft))
    for value in LAMBDAS:
        out.append(Cell("lambda", str(value), dataclasses.replace(central_bg, aux_weight=value), ft))
    out.append(Cell("aux targets", "soft (T=1)", dataclasses.replace(central_bg, aux_targets="soft"), ft))
    out.append(Cell("background logit", "fixed at 0", dataclasses.replace(central_bg, fixed_background_logit=0.0),
                    ft))
    if tier.paper_ratio_cells:
        for num_rare, positives in ((1, 2), (20, 13)):
            out.append(Cell("paper ratio", f"K={num_rare}, N={positives}",
                            dataclasses.replace(central_bg, num_rare=num_rare, positives=positives),
                            dataclasses.replace(ft, num_rare=num_rare, positives=positives)))
    for teacher in TEACHERS:
        out.append(Cell("linear probe", teacher, Setting("linear_probe", teacher=teacher, learning_rate=None), None))
    return out


def run_config(base: config_lib.TrainConfig, tier: Tier, setting: Setting, seed: int,
               runs_dir: pathlib.Path) -> config_lib.TrainConfig:
    """The TrainConfig of a resolved setting and seed (base flags for everything the map does not vary)."""
    overrides = {
        "teacher": TEACHERS[setting.teacher], "num_rare": setting.num_rare,
        "positives_per_class": setting.positives, "background_keep": tier.background_keep,
        "learning_rate": setting.learning_rate, "aux_weight": setting.aux_weight or 0.0,
        "aux_targets": setting.aux_targets if setting.method == "bgsplit" else "hard",
        "fixed_background_logit": setting.fixed_background_logit, "freeze_trunk": setting.method == "linear_probe",
        "validation_every": tier.validation_every, "seed": seed, "overwrite": False,
        "output_dir": str(runs_dir / setting.tag() / f"seed_{seed}"),
        **tier.schedules[setting.length].overrides(),
    }
    return dataclasses.replace(base, **overrides)


class Map:
    """Resolves settings against the choices made on validation, and runs (or recalls) each run once."""

    def __init__(self, base: config_lib.TrainConfig, tier: Tier, ledger: ledger_lib.Ledger, runs_dir: pathlib.Path,
                 train: ledger_lib.Trainer):
        self.base, self.tier, self.ledger, self.runs_dir = base, tier, ledger, runs_dir
        self.runs = ledger_lib.Runs(ledger, train)
        self.ft_choice: dict[tuple, tuple[float, str]] = {}  # (teacher, K, N) -> (learning rate, length)
        self.bg_lambda: float | None = None
        self.tuning: list[dict] = []

    def run(self, setting: Setting, seed: int) -> dict:
        """The ledger row of a resolved setting and seed, training it if it is not in the ledger."""
        return self.runs.run(f"{setting.tag()}/seed_{seed}", setting,
                             run_config(self.base, self.tier, setting, seed, self.runs_dir), seed=seed)

    def recall(self, setting: Setting, seed: int) -> dict | None:
        """The ledger row of a resolved setting and seed, None if it has not finished (nothing is trained)."""
        config = run_config(self.base, self.tier, setting, seed, self.runs_dir)
        return self.ledger.get(f"{setting.tag()}/seed_{seed}", config)

    def _tune(self, candidates: list[Setting]) -> Setting:
        """The candidate with the best mean val mAP over the tuning seeds (ties: the first)."""
        return ledger_lib.choose_on_validation(
            candidates, lambda c: [self.run(c, seed) for seed in self.tier.tune_seeds], self.tuning)

    def ft_setting(self, setting: Setting) -> Setting:
        """FT at a cell's condition, at its learning rate and length chosen on validation."""
        condition = (setting.teacher, setting.num_rare, setting.positives)
        if not self.tier.retune_every_cell:
            condition = ("fine", 5, 2)
        if condition not in self.ft_choice:
            teacher, num_rare, positives = condition
            best = self._tune([Setting("finetune", teacher, num_rare, positives, length, lr)
                               for lr in FT_LEARNING_RATES for length in FT_LENGTHS])
            self.ft_choice[condition] = (best.learning_rate, best.length)
        learning_rate, length = self.ft_choice[condition]
        return dataclasses.replace(setting, learning_rate=learning_rate, length=length)

    def resolve(self, setting: Setting) -> Setting:
        """Fills in the chosen learning rate (FT's, for every method), length (FT) and lambda (BG)."""
        if setting.method == "finetune":
            return self.ft_setting(setting)
        learning_rate = self.ft_setting(Setting("finetune", setting.teacher, setting.num_rare,
                                                setting.positives)).learning_rate
        setting = dataclasses.replace(setting, learning_rate=learning_rate)
        if setting.method == "bgsplit" and setting.aux_weight is None:
            if self.bg_lambda is None:
                central = self.resolve(Setting("bgsplit", aux_weight=LAMBDAS[0]))
                self.bg_lambda = self._tune([dataclasses.replace(central, aux_weight=v) for v in LAMBDAS]).aux_weight
            setting = dataclasses.replace(setting, aux_weight=self.bg_lambda)
        return setting


VERDICTS = {1: "BG beats tuned FT", -1: "BG hurts", 0: "tie (not resolved)"}


def verdict(low: float, high: float, pairs: int) -> str:
    """The design's wording for a paired difference's 95% interval (low, high) over `pairs` pairs."""
    word = VERDICTS.get(paired.direction(low, high, pairs))
    return word or f"too few pairs yet ({pairs} < {paired.MIN_PAIRS})"


def task_of(row: dict):
    """What pairs a ledger row with the other method's: its task where the row names one (the real map),
    else its seed (the regime map's seed draws the rare task)."""
    return row.get("task", row["seed"])


def summarize_cell(cell, bg_rows: list[dict], ft_rows: list[dict]) -> dict:
    """One line of a map: both methods' test mAP and the paired difference (BG - FT, paired by task_of)
    with its interval. cell: anything with .axis and .value."""
    bg = {task_of(r): r["test_mAP"] for r in bg_rows}
    summary = {"axis": cell.axis, "value": cell.value, "bg_setting": bg_rows[0]["key"].split("/")[0],
               "tasks": len(bg), "bg_mean": float(np.mean(list(bg.values()))),
               "bg_std": float(np.std(list(bg.values()))),
               "train_background_fraction": float(np.mean([r["train_background_fraction"] for r in bg_rows]))}
    if not ft_rows:  # a cell of one method (the linear probe)
        return summary
    ft = {task_of(r): r["test_mAP"] for r in ft_rows}
    # FT's figures over the tasks BG ran (the tasks the difference pairs), where there are any.
    ft = {task: value for task, value in ft.items() if task in bg} or ft
    summary.update(ft_setting=ft_rows[0]["key"].split("/")[0], ft_mean=float(np.mean(list(ft.values()))),
                   ft_std=float(np.std(list(ft.values()))))
    d = paired.Paired.of(bg, ft)
    if d is None:
        return {**summary, "verdict": "no task in common yet"}
    pairs = len(d.differences)
    summary.update(diff_mean=d.mean, diff_low=d.low, diff_high=d.high, wins=d.ahead, pairs=pairs,
                   verdict=verdict(d.low, d.high, pairs))
    return summary


def run_map(base: config_lib.TrainConfig, tier: Tier, results_dir: pathlib.Path, train: ledger_lib.Trainer,
            time_budget_seconds: float | None = None) -> tuple[list[dict], Map]:
    """Runs (or resumes) the whole map: tuning, every cell at the tier's seeds, then extra seeds for
    unresolved cells while the time budget (None: unlimited) lasts. Returns one summary per cell."""
    started = time.time()
    runs_dir = pathlib.Path(base.output_dir)
    regime = Map(base, tier, ledger_lib.Ledger(results_dir / "ledger.jsonl"), runs_dir, train)
    resolved = [(cell, regime.resolve(cell.bg), cell.ft and regime.resolve(cell.ft)) for cell in cells(tier)]

    def rows_of(setting: Setting | None, seeds) -> list[dict]:
        return [regime.run(setting, seed) for seed in seeds] if setting else []

    summaries = [summarize_cell(cell, rows_of(bg, tier.seeds), rows_of(ft, tier.seeds)) for cell, bg, ft in resolved]
    for index, (cell, bg, ft) in enumerate(resolved):
        unresolved = ft is not None and summaries[index]["verdict"].startswith("tie")
        if not (unresolved and tier.extra_seeds):
            continue
        if time_budget_seconds is not None and time.time() - started > time_budget_seconds:
            logging.info("Time budget spent: no extra seeds for %s=%s", cell.axis, cell.value)
            continue
        seeds = tier.seeds + tier.extra_seeds
        summaries[index] = summarize_cell(cell, rows_of(bg, seeds), rows_of(ft, seeds))
    return summaries, regime


def report_map(base: config_lib.TrainConfig, tier: Tier, results_dir: pathlib.Path) -> tuple[list[dict], Map]:
    """The map as far as its ledger goes, training nothing (for watching a long map): every cell whose
    settings are resolved (its tuning runs finished), with the seeds finished so far."""
    regime = Map(base, tier, ledger_lib.Ledger.of_a_map(results_dir), pathlib.Path(base.output_dir),
                 ledger_lib.not_in_ledger)
    summaries = []
    for cell in cells(tier):
        try:
            bg, ft = regime.resolve(cell.bg), cell.ft and regime.resolve(cell.ft)
        except ledger_lib.NotInLedger:
            continue
        seeds = tier.seeds + tier.extra_seeds
        bg_rows = [row for seed in seeds if (row := regime.recall(bg, seed))]
        ft_rows = [row for seed in seeds if ft and (row := regime.recall(ft, seed))]
        if bg_rows and (ft is None or ft_rows):
            summaries.append(summarize_cell(cell, bg_rows, ft_rows))
    if not summaries:
        raise regime.ledger.no_cell_yet()
    return summaries, regime


def markdown_table(summaries: list[dict], unit: str = "seeds") -> str:
    """The map as a Markdown table: one line per cell (unit: what its pairs are, for the header);
    linear-probe cells report one method."""
    lines = [f"| axis | value | train background | {unit} | tuned FT test mAP | BG test mAP | BG - FT (95% CI) "
             "| BG ahead | verdict |", "|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        if "ft_mean" not in s:
            lines.append(f"| {s['axis']} | {s['value']} | {s['train_background_fraction']:.2%} | {s['tasks']} | | "
                         f"{s['bg_mean']:.3f} +- {s['bg_std']:.3f} (probe) | | | |")
            continue
        difference = (f"{s['diff_mean']:+.3f} ({s['diff_low']:+.3f}, {s['diff_high']:+.3f}) | {s['wins']}/{s['pairs']}"
                      if "diff_mean" in s else " | ")
        lines.append(
            f"| {s['axis']} | {s['value']} | {s['train_background_fraction']:.2%} | {s['tasks']} | "
            f"{s['ft_mean']:.3f} +- {s['ft_std']:.3f} | {s['bg_mean']:.3f} +- {s['bg_std']:.3f} | {difference} | "
            f"{s['verdict']} |")
    return "\n".join(lines) + "\n"
