"""Losses against values computed by hand on tiny inputs."""

import math

import numpy as np
import pytest
import tensorflow as tf

from bgsplit_tf import losses


def test_cross_entropy_matches_hand_computation():
    logits = tf.constant([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    labels = tf.constant([0, 2])
    first = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-1)))
    second = math.log(3)
    assert losses.softmax_cross_entropy(labels, logits).numpy() == pytest.approx((first + second) / 2, rel=1e-6)


def test_hard_aux_loss_is_cross_entropy_to_teacher_argmax():
    logits = tf.constant([[1.0, 2.0, 3.0]])
    targets = {"teacher_label": tf.constant([1]), "teacher_probs": tf.constant([[0.2, 0.5, 0.3]])}
    expected = -math.log(math.exp(2) / (math.exp(1) + math.exp(2) + math.exp(3)))
    assert losses.auxiliary_loss(targets, logits, "hard").numpy() == pytest.approx(expected, rel=1e-6)


def test_soft_loss_is_kl_at_temperature_one():
    teacher = np.array([[0.7, 0.2, 0.1]])
    student_logits = np.array([[0.5, 0.0, -0.5]])
    student = np.exp(student_logits) / np.exp(student_logits).sum()
    expected = float(np.sum(teacher * np.log(teacher / student)))
    got = losses.soft_distillation(tf.constant(teacher, tf.float32), tf.constant(student_logits, tf.float32), 1.0)
    assert got.numpy() == pytest.approx(expected, rel=1e-5)


def test_soft_loss_at_temperature_tempers_both_sides_and_scales_by_t_squared():
    teacher_logits = np.array([[2.0, 1.0, 0.0]])
    teacher = np.exp(teacher_logits) / np.exp(teacher_logits).sum()
    student_logits = np.array([[0.0, 1.0, 0.0]])
    t = 2.0
    p = np.exp(teacher_logits / t) / np.exp(teacher_logits / t).sum()
    q = np.exp(student_logits / t) / np.exp(student_logits / t).sum()
    expected = t * t * float(np.sum(p * np.log(p / q)))
    got = losses.soft_distillation(tf.constant(teacher, tf.float32), tf.constant(student_logits, tf.float32), t)
    assert got.numpy() == pytest.approx(expected, rel=1e-5)


def test_soft_loss_is_zero_when_student_equals_teacher_and_ignores_zero_probabilities():
    teacher = tf.constant([[0.5, 0.5, 0.0]])
    student_logits = tf.constant([[0.0, 0.0, -1e4]])
    assert losses.soft_distillation(teacher, student_logits, 1.0).numpy() == pytest.approx(0.0, abs=1e-6)


def test_unknown_aux_kind_is_rejected():
    with pytest.raises(ValueError, match="not one of"):
        losses.auxiliary_loss({}, tf.zeros([1, 2]), "fuzzy")
