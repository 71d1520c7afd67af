"""Checkpoints and resumption: a run killed with SIGKILL mid-epoch, then run again, ends bit-identical to
one that was never interrupted (--deterministic)."""

import dataclasses
import json
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from bgsplit_tf import faults
from bgsplit_tf.training import build, checkpoints, loop as training_loop, run as run_lib
from bgsplit_tf.training import run_inputs
from bgsplit_tf.training import run_folder

from bgsplit_tf import config as config_lib
from bgsplit_tf.models import bgsplit_model
from tests import helpers
from tests.conftest import REPO

STEPS_PER_EPOCH = 24  # flags/smoke.cfg: 768 kept training images of bgsplit_shapes/tiny, batches of 32


def _train_command(tiny_data_dir, out):
    return [sys.executable, "-m", "bgsplit_tf.cli.train", f"--flagfile={REPO / 'flags/smoke.cfg'}",
            f"--data_dir={tiny_data_dir}", f"--output_dir={out}", "--epochs=2", "--checkpoint_steps=4",
            "--deterministic"]


def _checkpoint_steps(out):
    return sorted(int(m.group(1)) for p in (out / "checkpoints").glob("ckpt-*.index")
                  if (m := re.fullmatch(r"ckpt-(\d+)\.index", p.name)))


def _newest_checkpoint_step(out) -> int:
    """The step of the checkpoint that `checkpoints/checkpoint` lists as newest (0 before the first)."""
    try:
        state = (out / "checkpoints" / "checkpoint").read_text()
    except FileNotFoundError:
        return 0
    match = re.match(r'model_checkpoint_path: ".*ckpt-(\d+)"', state)
    return int(match.group(1)) if match else 0


def _run(command, cwd):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _weights(out):
    return [np.asarray(w) for w in keras.saving.load_model(out / "model.keras").weights]


@pytest.mark.e2e
def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_as_an_uninterrupted_run(tiny_data_dir, tmp_path):
    uninterrupted = tmp_path / "uninterrupted"
    _run(_train_command(tiny_data_dir, uninterrupted), tmp_path)

    killed = tmp_path / "killed"
    process = subprocess.Popen(_train_command(tiny_data_dir, killed), cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    # Kill in the second epoch, once a mid-epoch checkpoint exists (steps 24..45; 46 ends the run).
    while not STEPS_PER_EPOCH < _newest_checkpoint_step(killed) < 2 * STEPS_PER_EPOCH:
        assert process.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "metrics.json").exists()

    resumed = _run(_train_command(tiny_data_dir, killed), tmp_path)
    assert re.search(r"Resuming from .*ckpt-\d+: epoch 2, \d+ batches into it", resumed.stderr), [
        line for line in resumed.stderr.splitlines() if "Resuming" in line]
    for a, b in zip(_weights(uninterrupted), _weights(killed), strict=True):
        np.testing.assert_array_equal(a, b)
    expected, got = (json.loads((out / "metrics.json").read_text()) for out in (uninterrupted, killed))
    assert got["test"] == expected["test"]
    assert got["history"].keys() == expected["history"].keys()
    for name, values in expected["history"].items():
        if name.startswith("val_") or name == "learning_rate":
            assert got["history"][name] == values, name
        else:  # the resumed epoch's running loss means included
            # Training-loss means are reductions that feed no gradient; with oneDNN's CPU kernels on they
            # differ in the last float32 bits between any two processes, interrupted or not (BUILD.md).
            np.testing.assert_allclose(got["history"][name], values, rtol=1e-6, err_msg=name)


def _tiny_config(tiny_data_dir, out, **overrides):
    return config_lib.TrainConfig(**{**dict(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, num_rare=2,
                                            positives_per_class=2, epochs=1, batch_size=32, warmup_epochs=0,
                                            output_dir=str(out)), **overrides})


def _checkpoint(config):
    """Writes one checkpoint of config's run (an untrained model, 4 batches into epoch 1)."""
    model = build.build_model(config, run_inputs.teacher_of(config), [700, 2, 2], STEPS_PER_EPOCH)
    checkpoints.RunCheckpoints(config.output_dir, model, config.flag_values(), 4).save(
        checkpoints.Position(0, 4, {}), 4)


