"""Teacher targets: the pre-trained model's predictions, computed ONCE per training image.

The teacher sees each image exactly as decoded (no augmentation), so the auxiliary head learns to
reproduce the teacher's view of the image, whatever augmentation the student gets. Targets are
joined to examples by id inside the tf.data pipeline.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class TeacherTargets:
    """ids: bytes [N]; probs: float32 [N, M], the teacher's softmax at temperature 1."""

    ids: np.ndarray
    probs: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        """int32 [N]: the teacher's argmax (hard pseudo-labels)."""
        return self.probs.argmax(axis=1).astype(np.int32)

    @property
    def num_classes(self) -> int:
        return self.probs.shape[1]

    def join(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        """Adds "teacher_label" int32 [] and "teacher_probs" float32 [M] to each example by its id.

        An example whose id has no target fails the pipeline with an error naming the id.
        """
        row_of_id = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.ids.tolist(), tf.string), tf.range(len(self.ids), dtype=tf.int64)
            ),
            default_value=-1,
        )
        probs = tf.constant(self.probs, tf.float32)
        labels = tf.constant(self.labels, tf.int32)

        def add_targets(example):
            row = row_of_id.lookup(example["id"])
            check = tf.debugging.Assert(
                row >= 0, ["no teacher target for example id", example["id"], "; recompute the targets"]
            )
            with tf.control_dependencies([check]):
                row = tf.identity(row)
            return {**example, "teacher_label": tf.gather(labels, row), "teacher_probs": tf.gather(probs, row)}

        return ds.map(add_targets, num_parallel_calls=tf.data.AUTOTUNE)


def compute_teacher_targets(teacher: keras.Model, ds: tf.data.Dataset, batch_size: int = 512) -> TeacherTargets:
    """Runs the teacher once over `ds` (examples with "image" uint8 [H, W, 3] and "id")."""

    @tf.function(jit_compile=True)
    def predict(images):
        return tf.nn.softmax(teacher(tf.cast(images, tf.float32), training=False), axis=-1)

    ids, probs = [], []
    for batch in ds.batch(batch_size).prefetch(tf.data.AUTOTUNE):
        probs.append(predict(batch["image"]).numpy())
        ids.append(batch["id"].numpy())
    if not ids:
        raise ValueError("cannot compute teacher targets: the dataset is empty")
    return TeacherTargets(np.concatenate(ids).astype(object), np.concatenate(probs).astype(np.float32))
