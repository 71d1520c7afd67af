"""Epochs gathered from examples held in memory: the drawn orders, and errors that say what is wrong."""

import numpy as np
import pytest
import tensorflow as tf

from bgsplit_tf.data import in_memory


def test_a_permutation_is_a_function_of_its_seed():
    first = in_memory.permutation(50, tf.constant([3, 4], tf.int64)).numpy()
    assert sorted(first) == list(range(50))
    np.testing.assert_array_equal(first, in_memory.permutation(50, tf.constant([3, 4], tf.int64)).numpy())
    assert not np.array_equal(first, in_memory.permutation(50, tf.constant([3, 5], tf.int64)).numpy())


def test_a_resampled_order_draws_every_member_of_a_class_once_before_any_twice():
    labels = np.array([0] * 90 + [1] * 3 + [2] * 7 + [-1] * 5)  # the last 5 unlabeled: in no class
    members = in_memory.class_members(labels, 3)
    order = in_memory.resampled_order(members, [0.5, 0.25, 0.25], 400, tf.constant([0, 1], tf.int64)).numpy()
    assert order.shape == (400,) and not np.isin(order, np.flatnonzero(labels < 0)).any()
    for c, class_indices in enumerate(members):
        drawn = order[labels[order] == c]
        for start in range(0, drawn.size - class_indices.size + 1, class_indices.size):  # each full round
            assert sorted(drawn[start:start + class_indices.size]) == sorted(class_indices)
    # 400 draws at 1/4: the binomial std of the fraction is 0.022, so 0.09 is a 4-sigma tolerance.
    assert np.mean(labels[order] == 1) == pytest.approx(0.25, abs=0.09)


def test_a_class_without_examples_cannot_be_resampled_and_the_error_names_it():
    with pytest.raises(ValueError, match=r"\[2\] have no training example"):
        in_memory.class_members(np.array([0, 0, 1, -1]), 3)


def test_no_training_examples_is_an_error_not_an_empty_epoch():
    empty = tf.data.Dataset.from_tensor_slices({"image": np.zeros((0, 4, 4, 3), "uint8"),
                                                "label": np.zeros(0, "int32")})
    with pytest.raises(ValueError, match="no training examples"):
        in_memory.load(empty, ["image", "label"])


def test_batches_are_the_gathered_rows_with_their_own_targets():
    n = 24
    images = np.arange(n, dtype="uint8")[:, None, None, None] * np.ones((1, 4, 4, 3), "uint8")  # image i is all i
    examples = tf.data.Dataset.from_tensor_slices({"image": images, "label": np.arange(n, dtype="int32") % 3,
                                                   "teacher_label": np.arange(n, dtype="int32")})
    epochs = in_memory.gathered_epochs(examples, ["label", "teacher_label"], 8, lambda epoch: 10 + epoch,
                                       lambda batch, _: tf.cast(batch, tf.float32))
    seen = []
    for batch_images, targets in epochs(0):
        rows = batch_images.numpy()[:, 0, 0, 0].astype(int)
        np.testing.assert_array_equal(targets["teacher_label"].numpy(), rows)
        np.testing.assert_array_equal(targets["label"].numpy(), rows % 3)
        seen.extend(rows)
    assert sorted(seen) == list(range(n))  # one epoch without resampling: every example once



def test_a_count_that_no_longer_matches_the_data_is_an_error_naming_both():
    examples = tf.data.Dataset.from_tensor_slices({"image": np.zeros((10, 4, 4, 3), "uint8"),
                                                   "label": np.zeros(10, "int32")})
    epochs = in_memory.gathered_epochs(examples, ["label"], 4, lambda epoch: epoch,
                                       lambda batch, _: tf.cast(batch, tf.float32), epoch_length=12)
    with pytest.raises(ValueError, match="10 training examples were loaded where 12 were expected"):
        epochs(0)
