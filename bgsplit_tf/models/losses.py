"""Losses of the main head (rare task) and of the auxiliary head (mimic the teacher).

Main head: softmax cross-entropy and the imbalance methods that change it, each a separate knob so
that they combine with each other and with any aux weight (see `MainHeadLoss`):
  - focal loss (Lin et al. 2017): gamma, 0 = cross-entropy;
  - class-balanced weights by effective number of samples (Cui et al. 2019): beta, 0 = unweighted,
    optionally deferred to a later step (DRW, Cao et al. 2019);
  - LDAM margins (Cao et al. 2019): per-class margins proportional to n_c^-1/4;
  - logit adjustment (Menon et al. 2021): tau * log(prior) added to the logits in the loss
    (tau = 1 is balanced softmax, Ren et al. 2020) or subtracted after training (post-hoc).
Scalar losses take logits float32 [B, C] and labels int [B] and return a float32 scalar.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bgsplit_tf.config import AUX_TARGETS


def softmax_cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Mean softmax cross-entropy. labels: int [B] in [0, C); logits: float32 [B, C]."""
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=logits
    )
    return tf.reduce_mean(per_example)


def _positive_counts(class_counts) -> np.ndarray:
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0 or np.any(counts <= 0):
        raise ValueError(f"class counts must be a non-empty list of positive numbers, got {counts.tolist()}; "
                         "every class needs at least one training image")
    return counts


def focal_loss_per_example(labels: tf.Tensor, logits: tf.Tensor, gamma: float) -> tf.Tensor:
    """-(1 - p_y)^gamma * log p_y per example: float32 [B]. gamma = 0 is cross-entropy."""
    log_p = tf.gather(tf.nn.log_softmax(logits, axis=-1), tf.cast(labels, tf.int32), batch_dims=1)
    if gamma == 0:
        return -log_p
    return -((1.0 - tf.exp(log_p)) ** gamma) * log_p


def class_balanced_weights(class_counts, beta: float) -> np.ndarray:
    """Per-class weights (1 - beta) / (1 - beta^n_c), normalised to sum to C (Cui et al. 2019).

    class_counts: int [C] training images per class (all > 0). beta in [0, 1); beta = 0 gives all
    ones (unweighted), beta -> 1 approaches inverse class frequency. Returns float32 [C].
    """
    counts = _positive_counts(class_counts)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"class-balanced beta must be in [0, 1), got {beta}")
    if beta == 0:
        return np.ones(counts.size, np.float32)
    weights = (1.0 - beta) / -np.expm1(counts * np.log(beta))  # 1 - beta^n, accurate for beta near 1
    return (weights / weights.sum() * counts.size).astype(np.float32)


def ldam_margins(class_counts, max_margin: float) -> np.ndarray:
    """LDAM margins proportional to n_c^(-1/4), the largest (rarest class) equal to max_margin.

    class_counts: int [C], all > 0. Returns float32 [C].
    """
    margins = _positive_counts(class_counts) ** -0.25
    return (margins * (max_margin / margins.max())).astype(np.float32)


def log_prior(class_counts) -> np.ndarray:
    """log(n_c / sum n): the training label prior, float32 [C] (logit adjustment)."""
    counts = _positive_counts(class_counts)
    return np.log(counts / counts.sum()).astype(np.float32)


class MainHeadLoss:
    """The main-head loss with every imbalance knob; all knobs off is softmax cross-entropy.

    loss(labels, logits, step) = mean_b w_{y_b}(step) * focal_gamma(labels, z_b), where
      z = logits + la_tau * log(prior)            (logit adjustment, loss mode; tau 1 = balanced softmax)
              - logit_scale * margin_{y} * onehot(y)  (LDAM; logits are logit_scale * cosine from a
                                                       normalised head, so this is s * (cos - m))
      w = class-balanced weights once step >= reweight_from_step, else 1 (DRW defers them).
    The weighted mean divides by the batch size, not by the sum of weights (as Cui et al.), so that
    a class's share of the gradient follows its weight.

    Args:
      class_counts: training images per main class [K + 1] (from the rare task, never the test set);
        needed only by cb_beta, ldam_max_margin and la_tau.
      focal_gamma, cb_beta, ldam_max_margin, la_tau: the knobs; 0 turns each off.
      logit_scale: the scale s of a normalised (cosine) head, used to scale LDAM margins.
      reweight_from_step: first optimizer step that uses the class-balanced weights (0 = always).
    """

    def __init__(self, class_counts=None, focal_gamma: float = 0.0, cb_beta: float = 0.0,
                 reweight_from_step: int = 0, ldam_max_margin: float = 0.0, logit_scale: float = 1.0,
                 la_tau: float = 0.0):
        if focal_gamma < 0 or ldam_max_margin < 0 or logit_scale <= 0:
            raise ValueError(f"need focal_gamma >= 0, ldam_max_margin >= 0 and logit_scale > 0; got "
                             f"{focal_gamma}, {ldam_max_margin}, {logit_scale}")
        self.focal_gamma = float(focal_gamma)
        self.reweight_from_step = int(reweight_from_step)
        self.reweights = bool(cb_beta > 0)
        self.uses_margins = bool(ldam_max_margin > 0)
        self.adjusts_logits = bool(la_tau != 0)
        if (self.reweights or self.uses_margins or self.adjusts_logits) and class_counts is None:
            raise ValueError("class-balanced weights, LDAM margins and logit adjustment need class_counts")
        if self.reweights:
            self.class_weights = tf.constant(class_balanced_weights(class_counts, cb_beta))
        if self.uses_margins:
            self.margins = tf.constant(ldam_margins(class_counts, ldam_max_margin) * logit_scale)
        if self.adjusts_logits:
            self.logit_offset = tf.constant(log_prior(class_counts) * la_tau)

    def __call__(self, labels: tf.Tensor, logits: tf.Tensor, step: tf.Tensor | int = 0) -> tf.Tensor:
        """labels int [B] (negative = unlabeled: no main loss); logits float32 [B, K + 1]; step: the
        optimizer's iteration count. Returns the mean over the labelled examples (0 if none)."""
        labels = tf.cast(labels, tf.int32)
        labelled = labels >= 0
        labels = tf.maximum(labels, 0)  # any valid index for unlabeled rows; masked below
        if self.adjusts_logits:
            logits = logits + self.logit_offset
        if self.uses_margins:
            logits = logits - tf.one_hot(labels, tf.shape(logits)[-1]) * tf.gather(self.margins, labels)[:, None]
        per_example = focal_loss_per_example(labels, logits, self.focal_gamma)
        if self.reweights:
            weights = tf.gather(self.class_weights, labels)
            reweighting = tf.cast(step, tf.int64) >= self.reweight_from_step
            per_example = tf.where(reweighting, weights * per_example, per_example)
        batch = tf.cast(tf.size(labels), tf.float32)
        num_labelled = tf.reduce_sum(tf.cast(labelled, tf.float32))
        # mean * (B / labelled): exactly the batch mean when every example is labelled.
        return tf.reduce_mean(tf.where(labelled, per_example, 0.0)) * (batch / tf.maximum(num_labelled, 1.0))


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
