"""What TensorBoard shows of a training run beyond Keras' epoch scalars.

Each folder under a run's tensorboard/ is one TensorBoard run. By default TensorBoard keeps reading
only the newest event file of a folder, so two writers open in one folder at once would hide the
older one's later events: while Keras' TensorBoard callback holds train/ and validation/ open, what
we add during training goes to folders of its own.

  train/                 train_gallery: the images the model learns from (written before training)
  train_steps/           batch_loss, batch_main_loss, batch_aux_loss: the running means of the epoch
                         so far every --log_every_steps steps, at the global step (StepLosses)
  validation_per_class/  val_AP/<class> and a PR curve per rare class after each validated epoch, at
                         the epoch counted from 0 as Keras' epoch scalars (ValidationSummaries)
  test/                  test_mAP, a PR curve per rare class, and the test_pr_curves and
                         test_top_ranked pictures, at step --epochs (write_test_summaries)

PR curves go to TensorBoard's PR-curve plugin under the tag PR/<class>/pr_curves in both
validation_per_class/ and test/, so its dashboard draws a class's validation and test curves together.
"""

from __future__ import annotations

import contextlib
import pathlib

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api
from tensorboard.plugins.pr_curve import summary as pr_curve_summary

from bgsplit_tf.evaluation import validation as validation_lib

TRAIN_STEPS, VALIDATION_PER_CLASS = "train_steps", "validation_per_class"
STEP_LOSSES = ("loss", "main_loss", "aux_loss")


def write_pr_curves(labels: np.ndarray, probabilities: np.ndarray, class_names: tuple[str, ...]) -> None:
    """Writes one PR curve per rare class k (probabilities[:, k] against label == k) to the default
    summary writer at its default step, for TensorBoard's PR-curve plugin (tag PR/<class>/pr_curves).

    labels: int [N] main labels; probabilities: float [N, K + 1] in [0, 1]; class_names: K + 1 names.
    """
    for k, name in enumerate(class_names[1:], start=1):
        curve = pr_curve_summary.pb(f"PR/{name}", labels == k, probabilities[:, k].astype(np.float32),
                                    description=f"main-head probability of {name} against all other images")
        tf.summary.experimental.write_raw_pb(curve.SerializeToString())


def write_pictures(log_dir: pathlib.Path, step: int, pictures: dict[str, bytes]) -> None:
    """Writes PNG pictures ({tag: PNG bytes}) as image summaries to log_dir at `step`."""
    with _writer(log_dir, step):
        _write_images(pictures)


def write_test_summaries(log_dir: pathlib.Path, step: int, test_map: float, labels: np.ndarray,
                         probabilities: np.ndarray, class_names: tuple[str, ...], pictures: dict[str, bytes]) -> None:
    """The test run: test_mAP, a PR curve per rare class (write_pr_curves) and the PNG pictures
    ({tag: PNG bytes}), at `step`. labels int [N]; probabilities float [N, K + 1]."""
    with _writer(log_dir, step):
        tf.summary.scalar("test_mAP", test_map)
        write_pr_curves(labels, probabilities, class_names)
        _write_images(pictures)


class ValidationSummaries(keras.callbacks.Callback):
    """After each epoch that `validation` validated: val_AP/<class> scalars and a PR curve per rare class
    (write_pr_curves) of its latest predictions, to log_dir at the epoch (from 0). Place it after the
    Validation callback; it tells a validated epoch by the val_epoch that Validation adds to the logs."""

    def __init__(self, validation: validation_lib.Validation, log_dir: pathlib.Path):
        super().__init__()
        self.validation = validation
        self.log_dir = pathlib.Path(log_dir)
        self._writer = None

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(str(self.log_dir))

    def on_epoch_end(self, epoch, logs=None):
        if not logs or logs.get("val_epoch") != epoch + 1:
            return
        with self._writer.as_default(step=epoch):
            for name, ap in self.validation.last.ap.items():
                tf.summary.scalar(f"val_AP/{name}", ap)
            write_pr_curves(*self.validation.last_predictions, self.validation.class_names)
        self._writer.flush()

    def on_train_end(self, logs=None):
        self._writer.close()


class StepLosses(keras.callbacks.Callback):
    """Writes the running training losses every `every_steps` steps, so that a long epoch shows while
    it runs.

    The batch logs' loss, main_loss and aux_loss (running means over the epoch so far) become the
    scalars batch_loss, batch_main_loss and batch_aux_loss in log_dir, at the global step
    epoch * steps_per_epoch + step + 1 (steps done since the run began): a resumed run continues the
    same curve, every `every_steps` steps as before.
    """

    def __init__(self, log_dir: pathlib.Path, every_steps: int, steps_per_epoch: int):
        super().__init__()
        self.log_dir = pathlib.Path(log_dir)
        self.every_steps = every_steps
        self.steps_per_epoch = steps_per_epoch
        self._writer = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(str(self.log_dir))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        global_step = self._epoch * self.steps_per_epoch + batch + 1
        if global_step % self.every_steps or not logs:
            return
        with self._writer.as_default(step=global_step):
            for name in STEP_LOSSES:
                if name in logs:
                    tf.summary.scalar(f"batch_{name}", logs[name])
        self._writer.flush()  # visible in TensorBoard now, not at the writer's next timed flush

    def on_train_end(self, logs=None):
        self._writer.close()


@contextlib.contextmanager
def _writer(log_dir: pathlib.Path, step: int):
    """A summary writer for log_dir, the default at `step` inside the block, closed after it."""
    writer = tf.summary.create_file_writer(str(log_dir))
    try:
        with writer.as_default(step=step):
            yield
    finally:
        writer.close()


def _write_images(pictures: dict[str, bytes]) -> None:
    for tag, png in pictures.items():
        tf.summary.image(tag, tf.io.decode_png(png)[None])


# Scalars each run writes next to its HParams, read by the HParams dashboard.
HPARAMS_VAL_TAG, HPARAMS_TEST_TAG = "hparams/val_mAP", "hparams/test_mAP"


def write_run_hparams(log_dir: pathlib.Path, hparams: dict, val_map: float, test_map: float) -> None:
    """Records a run for TensorBoard's HParams dashboard: its hyperparameters and final val/test mAP."""
    with tf.summary.create_file_writer(str(log_dir)).as_default():
        hparams_api.hparams(hparams)
        tf.summary.scalar(HPARAMS_VAL_TAG, val_map, step=0)
        tf.summary.scalar(HPARAMS_TEST_TAG, test_map, step=0)


def write_hparams_config(log_dir: pathlib.Path, columns: dict[str, list | None]) -> None:
    """Declares the HParams dashboard's columns for the runs below log_dir: {hyperparameter: its discrete
    values, or None for any}, and the val/test mAP each run records (write_run_hparams)."""
    with tf.summary.create_file_writer(str(log_dir)).as_default():
        hparams_api.hparams_config(
            hparams=[hparams_api.HParam(name, None if values is None else hparams_api.Discrete(values))
                     for name, values in columns.items()],
            metrics=[hparams_api.Metric(HPARAMS_VAL_TAG, display_name="val mAP"),
                     hparams_api.Metric(HPARAMS_TEST_TAG, display_name="test mAP")],
        )
