"""Teacher targets: the pre-trained model's predictions, computed ONCE per training image.

The teacher sees each image exactly as decoded (no augmentation), so the auxiliary head learns to
reproduce the teacher's view of the image, whatever augmentation the student gets. Each image keeps
the teacher's hard label and its k most probable classes (indices and probabilities); when k covers
the whole label space the full distribution is kept exactly. Targets are joined to examples by id
inside the tf.data pipeline. data.teacher_cache stores them on disk for datasets of millions.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import keras
import numpy as np
import tensorflow as tf

from bgsplit_tf.config import DEFAULT_TOP_K, TEACHER_OUTPUTS
PROBABILITY_TOLERANCE = 1e-3  # |row sum - 1| above which outputs are not probabilities


@dataclasses.dataclass(frozen=True)
class TeacherTargets:
    """The teacher's targets for N images over its M classes, k of them kept per image.

    ids: object [N] of bytes; labels: int32 [N], the teacher's argmax; indices: int32 [N, k], classes
    in decreasing probability; probs: float32 [N, k], their probabilities (not renormalised);
    num_classes: M. k == M keeps the full distribution.
    """

    ids: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    probs: np.ndarray
    num_classes: int

    def __post_init__(self):
        n, k = self.indices.shape
        if not (len(self.ids) == len(self.labels) == n and self.probs.shape == (n, k)):
            raise ValueError(f"inconsistent teacher targets: {len(self.ids)} ids, {len(self.labels)} labels, "
                             f"indices {self.indices.shape}, probs {self.probs.shape}")
        if not 0 < k <= self.num_classes:
            raise ValueError(f"top-k of {k} outside 1..{self.num_classes} classes")

    @property
    def top_k(self) -> int:
        return self.indices.shape[1]

    @classmethod
    def from_probabilities(cls, ids: np.ndarray, probs: np.ndarray, top_k: int = DEFAULT_TOP_K) -> "TeacherTargets":
        """Targets from full distributions probs float32 [N, M], keeping min(top_k, M) classes."""
        indices, kept = top_k_of(probs, top_k)
        return cls(np.asarray(ids, dtype=object), probs.argmax(axis=1).astype(np.int32), indices, kept, probs.shape[1])

    def rows(self, start: int, stop: int) -> "TeacherTargets":
        """The targets of images start..stop-1 (in their order)."""
        return TeacherTargets(self.ids[start:stop], self.labels[start:stop], self.indices[start:stop],
                              self.probs[start:stop], self.num_classes)

    def dense_probs(self) -> np.ndarray:
        """float32 [N, M]: the soft targets the aux loss sees (see soft_targets)."""
        return soft_targets(tf.constant(self.indices), tf.constant(self.probs), self.num_classes).numpy()

    def join(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        """Adds "teacher_label" int32 [] and "teacher_probs" float32 [M] to each example by its id.

        The targets live in hash tables (resources, not graph constants), so millions of images fit.
        An example whose id has no target fails the pipeline with an error naming the id.
        """
        k = self.top_k
        keys = tf.constant(self.ids.astype(bytes))
        classes = tf.lookup.experimental.MutableHashTable(tf.string, tf.int32, default_value=tf.fill([k + 1], -1))
        classes.insert(keys, tf.constant(np.concatenate([self.labels[:, None], self.indices], axis=1), tf.int32))
        probs = tf.lookup.experimental.MutableHashTable(tf.string, tf.float32, default_value=tf.zeros([k]))
        probs.insert(keys, tf.constant(self.probs, tf.float32))
        num_classes = self.num_classes

        def add_targets(example):
            found = tf.ensure_shape(classes.lookup(example["id"]), [k + 1])
            check = tf.debugging.Assert(
                found[0] >= 0,
                ["no teacher target for example id", example["id"], "; the targets were computed for other "
                 "images: rebuild them (delete the --teacher_cache_dir shards of this split)"],
            )
            with tf.control_dependencies([check]):
                found = tf.identity(found)
            kept = tf.ensure_shape(probs.lookup(example["id"]), [k])
            soft = soft_targets(found[None, 1:], kept[None], num_classes)[0]
            return {**example, "teacher_label": found[0], "teacher_probs": soft}

        return ds.map(add_targets, num_parallel_calls=tf.data.AUTOTUNE)


def top_k_of(probs: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices int32 [N, k], probabilities float32 [N, k]) of the k = min(top_k, M) most probable
    classes per row of probs [N, M], in decreasing order (ties: lower class index first)."""
    k = min(int(top_k), probs.shape[1])
    values, indices = tf.math.top_k(tf.constant(probs, tf.float32), k=k)
    return indices.numpy().astype(np.int32), values.numpy()


