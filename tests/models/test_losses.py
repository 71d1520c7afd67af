"""Losses against values computed by hand on tiny inputs."""

import math

import numpy as np
import pytest
import tensorflow as tf

from bgsplit_tf.models import losses


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


def test_unlabeled_images_are_masked_out_of_the_main_loss():
    """Label -1 (an unlabeled image) adds nothing to the main loss: the mean is over the labelled images,
    and a batch of unlabeled images only has a main loss of 0 (they still feed the aux loss)."""
    labels = tf.constant([0, -1, 2, -1])
    logits = tf.constant([[2.0, 0.0, -1.0], [9.0, -9.0, 0.0], [0.5, 1.5, 0.0], [0.0, 0.0, 9.0]])
    labelled = losses.softmax_cross_entropy(tf.constant([0, 2]), tf.gather(logits, [0, 2]))
    assert losses.MainHeadLoss()(labels, logits).numpy() == pytest.approx(labelled.numpy(), rel=1e-6)
    assert losses.MainHeadLoss()(tf.constant([-1, -1]), logits[:2]).numpy() == 0.0


def test_unknown_aux_kind_is_rejected():
    with pytest.raises(ValueError, match="not one of"):
        losses.auxiliary_loss({}, tf.zeros([1, 2]), "fuzzy")


# --- Main-head imbalance losses -------------------------------------------------------------------

LOGITS = tf.constant([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
LABELS = tf.constant([0, 2])
COUNTS = [90, 6, 4]


def _softmax(z):
    z = np.asarray(z, np.float64)
    return np.exp(z - z.max()) / np.exp(z - z.max()).sum()


def _cross_entropy_by_hand(logits, labels):
    return np.mean([-np.log(_softmax(z)[y]) for z, y in zip(np.asarray(logits), np.asarray(labels))])


def test_all_knobs_off_is_cross_entropy():
    expected = _cross_entropy_by_hand(LOGITS, LABELS)
    assert losses.MainHeadLoss()(LABELS, LOGITS).numpy() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("knob", [
    {"focal_gamma": 0.0}, {"cb_beta": 0.0}, {"la_tau": 0.0}, {"ldam_max_margin": 0.0, "logit_scale": 1.0},
])
def test_each_method_at_its_limit_is_cross_entropy(knob):
    expected = _cross_entropy_by_hand(LOGITS, LABELS)
    assert losses.MainHeadLoss(COUNTS, **knob)(LABELS, LOGITS, 5).numpy() == pytest.approx(expected, rel=1e-6)


def test_focal_loss_by_hand():
    gamma = 2.0
    expected = np.mean([-(1 - _softmax(z)[y]) ** gamma * np.log(_softmax(z)[y])
                        for z, y in zip(LOGITS.numpy(), LABELS.numpy())])
    assert losses.MainHeadLoss(focal_gamma=gamma)(LABELS, LOGITS).numpy() == pytest.approx(expected, rel=1e-5)


def test_class_balanced_weights_by_hand():
    beta = 0.9
    raw = [(1 - beta) / (1 - beta**n) for n in COUNTS]
    expected = np.array(raw) / sum(raw) * 3
    np.testing.assert_allclose(losses.class_balanced_weights(COUNTS, beta), expected, rtol=1e-6)
    # beta -> 1 approaches inverse frequency: the rarest class gets the most weight.
    near_one = losses.class_balanced_weights(COUNTS, 0.9999)
    np.testing.assert_allclose(near_one / near_one[0], [1, 90 / 6, 90 / 4], rtol=0.01)


def test_class_balanced_loss_weights_each_example_and_divides_by_batch_size():
    beta = 0.9
    weights = losses.class_balanced_weights(COUNTS, beta)
    per_example = [-np.log(_softmax(z)[y]) for z, y in zip(LOGITS.numpy(), LABELS.numpy())]
    expected = (weights[0] * per_example[0] + weights[2] * per_example[1]) / 2
    assert losses.MainHeadLoss(COUNTS, cb_beta=beta)(LABELS, LOGITS).numpy() == pytest.approx(expected, rel=1e-5)


def test_class_balanced_focal_combines_both():
    beta, gamma = 0.9, 2.0
    weights = losses.class_balanced_weights(COUNTS, beta)
    expected = np.mean([weights[y] * -(1 - _softmax(z)[y]) ** gamma * np.log(_softmax(z)[y])
                        for z, y in zip(LOGITS.numpy(), LABELS.numpy())])
    got = losses.MainHeadLoss(COUNTS, cb_beta=beta, focal_gamma=gamma)(LABELS, LOGITS)
    assert got.numpy() == pytest.approx(expected, rel=1e-5)


def test_deferred_reweighting_switches_at_the_given_step():
    loss = losses.MainHeadLoss(COUNTS, cb_beta=0.9, reweight_from_step=10)
    unweighted = losses.MainHeadLoss()(LABELS, LOGITS).numpy()
    weighted = losses.MainHeadLoss(COUNTS, cb_beta=0.9)(LABELS, LOGITS).numpy()
    assert loss(LABELS, LOGITS, tf.constant(9, tf.int64)).numpy() == pytest.approx(unweighted, rel=1e-6)
    assert loss(LABELS, LOGITS, tf.constant(10, tf.int64)).numpy() == pytest.approx(weighted, rel=1e-6)


def test_ldam_margins_and_loss_by_hand():
    margins = losses.ldam_margins(COUNTS, 0.5)
    expected_margins = np.array([n**-0.25 for n in COUNTS])
    np.testing.assert_allclose(margins, expected_margins / expected_margins.max() * 0.5, rtol=1e-6)
    assert margins.argmax() == 2  # the rarest class has the largest margin
    scale = 10.0
    cosines = LOGITS.numpy() / 4  # what a normalised head gives, before its scale
    expected = np.mean([
        -np.log(_softmax(scale * (c - margins[y] * np.eye(3)[y]))[y]) for c, y in zip(cosines, LABELS.numpy())
    ])
    got = losses.MainHeadLoss(COUNTS, ldam_max_margin=0.5, logit_scale=scale)(LABELS, tf.constant(scale * cosines))
    assert got.numpy() == pytest.approx(expected, rel=1e-5)


def test_logit_adjusted_loss_by_hand_and_tau_one_is_balanced_softmax():
    tau = 2.0
    prior = np.array(COUNTS) / sum(COUNTS)
    expected = _cross_entropy_by_hand(LOGITS.numpy() + tau * np.log(prior), LABELS)
    assert losses.MainHeadLoss(COUNTS, la_tau=tau)(LABELS, LOGITS).numpy() == pytest.approx(expected, rel=1e-5)
    # Balanced softmax (Ren et al. 2020): softmax with each logit shifted by log n_c.
    balanced = _cross_entropy_by_hand(LOGITS.numpy() + np.log(COUNTS), LABELS)
    assert losses.MainHeadLoss(COUNTS, la_tau=1.0)(LABELS, LOGITS).numpy() == pytest.approx(balanced, rel=1e-5)


@pytest.mark.parametrize("bad", [[10, 0, 3], [], [[1, 2]]])
def test_class_counts_must_be_positive(bad):
    with pytest.raises(ValueError, match="every class needs at least one training image"):
        losses.MainHeadLoss(bad, cb_beta=0.9)


def test_methods_needing_counts_say_so():
    with pytest.raises(ValueError, match="need class_counts"):
        losses.MainHeadLoss(la_tau=1.0)
