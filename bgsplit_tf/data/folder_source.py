"""A labelled source from image files on disk: one folder per split, one subfolder per category.

  <root>/train/<category>/*.jpg       (also .jpeg, .png, .gif, .bmp; any depth below the category)
  <root>/validation/<category>/...
  <root>/test/<category>/...
  <root>/<split>/background/...       images that are background by definition (camera-trap blanks,
                                      frames without the event): never drawn as a rare category

Files are streamed from disk and decoded in parallel by tf.data (never loaded into RAM whole),
converted to RGB and resized to `image_size` (the trunk's input). Example ids are the paths relative
to the root ("train/fox/0001.jpg"), stable across runs. Same interface as data.source.Source.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib

import numpy as np
import tensorflow as tf

from bgsplit_tf.data import image_files

PREFIX = "folder:"


@dataclasses.dataclass(frozen=True)
class FolderSource:
    """Image folders as a source. name: "folder:<root>"; image_size: (H, W) the images are resized to."""

    name: str
    image_size: tuple[int, int] = (32, 32)
    background_folder: str = "background"

    @property
    def root(self) -> pathlib.Path:
        return pathlib.Path(self.name.removeprefix(PREFIX))

    def label_names(self) -> list[str]:
        """Category folder names over all splits, sorted; index = label id."""
        return list(_categories(self.root))

    def never_rare(self) -> tuple[int, ...]:
        names = self.label_names()
        return (names.index(self.background_folder),) if self.background_folder in names else ()

    def image_shape(self) -> tuple:
        return (*self.image_size, 3)

    def check_split(self, split: str) -> None:
        if not (self.root / split).is_dir():
            present = sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []
            raise ValueError(f"{self.root} has no split folder {split!r} (it has {present}); expected "
                             f"{self.root}/{split}/<category>/<images>")

    def read_labels(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 [N], ids object [N] of bytes) from the file listing; nothing is decoded."""
        self.check_split(split)
        return _listing(self.root, split)

    def examples(self, split: str) -> tf.data.Dataset:
        """Decoded examples {"image": uint8 [H, W, 3], "label": int64 [], "id": string []}."""
        labels, ids = self.read_labels(split)
        root = str(self.root) + "/"
        ds = tf.data.Dataset.from_tensor_slices({"label": labels, "id": ids.astype(bytes)})
        return ds.map(
            lambda ex: {"image": image_files.decode_file(tf.strings.join([root, ex["id"]]), self.image_size), **ex},
            num_parallel_calls=tf.data.AUTOTUNE,
        )


@functools.lru_cache(maxsize=8)
def _categories(root: pathlib.Path) -> tuple[str, ...]:
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist")
    names = {c.name for split in root.iterdir() if split.is_dir() for c in split.iterdir() if c.is_dir()}
    if not names:
        raise ValueError(f"{root} holds no <split>/<category>/ folders")
    return tuple(sorted(names))


@functools.lru_cache(maxsize=32)
def _listing(root: pathlib.Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    names = _categories(root)
    labels, ids = [], []
    for label, name in enumerate(names):
        folder = root / split / name
        for path in image_files.list_folder(folder) if folder.is_dir() else []:
            labels.append(label)
            ids.append(str(pathlib.Path(path).relative_to(root)).encode())
    if not ids:
        raise ValueError(f"{root / split} holds no images ({', '.join(image_files.IMAGE_EXTENSIONS)})")
    labels, ids = np.array(labels, np.int64), np.array(ids, dtype=object)
    labels.setflags(write=False)
    ids.setflags(write=False)
    return labels, ids
