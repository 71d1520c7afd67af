"""tf.data pipelines that feed BackgroundSplittingModel.

Training: decode + cache, or (data larger than memory) shuffle or resample the still-encoded
examples and decode after -> shuffle -> batch (drop_remainder, so the compiled step sees one shape)
-> augment each batch (random crop after reflect padding, horizontal flip, one draw per image from
stateless ops seeded per batch, so a seed reproduces the stream) -> prefetch.
Elements: (images float32 [B, H, W, 3] in [0, 255], targets).
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

TARGET_KEYS = ("label", "teacher_label", "teacher_probs")
SHUFFLE_BUFFER = 16384


def augment(images: tf.Tensor, seed: tf.Tensor, padding: int = 4) -> tf.Tensor:
    """A batch's random crops after reflect padding, then random horizontal flips, one draw per image.

    Vectorised over the batch (one pad, two gathers, one select), so the per-image cost of a tf.data
    map call is not paid: on 2 CPU cores that overhead stole time from the train step.

    images: uint8 or float32 [B, H, W, 3]; seed: int64 [2]. Returns float32 [B, H, W, 3].
    """
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]], mode="REFLECT")
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    top = tf.random.stateless_uniform([batch], seeds[0], maxval=2 * padding + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([batch], seeds[1], maxval=2 * padding + 1, dtype=tf.int32)
    rows = top[:, None] + tf.range(height)[None, :]  # [B, H]
    cols = left[:, None] + tf.range(width)[None, :]  # [B, W]
    cropped = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)
    flip = tf.random.stateless_uniform([batch], seeds[2]) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(cropped, axis=[2]), cropped)


def _split_images_and_targets(example):
    """example dict -> (images float32, targets dict with whichever of TARGET_KEYS it has)."""
    return tf.cast(example["image"], tf.float32), {key: example[key] for key in TARGET_KEYS if key in example}


Decoder = Callable[[dict], dict]  # an example with "image" encoded -> the same with uint8 pixels


def _decoded(examples: tf.data.Dataset, decode: Decoder | None) -> tf.data.Dataset:
    return examples if decode is None else examples.map(decode, num_parallel_calls=tf.data.AUTOTUNE)


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

    The rare positives (few by definition) are gathered in one pass and kept in memory, and each rare
    class's stream repeats from there, so the data is read twice per epoch whatever K is: once for the
    rare pool (the first epoch only), once for the background stream. cache: keep the background
    stream in memory too.
    """
    if not 0.0 < rare_fraction < 1.0:
        raise ValueError(f"rare_fraction={rare_fraction} must be strictly between 0 and 1")
    num_rare = num_classes - 1
    rare_pool = examples.filter(lambda ex: ex["label"] > 0).cache()
    background = examples.filter(lambda ex: ex["label"] == 0)
    streams = []
    for c in range(num_classes):
        stream = (background.cache() if cache else background) if c == 0 else rare_pool.filter(
            lambda ex, c=c: ex["label"] == c)
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
    decode: Decoder | None = None,
) -> tf.data.Dataset:
    """Shuffled (or resampled), augmented training batches.

    Args:
      examples: {"image": uint8 [H, W, 3] (or encoded, with `decode`), "label", "teacher_label",
        "teacher_probs", "id"}.
      batch_size: images per step; the last partial batch is dropped.
      seed: shuffling, sampling and augmentation seed (re-drawn every epoch).
      augmentation: False feeds the images as they are.
      cache: keep decoded examples in memory after the first epoch (decoded first); without, the
        encoded examples are shuffled or resampled and only those drawn are decoded, every epoch.
      num_examples: if known, declared to tf.data so Keras knows the steps per epoch up front;
        required by resampling, whose epochs are that long.
      rare_batch_fraction: 0 samples the data as it is; otherwise `resample` makes the rare classes
        this fraction of each batch (in expectation).
      num_classes: K + 1, required by resampling.
      decode: turns an example's encoded "image" into pixels (a source's `decode`); None when the
        examples are decoded already.
    """
    if cache:
        examples, decode = _decoded(examples, decode), None
    if rare_batch_fraction > 0:
        if num_examples is None or num_classes is None:
            raise ValueError("resampling needs num_examples (the epoch length) and num_classes")
        examples = resample(examples, num_classes, rare_batch_fraction, seed, num_examples, cache)
    else:
        examples = _prepare(examples, cache, num_examples)
        examples = examples.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    batches = (
        _decoded(examples, decode)
        .map(_split_images_and_targets, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size, drop_remainder=True)
    )
    if augmentation:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        batches = tf.data.Dataset.zip(batches, seeds).map(
            lambda batch, s: (augment(batch[0], s), batch[1]), num_parallel_calls=tf.data.AUTOTUNE)
    return batches.prefetch(tf.data.AUTOTUNE)


def evaluation_batches(
    examples: tf.data.Dataset, batch_size: int, cache: bool = True, num_examples: int | None = None,
    decode: Decoder | None = None,
) -> tf.data.Dataset:
    """Un-augmented batches (images float32 [B, H, W, 3], targets dict); the last may be partial.
    decode: as in training_batches.

    targets holds "label" int32 [B] and, when the examples carry them, the teacher targets, so the
    same batches serve Keras validation losses and mAP.
    """
    return (
        _prepare(_decoded(examples, decode), cache, num_examples)
        .map(_split_images_and_targets, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
