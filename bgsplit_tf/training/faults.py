"""Faults that stop training with a message instead of a stack trace, and the callback that finds them.

A TrainingFault says what went wrong, where, and what to do; the command-line apps print it and exit
with status FAULT_EXIT_CODE.
"""

from __future__ import annotations

import math
import re

import keras
import tensorflow as tf

FAULT_EXIT_CODE = 3
LOSS_TERMS = (("main_loss", "main"), ("aux_loss", "auxiliary"), ("loss", "total"))


class TrainingFault(RuntimeError):
    """Training cannot go on; the message names the cause and the fix."""


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Stops training at the first step whose loss is NaN or infinite, naming the step and the term.

    Reads the running epoch means that BackgroundSplittingModel logs after every step ("main_loss",
    "aux_loss", "loss"): one non-finite step makes its epoch's mean non-finite at once.
    """

    def on_train_batch_end(self, batch, logs=None):
        for key, term in LOSS_TERMS:
            value = float((logs or {}).get(key, 0.0))
            if not math.isfinite(value):
                step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
                raise TrainingFault(
                    f"training stopped at step {step} (batch {batch + 1} of its epoch): the {term} loss is "
                    f"{value}. Lower --learning_rate, check the inputs for NaN or infinite pixels, or with "
                    "--mixed_precision=float16 try bfloat16.")


def error_summary(error: tf.errors.OpError) -> str:
    """A TensorFlow error's message on one line, without its function-node prefix and op suffix, and
    image_files.decode_bytes's pixel-limit check reduced to the declared count."""
    message = re.sub(r"\{\{[^}]*\}\}", "", error.message)
    message = re.sub(r"Condition x <= y did not hold\.\s*First 1 elements of x:\s*\[(\d+)\].*", r"(\1 declared)",
                     message, flags=re.S)
    message = re.sub(r"\s*\[Op:[^\]]*\].*$", "", message, flags=re.S)
    return " ".join(message.split()) or type(error).__name__
