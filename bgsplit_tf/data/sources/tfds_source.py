"""Any TFDS image-classification dataset as a source (tfds:NAME, or a bare NAME), the embedded one included.

Examples {"image": uint8 [H, W, 3], "label": int64, "id": string}: "label" is the dataset's own
category id (e.g. a species), read from --label_key, and "id" is stable across runs (--id_key).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from bgsplit_tf import phases
from bgsplit_tf.data import image_files, recipes
from bgsplit_tf.data.sources import UNLABELED
from bgsplit_tf.data.sources import shapes_builder  # noqa: F401  (registers "bgsplit_shapes" with TFDS)

EMBEDDED_DATASET = "bgsplit_shapes"


@functools.lru_cache(maxsize=None)
def _prepared_builder(name: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
    builder = tfds.builder(name, data_dir=data_dir)
    with phases.timed(phases.RENDERING):
        builder.download_and_prepare()
    return builder


@dataclasses.dataclass(frozen=True)
class TfdsSource:
    """A TFDS dataset, and which features hold image, label and id."""

    name: str = EMBEDDED_DATASET
    data_dir: str | None = None
    image_key: str = "image"
    label_key: str = "species"  # empty: no labels (a pool to mine)
    id_key: str = "id"
    image_size: tuple[int, int] | None = None  # images of another or varying size are fitted to this
    resize_mode: str = image_files.STRETCH  # how (image_files.apply_resize_mode); a centre crop applies to every image

    def builder(self) -> tfds.core.DatasetBuilder:
        """The TFDS builder, prepared on first use (the embedded dataset renders in ~30 s)."""
        builder = _prepared_builder(self.name, self.data_dir)
        features = builder.info.features
        for flag, key in (("image_key", self.image_key), ("label_key", self.label_key), ("id_key", self.id_key)):
            if key and key not in features:
                raise ValueError(
                    f"dataset {self.name!r} has no feature {key!r} (--{flag}); its features are "
                    f"{sorted(features.keys())}"
                )
        return builder

    def label_names(self) -> list[str]:
        """Names of the source categories, index = label id."""
        return list(self.builder().info.features[self.label_key].names)

    def never_rare(self) -> tuple[int, ...]:
        """Category ids that are background by definition (none in a TFDS dataset)."""
        return ()

    def image_shape(self) -> tuple:
        """(H, W, C) of the images; None where sizes vary."""
        return tuple(self.builder().info.features[self.image_key].shape)

    def check_split(self, split: str) -> None:
        """Raises a ValueError naming the dataset's splits when `split` (TFDS split syntax) is not one."""
        splits = self.builder().info.splits
        for part in split.split("+"):  # TFDS split syntax: "train[:90%]", "train+test"
            base = part.split("[")[0].strip()
            if splits and base not in splits:  # (tfds.testing.mock_data leaves the split list empty)
                raise ValueError(f"dataset {self.name!r} has no split {base!r}; it has {sorted(splits.keys())}")

    def read_labels(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 [N], ids object [N] of bytes) of a split, without decoding any image.

        Read once per process and split (experiments draw many tasks from one source); the arrays
        are read-only.
        """
        self.check_split(split)
        return _read_labels(self, split)

    def version(self, split: str) -> str:
        """The dataset's TFDS version (any split): part of the teacher-target cache's fingerprint."""
        return str(self.builder().info.version)

    def examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """Decoded examples {"image": uint8 [H, W, 3], "label": int64 [], "id": string []} in split order;
        images of a variable-size dataset are resized to image_size. See encoded_examples for skip
        and shard."""
        return self.encoded_examples(split, skip, shard).map(self.decode, num_parallel_calls=tf.data.AUTOTUNE)

    def encoded_examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """Examples whose "image" is still encoded (string []); `decode` turns one into pixels. Sampling
        and filtering before decoding costs only reading.

        skip: start at this position. shard: (index, count): only positions index, index + count, ...
        (one input pipeline's share).
        """
        self.check_split(split)
        ds = self.builder().as_dataset(split=split, shuffle_files=False,
                                       decoders={self.image_key: tfds.decode.SkipDecoding()})
        if skip:
            ds = ds.skip(skip)
        if shard != (0, 1):
            ds = ds.shard(shard[1], shard[0])
        return ds.map(lambda ex: {"image": ex[self.image_key], "label": self._label(ex), "id": ex[self.id_key]},
                      num_parallel_calls=tf.data.AUTOTUNE)

    def _label(self, example: dict) -> tf.Tensor:
        """The example's label (int64 []); UNLABELED without a --label_key (a pool to mine)."""
        if not self.label_key:
            return tf.constant(UNLABELED, tf.int64)
        return tf.cast(example[self.label_key], tf.int64)

    def decode(self, example: dict) -> dict:
        """An encoded example -> the same with "image" uint8 [H, W, 3], fitted to image_size where the
        dataset's size varies or differs from it, or always with the centre-crop resize mode."""
        image = example["image"]
        if image.dtype == tf.string:  # (a reader that decodes itself, as mock_data, passes pixels)
            image = self.builder().info.features[self.image_key].decode_example(image)
        if self.image_size is not None and (self.resize_mode != image_files.STRETCH or
                                            tuple(self.image_shape()[:2]) != tuple(self.image_size)):
            image = image_files.apply_resize_mode(image, self.image_size, self.resize_mode)
        else:  # at the model's size already: only a grey dataset (fashion_mnist, mnist) changes, to RGB
            image = image_files.as_rgb(image)
        return {**example, "image": image}

    def decode_random_crop(self, example: dict, seed: tf.Tensor) -> dict:
        """An encoded example -> the same with "image" the inception recipe's random crop (uint8
        [H, W, 3] at image_size, or the dataset's own size; recipes.random_resized_crop). seed: int64 [2]."""
        size = tuple(self.image_size or self.image_shape()[:2])
        return {**example, "image": recipes.random_resized_crop(example["image"], size, seed)}


@functools.lru_cache(maxsize=32)
def _read_labels(source: TfdsSource, split: str) -> tuple[np.ndarray, np.ndarray]:
    ds = source.builder().as_dataset(
        split=split, decoders={source.image_key: tfds.decode.SkipDecoding()}, shuffle_files=False
    )
    ds = ds.map(lambda ex: (source._label(ex), ex[source.id_key])).batch(8192)
    labels, ids = [], []
    for label_batch, id_batch in ds.as_numpy_iterator():
        labels.append(label_batch)
        ids.append(id_batch)
    labels, ids = np.concatenate(labels).astype(np.int64), np.concatenate(ids).astype(object)
    labels.setflags(write=False)
    ids.setflags(write=False)
    return labels, ids
