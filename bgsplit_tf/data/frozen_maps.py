"""A source whose images are a frozen lower trunk's output (--frozen_through): computed once, in memory.

When the trunk below some layer stays the teacher's and is frozen (models.trunk_split), its output on
an image never changes: one batched pass per split computes it for every image (the evaluation view),
and training, validation and testing then feed only the upper part. MapsSource wraps the pixel source
(screened for bad images) and keeps its labels, ids, order and version; its "image" is the map,
float16 [h, w, c] (half the memory; the model computes in float32).
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

MAP_DTYPE = np.float16
BATCH_SIZE = 256


def compute_maps(source, split: str, lower: keras.Model) -> np.ndarray:
    """lower's output on every image of source[split], in split order: float16 [N, h, w, c]. Logs its time."""
    started = time.time()
    total = len(source.read_labels(split)[1])
    encode = tf.function(lambda pixels: tf.cast(lower(tf.cast(pixels, tf.float32), training=False), MAP_DTYPE),
                         reduce_retracing=True)
    progress = keras.utils.Progbar(total, unit_name="image")
    parts = []
    for batch in source.examples(split).batch(BATCH_SIZE).prefetch(2):
        parts.append(encode(batch["image"]).numpy())
        progress.add(len(parts[-1]))
    maps = np.concatenate(parts)
    if len(maps) != total:
        raise ValueError(f"{source.name}[{split}] gave {len(maps)} images but lists {total}")
    logging.info("Frozen lower trunk over %s[%s]: %d images -> maps %s in %.1f s", source.name, split, total,
                 maps.shape[1:], time.time() - started)
    return maps


class MapsSource:
    """The pixel `source` with every image replaced by lower's map of it (module docstring). `maps`:
    {split: float16 [N, h, w, c]} in the source's split order."""

    def __init__(self, source, maps: dict[str, np.ndarray]):
        self.pixels, self.maps = source, maps
        self.name = source.name
        self.inner = getattr(source, "inner", source)  # the unscreened source: teacher targets are shared
        self.fit = getattr(source, "fit", None)

    def label_names(self) -> list[str]:
        """The pixel source's category names."""
        return self.pixels.label_names()

    def never_rare(self) -> tuple[int, ...]:
        """The pixel source's background-by-definition categories."""
        return self.pixels.never_rare()

    def image_shape(self) -> tuple:
        """(h, w, c) of a map."""
        return next(iter(self.maps.values())).shape[1:]

    def check_split(self, split: str) -> None:
        """ValueError when no maps were computed for `split`."""
        if split not in self.maps:
            raise ValueError(f"no frozen-trunk maps of split {split!r} (computed: {sorted(self.maps)})")

    def read_labels(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The pixel source's (labels, ids), in the order of the maps."""
        return self.pixels.read_labels(split)

    def version(self, split: str) -> str:
        """The pixel source's version (the maps follow from it and the teacher)."""
        return self.pixels.version(split)

    def encoded_examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """{"image": float16 [h, w, c], "label": int64, "id": string} in split order, from `skip` on,
        positions shard[0], shard[0] + shard[1], ... only."""
        self.check_split(split)
        labels, ids = self.read_labels(split)
        part = slice(skip + shard[0], None, shard[1])
        return tf.data.Dataset.from_tensor_slices({"image": self.maps[split][part], "label": labels[part],
                                                   "id": np.asarray(ids[part]).astype(bytes)})

    def examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """The same as encoded_examples: a map needs no decoding."""
        return self.encoded_examples(split, skip, shard)

    def decode(self, example: dict) -> dict:
        """A map needs no decoding."""
        return example

    def decode_random_crop(self, example: dict, seed: tf.Tensor) -> dict:
        """Refused: maps have no crops (training on them is unaugmented)."""
        raise ValueError("a frozen trunk's maps cannot be cropped: --frozen_through trains without augmentation")