def soft_targets(indices: tf.Tensor, probs: tf.Tensor, num_classes: int) -> tf.Tensor:
    """Dense soft targets float32 [B, M] from top-k indices int32 [B, k] and probabilities [B, k].

    With k == M the stored distribution is returned as is; with k < M the kept probabilities are
    renormalised to sum to 1 (the teacher's distribution conditioned on its top k).
    """
    k = indices.shape[-1]
    if k != num_classes:
        probs = probs / tf.reduce_sum(probs, axis=-1, keepdims=True)
    batch = tf.shape(indices)[0]
    rows = tf.repeat(tf.range(batch), k)
    positions = tf.stack([rows, tf.reshape(indices, [-1])], axis=1)
    return tf.scatter_nd(positions, tf.reshape(probs, [-1]), [batch, num_classes])


def teacher_probabilities(outputs: np.ndarray, teacher_output: str) -> np.ndarray:
    """The teacher's distribution float32 [B, M] from its raw outputs [B, M].

    teacher_output: "logits" (softmax applied) or "probabilities" (checked to be distributions).
    Raises ValueError when the outputs contradict the declared kind, naming --teacher_output.
    """
    if teacher_output not in TEACHER_OUTPUTS:
        raise ValueError(f"--teacher_output={teacher_output!r} is not one of {TEACHER_OUTPUTS}")
    outputs = np.asarray(outputs, np.float32)
    sums = outputs.sum(axis=1)
    look_like_probabilities = (outputs.min() >= 0.0 and outputs.max() <= 1.0
                               and np.all(np.abs(sums - 1.0) <= PROBABILITY_TOLERANCE))
    if teacher_output == "probabilities":
        if not look_like_probabilities:
            raise ValueError(
                f"--teacher_output=probabilities, but the teacher's outputs are not distributions (row sums "
                f"{sums.min():.4g}..{sums.max():.4g}, values {outputs.min():.4g}..{outputs.max():.4g}); "
                "pass --teacher_output=logits")
        return outputs
    if look_like_probabilities and outputs.shape[1] > 1:
        raise ValueError("the teacher's outputs already sum to 1 per image, so they look like probabilities, "
                         "and a softmax over them would flatten them; pass --teacher_output=probabilities")
    return tf.nn.softmax(outputs, axis=-1).numpy()


def predict_batches(teacher: keras.Model, ds: tf.data.Dataset, batch_size: int = 256,
                    teacher_output: str = "logits") -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields (ids object [B] of bytes, probabilities float32 [B, M]) for examples with "image" uint8
    [H, W, 3] and "id", in dataset order, one batch in memory at a time."""

    @tf.function(reduce_retracing=True)
    def predict(images):
        return teacher(tf.cast(images, tf.float32), training=False)

    for batch in ds.batch(batch_size).prefetch(tf.data.AUTOTUNE):
        yield batch["id"].numpy().astype(object), teacher_probabilities(predict(batch["image"]).numpy(), teacher_output)


def compute_teacher_targets(teacher: keras.Model, ds: tf.data.Dataset, batch_size: int = 256,
                            top_k: int = DEFAULT_TOP_K, teacher_output: str = "logits") -> TeacherTargets:
    """Runs the teacher once over `ds` (examples with "image" uint8 [H, W, 3] and "id"), in memory.

    For large datasets use data.teacher_cache, which writes the same targets to disk shard by shard.
    """
    parts = [TeacherTargets.from_probabilities(ids, probs, top_k)
             for ids, probs in predict_batches(teacher, ds, batch_size, teacher_output)]
    if not parts:
        raise ValueError("cannot compute teacher targets: the dataset is empty")
    return concatenate(parts)


def concatenate(parts: list[TeacherTargets]) -> TeacherTargets:
    """One TeacherTargets from consecutive parts with the same k and M."""
    return TeacherTargets(
        np.concatenate([p.ids for p in parts]).astype(object),
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.indices for p in parts]),
        np.concatenate([p.probs for p in parts]),
        parts[0].num_classes,
    )