def test_a_checkpoint_of_other_flags_is_refused_naming_them_before_anything_is_written(tiny_data_dir, tmp_path):
    out = tmp_path / "run"
    original = _tiny_config(tiny_data_dir, out, learning_rate=0.01)
    _checkpoint(original)
    # Where outputs go may change; what is trained may not.
    run_folder.open_run_folder(out, dataclasses.replace(original, export_dir="/elsewhere"))
    flags_before = (out / "flags.txt").read_text()
    changed = _tiny_config(tiny_data_dir, out, learning_rate=0.1)
    with pytest.raises(faults.TrainingFault, match=r"--learning_rate=0.01 then, 0.1 now.*--overwrite"):
        run_lib.run_training(changed, verbose=0)
    # The refused resume touched nothing: --flagfile=<run>/flags.txt still resumes the interrupted run.
    assert (out / "flags.txt").read_text() == flags_before
    assert not (out / "train_gallery.png").exists()


@pytest.mark.e2e  # a full training run, until its loss overflows
def test_a_nonfinite_loss_keeps_the_last_good_checkpoint_and_says_where(tiny_data_dir, tmp_path):
    # A learning rate this large overflows the weights within the first epoch's steps.
    config = _tiny_config(tiny_data_dir, tmp_path / "run", learning_rate=1e30, epochs=2, checkpoint_steps=1)
    with pytest.raises(faults.TrainingFault, match=r"loss is (nan|inf).*last good checkpoint \(epoch 1, (\d+) "
                                                   r"batches into it\) is kept in .*checkpoints") as raised:
        run_lib.run_training(config, verbose=0)
    good_step = int(re.search(r"epoch 1, (\d+) batches", str(raised.value)).group(1))
    assert _checkpoint_steps(tmp_path / "run")[-1] == good_step
    model = build.build_model(config, run_inputs.teacher_of(config), [700, 2, 2], STEPS_PER_EPOCH)
    checkpoints.RunCheckpoints(tmp_path / "run", model, config.flag_values(), 1).restore()
    assert all(np.isfinite(np.asarray(w)).all() for w in model.network.weights)


def test_a_file_that_breaks_mid_epoch_stops_with_a_message_and_keeps_the_checkpoint(tmp_path):
    """A file damaged or deleted after the pre-training scan: a TrainingFault naming the error and the
    checkpoint, not a TensorFlow stack trace."""
    model = bgsplit_model.BackgroundSplittingModel(helpers.tiny_network())
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    model.build_optimizer()
    images, targets = helpers.tiny_batch()
    missing = str(tmp_path / "deleted_after_the_scan.jpg")

    def epoch_batches(epoch, skip):
        paths = tf.data.Dataset.from_tensor_slices(["", "", missing])  # the third batch reads the missing file
        return paths.map(lambda path: (tf.cond(
            path == "", lambda: tf.constant(images),
            lambda: tf.fill(images.shape, tf.cast(tf.strings.length(tf.io.read_file(path)), tf.float32))),
            targets)).skip(skip)

    run_checkpoints = checkpoints.RunCheckpoints(tmp_path, model, {}, every_steps=1)
    with pytest.raises(faults.TrainingFault, match=r"training stopped in epoch 1, batch 3: NotFoundError: "
                                                   r".*deleted_after_the_scan.jpg.*The last good checkpoint \(epoch 1, "
                                                   r"2 batches into it\) is kept"):
        training_loop.train(model, epoch_batches, epochs=1, steps_per_epoch=3, callbacks=[],
                            checkpoints=run_checkpoints, verbose=0)


def test_a_checkpoint_of_another_shape_is_refused_by_its_flags_not_a_shape_error(tiny_data_dir, tmp_path):
    out = tmp_path / "run"
    config = _tiny_config(tiny_data_dir, out)
    _checkpoint(config)
    with pytest.raises(faults.TrainingFault, match=r"--num_rare=2 then, 3 now"):
        run_folder.open_run_folder(out, dataclasses.replace(config, num_rare=3))
