"""bgsplit-train and bgsplit-experiment end a fault of their training with the fault exit status and a
message, not a stack trace: a diverging run, and a finished run started again without --overwrite."""

import subprocess
import sys

import pytest

from bgsplit_tf import faults
from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def _train(tiny_data_dir, out, *extra):
    return subprocess.run(
        [sys.executable, "-m", "bgsplit_tf.cli.train", f"--flagfile={REPO / 'flags/smoke.cfg'}",
         f"--data_dir={tiny_data_dir}", f"--output_dir={out}", *extra],
        capture_output=True, text=True, timeout=600, cwd=out.parent)


def test_a_diverging_run_exits_with_the_fault_status_and_a_message(tiny_data_dir, tmp_path):
    result = _train(tiny_data_dir, tmp_path / "run", "--learning_rate=1e30")
    assert result.returncode == faults.FAULT_EXIT_CODE, result.stderr[-2000:]
    assert "training stopped at step" in result.stderr and "Lower --learning_rate" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_finished_run_is_left_untouched_unless_overwrite(tiny_data_dir, tmp_path):
    out = tmp_path / "run"
    assert _train(tiny_data_dir, out).returncode == 0
    finished = (out / "metrics.json").read_bytes()
    again = _train(tiny_data_dir, out)
    assert again.returncode == faults.FAULT_EXIT_CODE and "--overwrite" in again.stderr
    assert (out / "metrics.json").read_bytes() == finished
    assert _train(tiny_data_dir, out, "--overwrite").returncode == 0


@pytest.mark.slow
def test_a_diverging_experiment_exits_with_the_fault_status_and_a_message(tiny_data_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bgsplit_tf.cli.experiment", f"--flagfile={REPO / 'flags/smoke.cfg'}",
         f"--data_dir={tiny_data_dir}", f"--output_dir={tmp_path / 'experiment'}", "--learning_rate=1e30",
         "--methods=finetune", "--seeds=0", "--notune"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == faults.FAULT_EXIT_CODE, result.stderr[-2000:]
    assert "training stopped at step" in result.stderr and "Traceback" not in result.stderr
