"""tf.data pipelines that feed BackgroundSplittingModel.

Training, data that fits in memory: decode once into tensors, then each batch is one gather of a
drawn order (data.in_memory). Data larger than memory: shuffle or resample the still-encoded examples
and decode only those drawn -> batch (drop_remainder, so the compiled step sees one shape). Either
way the batch is augmented by one of AUGMENTATIONS (data.recipes): PAD_CROP augments each batch
(random crop after reflect padding, horizontal flip, one draw per image from stateless ops seeded per
batch); RANDOM_RESIZED_CROP decodes a random box of each full-resolution image (the cache, if any,
keeps the encoded examples), seeded per image -> prefetch. One dataset per epoch, its draws seeded by
(seed, epoch) alone, so an interrupted run resumes mid-epoch on the same batches.
Elements: (images float32 [B, H, W, 3] in [0, 255], targets).
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from bgsplit_tf.data import in_memory

TARGET_KEYS = ("label", "teacher_label", "teacher_probs")
PAD_CROP, RANDOM_RESIZED_CROP, NO_AUGMENTATION = "pad_crop", "random_resized_crop", "none"
AUGMENTATIONS = (PAD_CROP, RANDOM_RESIZED_CROP, NO_AUGMENTATION)
SHUFFLE_BUFFER = 16384
EPOCH_SEED_STRIDE = 1_000_003  # > any number of classes


def augment(images: tf.Tensor, seed: tf.Tensor, padding: int = 4) -> tf.Tensor:
    """A batch's random crops after reflect padding, then random horizontal flips, one draw per image.

    Vectorised over the batch (one pad and two gathers, the flip folded into the column gather), so
    the per-image cost of a tf.data map call is not paid: on 2 CPU cores that overhead stole time from
    the train step.

    images: uint8 or float32 [B, H, W, 3]; seed: int64 [2]. Returns float32 [B, H, W, 3].
    """
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]], mode="REFLECT")
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    top = tf.random.stateless_uniform([batch], seeds[0], maxval=2 * padding + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([batch], seeds[1], maxval=2 * padding + 1, dtype=tf.int32)
    flip = tf.random.stateless_uniform([batch], seeds[2]) < 0.5
    rows = top[:, None] + tf.range(height)[None, :]  # [B, H]
    offsets = tf.where(flip[:, None], tf.range(width - 1, -1, -1)[None, :], tf.range(width)[None, :])  # [B, W]
    cols = left[:, None] + offsets  # [B, W], right to left where flipped
    return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def _split_images_and_targets(example):
    """example dict -> (images float32, targets dict with whichever of TARGET_KEYS it has)."""
    return tf.cast(example["image"], tf.float32), {key: example[key] for key in TARGET_KEYS if key in example}


Decoder = Callable[[dict], dict]  # an example with "image" encoded -> the same with uint8 pixels
CropDecoder = Callable[[dict, tf.Tensor], dict]  # (encoded example, seed int64 [2]) -> a random crop's pixels


def _decoded(examples: tf.data.Dataset, decode: Decoder | None) -> tf.data.Dataset:
    return examples if decode is None else examples.map(decode, num_parallel_calls=tf.data.AUTOTUNE)


def _prepare(examples: tf.data.Dataset, cache: bool, num_examples: int | None) -> tf.data.Dataset:
    if num_examples is not None:
        examples = examples.apply(tf.data.experimental.assert_cardinality(num_examples))
    return examples.cache() if cache else examples


def rare_mix(num_classes: int, rare_fraction: float) -> list[float]:
    """Each main class's share of a resampled stream: background 1 - rare_fraction, and rare_fraction
    split equally among the K = num_classes - 1 rare classes."""
    if not 0.0 < rare_fraction < 1.0:
        raise ValueError(f"rare_fraction={rare_fraction} must be strictly between 0 and 1")
    return [1.0 - rare_fraction] + [rare_fraction / (num_classes - 1)] * (num_classes - 1)


def resampler(
    examples: tf.data.Dataset, num_classes: int, rare_fraction: float, num_examples: int,
) -> Callable[[int], tf.data.Dataset]:
    """Oversampling of the rare classes to `rare_fraction` of the stream, split equally among them,
    over examples streamed from disk (in_memory.resampled_order draws the same mix from memory).

    Returns draw(seed): one epoch, `num_examples` long (so an epoch keeps its length, and Keras its
    step count), mixed from one stream per main class (filtered, shuffled, repeated) by
    `sample_from_datasets` with weights [1 - rare_fraction, rare_fraction / K, ...]; iterating it
    again draws a new mix. Every class must have at least one example. examples: dicts with "label"
    int32 (0 = background, 1..K rare); unlabeled examples (label < 0) belong to no stream, so
    resampling leaves them out.

    The rare positives (few by definition) are gathered in one pass and kept in memory, shared by
    every draw, and each rare class's stream repeats from there, so the data is read twice per epoch
    whatever K is: once for the rare pool (the first epoch only), once for the background stream.
    """
    weights = rare_mix(num_classes, rare_fraction)
    rare_pool = examples.filter(lambda ex: ex["label"] > 0).cache()
    background = examples.filter(lambda ex: ex["label"] == 0)

    def draw(seed: int) -> tf.data.Dataset:
        streams = [
            (background if c == 0 else rare_pool.filter(lambda ex, c=c: ex["label"] == c))
            .shuffle(SHUFFLE_BUFFER, seed=seed + c, reshuffle_each_iteration=True).repeat()
            for c in range(num_classes)
        ]
        mixed = tf.data.Dataset.sample_from_datasets(streams, weights, seed=seed, rerandomize_each_iteration=True)
        return mixed.take(num_examples)

    return draw


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one training epoch's shuffle, sampling and augmentation draws. Stream seeds add
    offsets below EPOCH_SEED_STRIDE (one per class), so epochs never share one."""
    return seed + EPOCH_SEED_STRIDE * epoch


