"""Teacher targets (once, by id) and the tf.data training pipeline."""

import numpy as np
import pytest
import tensorflow as tf

from bgsplit_tf.data import pipeline, teacher_targets
from tests import helpers


def _examples(n=10, size=helpers.IMAGE_SIZE):
    rng = np.random.default_rng(0)
    return tf.data.Dataset.from_tensor_slices({
        "image": rng.integers(0, 256, (n, size, size, 3)).astype("uint8"),
        "label": np.arange(n, dtype="int32") % 2,
        "id": np.array([f"ex{i}".encode() for i in range(n)]),
    })


def test_targets_are_the_teachers_softmax_on_unaugmented_images_joined_by_id():
    teacher = helpers.tiny_teacher()
    ds = _examples()
    targets = teacher_targets.compute_teacher_targets(teacher, ds, batch_size=4)
    images = np.stack([ex["image"] for ex in ds.as_numpy_iterator()]).astype("float32")
    expected = tf.nn.softmax(teacher(images)).numpy()
    np.testing.assert_allclose(targets.dense_probs(), expected, atol=1e-5)  # 3 classes: the full distribution
    shuffled = targets.join(ds.shuffle(10, seed=1))
    for ex in shuffled.as_numpy_iterator():
        row = int(ex["id"].decode()[2:])
        np.testing.assert_allclose(ex["teacher_probs"], expected[row], atol=1e-5)
        assert ex["teacher_label"] == expected[row].argmax()


def test_missing_id_is_an_error_naming_it():
    targets = teacher_targets.TeacherTargets.from_probabilities(np.array([b"ex0"], dtype=object),
                                                                np.ones((1, 3), "float32") / 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="ex1"):
        list(targets.join(_examples(2)).as_numpy_iterator())


def _with_targets(n=10):
    return _examples(n).map(lambda ex: {**ex, "teacher_label": 0, "teacher_probs": tf.ones([3]) / 3})


def test_training_batches_drop_the_remainder_and_carry_targets():
    batches = list(pipeline.training_batches(_with_targets(10), batch_size=4, seed=0))
    assert len(batches) == 2
    images, targets = batches[0]
    assert images.shape == (4, 16, 16, 3) and images.dtype == tf.float32
    assert set(targets) == {"label", "teacher_label", "teacher_probs"}


def test_seed_reproduces_the_stream_and_epochs_differ():
    def first_epochs(seed):
        ds = pipeline.training_batches(_with_targets(8), batch_size=8, seed=seed)
        return [next(iter(ds))[0].numpy() for _ in range(2)]

    a, b = first_epochs(3), first_epochs(3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])


def test_augment_crops_and_flips_each_image_of_the_batch_on_its_own():
    images = np.random.default_rng(0).integers(0, 256, (64, 16, 16, 3)).astype("uint8")
    out = pipeline.augment(tf.constant(images), tf.constant([1, 2], tf.int64), padding=4).numpy()
    assert out.shape == (64, 16, 16, 3) and out.dtype == np.float32
    padded = np.pad(images.astype("float32"), [(0, 0), (4, 4), (4, 4), (0, 0)], mode="reflect")
    draws = set()
    for i in range(64):  # each output is one crop of its own padded image, maybe mirrored
        matches = [(top, left, flip) for top in range(9) for left in range(9) for flip in (False, True)
                   if np.array_equal(out[i], (lambda c: c[:, ::-1] if flip else c)(
                       padded[i, top:top + 16, left:left + 16]))]
        assert matches, f"image {i} is not a crop of its padded input"
        draws.add(matches[0])
    assert len(draws) > 20 and {flip for _, _, flip in draws} == {False, True}
    again = pipeline.augment(tf.constant(images), tf.constant([1, 2], tf.int64), padding=4).numpy()
    np.testing.assert_array_equal(out, again)


def _imbalanced(n=400, num_rare=2, positives=3):
    """n examples: `positives` of each rare class (labels 1..K), the rest background (0)."""
    labels = np.zeros(n, "int32")
    for k in range(1, num_rare + 1):
        labels[(k - 1) * positives:k * positives] = k
    return tf.data.Dataset.from_tensor_slices({
        "image": np.zeros((n, 4, 4, 3), "uint8"),
        "label": labels,
        "id": np.array([f"ex{i}".encode() for i in range(n)]),
    })


def test_resampling_reaches_the_target_rare_fraction_of_batches():
    # 6 positives among 400 images (1.5%); resampled to 25%, split equally between the 2 rare classes.
    batches = pipeline.training_batches(_imbalanced(), batch_size=40, seed=0, augmentation=pipeline.NO_AUGMENTATION,
                                        num_examples=400, rare_batch_fraction=0.25, num_classes=3)
    labels = np.concatenate([t["label"] for epoch in range(20) for _, t in batches.as_numpy_iterator()])
    assert labels.size == 20 * 400  # an epoch keeps its length: 10 steps of 40
    # 8,000 draws: the binomial std of the fraction is 0.005, so 0.02 is a 4-sigma tolerance.
    assert np.mean(labels > 0) == pytest.approx(0.25, abs=0.02)
    assert np.mean(labels == 1) == pytest.approx(0.125, abs=0.015)
    assert np.mean(labels == 2) == pytest.approx(0.125, abs=0.015)


