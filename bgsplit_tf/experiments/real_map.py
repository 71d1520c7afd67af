"""The real map: Background Splitting (BG) against tuned fine-tuning (FT) on real photographs with a
real ImageNet teacher, paired by rare task.

benchmarks/real_map.md fixes the design: Fashion-MNIST's categories each take their turn as the rare
one (K=1; K=2 pairs in one cell), N training positives of it drawn by the task's seed, everything else
background; EfficientNet-Lite0's ImageNet classifier is the teacher and the start of the trunk, whose
lower part stays frozen (the flagfile's --frozen_through). FT's learning rate and then BG's lambda
are chosen on validation mAP on two tuning tasks (seed 100, so other positives than the reported
tasks' seed 0); every cell then compares a BG setting with FT on the same tasks.

Every run is a full `bgsplit-train` run recorded in the map's ledger (experiments.ledger), from which
the map resumes and is reported. The recipe (data, teacher, frozen layers, schedule) comes from the
base config; the map sets only what its cells vary.
"""

from __future__ import annotations

import dataclasses
import pathlib

from bgsplit_tf import config as config_lib
from bgsplit_tf.experiments import ledger as ledger_lib
from bgsplit_tf.experiments import regime_map

FT_LEARNING_RATES = (0.01, 0.03, 0.1)
LAMBDAS = (0.03, 0.1, 0.3, 1.0)
CATEGORIES = tuple(range(10))
REPORTED_SEED, TUNING_SEED = 0, 100
RESAMPLED_FRACTION = 0.1


@dataclasses.dataclass(frozen=True)
class Task:
    """A rare task: which categories are rare (ids) and the seed that draws their N training positives,
    the kept background and the initialisation."""

    categories: tuple[int, ...]
    seed: int = REPORTED_SEED

    def tag(self) -> str:
        """A folder name, e.g. "c0_1-s0" for categories 0 and 1 at seed 0."""
        return "c" + "_".join(str(c) for c in self.categories) + f"-s{self.seed}"


EVERY_CATEGORY = tuple(Task((c,)) for c in CATEGORIES)
EVEN_CATEGORIES = tuple(Task((c,)) for c in CATEGORIES[::2])  # the design's rule for the 5-task cells
CATEGORY_PAIRS = tuple(Task((c, c + 1)) for c in CATEGORIES[::2])
TUNING_TASKS = (Task((0,), TUNING_SEED), Task((5,), TUNING_SEED))


@dataclasses.dataclass(frozen=True)
class Setting:
    """What one run varies. learning_rate None and aux_weight None stand for the values chosen on
    validation (FT's learning rate, for every method; BG's lambda)."""

    method: str  # finetune | bgsplit | linear_probe
    positives: int = 2
    learning_rate: float | None = None
    aux_weight: float | None = 0.0
    aux_targets: str = "hard"
    rare_batch_fraction: float = 0.0
    logit_adjustment: str = "none"

    def tag(self) -> str:
        """A folder name unique to the resolved setting."""
        parts = [self.method, f"n_{self.positives}", f"lr_{self.learning_rate}"]
        if self.method == "bgsplit":
            parts += [f"lambda_{self.aux_weight}", self.aux_targets]
        if self.rare_batch_fraction:
            parts.append(f"resample_{self.rare_batch_fraction}")
        if self.logit_adjustment != "none":
            parts.append(f"la_{self.logit_adjustment}")
        return "-".join(parts)


@dataclasses.dataclass(frozen=True)
class Cell:
    """A point of the map: an axis, its value, the BG and FT settings compared there (FT None: one
    method only, the linear probe) and the tasks they are paired on."""

    axis: str
    value: str
    bg: Setting
    ft: Setting | None
    tasks: tuple[Task, ...]


