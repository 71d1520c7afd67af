"""RunInference model handlers for our two models: a teacher spec (teacher targets) and an exported
SavedModel (mining). Each takes decoded pixels uint8 [H, W, 3] per element, batched by RunInference to
exactly batch_size images (the last batch of a bundle smaller), and loads its model once per worker
process.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import tensorflow as tf
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from bgsplit_tf.data import teacher_targets


class TeacherHandler(ModelHandler):
    """The --teacher of a TrainConfig (training.run_inputs.teacher_of): each element's inference is its
    targets (label int, indices int32 [k], probabilities float32 [k]), as teacher_targets keeps them."""

    def __init__(self, config, batch_size: int):
        super().__init__(min_batch_size=batch_size, max_batch_size=batch_size)
        self._config = config

    def load_model(self):
        """The teacher, wrapped in a tf.function: pixels uint8 [B, H, W, 3] -> raw outputs [B, M]."""
        from bgsplit_tf.training import run_inputs

        teacher = run_inputs.teacher_of(self._config)
        return tf.function(lambda pixels: teacher(tf.cast(pixels, tf.float32), training=False),
                           reduce_retracing=True)

    def run_inference(self, batch: Sequence[np.ndarray], model, inference_args: dict[str, Any] | None = None
                      ) -> Iterable[PredictionResult]:
        """Targets of a batch of pixels, computed as the single-process pass computes them."""
        probs = teacher_targets.teacher_probabilities(model(np.stack(batch)).numpy(), self._config.teacher_output)
        targets = teacher_targets.TeacherTargets.from_probabilities(np.zeros(len(batch), object), probs,
                                                                     self._config.teacher_top_k)
        return [PredictionResult(None, (int(targets.labels[i]), targets.indices[i], targets.probs[i]))
                for i in range(len(batch))]


class ExportHandler(ModelHandler):
    """An exported SavedModel's predict_images signature: each element's inference is its rare scores
    float32 [K]; the element's pixels stay in the result (the contact sheet draws the best ones)."""

    def __init__(self, export_path: str, batch_size: int):
        super().__init__(min_batch_size=batch_size, max_batch_size=batch_size)
        self._export_path = export_path

    def load_model(self):
        """The predict_images signature: images uint8 [B, H, W, 3] -> {"rare_scores": float32 [B, K], ...}."""
        return tf.saved_model.load(self._export_path).signatures["predict_images"]

    def run_inference(self, batch: Sequence[np.ndarray], model, inference_args: dict[str, Any] | None = None
                      ) -> Iterable[PredictionResult]:
        """Rare scores of a batch of pixels."""
        scores = model(images=tf.constant(np.stack(batch)))["rare_scores"].numpy()
        return [PredictionResult(pixels, row) for pixels, row in zip(batch, scores)]
