"""End to end: real training runs on the tiny embedded benchmark, through the command line (bgsplit-train)
and through the experiment's grid (run_experiment, Runner.run_many)."""

import dataclasses
import json
import subprocess
import sys

import pytest

from absl import flags

from bgsplit_tf import config as config_lib
from bgsplit_tf.experiments import comparison
from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def test_train_cli_writes_metrics_flags_tensorboard_and_model(tiny_data_dir, tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "bgsplit_tf.cli.train", f"--flagfile={REPO / 'flags/smoke.cfg'}",
         f"--data_dir={tiny_data_dir}", f"--output_dir={out}", f"--export_dir={tmp_path / 'models'}"],
        timeout=600, cwd=tmp_path, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["mAP"] <= 1.0 and 0.0 <= metrics["val"]["mAP"] <= 1.0
    assert len(metrics["test"]["ap"]) == 2
    assert metrics["task"]["train"]["background_fraction"] > 0.9
    assert {"loss", "main_loss", "aux_loss", "val_loss", "val_mAP", "learning_rate"} <= set(metrics["history"])
    assert list((out / "tensorboard" / "train").glob("events.out.tfevents.*"))
    assert list((out / "tensorboard" / "validation").glob("events.out.tfevents.*"))
    assert (out / "model.keras").exists()
    assert (out / "pr_curves_test.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "train_gallery.png").read_bytes().startswith(b"\x89PNG")
    # Operating points on validation: per rare class, a threshold per target precision, also logged.
    points = metrics["operating_points"]
    assert len(points) == 2 and all([p["target_precision"] for p in v] == [0.5, 0.8, 0.9] for v in points.values())
    assert "Operating points on validation" in result.stderr
    assert (tmp_path / "models" / "1" / "saved_model.pb").exists()

    # flags.txt re-creates the same configuration.
    values = flags.FlagValues()
    config_lib.define_flags(flag_values=values)
    values(["bgsplit-train", f"--flagfile={out / 'flags.txt'}"])
    assert config_lib.config_from_flags(flag_values=values).to_flag_lines() == (out / "flags.txt").read_text().split()


@pytest.mark.slow
def test_experiment_grid_runs_end_to_end_and_skips_finished_runs(tiny_data_dir, tmp_path):
    base = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, num_rare=2,
                                  epochs=1, batch_size=32, warmup_epochs=0, output_dir=str(tmp_path / "exp"))
    grid = comparison.Grid(methods=("finetune", "bgsplit+focal"), seeds=(0,), fractions=(0.995, 0.999), tune=False)
    rows = comparison.run_experiment(base, grid)
    assert [(r["method"], r["background_fraction"], r["aux_weight"]) for r in rows] == [
        ("finetune", 0.995, 0.0), ("bgsplit+focal", 0.995, 0.01), ("finetune", 0.999, 0.0), ("bgsplit+focal", 0.999, 0.01)]
    # 764 background images: 99.5% needs 2 positives per class, 99.9% needs 1.
    assert [r["positives_per_class"] for r in rows] == [2, 2, 1, 1]
    assert all(abs(r["train_background_fraction"] - r["background_fraction"]) < 0.002 for r in rows)
    root = tmp_path / "exp"
    assert (root / "results.csv").read_text().splitlines()[0].startswith(
        "method,hyperparameters,background_fraction,train_background_fraction")
    table = (root / "results.md").read_text()
    assert "| method | 99.50% background | 99.90% background |" in table and "| bgsplit+focal |" in table
    assert (root / "comparison.png").read_bytes().startswith(b"\x89PNG")
    run_dir = root / "runs" / "bgsplit+focal" / "aux_weight_0.01_focal_gamma_2.0" / "bg_0.999" / "seed_0"
    assert "--focal_gamma=2.0" in (run_dir / "flags.txt").read_text().split()
    assert list(root.glob("events.out.tfevents.*")), "the HParams dashboard's config"
    assert list((run_dir / "tensorboard" / "hparams").glob("events.out.tfevents.*")), "the run's HParams"

    stamp = (run_dir / "metrics.json").stat().st_mtime_ns
    assert comparison.run_experiment(base, grid) == rows
    assert (run_dir / "metrics.json").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_same_seed_repeats_the_run(tiny_data_dir, tmp_path):
    from bgsplit_tf.training import run as run_lib

    def run(name, data_dir):
        config = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=data_dir, num_rare=2,
                                        positives_per_class=2, epochs=1, batch_size=32, warmup_epochs=0,
                                        output_dir=str(tmp_path / name), seed=7)
        return run_lib.run_training(config, verbose=0)

    first = run("a", tiny_data_dir)
    # The second run renders the dataset itself (a fresh data_dir), as a first run on a new machine does.
    second = run("b", str(tmp_path / "fresh_tfds"))
    assert first.task == second.task
    # Without XLA (the CPU default) TensorFlow's kernels may sum in another order: the last float bits
    # can differ between runs; nothing else does.
    for key, values in first.history.items():
        assert second.history[key] == pytest.approx(values, rel=1e-6), key
    assert second.test.mAP == pytest.approx(first.test.mAP, rel=1e-6)


