"""What sources of image files on disk share: listings of (label, path) per split, streamed and
decoded in parallel by tf.data (never loaded into RAM whole), converted to RGB and resized to
`image_size` (the trunk's input) by image_files.decode_file as `resize_mode` says. Example ids are paths relative to the
root ("train/fox/0001.jpg"; a manifest's absolute paths stay absolute), stable across runs."""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow as tf

from bgsplit_tf.data import fingerprints, image_files, recipes


class ImageFileSource:
    """Base of FolderSource and ManifestSource: subclasses give `root`, `image_size`, `resize_mode`, `name`,
    `label_names()` and `_listing(split)` -> (labels int64 [N], ids object [N] of bytes)."""

    root: pathlib.Path
    image_size: tuple[int, int]
    resize_mode: str

    def never_rare(self) -> tuple[int, ...]:
        """No category is background by definition unless a subclass says so."""
        return ()

    def image_shape(self) -> tuple:
        """(H, W, 3): every image is resized to image_size."""
        return (*self.image_size, 3)

    def read_labels(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 [N] (sources.UNLABELED for unlabeled images), ids object [N] of bytes) from the
        listing; nothing is decoded."""
        self.check_split(split)
        return self._listing(split)

    def version(self, split: str) -> str:
        """sha256 over the split's files' ids, sizes and modification times: changes when a file is
        added, removed or rewritten. Part of the teacher-target cache's fingerprint."""
        def file_state(example_id: bytes) -> bytes:
            path = self.root / example_id.decode()  # (an absolute id stays absolute)
            stat = path.stat() if path.exists() else None
            return example_id + f":{stat and stat.st_size}:{stat and stat.st_mtime_ns}".encode()

        return fingerprints.digest_of(file_state(example_id) for example_id in self.read_labels(split)[1])

    def examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """Decoded examples {"image": uint8 [H, W, 3], "label": int64 [], "id": string []} in listing
        order. See encoded_examples for skip and shard."""
        return self.encoded_examples(split, skip, shard).map(self.decode, num_parallel_calls=tf.data.AUTOTUNE)

    def encoded_examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """Examples whose "image" is still the file's path (string []); `decode` reads and decodes it.

        skip: start at this position (the files before it are not read). shard: (index, count): only
        positions index, index + count, ... (one input pipeline's share).
        """
        labels, ids = self.read_labels(split)
        labels, ids = labels[skip:][shard[0]::shard[1]], ids[skip:][shard[0]::shard[1]]
        root = str(self.root) + "/"
        paths = [i if i.startswith(b"/") else root.encode() + i for i in ids]
        return tf.data.Dataset.from_tensor_slices({"image": np.array(paths, dtype=object).astype(bytes),
                                                   "label": labels, "id": ids.astype(bytes)})

    def decode(self, example: dict) -> dict:
        """An encoded example -> the same with "image" uint8 [H, W, 3], fitted to image_size."""
        return {**example, "image": image_files.decode_file(example["image"], self.image_size, self.resize_mode)}

    def decode_random_crop(self, example: dict, seed: tf.Tensor) -> dict:
        """An encoded example -> the same with "image" the inception recipe's random crop (uint8
        [H, W, 3] at image_size; recipes.random_resized_crop). seed: int64 [2]."""
        return {**example, "image": recipes.random_resized_crop(tf.io.read_file(example["image"]), self.image_size,
                                                                seed)}


def frozen_listing(labels: list[int], ids: list[bytes], where: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """Read-only (labels int64 [N], ids object [N]); an empty listing is an error naming `where`."""
    if not ids:
        raise ValueError(f"{where} holds no images ({', '.join(image_files.IMAGE_EXTENSIONS)})")
    labels, ids = np.array(labels, np.int64), np.array(ids, dtype=object)
    labels.setflags(write=False)
    ids.setflags(write=False)
    return labels, ids
