"""Fashion-MNIST as a source (--dataset=fashion_mnist): 70,000 real product photographs, offline.

Fashion-MNIST (Xiao, Rasul and Vollgraf 2017; MIT) holds 28 x 28 grey photographs of clothing from
Zalando's catalogue in 10 balanced categories: 60,000 training and 10,000 test images. It is read from
one of two origins, which give the same examples with the same ids:

  fashion_mnist           the original IDX files where Debian's package dataset-fashion-mnist puts them
                          (DEBIAN_DIR; `apt-get install dataset-fashion-mnist`), else TFDS's
                          fashion_mnist (downloaded once by TFDS; --data_dir is its data directory)
  fashion_mnist:DIR       the IDX files (train-images-idx3-ubyte.gz, ...) in DIR
  fashion_mnist:tfds      TFDS's fashion_mnist, even where the Debian files are installed

TFDS stores the examples in another order than the files, so an example's id comes from its content:
the first 16 hex digits of the SHA-1 of its label byte and its 784 pixel bytes (identical examples,
which are interchangeable, are told apart by a "-<k>" suffix). Each split is in id order, the same from
either origin. Splits: "test" (the 10,000 test images), and the 60,000 training images split by id
into "validation" (ids whose first 8 hex digits are 0 modulo VALIDATION_MODULUS: about 10,000) and
"train" (the rest, about 50,000), so model selection never sees a test image.

The whole dataset (55 MB) is held in memory; "image" is uint8 [28, 28, 1] until decoded, when it
becomes RGB fitted to the model's input (image_files.apply_resize_mode: grey repeated into three channels,
resized to image_size).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import pathlib

import numpy as np
import tensorflow as tf

from bgsplit_tf.data import image_files, recipes

PREFIX = "fashion_mnist"
TFDS_ORIGIN = "tfds"
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
LABEL_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
SPLITS = ("train", "validation", "test")
VALIDATION_MODULUS = 6
IMAGE_SHAPE = (28, 28, 1)
VERSION = "fashion_mnist-1 (content ids, validation = id mod 6)"


def read_idx(path: pathlib.Path) -> np.ndarray:
    """An IDX file (gzipped or not) as a uint8 array: images [N, 28, 28] or labels [N]. ValueError naming the
    file when it is not an IDX file of unsigned bytes or is truncated."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise ValueError(f"{path}: a damaged gzip file ({error}); reinstall dataset-fashion-mnist") from None
    if len(raw) < 8 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * d:8 + 4 * d], "big") for d in range(dims))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: holds {data.size} values, its header declares {shape}: truncated?")
    return data.reshape(shape)


