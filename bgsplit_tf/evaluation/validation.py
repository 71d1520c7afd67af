"""Evaluation of the main head: per-class AP and mAP over the rare classes, per epoch and at the end."""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from bgsplit_tf.evaluation import metrics, run_results


BatchObserver = Callable[[np.ndarray, np.ndarray, np.ndarray], None]


def predict_main(model: keras.Model, batches: tf.data.Dataset,
                 observe: BatchObserver | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Runs the main head over evaluation batches.

    Args:
      model: a BackgroundSplittingModel; its `main_probabilities` (softmax of the main logits plus
        any post-hoc logit offset) is what evaluation ranks by.
      batches: (images float32 [B, H, W, 3], targets with "label" int [B]).
      observe: if given, called with each batch's (images float32 [B, H, W, 3], labels int [B],
        probabilities float32 [B, K + 1]), so that what needs the images (e.g. top_ranked.TopRanked)
        takes them in the same pass instead of keeping them all or reading the data again.

    Returns:
      (labels int64 [N], probabilities float32 [N, K + 1]).
    """

    @tf.function(jit_compile=bool(getattr(model, "jit_compile", False)), reduce_retracing=True)
    def main_probabilities(images):  # compiled with XLA when the model's train step is
        return model.main_probabilities(model(images, training=False))

    labels, probs = [], []
    for images, targets in batches:
        probs.append(main_probabilities(images).numpy())
        labels.append(targets["label"].numpy())
        if observe is not None:
            observe(images.numpy(), labels[-1], probs[-1])
    return np.concatenate(labels).astype(np.int64), np.concatenate(probs)


def map_summary(labels: np.ndarray, probabilities: np.ndarray,
                class_names: tuple[str, ...]) -> run_results.MapSummary:
    """mAP over the K rare classes (background excluded) and the AP of each, by name.

    labels: int [N] main labels; probabilities: float [N, K + 1]; class_names: K + 1 names.
    """
    aps = metrics.rare_class_average_precisions(labels, probabilities)
    return run_results.MapSummary(float(np.mean(aps)), {name: float(ap) for name, ap in zip(class_names[1:], aps)})


DEFAULT_TARGET_PRECISIONS = (0.5, 0.8, 0.9)


def operating_points(labels: np.ndarray, probabilities: np.ndarray, class_names: tuple[str, ...],
                     target_precisions=DEFAULT_TARGET_PRECISIONS) -> run_results.OperatingPoints:
    """Per rare class, the score threshold reaching each target precision and the recall it gives.

    Computed on validation data, so users pick how much they review: {class name: (metrics.operating_point
    per target precision)}. labels: int [N] main labels; probabilities: float [N, K + 1].
    """
    return {
        name: tuple(metrics.operating_point(labels == k, probabilities[:, k], p) for p in target_precisions)
        for k, name in enumerate(class_names[1:], start=1)
    }


def format_operating_points(points: run_results.OperatingPoints) -> str:
    """Human-readable table of operating_points, one line per class."""
    lines = []
    for name, per_target in points.items():
        cells = [f"P>={p.target_precision:.2f}: " + ("unreachable" if p.threshold is None else
                 f"score>={p.threshold:.4g} recall {p.recall:.2f}") for p in per_target]
        lines.append(f"  {name}: " + "; ".join(cells))
    return "\n".join(lines)


class Validation(keras.callbacks.Callback):
    """Validates a BackgroundSplittingModel in one pass, every `every` epochs and after the last.

    Adds val_loss, val_main_loss, val_aux_loss (means over examples), val_mAP and val_epoch (the
    epoch, counted from 1, that these belong to) to the logs of the epochs it validates; place it
    before the TensorBoard callback. `last` holds the latest map_summary and `last_predictions` the
    latest (labels int64 [N], probabilities float32 [N, K + 1]).

    batches: (images float32 [B, H, W, 3], targets with "label", "teacher_label", "teacher_probs").
    epochs: the run's length (so that the last epoch is always validated).
    """

    def __init__(self, batches: tf.data.Dataset, class_names: tuple[str, ...], every: int = 1,
                 epochs: int | None = None):
        super().__init__()
        self.batches = batches
        self.class_names = class_names
        self.every = every
        self.epochs = epochs
        self.last: run_results.MapSummary | None = None
        self.last_predictions: tuple[np.ndarray, np.ndarray] | None = None
        self._step = None

    def _validation_step(self, images, targets):
        outputs = self.model(images, training=False)
        losses = self.model.compute_losses(outputs, targets)
        return self.model.main_probabilities(outputs), tf.stack(losses)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 != self.epochs:
            return
        self.validate(epoch, logs)

    def validate(self, epoch: int, logs: dict | None = None) -> None:
        """Validates now, as after epoch `epoch` (from 0), adding the figures to `logs` if given."""
        if self._step is None:
            self._step = tf.function(self._validation_step, jit_compile=bool(self.model.jit_compile),
                                     reduce_retracing=True)
        labels, probs, loss_sums = [], [], np.zeros(3)
        for images, targets in self.batches:
            batch_probs, batch_losses = self._step(images, targets)
            probs.append(batch_probs.numpy())
            labels.append(targets["label"].numpy())
            loss_sums += batch_losses.numpy() * len(labels[-1])
        labels = np.concatenate(labels).astype(np.int64)
        self.last_predictions = (labels, np.concatenate(probs))
        self.last = map_summary(*self.last_predictions, self.class_names)
        if logs is not None:
            mean_losses = loss_sums / len(labels)
            logs.update(val_loss=mean_losses[0], val_main_loss=mean_losses[1], val_aux_loss=mean_losses[2],
                        val_mAP=self.last.mAP, val_epoch=epoch + 1)


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current "learning_rate" to the epoch logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
