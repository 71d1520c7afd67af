"""Losses of the main head (rare task) and of the auxiliary head (mimic the teacher).

All functions take logits (float32 [B, C]) and return a float32 scalar: the mean over the batch.
"""

from __future__ import annotations

import tensorflow as tf

AUX_TARGETS = ("hard", "soft")


def softmax_cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Mean softmax cross-entropy. labels: int [B] in [0, C); logits: float32 [B, C]."""
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=logits
    )
    return tf.reduce_mean(per_example)


def tempered_distribution(probs: tf.Tensor, temperature: float) -> tf.Tensor:
    """softmax(log(probs) / T): the teacher's distribution at temperature T, from its T=1 probs.

    probs: float32 [B, M], rows summing to 1 (zeros allowed). Returns float32 [B, M].
    """
    if temperature == 1.0:
        return probs
    log_probs = tf.math.log(tf.maximum(probs, 1e-30)) / temperature
    return tf.nn.softmax(tf.where(probs > 0, log_probs, -1e30), axis=-1)


def soft_distillation(teacher_probs: tf.Tensor, student_logits: tf.Tensor, temperature: float) -> tf.Tensor:
    """T^2 * KL(teacher_T || student_T), mean over the batch (Hinton et al. 2015).

    The T^2 factor keeps the gradient scale independent of T. teacher_probs: float32 [B, M] at
    T = 1; student_logits: float32 [B, M].
    """
    target = tempered_distribution(teacher_probs, temperature)
    log_student = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    log_target = tf.math.log(tf.maximum(target, 1e-30))
    kl = tf.reduce_sum(tf.where(target > 0, target * (log_target - log_student), 0.0), axis=-1)
    return temperature**2 * tf.reduce_mean(kl)


def auxiliary_loss(
    targets: dict[str, tf.Tensor], aux_logits: tf.Tensor, kind: str = "hard", temperature: float = 1.0
) -> tf.Tensor:
    """The auxiliary (background-splitting) loss.

    Args:
      targets: "teacher_label" int32 [B] (the teacher's argmax) and "teacher_probs" float32 [B, M].
      aux_logits: float32 [B, M].
      kind: "hard": cross-entropy to the teacher's argmax (the official code); "soft": KL to the
        teacher's softmax at `temperature`.
    """
    if kind == "hard":
        return softmax_cross_entropy(targets["teacher_label"], aux_logits)
    if kind == "soft":
        return soft_distillation(targets["teacher_probs"], aux_logits, temperature)
    raise ValueError(f"aux target kind {kind!r} is not one of {AUX_TARGETS}")
