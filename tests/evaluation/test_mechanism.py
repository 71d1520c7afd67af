"""The mechanism's measures on known inputs, and the probe on a real tiny network."""

import numpy as np
import tensorflow as tf

from bgsplit_tf.evaluation import mechanism
from bgsplit_tf.models import bgsplit_model, teacher as teacher_lib
from tests import helpers


def test_linear_cka_is_one_for_rotations_and_scales_and_low_for_unrelated_features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    np.testing.assert_allclose(mechanism.linear_cka(x, 3.0 * x @ rotation), 1.0, rtol=1e-9)
    assert mechanism.linear_cka(x, rng.normal(size=(200, 8))) < 0.2


def test_effective_rank_counts_the_directions_used():
    rng = np.random.default_rng(0)
    line = rng.normal(size=(100, 1)) @ rng.normal(size=(1, 6))
    assert mechanism.effective_rank(line) < 1.01
    isotropic = rng.normal(size=(5000, 6))
    assert 5.9 < mechanism.effective_rank(isotropic) <= 6.0


def _batches(images, labels):
    return tf.data.Dataset.from_tensor_slices((images, {"label": labels})).batch(4)


def test_probe_logs_each_figure_for_a_real_network():
    images, targets = helpers.tiny_batch(batch_size=12)
    labels = np.array([0, 0, 1, 2] * 3, np.int32)
    teacher = helpers.tiny_teacher()
    model = bgsplit_model.BackgroundSplittingModel(helpers.tiny_network())
    probe = mechanism.MechanismProbe(_batches(images, labels), _batches(images[2:4], labels[2:4]),
                                     _batches(images[6:8], labels[6:8]), teacher_lib.teacher_trunk(teacher))
    probe.set_model(model)
    logs = {}
    probe.on_epoch_end(0, logs)
    assert set(logs) == {"mech_train_positive_prob", "mech_val_positive_prob", "mech_cka_to_teacher",
                         "mech_background_rank"}
    # The student's trunk starts as a copy of the teacher's: identical features.
    np.testing.assert_allclose(logs["mech_cka_to_teacher"], 1.0, rtol=1e-5)
    assert 0 < logs["mech_train_positive_prob"] < 1
    np.testing.assert_allclose(logs["mech_background_rank"], probe.teacher_background_rank, rtol=1e-4)
