"""The callback that stops training at the first non-finite loss, as a TrainingFault naming the step."""

from __future__ import annotations

import math

import keras

from bgsplit_tf.faults import TrainingFault

LOSS_TERMS = (("main_loss", "main"), ("aux_loss", "auxiliary"), ("loss", "total"))


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
