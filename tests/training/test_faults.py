"""Faults stop training with a message, not a stack trace: non-finite losses, finished runs."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from bgsplit_tf import faults
from bgsplit_tf.training import loss_guard
from bgsplit_tf.models import bgsplit_model
from tests import helpers
from tests.conftest import REPO


def _fit_one_batch(images, targets, aux_targets="hard"):
    model = bgsplit_model.BackgroundSplittingModel(helpers.tiny_network(), aux_weight=0.1, aux_targets=aux_targets)
    model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=False)
    model.fit(images, targets, batch_size=len(images), epochs=1, verbose=0, callbacks=[loss_guard.NonFiniteLossGuard()])


def test_a_non_finite_main_loss_names_the_step_and_the_term():
    images, targets = helpers.tiny_batch(8)
    images[3, 0, 0, 0] = np.nan
    with pytest.raises(faults.TrainingFault, match=r"step 1 \(batch 1 of its epoch\): the main loss is nan"):
        _fit_one_batch(images, targets)


def test_a_non_finite_auxiliary_loss_is_named_as_such():
    images, targets = helpers.tiny_batch(8)
    targets["teacher_probs"][2] = np.inf
    with pytest.raises(faults.TrainingFault, match="the auxiliary loss is (nan|inf)"):
        _fit_one_batch(images, targets, aux_targets="soft")


def _train(tiny_data_dir, out, *extra):
    return subprocess.run(
        [sys.executable, "-m", "bgsplit_tf.cli.train", f"--flagfile={REPO / 'flags/smoke.cfg'}",
         f"--data_dir={tiny_data_dir}", f"--output_dir={out}", *extra],
        capture_output=True, text=True, timeout=600, cwd=out.parent)


@pytest.mark.e2e
def test_a_diverging_run_exits_with_the_fault_status_and_a_message(tiny_data_dir, tmp_path):
    result = _train(tiny_data_dir, tmp_path / "run", "--learning_rate=1e30")
    assert result.returncode == faults.FAULT_EXIT_CODE, result.stderr[-2000:]
    assert "training stopped at step" in result.stderr and "Lower --learning_rate" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.e2e
def test_a_finished_run_is_left_untouched_unless_overwrite(tiny_data_dir, tmp_path):
    out = tmp_path / "run"
    assert _train(tiny_data_dir, out).returncode == 0
    finished = (out / "metrics.json").read_bytes()
    again = _train(tiny_data_dir, out)
    assert again.returncode == faults.FAULT_EXIT_CODE and "--overwrite" in again.stderr
    assert (out / "metrics.json").read_bytes() == finished
    assert _train(tiny_data_dir, out, "--overwrite").returncode == 0


@pytest.mark.slow
@pytest.mark.e2e
def test_a_diverging_experiment_exits_with_the_fault_status_and_a_message(tiny_data_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bgsplit_tf.cli.experiment", f"--flagfile={REPO / 'flags/smoke.cfg'}",
         f"--data_dir={tiny_data_dir}", f"--output_dir={tmp_path / 'experiment'}", "--learning_rate=1e30",
         "--methods=finetune", "--seeds=0", "--notune"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == faults.FAULT_EXIT_CODE, result.stderr[-2000:]
    assert "training stopped at step" in result.stderr and "Traceback" not in result.stderr
