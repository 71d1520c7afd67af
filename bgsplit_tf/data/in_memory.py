"""Training epochs drawn from decoded examples held in memory as tensors: one gather per batch.

Once the decoded training examples are in memory, an epoch needs only an order of their indices (a
permutation, or a resampled mix of the classes), and each batch is one gather of B rows followed by
the batch's augmentation. Nothing runs per example: no shuffle buffer, no per-class stream, no tf.data
function call per image, whose CPU time on a small machine is taken from the train step's.

An epoch's order is drawn by stateless ops from one seed, so it is a function of that seed alone;
Dataset.random(seed, rerandomize_each_iteration=True) gives the epoch's seed, and iterating the same
dataset again draws a new epoch, as a shuffle would.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

LOAD_BATCH = 1024
Transform = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (uint8 images [B, H, W, 3], seed int64 [2]) -> float32
EpochBatches = Callable[..., tf.data.Dataset]  # (epoch, skip=0) -> that epoch's batches from batch `skip` on


def load(examples: tf.data.Dataset, keys: Sequence[str]) -> dict[str, tf.Tensor]:
    """Every example's `keys` stacked in one pass over `examples` (the pass that decodes them):
    {key: tensor [N, ...]} in the examples' order. Each key's batches are joined and then dropped
    before the next key's, so the peak is the data plus one copy of its largest key."""
    parts = {key: [] for key in keys}
    for batch in examples.map(lambda ex: {key: ex[key] for key in keys}).batch(LOAD_BATCH):
        for key in keys:
            parts[key].append(batch[key])
    if not parts[keys[0]]:
        raise ValueError("there are no training examples to hold in memory")
    return {key: tf.concat(parts.pop(key), axis=0) for key in keys}


def permutation(size: int, seed: tf.Tensor) -> tf.Tensor:
    """A uniformly random order of range(size), int32 [size], a function of seed (int64 [2])."""
    return tf.argsort(tf.random.stateless_uniform([size], seed))


def resampled_order(members: Sequence[np.ndarray], weights: Sequence[float], length: int,
                    seed: tf.Tensor) -> tf.Tensor:
    """`length` example indices (int32 [length]) mixing the classes in proportion `weights`.

    Each position draws its class (probabilities `weights`), then takes that class's next member from
    a stream of fresh random orders of its members (`members[c]`: the indices of class c), so within a
    class every member is drawn once before any is drawn twice. A function of seed (int64 [2]).
    """
    seeds = tf.random.experimental.stateless_split(seed, len(members) + 1)
    classes = tf.random.stateless_categorical(tf.math.log([list(weights)]), length, seeds[0], dtype=tf.int32)[0]
    order = tf.zeros([length], tf.int32)
    for c, class_members in enumerate(members):
        rounds = -(-length // len(class_members))
        keys = tf.random.stateless_uniform([rounds, len(class_members)], seeds[c + 1])
        stream = tf.reshape(tf.gather(tf.constant(class_members, tf.int32), tf.argsort(keys, axis=1)), [-1])
        slots = tf.where(classes == c)
        order = tf.tensor_scatter_nd_update(order, slots, stream[:tf.shape(slots)[0]])
    return order


def class_members(labels: np.ndarray, num_classes: int) -> list[np.ndarray]:
    """The indices of each class 0..num_classes-1 in labels (int [N]; unlabeled examples, label < 0,
    belong to none). Raises ValueError naming a class without any example, which cannot be resampled."""
    members = [np.flatnonzero(labels == c) for c in range(num_classes)]
    empty = [c for c, indices in enumerate(members) if indices.size == 0]
    if empty:
        raise ValueError(f"class(es) {empty} have no training example, so they cannot be resampled; "
                         "give every class at least one training example or turn resampling off")
    return members


def gathered_epochs(examples: tf.data.Dataset, target_keys: Sequence[str], batch_size: int,
                    seed_of_epoch: Callable[[int], int], transform: Transform,
                    class_weights: Sequence[float] | None = None, epoch_length: int | None = None) -> EpochBatches:
    """Batches gathered from `examples` held in memory, one dataset per epoch.

    Returns epoch_batches(epoch, skip=0): epoch `epoch`'s batches (transform(images), targets dict of
    the other keys), from its batch `skip` on; the same (epoch, skip) gives the same batches in any
    process. The first call loads every example (decoding it) once; every epoch shares the tensors.

    Args:
      examples: decoded examples with "image" uint8 [H, W, 3] and the target_keys.
      target_keys: the example keys batched beside the images ("label" int32 among them when resampling).
      batch_size: rows per batch; an epoch's last partial batch is dropped.
      seed_of_epoch: epoch -> its seed (of the order and of every batch's transform).
      transform: (uint8 images [B, H, W, 3], seed int64 [2]) -> float32 images, the batch's augmentation.
      class_weights: None shuffles the examples (an epoch is one permutation of them); otherwise each
        class's share of the epoch, classes being the labels 0..len(class_weights)-1 (resampled_order).
      epoch_length: examples per epoch: required with class_weights; without, if given, the number of
        examples loaded, which must match (a mismatch is an error naming both).
    """
    if class_weights is not None and epoch_length is None:
        raise ValueError("resampling needs the epoch length")
    tensors: dict[str, tf.Tensor] = {}
    members: list[np.ndarray] = []

    def fill() -> None:
        logging.info("Decoding the training images into memory (one pass, then none per epoch; "
                     "--cache_decoded=no decodes them every epoch instead)")
        started = time.time()
        tensors.update(load(examples, ["image", *target_keys]))
        loaded = int(tensors["image"].shape[0])
        if class_weights is None and epoch_length is not None and loaded != epoch_length:
            raise ValueError(f"{loaded} training examples were loaded where {epoch_length} were expected; "
                             "the data changed since it was counted: run again to count it afresh")
        if class_weights is not None:
            members.extend(class_members(tensors["label"].numpy(), len(class_weights)))
        logging.info("Decoded %d training examples into memory in %.1f s", loaded, time.time() - started)

    def draw(seed: tf.Tensor) -> tf.Tensor:
        if class_weights is None:
            return permutation(int(tensors["image"].shape[0]), seed)
        return resampled_order(members, class_weights, epoch_length, seed)

    def epoch_batches(epoch: int = 0, skip: int = 0) -> tf.data.Dataset:
        if not tensors:
            fill()
        length = epoch_length if class_weights is not None else int(tensors["image"].shape[0])
        steps = length // batch_size

        def batch_indices(seed: tf.Tensor) -> tf.data.Dataset:
            """The epoch's [steps, B] indices and one transform seed per batch, from the epoch's seed."""
            order_seed, transform_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
            indices = tf.reshape(draw(order_seed)[:steps * batch_size], [steps, batch_size])
            return tf.data.Dataset.from_tensor_slices(
                (indices, tf.random.experimental.stateless_split(transform_seed, steps)))

        def gather(indices: tf.Tensor, seed: tf.Tensor):
            images = transform(tf.gather(tensors["image"], indices), seed)
            return images, {key: tf.gather(tensors[key], indices) for key in target_keys}

        return (
            tf.data.Dataset.random(seed=seed_of_epoch(epoch), rerandomize_each_iteration=True).batch(2).take(1)
            .flat_map(batch_indices)
            .apply(tf.data.experimental.assert_cardinality(steps))
            .skip(skip)
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )

    return epoch_batches