EpochBatches = in_memory.EpochBatches


def training_epochs(
    examples: tf.data.Dataset,
    batch_size: int,
    seed: int,
    augmentation: str = PAD_CROP,
    cache: bool = True,
    num_examples: int | None = None,
    rare_batch_fraction: float = 0.0,
    num_classes: int | None = None,
    decode: Decoder | None = None,
    decode_random_crop: CropDecoder | None = None,
) -> EpochBatches:
    """Shuffled (or resampled), augmented training batches, one dataset per epoch.

    Returns epoch_batches(epoch, skip=0): epoch `epoch`'s batches (images float32 [B, H, W, 3] in
    [0, 255], targets dict), starting after its first `skip` batches. Each epoch's draws come from
    epoch_seed(seed, epoch) alone, so the same (epoch, skip) gives the same batches in any process
    (bit for bit under tf.config.experimental.enable_op_determinism): an interrupted run resumes
    exactly where it stopped. With `cache`, the first call decodes every example into memory in one
    pass and every epoch's dataset gathers its batches from there (in_memory.gathered_epochs).

    Args:
      examples: {"image": uint8 [H, W, 3] (or encoded, with `decode`), "label", "teacher_label",
        "teacher_probs", "id"}.
      batch_size: images per step; the last partial batch is dropped.
      seed: shuffling, sampling and augmentation seed of the run.
      augmentation: one of AUGMENTATIONS; NO_AUGMENTATION feeds the images as `decode` gives them.
      cache: keep the examples in memory: decoded, or encoded with RANDOM_RESIZED_CROP, whose crops
        need each full image; without, the encoded examples are shuffled or resampled and only those
        drawn are decoded, every epoch.
      num_examples: if known, declared to tf.data so Keras knows the steps per epoch up front;
        required by resampling, whose epochs are that long.
      rare_batch_fraction: 0 samples the data as it is; otherwise the rare classes make this fraction
        of each batch, in expectation (rare_mix).
      num_classes: K + 1, required by resampling.
      decode: turns an example's encoded "image" into pixels (a source's `decode`); None when the
        examples are decoded already.
      decode_random_crop: with RANDOM_RESIZED_CROP, turns an encoded example and a seed into a random
        crop's pixels (a source's `decode_random_crop`).
    """
    if rare_batch_fraction > 0 and (num_examples is None or num_classes is None):
        raise ValueError("resampling needs num_examples (the epoch length) and num_classes")
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation={augmentation!r} is not one of {AUGMENTATIONS}")
    if cache and augmentation != RANDOM_RESIZED_CROP:
        decoded = _decoded(examples, decode)
        return in_memory.gathered_epochs(
            decoded, [key for key in TARGET_KEYS if key in decoded.element_spec], batch_size,
            lambda epoch: epoch_seed(seed, epoch),
            augment if augmentation == PAD_CROP else lambda images, _: tf.cast(images, tf.float32),
            class_weights=rare_mix(num_classes, rare_batch_fraction) if rare_batch_fraction > 0 else None,
            epoch_length=num_examples)
    if augmentation == RANDOM_RESIZED_CROP:
        if decode_random_crop is None:
            raise ValueError("random_resized_crop needs decode_random_crop")
        examples = _prepare(examples, cache, num_examples if rare_batch_fraction == 0 else None)
    elif rare_batch_fraction == 0:
        examples = _prepare(examples, cache=False, num_examples=num_examples)
    if rare_batch_fraction > 0:
        draw = resampler(examples, num_classes, rare_batch_fraction, num_examples)
    else:
        def draw(seed: int) -> tf.data.Dataset:
            return examples.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)

    def epoch_batches(epoch: int = 0, skip: int = 0) -> tf.data.Dataset:
        seed_of_epoch = epoch_seed(seed, epoch)
        seeds = tf.data.Dataset.random(seed=seed_of_epoch, rerandomize_each_iteration=True).batch(2)
        if augmentation == RANDOM_RESIZED_CROP:  # one seed per image
            drawn = tf.data.Dataset.zip(draw(seed_of_epoch), seeds).map(decode_random_crop,
                                                                        num_parallel_calls=tf.data.AUTOTUNE)
        else:
            drawn = _decoded(draw(seed_of_epoch), decode)
        batches = (
            drawn.map(_split_images_and_targets, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size, drop_remainder=True)
        )
        if augmentation == PAD_CROP:  # one seed per batch
            batches = tf.data.Dataset.zip(batches, seeds).map(
                lambda batch, s: (augment(batch[0], s), batch[1]), num_parallel_calls=tf.data.AUTOTUNE)
        return batches.skip(skip).prefetch(tf.data.AUTOTUNE)

    return epoch_batches


def training_batches(examples: tf.data.Dataset, batch_size: int, seed: int, **options) -> tf.data.Dataset:
    """The first epoch of training_epochs(examples, batch_size, seed, **options); iterating it again
    draws a new epoch (a new shuffle, mix and augmentation), as Keras's fit does over one dataset."""
    return training_epochs(examples, batch_size, seed, **options)(0)


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