@pytest.mark.slow
def test_experiment_tunes_on_validation_then_reuses_the_tuning_run(tiny_data_dir, tmp_path):
    base = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, num_rare=2,
                                  epochs=1, batch_size=32, warmup_epochs=0, output_dir=str(tmp_path / "exp"))
    grid = comparison.Grid(methods=("finetune", "resample", "bgsplit+resample"), seeds=(0, 1), fractions=(0.995, 0.999))
    rows = comparison.run_experiment(base, grid)
    tuning = (tmp_path / "exp" / "tuning.csv").read_text().splitlines()
    assert len(tuning) == 1 + 4  # resample's 2 values and bgsplit's 2 values, at 99.9% with seed 0
    assert len(rows) == 3 * 2 * 2
    chosen = json.loads([r for r in rows if r["method"] == "resample"][0]["hyperparameters"])
    tuning_row = next(line for line in tuning if line.startswith("resample,") and
                      json.dumps(chosen, sort_keys=True).replace('"', '""') in line)
    final_row = next(r for r in rows if r["method"] == "resample" and r["background_fraction"] == 0.999 and r["seed"] == 0)
    assert f"{final_row['test_mAP']}" in tuning_row  # the tuning run is the final run of its cell
    paired = (tmp_path / "exp" / "paired.csv").read_text().splitlines()
    assert paired[0].startswith("pair,background_fraction,mean,low,high,ahead,pairs,differences")
    assert [line.split(",")[:2] for line in paired[1:]] == [["bgsplit+resample - resample", "0.995"],
                                                             ["bgsplit+resample - resample", "0.999"]]
    assert "| bgsplit+resample - resample |" in (tmp_path / "exp" / "results.md").read_text()


def test_parallel_runs_train_in_worker_processes_and_give_the_rows_one_process_gives(tiny_data_dir, tmp_path):
    base = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, num_rare=2,
                                  positives_per_class=2, epochs=1, batch_size=32, warmup_epochs=0, mechanism=False,
                                  deterministic=True, output_dir=str(tmp_path / "parallel"))
    jobs = [("finetune", {}, None, 0), ("bgsplit", {"aux_weight": 0.1}, None, 0)]
    runner = comparison.Runner(base)
    rows = runner.run_many(jobs, parallel_runs=2)
    assert [(r["method"], r["aux_weight"]) for r in rows] == [("finetune", 0.0), ("bgsplit", 0.1)]
    assert runner.memo._targets == {}  # trained elsewhere: this process computed no targets
    alone = comparison.Runner(dataclasses.replace(base, output_dir=str(tmp_path / "alone"))).run_many(jobs[1:])
    assert alone[0]["test_mAP"] == rows[1]["test_mAP"] and alone[0]["val_mAP"] == rows[1]["val_mAP"]
