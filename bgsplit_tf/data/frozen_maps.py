"""A source whose images are a frozen lower trunk's output (--frozen_through): computed once, in memory.

When the trunk below some layer stays the teacher's and is frozen (models.trunk_split), its output on
an image never changes: one batched pass computes it once per image (the evaluation view), and
training, validation and testing then feed only the upper part. A split's maps may cover only some of
its images (the training images a rare task keeps: with --background_keep, most of the background is
never read); SplitMaps grows as later tasks need more. MapsSource wraps the pixel source (screened for
bad images) and keeps its labels, ids, order and version; its "image" is the map, float16 [h, w, c]
(half the memory; the model computes in float32), and its examples are those of the covered images.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

MAP_DTYPE = np.float16
BATCH_SIZE = 256


def compute_maps(source, split: str, lower: keras.Model, positions: np.ndarray | None = None) -> np.ndarray:
    """lower's output on the images of source[split] at `positions` (bool [N] in split order; None: all),
    in split order: float16 [positions.sum(), h, w, c]. Only those images are decoded. Logs its time."""
    started = time.time()
    total = len(source.read_labels(split)[1])
    wanted = np.ones(total, bool) if positions is None else np.asarray(positions, bool)
    if len(wanted) != total:
        raise ValueError(f"positions of {len(wanted)} images for {source.name}[{split}], which lists {total}")
    encode = tf.function(lambda pixels: tf.cast(lower(tf.cast(pixels, tf.float32), training=False), MAP_DTYPE),
                         reduce_retracing=True)
    progress = keras.utils.Progbar(int(wanted.sum()), unit_name="image")
    examples = source.encoded_examples(split)
    if positions is not None:
        examples = tf.data.Dataset.zip(examples, tf.data.Dataset.from_tensor_slices(wanted)).filter(
            lambda example, wanted: wanted).map(lambda example, wanted: example)
    parts = []
    for batch in examples.map(source.decode, num_parallel_calls=tf.data.AUTOTUNE).batch(BATCH_SIZE).prefetch(2):
        parts.append(encode(batch["image"]).numpy())
        progress.add(len(parts[-1]))
    maps = np.concatenate(parts) if parts else np.zeros((0, *lower.output.shape[1:]), MAP_DTYPE)
    if len(maps) != wanted.sum():
        raise ValueError(f"{source.name}[{split}] gave {len(maps)} of the {wanted.sum()} images asked for")
    logging.info("Frozen lower trunk over %s[%s]: %d of %d images -> maps %s in %.1f s", source.name, split,
                 len(maps), total, maps.shape[1:], time.time() - started)
    return maps


class SplitMaps:
    """The maps of one split, computed as they are needed: `maps` float16 [N, h, w, c] in split order,
    valid where `covered` (bool [N]) is True."""

    def __init__(self, num_images: int):
        self.maps, self.covered = None, np.zeros(num_images, bool)

    def cover(self, source, split: str, lower: keras.Model, needed: np.ndarray | None) -> "SplitMaps":
        """Computes the maps of the `needed` images (bool [N]; None: all) not covered yet; returns self."""
        missing = ~self.covered if needed is None else np.asarray(needed, bool) & ~self.covered
        if missing.any():
            new = compute_maps(source, split, lower, None if missing.all() else missing)
            if self.maps is None:
                self.maps = np.zeros((len(self.covered), *new.shape[1:]), MAP_DTYPE)
            self.maps[missing] = new
            self.covered = self.covered | missing
        return self


class MapsSource:
    """The pixel `source` with its images replaced by lower's maps of them (module docstring): `maps`
    {split: SplitMaps}; a split's examples are its covered images, in split order."""

    def __init__(self, source, maps: dict[str, SplitMaps]):
        self.pixels, self.maps = source, maps
        self.name = source.name
        self.inner = getattr(source, "inner", source)  # the unscreened source: teacher targets are shared
        self.resize_mode = getattr(source, "resize_mode", None)

    def label_names(self) -> list[str]:
        """The pixel source's category names."""
        return self.pixels.label_names()

    def never_rare(self) -> tuple[int, ...]:
        """The pixel source's background-by-definition categories."""
        return self.pixels.never_rare()

    def image_shape(self) -> tuple:
        """(h, w, c) of a map."""
        return next(m.maps for m in self.maps.values() if m.maps is not None).shape[1:]

    def check_split(self, split: str) -> None:
        """ValueError when no maps were computed for `split`."""
        if split not in self.maps:
            raise ValueError(f"no frozen-trunk maps of split {split!r} (computed: {sorted(self.maps)})")

    def read_labels(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The pixel source's (labels, ids) of the whole split (a rare task is drawn from them all)."""
        return self.pixels.read_labels(split)

    def coverage(self, split: str) -> int:
        """How many of the split's images have maps (their examples are what the split yields)."""
        return int(self.maps[split].covered.sum())

    def version(self, split: str) -> str:
        """The pixel source's version (the maps follow from it and the teacher)."""
        return self.pixels.version(split)

    def encoded_examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """{"image": float16 [h, w, c], "label": int64, "id": string} of the covered images in split
        order, from position `skip` on, positions shard[0], shard[0] + shard[1], ... only."""
        self.check_split(split)
        labels, ids = self.read_labels(split)
        split_maps = self.maps[split]
        part = np.zeros(len(split_maps.covered), bool)
        part[skip + shard[0]::shard[1]] = True
        part &= split_maps.covered
        return tf.data.Dataset.from_tensor_slices({"image": split_maps.maps[part], "label": labels[part],
                                                   "id": np.asarray(ids)[part].astype(bytes)})

    def examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """The same as encoded_examples: a map needs no decoding."""
        return self.encoded_examples(split, skip, shard)

    def decode(self, example: dict) -> dict:
        """A map needs no decoding."""
        return example

    def decode_random_crop(self, example: dict, seed: tf.Tensor) -> dict:
        """Refused: maps have no crops (training on them is unaugmented)."""
        raise ValueError("a frozen trunk's maps cannot be cropped: --frozen_through trains without augmentation")