def content_ids(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Ids (object [N] of bytes) from each example's label and pixels (module docstring)."""
    ids, seen = [], {}
    for image, label in zip(images, labels):
        digest = hashlib.sha1(bytes([int(label)]) + image.tobytes()).hexdigest()[:16]
        count = seen.get(digest, 0)
        seen[digest] = count + 1
        ids.append((digest if count == 0 else f"{digest}-{count}").encode())
    return np.array(ids, dtype=object)


def _from_idx(directory: pathlib.Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    images_file, labels_file = (directory / name for name in FILES[part])
    for path in (images_file, labels_file):
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: install Debian's dataset-fashion-mnist "
                                    f"(apt-get install dataset-fashion-mnist) or use --dataset=fashion_mnist:tfds")
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{directory}: {len(images)} images but {len(labels)} labels in the {part} files")
    if labels.size and labels.max() >= len(LABEL_NAMES):
        raise ValueError(f"{labels_file}: label {labels.max()} is not one of Fashion-MNIST's {len(LABEL_NAMES)}")
    return images[..., None], labels.astype(np.int64)


def _from_tfds(part: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds

    builder = tfds.builder("fashion_mnist", data_dir=data_dir)
    builder.download_and_prepare()
    images, labels = [], []
    for batch in builder.as_dataset(split=part, shuffle_files=False).batch(10_000).as_numpy_iterator():
        images.append(batch["image"])
        labels.append(batch["label"])
    return np.concatenate(images).astype(np.uint8), np.concatenate(labels).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class FashionMnistSource:
    """Fashion-MNIST from `origin` (a directory of IDX files, or TFDS_ORIGIN); image_size: (H, W) the
    decoded images are resized to, by `resize_mode` (image_files.RESIZE_MODES)."""

    origin: str = DEBIAN_DIR
    image_size: tuple[int, int] | None = None
    resize_mode: str = image_files.STRETCH
    data_dir: str | None = None  # TFDS's, for the TFDS origin
    name: str = PREFIX

    def label_names(self) -> list[str]:
        """The 10 category names, index = label."""
        return list(LABEL_NAMES)

    def never_rare(self) -> tuple[int, ...]:
        """No category is background by definition."""
        return ()

    def image_shape(self) -> tuple:
        """(H, W, 3) of the decoded images."""
        return (*(self.image_size or IMAGE_SHAPE[:2]), 3)

    def check_split(self, split: str) -> None:
        """ValueError naming SPLITS when `split` is not one of them."""
        if split not in SPLITS:
            raise ValueError(f"fashion_mnist has no split {split!r}; it has {', '.join(SPLITS)}")

    def read_labels(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 [N], ids object [N] of bytes) of a split, in id order (read-only)."""
        self.check_split(split)
        _, labels, ids = _split_arrays(self.origin, self.data_dir, split)
        return labels, ids

    def version(self, split: str) -> str:
        """The same from either origin: the teacher-target cache is shared by both."""
        return VERSION

    def encoded_examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """{"image": uint8 [28, 28, 1] (not yet RGB nor fitted), "label": int64, "id": string} in id order,
        from position `skip` on, positions shard[0], shard[0] + shard[1], ... only."""
        self.check_split(split)
        images, labels, ids = _split_arrays(self.origin, self.data_dir, split)
        part = slice(skip + shard[0], None, shard[1])
        return tf.data.Dataset.from_tensor_slices({"image": images[part], "label": labels[part],
                                                   "id": ids[part].astype(bytes)})

    def examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """Decoded examples: "image" uint8 [H, W, 3] (see decode)."""
        return self.encoded_examples(split, skip, shard).map(self.decode, num_parallel_calls=tf.data.AUTOTUNE)

    def decode(self, example: dict) -> dict:
        """"image" grey uint8 [28, 28, 1] -> RGB uint8 [H, W, 3], resized to image_size (if set) by
        `resize_mode`."""
        return {**example, "image": image_files.apply_resize_mode(
            example["image"], self.image_size or IMAGE_SHAPE[:2], self.resize_mode)}

    def decode_random_crop(self, example: dict, seed: tf.Tensor) -> dict:
        """The inception recipe's random crop of the RGB image, at image_size (recipes.random_resized_crop)."""
        return {**example, "image": recipes.random_resized_crop(image_files.as_rgb(example["image"]),
                                                                tuple(self.image_size or IMAGE_SHAPE[:2]), seed)}


def resolve_origin(location: str) -> str:
    """The origin a fashion_mnist spec's location names: a directory, TFDS_ORIGIN, or (empty) the Debian
    files where installed, else TFDS."""
    if location:
        return location
    return DEBIAN_DIR if (pathlib.Path(DEBIAN_DIR) / FILES["train"][0]).exists() else TFDS_ORIGIN


@functools.lru_cache(maxsize=2)
def _part_arrays(origin: str, data_dir: str | None, part: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28, 1], labels int64 [N], ids object [N]) of the "train" or "test" files, in id
    order."""
    images, labels = _from_tfds(part, data_dir) if origin == TFDS_ORIGIN else _from_idx(pathlib.Path(origin), part)
    ids = content_ids(images, labels)
    order = np.argsort(ids.astype(bytes), kind="stable")
    return images[order], labels[order], ids[order]


@functools.lru_cache(maxsize=6)
def _split_arrays(origin: str, data_dir: str | None, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28, 1], labels int64 [N], ids object [N]) of a split, in id order, read-only."""
    images, labels, ids = _part_arrays(origin, data_dir, "test" if split == "test" else "train")
    if split != "test":
        validation = np.array([int(i[:8], 16) % VALIDATION_MODULUS == 0 for i in ids])
        keep = validation if split == "validation" else ~validation
        images, labels, ids = images[keep], labels[keep], ids[keep]
    for array in (images, labels, ids):
        array.setflags(write=False)
    return images, labels, ids
