"""The epoch loop of a training run: Keras fit's loop, made resumable.

It runs the model's compiled train function over one dataset per epoch (pipeline.training_epochs),
calls the same callbacks fit calls (progress bar, History, ours), and checkpoints: every
--checkpoint_steps steps and after every epoch (checkpoints.RunCheckpoints). Started again after an
interruption, it restores the newest checkpoint and continues from its position: the epoch, the batch
in it (the epoch's dataset skips the batches already done), the running loss means and the History.
"""

from __future__ import annotations

import sys
from typing import Callable

import keras
import tensorflow as tf

from bgsplit_tf import config as config_lib, faults
from bgsplit_tf.training import checkpoints as checkpoints_lib

# (epoch, skip) -> the epoch's batches from batch `skip` on: a tf.data.Dataset, or a distributed dataset
EpochIterable = Callable[[int, int], object]  # (epoch, skip) -> what the loop iterates: that epoch's batches
TrainFunction = Callable[[object], dict]  # iterator -> the step's logs (the running loss means)

_KERAS_VERBOSITY = {"bar": 1, "epoch": 2, "off": 0}


def keras_verbosity(setting: str, steps_per_epoch: int) -> int:
    """Keras' verbosity (1 progress bar, 2 one line per epoch, 0 silent) for a --verbose setting.

    auto: the progress bar when stdout is a terminal and an epoch has config.PROGRESS_BAR_MIN_STEPS
    steps or more (a bar written to a log file is noise, and a short epoch is over before it helps),
    else one line per epoch.
    """
    if setting == "auto":
        return 1 if sys.stdout.isatty() and steps_per_epoch >= config_lib.PROGRESS_BAR_MIN_STEPS else 2
    return _KERAS_VERBOSITY[setting]


def train(model: keras.Model, epoch_batches: EpochIterable, epochs: int, steps_per_epoch: int,
          callbacks: list[keras.callbacks.Callback], checkpoints: checkpoints_lib.RunCheckpoints,
          verbose: int | str = 2, train_function: TrainFunction | None = None) -> keras.callbacks.History:
    """Trains `model` for `epochs` of `steps_per_epoch` steps from where `checkpoints` left off.

    verbose: Keras' console verbosity (keras_verbosity). train_function: runs one step on the next
    batch of an iterator over epoch_batches's dataset (default: the model's own,
    model.make_train_function, compiled as the model was compiled).
    Returns the History of all epochs, those before a resumption included. A TrainingFault raised
    by a callback (loss_guard.NonFiniteLossGuard) stops training before the faulty step is checkpointed;
    the fault's message then says which checkpoint holds the last good state.
    """
    if train_function is None:
        model.make_train_function()
        train_function = model.train_function
    position = checkpoints.restore()
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*callbacks, history], add_history=False, add_progbar=verbose != 0, model=model, verbose=verbose,
        epochs=epochs, steps=steps_per_epoch)
    model.stop_training = False
    callback_list.on_train_begin()
    history.epoch, history.history = list(range(position.epoch)), {k: list(v) for k, v in position.history.items()}
    epoch_logs, epoch, step = None, position.epoch, position.step
    try:
        for epoch in range(position.epoch, epochs):
            first_step = position.step if epoch == position.epoch else 0
            if first_step == 0:
                model.reset_metrics()  # a resumed epoch goes on with its restored running means
            callback_list.on_epoch_begin(epoch)
            step = first_step
            iterator = iter(epoch_batches(epoch, first_step))
            for step in range(first_step, steps_per_epoch):
                callback_list.on_train_batch_begin(step)
                logs = train_function(iterator)
                callback_list.on_train_batch_end(step, logs)
                global_step = epoch * steps_per_epoch + step + 1
                if step + 1 < steps_per_epoch and checkpoints.save_due(global_step):
                    checkpoints.save(checkpoints_lib.Position(epoch, step + 1, _plain(history.history)), global_step)
                if model.stop_training:
                    break
            epoch_logs = {name: float(value) for name, value in logs.items()}
            callback_list.on_epoch_end(epoch, epoch_logs)
            checkpoints.save(checkpoints_lib.Position(epoch + 1, 0, _plain(history.history)),
                             (epoch + 1) * steps_per_epoch)
            if model.stop_training:
                break
    except faults.TrainingFault as fault:
        raise faults.TrainingFault(f"{fault} {checkpoints.kept()}") from None
    except tf.errors.OpError as error:  # e.g. a file deleted or damaged after the pre-training scan
        raise faults.TrainingFault(
            f"training stopped in epoch {epoch + 1}, batch {step + 1}: {type(error).__name__}: "
            f"{faults.error_summary(error)}. {checkpoints.kept()} Fix the cause and run the same command: it "
            "looks for unreadable images again before training, then resumes.") from error
    model.optimizer.finalize_variable_values(model.trainable_weights)
    callback_list.on_train_end(logs=epoch_logs)
    return history


def _plain(history: dict) -> dict[str, list[float]]:
    """History logs as JSON-ready floats."""
    return {name: [float(v) for v in values] for name, values in history.items()}
