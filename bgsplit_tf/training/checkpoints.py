"""Periodic checkpoints of a training run, and resuming from the newest one.

<output_dir>/checkpoints/ holds tf.train.Checkpoint files (tf.train.CheckpointManager keeps the newest
MAX_TO_KEEP) with everything a run needs to go on as if it had never stopped:

  network      the two-output network's weights (batch-norm statistics included)
  optimizer    the optimizer's variables: iteration count (which drives the learning-rate schedule and
               deferred re-weighting), momentum, the float16 loss scale
  loss_means   the running means of the epoch's losses (the epoch logs of a resumed epoch equal an
               uninterrupted one's)
  position     JSON: the epochs finished, the batches done in the current epoch, the History logs of
               the finished epochs, and the run's flags

The input pipeline is not saved: every epoch's batches are a function of (--seed, epoch)
(pipeline.training_epochs), so the position is enough to continue on the same batches. Random state
the model draws from during training (Keras SeedGenerators) is part of its variables. A checkpoint is
written to new files and listed last, so a process killed while saving leaves the previous one as the
newest.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import keras
import tensorflow as tf
from absl import logging


MAX_TO_KEEP = 2
DIRECTORY = "checkpoints"
POSITION_KEY = "position/.ATTRIBUTES/VARIABLE_VALUE"  # the position variable's name inside a checkpoint


@dataclasses.dataclass
class Position:
    """Where a run is: `epoch` epochs finished and `step` batches done in the next one, with the History
    logs ({name: [value per finished epoch]}) of the finished ones."""

    epoch: int = 0
    step: int = 0
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)


class RunCheckpoints:
    """The checkpoints of one run in <output_dir>/checkpoints: save a Position with the model's state,
    restore the newest.

    model: a built BackgroundSplittingModel with its optimizer built (build_optimizer). flags: the
    run's {flag name: value string} (TrainConfig.flag_values), saved with each checkpoint so that a
    later run can tell whether it is the same run (training.run_folder.open_run_folder checks that
    before anything is written). every_steps: save_due(global step) is true every this many steps
    (0: never; epoch ends always save).
    """

    def __init__(self, output_dir: pathlib.Path, model: keras.Model, flags: dict[str, str], every_steps: int):
        self.directory = pathlib.Path(output_dir) / DIRECTORY
        self.flags = dict(flags)
        self.every_steps = every_steps
        # A plain (not mirrored) variable: strings cannot be mirrored, and one copy is all that is saved.
        with tf.device("CPU:0"):
            self._position = tf.Variable("", dtype=tf.string, trainable=False)
        checkpoint = tf.train.Checkpoint(network=model.network, optimizer=model.optimizer,
                                         loss_means=[v for m in model.metrics for v in m.variables],
                                         position=self._position)
        self._manager = tf.train.CheckpointManager(checkpoint, str(self.directory), max_to_keep=MAX_TO_KEEP)
        self.last_saved: Position | None = None
        self.resumed_from = Position()

    def restore(self) -> Position:
        """Loads the newest checkpoint into the model and returns its Position (the start, without one).
        The caller has checked that it belongs to the same run (run_folder.open_run_folder)."""
        path = self._manager.latest_checkpoint
        if path is None:
            return Position()
        saved = _saved_position(path)
        self._manager.checkpoint.restore(path).assert_existing_objects_matched()
        position = Position(saved["epoch"], saved["step"], saved["history"])
        self.last_saved = self.resumed_from = position
        logging.info("Resuming from %s: %s", path, self.describe(position))
        return position

    def steps_run(self, steps_per_epoch: int, epochs: int) -> int:
        """Training steps this process ran, to the end of `epochs`: those after the resumed position."""
        return (epochs - self.resumed_from.epoch) * steps_per_epoch - self.resumed_from.step

    def save_due(self, global_step: int) -> bool:
        """Whether the periodic (mid-epoch) checkpoint falls after this many steps in total."""
        return self.every_steps > 0 and global_step % self.every_steps == 0

    def save(self, position: Position, global_step: int) -> None:
        """Writes the model's state at `position` as ckpt-<global_step>; the oldest checkpoint beyond
        MAX_TO_KEEP goes."""
        self._position.assign(json.dumps({"epoch": position.epoch, "step": position.step,
                                          "history": position.history, "flags": self.flags}))
        verbosity = logging.get_verbosity()
        logging.set_verbosity(logging.WARNING)  # TensorFlow's saver logs an INFO line per save
        try:
            self._manager.save(checkpoint_number=global_step)
        finally:
            logging.set_verbosity(verbosity)
        self.last_saved = position

    def describe(self, position: Position | None = None) -> str:
        """Where the newest checkpoint (or `position`) stands, in words."""
        position = position or self.last_saved
        if position is None:
            return "none yet"
        return f"epoch {position.epoch + 1}, {position.step} batches into it" if position.step else (
            f"after epoch {position.epoch}")

    def kept(self) -> str:
        """A sentence saying which checkpoint a stopped run can resume from, if any."""
        if self.last_saved is None:
            return f"No checkpoint was written to {self.directory} yet."
        return f"The last good checkpoint ({self.describe()}) is kept in {self.directory}."


def _saved_position(path: str) -> dict:
    """The JSON position of a checkpoint, read alone (no model needed)."""
    return json.loads(tf.train.load_checkpoint(path).get_tensor(POSITION_KEY).decode())


def newest_saved_flags(directory: pathlib.Path) -> dict[str, str] | None:
    """The flags saved with the newest checkpoint in `directory`, None without one. Read before the
    model is built, so that a run of another shape (say, another --num_rare) is refused by name rather
    than by a variable-shape mismatch."""
    path = tf.train.latest_checkpoint(str(directory)) if pathlib.Path(directory).is_dir() else None
    return None if path is None else _saved_position(path)["flags"]
