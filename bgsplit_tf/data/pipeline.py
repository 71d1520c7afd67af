"""tf.data pipelines that feed BackgroundSplittingModel.

Training: cache -> shuffle -> augment (random crop after reflect padding, horizontal flip; stateless
ops seeded per example, so a seed reproduces the stream) -> batch (drop_remainder, so the compiled
step sees one shape) -> prefetch. Elements: (images float32 [B, H, W, 3] in [0, 255], targets dict).
"""

from __future__ import annotations

import tensorflow as tf

TARGET_KEYS = ("label", "teacher_label", "teacher_probs")
SHUFFLE_BUFFER = 16384


def augment(image: tf.Tensor, seed: tf.Tensor, padding: int = 4) -> tf.Tensor:
    """Random crop after reflect padding, then a random horizontal flip.

    image: uint8 or float32 [H, W, 3]; seed: int64 [2]. Returns float32 [H, W, 3].
    """
    image = tf.cast(image, tf.float32)
    shape = tf.shape(image)
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]], mode="REFLECT")
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    cropped = tf.image.stateless_random_crop(padded, shape, seed=seeds[0])
    return tf.image.stateless_random_flip_left_right(cropped, seed=seeds[1])


def _split_images_and_targets(example):
    """example dict -> (images float32, targets dict with whichever of TARGET_KEYS it has)."""
    return tf.cast(example["image"], tf.float32), {key: example[key] for key in TARGET_KEYS if key in example}


def _prepare(examples: tf.data.Dataset, cache: bool, num_examples: int | None) -> tf.data.Dataset:
    if num_examples is not None:
        examples = examples.apply(tf.data.experimental.assert_cardinality(num_examples))
    return examples.cache() if cache else examples


def resample(
    examples: tf.data.Dataset, num_classes: int, rare_fraction: float, seed: int, num_examples: int,
    cache: bool = True,
) -> tf.data.Dataset:
    """Oversamples the rare classes to `rare_fraction` of the stream, split equally among them.

    One stream per main class (filtered, shuffled, repeated), mixed by `sample_from_datasets` with
    weights [1 - rare_fraction, rare_fraction / K, ...]; a new mix every epoch. The result is
    `num_examples` long, so an epoch keeps its length (and Keras its step count). Every class must
    have at least one example. examples: dicts with "label" int32 (0 = background, 1..K rare);
    unlabeled examples (label < 0) belong to no stream, so resampling leaves them out.
    cache: keep each class's stream in memory, so repeating a small rare class does not re-scan
    the whole dataset.
    """
    if not 0.0 < rare_fraction < 1.0:
        raise ValueError(f"rare_fraction={rare_fraction} must be strictly between 0 and 1")
    num_rare = num_classes - 1
    streams = []
    for c in range(num_classes):
        stream = examples.filter(lambda ex, c=c: ex["label"] == c)
        stream = stream.cache() if cache else stream
        streams.append(stream.shuffle(SHUFFLE_BUFFER, seed=seed + c, reshuffle_each_iteration=True).repeat())
    weights = [1.0 - rare_fraction] + [rare_fraction / num_rare] * num_rare
    mixed = tf.data.Dataset.sample_from_datasets(streams, weights, seed=seed, rerandomize_each_iteration=True)
    return mixed.take(num_examples)


def training_batches(
    examples: tf.data.Dataset,
    batch_size: int,
    seed: int,
    augmentation: bool = True,
    cache: bool = True,
    num_examples: int | None = None,
    rare_batch_fraction: float = 0.0,
    num_classes: int | None = None,
) -> tf.data.Dataset:
    """Shuffled (or resampled), augmented training batches.

    Args:
      examples: {"image": uint8 [H, W, 3], "label", "teacher_label", "teacher_probs", "id"}.
      batch_size: images per step; the last partial batch is dropped.
      seed: shuffling, sampling and augmentation seed (re-drawn every epoch).
      augmentation: False feeds the images as they are.
      cache: keep decoded examples in memory after the first epoch.
      num_examples: if known, declared to tf.data so Keras knows the steps per epoch up front;
        required by resampling, whose epochs are that long.
      rare_batch_fraction: 0 samples the data as it is; otherwise `resample` makes the rare classes
        this fraction of each batch (in expectation).
      num_classes: K + 1, required by resampling.
    """
    if rare_batch_fraction > 0:
        if num_examples is None or num_classes is None:
            raise ValueError("resampling needs num_examples (the epoch length) and num_classes")
        examples = resample(examples, num_classes, rare_batch_fraction, seed, num_examples, cache)
    else:
        examples = _prepare(examples, cache, num_examples)
        examples = examples.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    if augmentation:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        examples = tf.data.Dataset.zip(examples, seeds).map(
            lambda ex, s: {**ex, "image": augment(ex["image"], s)}, num_parallel_calls=tf.data.AUTOTUNE
        )
    return (
        examples.map(_split_images_and_targets, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def evaluation_batches(
    examples: tf.data.Dataset, batch_size: int, cache: bool = True, num_examples: int | None = None
) -> tf.data.Dataset:
    """Un-augmented batches (images float32 [B, H, W, 3], targets dict); the last may be partial.

    targets holds "label" int32 [B] and, when the examples carry them, the teacher targets, so the
    same batches serve Keras validation losses and mAP.
    """
    return (
        _prepare(examples, cache, num_examples)
        .map(_split_images_and_targets, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
