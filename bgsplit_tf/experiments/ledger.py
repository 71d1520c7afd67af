"""The ledger of a long experiment (the regime map, the real map): every finished training run, its
flags and the figures kept from its metrics.json, so that the experiment resumes, and is reported,
from the ledger alone after its run folders are gone.

A ledger is a JSON-lines file, appended to as each run finishes (a crash loses no finished run). A
ledger entry whose flags differ from the run the experiment asks for is an error naming the run, by
the rule every resume follows (training.run_folder.same_run_differences).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Callable, Sequence

import numpy as np
from absl import logging

from bgsplit_tf import config as config_lib, faults
from bgsplit_tf.evaluation import run_results
from bgsplit_tf.training import run_folder

Trainer = Callable[[config_lib.TrainConfig], run_results.RunResults]  # config -> the run's results


def ledger_row(key: str, setting, config: config_lib.TrainConfig, results: run_results.RunResults,
               **identity) -> dict:
    """What the ledger keeps of a finished run: its key, setting (a dataclass), identity (e.g. seed,
    task), flags (with the precision it trained in), figures and per-epoch history."""
    history = {name: list(values) for name, values in results.history.items()}
    last = {name: values[-1] for name, values in history.items() if values}
    return {
        "key": key, "method": setting.method, "setting": dataclasses.asdict(setting), **identity,
        "flags": dataclasses.replace(config, mixed_precision=results.precision.chosen).to_flag_lines(),
        "val_mAP": results.val.mAP, "test_mAP": results.test.mAP,
        "train_background_fraction": results.task.train.background_fraction,
        "rare_categories": list(results.task.rare_categories), "wall_seconds": results.wall_seconds,
        "final": {name: last[name] for name in last if name.startswith("mech_") or name == "aux_loss"},
        "teacher_background_rank": results.mechanism.teacher_background_rank if results.mechanism else None,
        "history": history,
    }


class Ledger:
    """Finished runs by key, appended to a JSON-lines file as they finish."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.rows: dict[str, dict] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    self.rows[row["key"]] = row

    @classmethod
    def of_a_map(cls, results_dir: pathlib.Path) -> "Ledger":
        """The ledger of the map in results_dir, which must hold finished runs (a report reads only them)."""
        ledger = cls(results_dir / "ledger.jsonl")
        if not ledger.rows:
            raise faults.Fault(f"{ledger.path} holds no finished runs: run the map without --report_only first, "
                               "or pass the --results_dir of a map that has begun")
        return ledger

    def no_cell_yet(self) -> faults.Fault:
        """The fault of a report that finds no cell whose tuning has finished."""
        return faults.Fault(f"no cell of the map in {self.path.parent} has finished its tuning runs yet "
                            f"({len(self.rows)} runs finished): report again later")

    def get(self, key: str, config: config_lib.TrainConfig) -> dict | None:
        """The finished run `key` if the ledger has it (None if not); ValueError if it is not the same run
        as `config`."""
        row = self.rows.get(key)
        if row is None:
            return None
        differences = run_folder.same_run_differences(config_lib.parse_flag_lines(row["flags"]), config)
        if differences:
            raise ValueError(f"the ledger {self.path} holds run {key} with other flags "
                             f"({run_folder.describe_differences(differences)}); move the ledger aside or pass "
                             "another --results_dir to start a new map")
        return row

    def add(self, row: dict) -> None:
        """Records a finished run (appended to the file at once)."""
        self.rows[row["key"]] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


class NotInLedger(LookupError):
    """A run the experiment needs has not finished yet (a report trains nothing)."""


def not_in_ledger(config: config_lib.TrainConfig) -> run_results.RunResults:
    """The Trainer of a report: any run the ledger lacks raises NotInLedger."""
    raise NotInLedger(config.output_dir)


class Runs:
    """Runs each training run once: recalled from the ledger when it finished before, else trained and
    recorded."""

    def __init__(self, ledger: Ledger, train: Trainer):
        self.ledger, self.train = ledger, train

    def run(self, key: str, setting, config: config_lib.TrainConfig, **identity) -> dict:
        """The ledger row of run `key` (config), training it if the ledger does not hold it."""
        row = self.ledger.get(key, config)
        if row is None:
            logging.info("=== %s", key)
            row = ledger_row(key, setting, config, self.train(config), **identity)
            self.ledger.add(row)
        return row


def choose_on_validation(candidates: Sequence, rows_of: Callable[[object], list[dict]], tuning: list[dict]):
    """The candidate setting with the best mean val mAP over its tuning runs (rows_of(candidate): their
    ledger rows); ties go to the first listed. Appends one record per candidate to `tuning`."""
    means = []
    for candidate in candidates:
        rows = rows_of(candidate)
        means.append(float(np.mean([r["val_mAP"] for r in rows])))
        tuning.append({"setting": candidate.tag(), "val_mAP_mean": means[-1], "val_mAP": [r["val_mAP"] for r in rows]})
    best = candidates[int(np.argmax(means))]
    logging.info("Chosen on validation: %s (%s)", best.tag(), ", ".join(f"{m:.4f}" for m in means))
    return best


def histories_of(ledger: Ledger, setting_tag: str) -> list[dict]:
    """The per-epoch histories of every finished run of one setting (its tag: the key's first part)."""
    return [row["history"] for key, row in ledger.rows.items() if key.split("/")[0] == setting_tag]


def tuning_table(tuning: list[dict], unit: str) -> str:
    """Markdown: each tuning candidate's mean val mAP and its value per tuning run (unit: seed or task)."""
    lines = [f"| setting | mean over tuning {unit}s | per {unit} |", "|---|---|---|"]
    lines += [f"| {t['setting']} | {t['val_mAP_mean']:.4f} | {', '.join(f'{v:.4f}' for v in t['val_mAP'])} |"
              for t in tuning]
    return "\n".join(lines) + "\n"