def test_resampling_draws_a_new_mix_each_epoch_but_repeats_with_the_seed():
    def epochs(seed):
        batches = pipeline.training_batches(_imbalanced(), batch_size=40, seed=seed, augmentation=pipeline.NO_AUGMENTATION,
                                            num_examples=400, rare_batch_fraction=0.25, num_classes=3)
        return [np.concatenate([t["label"] for _, t in batches.as_numpy_iterator()]) for _ in range(2)]

    first, second = epochs(0)
    assert not np.array_equal(first, second)
    again = epochs(0)
    np.testing.assert_array_equal(first, again[0])


def test_resampling_needs_the_epoch_length():
    with pytest.raises(ValueError, match="num_examples"):
        pipeline.training_batches(_imbalanced(), batch_size=40, seed=0, rare_batch_fraction=0.25, num_classes=3)


def _counting_decoder():
    """A decode function (encoded "image" -> pixels) that counts its calls in a tf.Variable."""
    calls = tf.Variable(0, dtype=tf.int64)

    def decode(example):
        with tf.control_dependencies([calls.assign_add(1)]):
            return {**example, "image": tf.fill([16, 16, 3], tf.cast(tf.strings.length(example["image"]), tf.uint8))}

    return decode, calls


def _encoded(n=40, num_rare=3):
    labels = np.zeros(n, "int32")
    labels[:2 * num_rare] = np.repeat(np.arange(1, num_rare + 1), 2)  # 2 positives per rare class
    return tf.data.Dataset.from_tensor_slices({
        "image": np.array([f"jpeg-bytes-{i}".encode() for i in range(n)]), "label": labels,
        "teacher_label": np.zeros(n, "int32"), "teacher_probs": np.full((n, 3), 1 / 3, "float32"),
    })


@pytest.mark.parametrize("rare_batch_fraction", [0.0, 0.5])
def test_streamed_images_are_decoded_only_when_drawn(rare_batch_fraction):
    """Without the in-memory cache (data larger than RAM), shuffling and resampling run on encoded
    examples and each drawn image is decoded once, however many classes are resampled."""
    decode, calls = _counting_decoder()
    batches = pipeline.training_batches(_encoded(), batch_size=8, seed=0, cache=False, num_examples=40,
                                        rare_batch_fraction=rare_batch_fraction, num_classes=4, decode=decode)
    drawn = sum(int(images.shape[0]) for images, _ in batches)
    assert drawn == 40 and int(calls.numpy()) == 40


def test_cached_images_are_decoded_once_over_epochs():
    decode, calls = _counting_decoder()
    batches = pipeline.training_batches(_encoded(), batch_size=8, seed=0, cache=True, num_examples=40,
                                        decode=decode)
    for _ in range(3):
        assert sum(int(images.shape[0]) for images, _ in batches) == 40
    assert int(calls.numpy()) == 40


def _pixels_from_bytes(example):
    """A stand-in decoder: a 16x16 image whose pixels depend on the encoded bytes and the position."""
    value = tf.strings.to_hash_bucket_fast(example["image"], 200)
    pixels = tf.reshape(tf.range(16 * 16 * 3, dtype=tf.int64), [16, 16, 3]) // 16 + value
    return {**example, "image": tf.cast(pixels, tf.uint8)}


@pytest.mark.parametrize("rare_batch_fraction", [0.0, 0.5])
def test_an_epoch_is_a_function_of_seed_and_epoch_so_a_resumed_epoch_skips_to_the_same_batches(rare_batch_fraction):
    def epochs():
        return pipeline.training_epochs(_encoded(), batch_size=8, seed=5, num_examples=40, num_classes=4,
                                        rare_batch_fraction=rare_batch_fraction,
                                        decode=_pixels_from_bytes)

    def images_and_labels(batches):
        return [(images.numpy(), targets["label"].numpy()) for images, targets in batches]

    first_run = epochs()
    epoch_0, epoch_1 = images_and_labels(first_run(0)), images_and_labels(first_run(1))
    assert len(epoch_0) == len(epoch_1) == 5
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(epoch_0, epoch_1))  # a new draw per epoch
    resumed = images_and_labels(epochs()(1, skip=3))  # as a process resuming after batch 3 of epoch 1 builds it
    assert len(resumed) == 2
    for (images, labels), (expected_images, expected_labels) in zip(resumed, epoch_1[3:]):
        np.testing.assert_array_equal(images, expected_images)
        np.testing.assert_array_equal(labels, expected_labels)


@pytest.mark.parametrize("rare_batch_fraction", [0.0, 0.5])
def test_every_epochs_dataset_shares_one_decoded_cache(rare_batch_fraction):
    decode, calls = _counting_decoder()
    epochs = pipeline.training_epochs(_encoded(), batch_size=8, seed=0, cache=True, num_examples=40,
                                      rare_batch_fraction=rare_batch_fraction, num_classes=4, decode=decode)
    for epoch in range(3):
        assert sum(int(images.shape[0]) for images, _ in epochs(epoch, skip=epoch)) == 40 - 8 * epoch
    assert int(calls.numpy()) == 40
