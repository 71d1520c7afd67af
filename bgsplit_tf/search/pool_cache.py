"""What a search computes once per pool, so that a round never runs the whole trunk again.

The student's trunk is split before its last stage (models.trunk_split): the lower part stays the teacher's and
is frozen during a search, so its output on every pool image is computed once and kept on disk; a
round trains only the upper part and the heads on those maps, and re-scores the pool from them. The
teacher's predictions (for the auxiliary loss) and its pooled features (for nearest-neighbour search)
are kept beside them.

  <cache>/fingerprint.json    pool spec and version, teacher identity and weights digest, split layer
  <cache>/items.json          the pool's images (paths or ids) that decoded, in order
  <cache>/maps.npy            float16 [N, h, w, c]: the lower trunk's output
  <cache>/teacher_labels.npy  int32 [N]: the teacher's top class
  <cache>/teacher_features.npy float32 [N, D]: the teacher trunk's pooled features
  <cache>/pixels.npy          uint8 [N, H, W, 3]: the decoded images, kept only for full fine-tuning rounds
  <cache>/skipped.json        images that did not decode
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bgsplit_tf import json_files
from bgsplit_tf.data import fingerprints
from bgsplit_tf.models import teacher as teacher_lib
from bgsplit_tf.models.trunk_split import split_trunk  # (the pool caches the lower part)
from bgsplit_tf.serving import mining

@dataclasses.dataclass
class PoolCache:
    """The cached pool (module docstring): arrays in pool order, items[i] naming image i."""

    items: list[str]
    maps: np.ndarray
    teacher_labels: np.ndarray
    teacher_features: np.ndarray
    skipped: list[str]
    split_layer: str
    pixels: np.ndarray | None = None  # uint8 [N, H, W, 3], kept for full fine-tuning (keep_pixels)
    _index: dict[str, int] | None = dataclasses.field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.items)

    def index(self) -> dict[str, int]:
        """item -> its position (built once: every round looks labels up in it)."""
        if self._index is None:
            self._index = {item: i for i, item in enumerate(self.items)}
        return self._index


def encoder(teacher: keras.Model, split_layer: str):
    """A compiled function: pixels uint8 [B, H, W, 3] -> (maps float16 [B, h, w, c] of the lower trunk,
    the teacher's top class int32 [B], the teacher trunk's pooled features float32 [B, D]): what the
    cache holds per image, also used for the example images a search starts from."""
    trunk = teacher_lib.teacher_trunk(teacher)
    lower, upper = split_trunk(trunk, split_layer)
    classifier = teacher_lib.teacher_classifier(teacher)

    @tf.function(reduce_retracing=True)
    def encode(pixels):
        maps = lower(tf.cast(pixels, tf.float32), training=False)
        features = upper(maps, training=False)
        return tf.cast(maps, tf.float16), tf.argmax(classifier(features), axis=-1, output_type=tf.int32), features

    return encode


def fingerprint(pool: str, teacher: keras.Model, teacher_spec: str, split_layer: str, image_size,
                keep_pixels: bool) -> dict:
    """What a cache depends on: the pool, the teacher (by name and weights), where the trunk is split,
    and whether it keeps the decoded images."""
    return {"pool": pool, "teacher": teacher_spec or "default", "teacher_weights_sha256":
            fingerprints.weights_digest(teacher), "split_layer": split_layer, "image_size": list(image_size),
            "pixels": keep_pixels}


def build_pool_cache(directory: str | pathlib.Path, pool: str, teacher: keras.Model, teacher_spec: str = "",
                     split_layer: str | None = None, batch_size: int = 256, data_dir: str | None = None,
                     image_key: str = "image", id_key: str = "id", keep_pixels: bool = False) -> PoolCache:
    """Loads the cache of `pool` (a data.sources pool spec) under this teacher from `directory`, computing
    it first if absent (one pass over the pool, with a progress bar). keep_pixels also keeps the decoded
    images (full fine-tuning rounds train the whole trunk on them). A cache of another pool, teacher or
    split, or without the pixels asked for, is refused with what differs and how to rebuild
    (fingerprints.FingerprintMismatch)."""
    directory = pathlib.Path(directory)
    layer = split_trunk(teacher_lib.teacher_trunk(teacher), split_layer)[0].layers[-1].name
    image_size = tuple(teacher.input_shape[1:3])
    expected = fingerprint(pool, teacher, teacher_spec, layer, image_size, keep_pixels)
    fingerprint_path = directory / fingerprints.FINGERPRINT_FILE
    if fingerprint_path.exists():
        fingerprints.check(fingerprint_path, expected, f"the pool cache {directory}",
                           f"It was built for another pool, teacher, split or kind of round: rm -r '{directory}' to "
                           "rebuild it, or pass another --state_dir.")
        return _load(directory, layer, keep_pixels)
    batches, pool_items = mining.pool_batches(pool, image_size, batch_size, data_dir, image_key, id_key)
    encode = encoder(teacher, layer)
    items, maps, labels, features, kept_pixels = [], [], [], [], []
    progress = keras.utils.Progbar(len(pool_items), unit_name="image")
    for batch_items, pixels in batches:
        batch_maps, batch_labels, batch_features = encode(pixels)
        items.extend(i.decode() for i in batch_items.numpy())
        maps.append(batch_maps.numpy())
        labels.append(batch_labels.numpy())
        features.append(batch_features.numpy())
        if keep_pixels:
            kept_pixels.append(pixels.numpy())
        progress.add(len(batch_labels))
    directory.mkdir(parents=True, exist_ok=True)
    cache = PoolCache(items, np.concatenate(maps), np.concatenate(labels), np.concatenate(features),
                      sorted(set(pool_items) - set(items)), layer, np.concatenate(kept_pixels) if keep_pixels else None)
    np.save(directory / "maps.npy", cache.maps)
    if keep_pixels:
        np.save(directory / "pixels.npy", cache.pixels)
    np.save(directory / "teacher_labels.npy", cache.teacher_labels)
    np.save(directory / "teacher_features.npy", cache.teacher_features)
    (directory / "items.json").write_text(json.dumps(cache.items))
    (directory / "skipped.json").write_text(json.dumps(cache.skipped))
    json_files.write_whole(fingerprint_path, expected)  # last: marks the cache complete
    if cache.skipped:
        logging.warning("Left out %d pool images that do not decode; listed in %s", len(cache.skipped),
                        directory / "skipped.json")
    return cache


def _load(directory: pathlib.Path, layer: str, keep_pixels: bool) -> PoolCache:
    return PoolCache(json.loads((directory / "items.json").read_text()), np.load(directory / "maps.npy", mmap_mode="r"),
                     np.load(directory / "teacher_labels.npy"), np.load(directory / "teacher_features.npy"),
                     json.loads((directory / "skipped.json").read_text()), layer,
                     np.load(directory / "pixels.npy", mmap_mode="r") if keep_pixels else None)
