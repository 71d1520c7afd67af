"""Where images come from: one Source protocol, and one way to name a source.

A source knows its categories and yields, per split, examples {"image", "label", "id"}: "label" is
the source's own category id (int64; UNLABELED for an image nobody labelled, which gets the auxiliary
loss only) and "id" a stable string. The rare task is drawn from these labels.

Specs, as --dataset (a training source) and --images (a pool to mine) name them:

  tfds:NAME or NAME       a TFDS dataset (tfds_source.py); bgsplit_shapes is rendered locally.
                          A pool names its split: tfds:NAME/SPLIT (NAME may hold a config: NAME/CONFIG).
  folder:ROOT             image files in ROOT/<split>/<category>/ (folders.py); a pool: every image under ROOT
  manifest:DIR            CSV manifests DIR/<split>.csv of path,label rows (manifests.py)
  manifest:FILE.csv       one CSV manifest: a pool
  fashion_mnist[:DIR|:tfds]  Fashion-MNIST's 70,000 photographs (fashion_mnist.py): Debian's files, the IDX
                          files in DIR, or TFDS's copy; a pool: fashion_mnist/SPLIT
  a bare path             for --images only: a folder is folder:, a .csv file is manifest:
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Protocol

import numpy as np
import tensorflow as tf

from bgsplit_tf.data import image_files

UNLABELED = -1  # the label of an image without one: it gets the aux loss only
TFDS, FOLDER, MANIFEST, FASHION_MNIST = "tfds", "folder", "manifest", "fashion_mnist"
POOL_SPLIT = "pool"  # the one split of a folder or manifest-file pool


class Source(Protocol):
    """What training, the teacher-target cache, the bad-image scan and mining need from a source."""

    name: str

    def label_names(self) -> list[str]:
        """Category names, index = label id."""

    def never_rare(self) -> tuple[int, ...]:
        """Label ids that are background by definition."""

    def image_shape(self) -> tuple:
        """(H, W, 3) of the decoded images; None where sizes vary."""

    def check_split(self, split: str) -> None:
        """ValueError naming what exists when `split` does not."""

    def read_labels(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 [N], ids object [N] of bytes), nothing decoded."""

    def version(self, split: str) -> str:
        """Changes whenever the split's images may have (part of the teacher cache's fingerprint)."""

    def encoded_examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """Examples with "image" still encoded (or a path): cheap to filter and sample before decoding."""

    def examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """Decoded examples: "image" uint8 [H, W, 3]."""

    def decode(self, example: dict) -> dict:
        """One encoded example -> the same with "image" uint8 [H, W, 3], the evaluation view."""

    def decode_random_crop(self, example: dict, seed: tf.Tensor) -> dict:
        """One encoded example -> the same with "image" a random crop of it (the inception recipe's
        training view, data.recipes), uint8 [H, W, 3]. seed: int64 [2]."""


@dataclasses.dataclass(frozen=True)
class Spec:
    """A parsed source spec: its kind (TFDS, FOLDER or MANIFEST), where it is, and, for a pool, its split."""

    kind: str
    location: str
    split: str | None = None


def parse(spec: str, pool: bool = False) -> Spec:
    """Reads a spec (module docstring). pool: the spec names a pool to mine (--images), so a TFDS spec
    carries its split and a bare path is allowed. ValueError, naming the accepted forms, otherwise."""
    kind, _, location = spec.partition(":")
    if kind.split("/")[0] == FASHION_MNIST:
        kind, _, split = kind.partition("/")
        if pool and not split:
            raise ValueError(f"{spec!r}: a Fashion-MNIST pool names its split, e.g. fashion_mnist/test")
        return Spec(FASHION_MNIST, location, split or None)
    if kind not in (TFDS, FOLDER, MANIFEST) or not location:
        if pool and pathlib.Path(spec).is_dir():
            return Spec(FOLDER, spec, POOL_SPLIT)
        if pool and pathlib.Path(spec).suffix.lower() == ".csv":
            return Spec(MANIFEST, spec, POOL_SPLIT)
        if pool or not spec:
            forms = "tfds:NAME/SPLIT, folder:ROOT, manifest:FILE.csv, a folder or a .csv file" if pool else (
                "tfds:NAME (or a bare TFDS name such as bgsplit_shapes or bgsplit_shapes:1.0.0), folder:ROOT or "
                "manifest:DIR")
            raise ValueError(f"{spec!r} names no source; use {forms}")
        kind, location = TFDS, spec  # a bare TFDS name, which may carry a version (NAME:1.0.0)
    if kind == TFDS and pool:
        name, _, split = location.rpartition("/")
        if not name:
            raise ValueError(f"{spec!r}: a TFDS pool names its split, e.g. tfds:bgsplit_shapes/test")
        return Spec(TFDS, name, split)
    if kind != TFDS and pool:
        return Spec(kind, location, POOL_SPLIT)
    return Spec(kind, location)


def open_source(spec: str | Spec, *, image_size: tuple[int, int] | None = None, resize_mode: str = image_files.STRETCH,
                data_dir: str | None = None, image_key: str = "image", label_key: str = "species", id_key: str = "id",
                background_folder: str = "background") -> Source:
    """The Source a spec names. image_size: (H, W) every decoded image is fitted to where the source's
    own size differs (image files always; a TFDS dataset whose images are another or varying size), by
    `resize_mode` (image_files.RESIZE_MODES; a centre crop applies to every image)."""
    from bgsplit_tf.data.sources import fashion_mnist, folders, manifests, tfds_source

    spec = spec if isinstance(spec, Spec) else parse(spec)
    if spec.kind == FASHION_MNIST:
        return fashion_mnist.FashionMnistSource(fashion_mnist.resolve_origin(spec.location),
                                                None if image_size is None else tuple(image_size),
                                                resize_mode=resize_mode, data_dir=data_dir)
    if spec.kind == FOLDER:
        return folders.FolderSource(spec.location, tuple(image_size or (32, 32)), background_folder,
                                    pool=spec.split == POOL_SPLIT, resize_mode=resize_mode)
    if spec.kind == MANIFEST:
        return manifests.ManifestSource(spec.location, tuple(image_size or (32, 32)), resize_mode=resize_mode)
    return tfds_source.TfdsSource(name=spec.location, data_dir=data_dir, image_key=image_key, label_key=label_key,
                                  id_key=id_key, image_size=None if image_size is None else tuple(image_size),
                                  resize_mode=resize_mode)
