"""End to end: real training runs on the tiny embedded benchmark through the command line."""

import json
import pathlib
import subprocess
import sys

from absl import flags

from bgsplit_tf import config as config_lib
from bgsplit_tf import experiment
from tests.conftest import REPO


def test_train_cli_writes_metrics_flags_tensorboard_and_model(tiny_data_dir, tmp_path):
    out = tmp_path / "run"
    subprocess.run(
        [sys.executable, "-m", "bgsplit_tf.train", f"--flagfile={REPO / 'flags/smoke.cfg'}",
         f"--data_dir={tiny_data_dir}", f"--output_dir={out}"],
        check=True, timeout=600, cwd=tmp_path,
    )
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

    # flags.txt re-creates the same configuration.
    values = flags.FlagValues()
    config_lib.define_flags(flag_values=values)
    values(["bgsplit-train", f"--flagfile={out / 'flags.txt'}"])
    assert config_lib.config_from_flags(flag_values=values).to_flag_lines() == (out / "flags.txt").read_text().split()


def test_experiment_tables_methods_and_skips_finished_runs(tiny_data_dir, tmp_path):
    base = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, num_rare=2,
                                  positives_per_class=2, epochs=1, batch_size=32, warmup_epochs=0,
                                  output_dir=str(tmp_path / "exp"))
    rows = experiment.run_experiment(base, ["finetune", "bgsplit"], [0])
    assert [(r["method"], r["aux_weight"]) for r in rows] == [("finetune", 0.0), ("bgsplit", 0.1)]
    table = (tmp_path / "exp" / "results.md").read_text()
    assert "| finetune |" in table and "| bgsplit |" in table
    assert (tmp_path / "exp" / "comparison.png").read_bytes().startswith(b"\x89PNG")
    metrics_file = tmp_path / "exp" / "bgsplit" / "seed_0" / "metrics.json"
    stamp = metrics_file.stat().st_mtime_ns
    assert experiment.run_experiment(base, ["finetune", "bgsplit"], [0]) == rows
    assert metrics_file.stat().st_mtime_ns == stamp


def test_same_seed_repeats_the_run(tiny_data_dir, tmp_path):
    from bgsplit_tf import train

    def run(name, data_dir):
        config = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=data_dir, num_rare=2,
                                        positives_per_class=2, epochs=1, batch_size=32, warmup_epochs=0,
                                        output_dir=str(tmp_path / name), seed=7)
        return train.run_training(config, verbose=0)

    first = run("a", tiny_data_dir)
    # The second run renders the dataset itself (a fresh data_dir), as a first run on a new machine does.
    second = run("b", str(tmp_path / "fresh_tfds"))
    assert first["task"] == second["task"]
    assert first["history"] == second["history"]
    assert first["test"] == second["test"]


def test_teacher_of_another_image_size_is_rejected_before_training(tiny_data_dir, tmp_path):
    import pytest

    from bgsplit_tf import train
    from tests import helpers

    path = tmp_path / "teacher16.keras"
    helpers.tiny_teacher().save(path)
    config = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, teacher=str(path),
                                    output_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="takes 16x16 images but bgsplit_shapes/tiny has 32x32"):
        train.run_training(config)