def cells() -> list[Cell]:
    """The map's cells in the design's order: central, then one axis at a time. Every lambda is listed:
    the chosen one's runs are the central cell's, recalled, not trained again."""
    bg, ft = Setting("bgsplit", aux_weight=None), Setting("finetune")
    out = [Cell("central", "K=1, N=2, lambda chosen", bg, ft, EVERY_CATEGORY),
           Cell("positives per class", "1", dataclasses.replace(bg, positives=1),
                dataclasses.replace(ft, positives=1), EVERY_CATEGORY)]
    for positives in (5, 20):
        out.append(Cell("positives per class", str(positives), dataclasses.replace(bg, positives=positives),
                        dataclasses.replace(ft, positives=positives), EVEN_CATEGORIES))
    for value in LAMBDAS:
        out.append(Cell("lambda", str(value), dataclasses.replace(bg, aux_weight=value), ft, EVEN_CATEGORIES))
    out.append(Cell("aux targets", "soft (T=1)", dataclasses.replace(bg, aux_targets="soft"), ft, EVEN_CATEGORIES))
    out.append(Cell("with resampling", f"rare classes {RESAMPLED_FRACTION:.0%} of each batch",
                    dataclasses.replace(bg, rare_batch_fraction=RESAMPLED_FRACTION),
                    dataclasses.replace(ft, rare_batch_fraction=RESAMPLED_FRACTION), EVEN_CATEGORIES))
    out.append(Cell("with logit adjustment", "in the loss, tau 1", dataclasses.replace(bg, logit_adjustment="loss"),
                    dataclasses.replace(ft, logit_adjustment="loss"), EVEN_CATEGORIES))
    out.append(Cell("rare categories", "K=2, N=2", bg, ft, CATEGORY_PAIRS))
    out.append(Cell("linear probe", "frozen trunk, N=2", Setting("linear_probe"), None, EVERY_CATEGORY))
    return out


def run_config(base: config_lib.TrainConfig, setting: Setting, task: Task,
               runs_dir: pathlib.Path) -> config_lib.TrainConfig:
    """The TrainConfig of a resolved setting on a task (base flags for everything the map does not vary)."""
    return dataclasses.replace(
        base, rare_categories=tuple(str(c) for c in task.categories), num_rare=len(task.categories),
        positives_per_class=setting.positives, background_fraction=None, learning_rate=setting.learning_rate,
        aux_weight=setting.aux_weight or 0.0, aux_targets=setting.aux_targets if setting.method == "bgsplit" else "hard",
        rare_batch_fraction=setting.rare_batch_fraction, logit_adjustment=setting.logit_adjustment,
        freeze_trunk=setting.method == "linear_probe", seed=task.seed, overwrite=False,
        output_dir=str(runs_dir / setting.tag() / task.tag()))


