"""Image folders as a source (folder:ROOT).

  ROOT/train/<category>/*.jpg       (also .jpeg, .png, .gif, .bmp; any depth below the category)
  ROOT/validation/<category>/...
  ROOT/test/<category>/...
  ROOT/<split>/background/...       images that are background by definition (camera-trap blanks,
                                    frames without the event): never drawn as a rare category
  ROOT/train/unlabeled/...          images nobody labelled: they get the auxiliary loss only

As a pool to mine (pool=True), every image under ROOT, unlabelled, in one split (sources.POOL_SPLIT).
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib

import numpy as np

from bgsplit_tf.data import image_files
from bgsplit_tf.data.sources import FOLDER, POOL_SPLIT, UNLABELED
from bgsplit_tf.data.sources.files import ImageFileSource, frozen_listing

UNLABELED_FOLDER = "unlabeled"


@dataclasses.dataclass(frozen=True)
class FolderSource(ImageFileSource):
    """Image folders under `location`; image_size: (H, W) the images are resized to by `resize_mode`
    (image_files.apply_resize_mode)."""

    location: str
    image_size: tuple[int, int] = (32, 32)
    background_folder: str = "background"
    pool: bool = False
    resize_mode: str = image_files.STRETCH

    @property
    def root(self) -> pathlib.Path:
        return pathlib.Path(self.location)

    @property
    def name(self) -> str:
        return f"{FOLDER}:{self.location}"

    def label_names(self) -> list[str]:
        """Category names over all splits, sorted; index = label id (none for a pool)."""
        return [] if self.pool else list(_categories(self.root))

    def never_rare(self) -> tuple[int, ...]:
        """Label ids that are background by definition: the --background_folder category, if present."""
        names = self.label_names()
        return (names.index(self.background_folder),) if self.background_folder in names else ()

    def check_split(self, split: str) -> None:
        """Raises a ValueError naming the expected layout when the split's folder is missing."""
        if self.pool:
            if split != POOL_SPLIT or not self.root.is_dir():
                raise ValueError(f"the pool {self.root} is not a folder (or {split!r} is not its split {POOL_SPLIT!r})")
            return
        if not (self.root / split).is_dir():
            present = sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []
            raise ValueError(f"{self.root} has no split folder {split!r} (it has {present}); expected "
                             f"{self.root}/{split}/<category>/<images>")

    def _listing(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        return _pool_listing(self.root) if self.pool else _listing(self.root, split)


@functools.lru_cache(maxsize=8)
def _categories(root: pathlib.Path) -> tuple[str, ...]:
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist")
    names = {c.name for split in root.iterdir() if split.is_dir() for c in split.iterdir()
             if c.is_dir() and c.name != UNLABELED_FOLDER}
    if not names:
        raise ValueError(f"{root} holds no <split>/<category>/ folders")
    return tuple(sorted(names))


@functools.lru_cache(maxsize=32)
def _listing(root: pathlib.Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    names = _categories(root)
    labels, ids = [], []
    for label, name in [*enumerate(names), (UNLABELED, UNLABELED_FOLDER)]:
        folder = root / split / name
        for path in image_files.list_folder(folder) if folder.is_dir() else []:
            labels.append(label)
            ids.append(str(pathlib.Path(path).relative_to(root)).encode())
    return frozen_listing(labels, ids, root / split)


def _pool_listing(root: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    ids = [str(pathlib.Path(path).relative_to(root)).encode() for path in image_files.list_folder(root)]
    return frozen_listing([UNLABELED] * len(ids), ids, root)