class RealMap:
    """Resolves settings against the choices made on validation, and runs (or recalls) each run once."""

    def __init__(self, base: config_lib.TrainConfig, ledger: ledger_lib.Ledger, train: ledger_lib.Trainer):
        self.base, self.ledger = base, ledger
        self.runs_dir = pathlib.Path(base.output_dir)
        self.runs = ledger_lib.Runs(ledger, train)
        self.ft_learning_rate: float | None = None
        self.bg_lambda: float | None = None
        self.tuning: list[dict] = []

    def _key(self, setting: Setting, task: Task) -> str:
        return f"{setting.tag()}/{task.tag()}"

    def run(self, setting: Setting, task: Task) -> dict:
        """The ledger row of a resolved setting on a task, training it if it is not in the ledger."""
        return self.runs.run(self._key(setting, task), setting, run_config(self.base, setting, task, self.runs_dir),
                             task=task.tag(), seed=task.seed, categories=list(task.categories))

    def recall(self, setting: Setting, task: Task) -> dict | None:
        """The ledger row of a resolved setting on a task, None if it has not finished (nothing trains)."""
        return self.ledger.get(self._key(setting, task), run_config(self.base, setting, task, self.runs_dir))

    def _tune(self, candidates: list[Setting]) -> Setting:
        return ledger_lib.choose_on_validation(
            candidates, lambda c: [self.run(c, task) for task in TUNING_TASKS], self.tuning)

    def resolve(self, setting: Setting) -> Setting:
        """Fills in FT's learning rate (for every method) and BG's lambda, tuning them the first time."""
        if self.ft_learning_rate is None:
            self.ft_learning_rate = self._tune(
                [Setting("finetune", learning_rate=lr) for lr in FT_LEARNING_RATES]).learning_rate
        setting = dataclasses.replace(setting, learning_rate=self.ft_learning_rate)
        if setting.method == "bgsplit" and setting.aux_weight is None:
            if self.bg_lambda is None:
                self.bg_lambda = self._tune([Setting("bgsplit", learning_rate=self.ft_learning_rate, aux_weight=v)
                                             for v in LAMBDAS]).aux_weight
            setting = dataclasses.replace(setting, aux_weight=self.bg_lambda)
        return setting

    def cell_rows(self, cell: Cell, fetch) -> tuple[list[dict], list[dict]]:
        """The BG and FT ledger rows of a cell's tasks, each from fetch(setting, task) (run or recall;
        tasks it returns None for are left out), task by task, so that a partial map holds pairs."""
        bg, ft = self.resolve(cell.bg), cell.ft and self.resolve(cell.ft)
        bg_rows, ft_rows = [], []
        for task in cell.tasks:
            for setting, rows in ((bg, bg_rows), (ft, ft_rows)):
                if setting and (row := fetch(setting, task)):
                    rows.append(row)
        return bg_rows, ft_rows


def run_map(base: config_lib.TrainConfig, results_dir: pathlib.Path,
            train: ledger_lib.Trainer) -> tuple[list[dict], RealMap]:
    """Runs (or resumes) the whole map, cell by cell in the design's order; one summary per cell."""
    real = RealMap(base, ledger_lib.Ledger(results_dir / "ledger.jsonl"), train)
    return [regime_map.summarize_cell(cell, *real.cell_rows(cell, real.run)) for cell in cells()], real


def report_map(base: config_lib.TrainConfig, results_dir: pathlib.Path) -> tuple[list[dict], RealMap]:
    """The map as far as its ledger goes, training nothing: every cell whose tuning has finished, with
    the tasks finished so far (marked by fewer tasks than the cell lists)."""
    real = RealMap(base, ledger_lib.Ledger.of_a_map(results_dir), ledger_lib.not_in_ledger)
    summaries = []
    for cell in cells():
        try:
            bg_rows, ft_rows = real.cell_rows(cell, real.recall)
        except ledger_lib.NotInLedger:  # tuning unfinished
            break
        if bg_rows and (cell.ft is None or ft_rows):
            summaries.append(regime_map.summarize_cell(cell, bg_rows, ft_rows))
    if not summaries:
        raise real.ledger.no_cell_yet()
    return summaries, real


def per_task_rows(real: RealMap, cell: Cell) -> list[dict]:
    """One row per task of a cell that has finished: its categories' names, each method's test mAP and
    BG - FT (the central cell's by-category view, the linear probe's difficulty figure)."""
    bg, ft = real.resolve(cell.bg), cell.ft and real.resolve(cell.ft)
    rows = []
    for task in cell.tasks:
        bg_row = real.recall(bg, task)
        ft_row = ft and real.recall(ft, task)
        if bg_row is None or (ft is not None and ft_row is None):
            continue
        row = {"task": task.tag(), "categories": ", ".join(bg_row["rare_categories"]),
               "train_background_fraction": bg_row["train_background_fraction"], "bg_test_mAP": bg_row["test_mAP"]}
        if ft_row:
            row.update(ft_test_mAP=ft_row["test_mAP"], difference=bg_row["test_mAP"] - ft_row["test_mAP"])
        rows.append(row)
    return rows
