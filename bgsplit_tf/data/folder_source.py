"""Sources from image files on disk: class folders, or CSV manifests.

folder:<root>
  <root>/train/<category>/*.jpg       (also .jpeg, .png, .gif, .bmp; any depth below the category)
  <root>/validation/<category>/...
  <root>/test/<category>/...
  <root>/<split>/background/...       images that are background by definition (camera-trap blanks,
                                      frames without the event): never drawn as a rare category
  <root>/train/unlabeled/...          images nobody labelled: they get the auxiliary loss only
manifest:<dir>
  <dir>/<split>.csv                   rows "path,label" (header optional; paths relative to <dir>);
                                      an empty label marks an unlabeled image (training only)

Files are streamed from disk and decoded in parallel by tf.data (never loaded into RAM whole),
converted to RGB and resized to `image_size` (the trunk's input). Example ids are the paths relative
to the root ("train/fox/0001.jpg"), stable across runs. Same interface as data.source.Source.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import pathlib

import numpy as np
import tensorflow as tf

from bgsplit_tf.data import image_files
from bgsplit_tf.data.rare_task import UNLABELED

PREFIX = "folder:"
MANIFEST_PREFIX = "manifest:"
UNLABELED_FOLDER = "unlabeled"


@dataclasses.dataclass(frozen=True)
class FolderSource:
    """Image folders as a source. name: "folder:<root>"; image_size: (H, W) the images are resized to."""

    name: str
    image_size: tuple[int, int] = (32, 32)
    background_folder: str = "background"

    @property
    def root(self) -> pathlib.Path:
        return pathlib.Path(self.name.removeprefix(PREFIX).removeprefix(MANIFEST_PREFIX))

    @property
    def is_manifest(self) -> bool:
        return self.name.startswith(MANIFEST_PREFIX)

    def label_names(self) -> list[str]:
        """Category names over all splits, sorted; index = label id."""
        return list(_manifest_categories(self.root) if self.is_manifest else _categories(self.root))

    def never_rare(self) -> tuple[int, ...]:
        """Label ids that are background by definition: the --background_folder category, if present."""
        names = self.label_names()
        return (names.index(self.background_folder),) if self.background_folder in names else ()

    def image_shape(self) -> tuple:
        """(H, W, 3): every image is resized to image_size."""
        return (*self.image_size, 3)

    def check_split(self, split: str) -> None:
        """Raises a ValueError naming the expected layout when the split's folder or manifest is missing."""
        if self.is_manifest:
            if not (self.root / f"{split}.csv").is_file():
                raise ValueError(f"{self.root} has no manifest {split}.csv; expected {self.root}/<split>.csv with "
                                 "rows path,label")
            return
        if not (self.root / split).is_dir():
            present = sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []
            raise ValueError(f"{self.root} has no split folder {split!r} (it has {present}); expected "
                             f"{self.root}/{split}/<category>/<images>")

    def read_labels(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 [N] (UNLABELED for unlabeled images), ids object [N] of bytes) from the file
        listing or manifest; nothing is decoded."""
        self.check_split(split)
        return _manifest_listing(self.root, split) if self.is_manifest else _listing(self.root, split)

    def version(self, split: str) -> str:
        """sha256 over the split's files' ids, sizes and modification times: changes when a file is
        added, removed or rewritten. Part of the teacher-target cache's fingerprint."""
        digest = hashlib.sha256()
        for example_id in self.read_labels(split)[1]:
            path = self.root / example_id.decode()  # (an absolute id stays absolute)
            stat = path.stat() if path.exists() else None
            digest.update(example_id + f":{stat and stat.st_size}:{stat and stat.st_mtime_ns}\0".encode())
        return digest.hexdigest()

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
        paths = [i if i.startswith(b"/") else root.encode() + i for i in ids]  # a manifest's absolute paths stay
        return tf.data.Dataset.from_tensor_slices({"image": np.array(paths, dtype=object).astype(bytes),
                                                   "label": labels, "id": ids.astype(bytes)})

    def decode(self, example: dict) -> dict:
        """An encoded example -> the same with "image" uint8 [H, W, 3], resized to image_size."""
        return {**example, "image": image_files.decode_file(example["image"], self.image_size)}


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
    return _frozen(labels, ids, root / split)


@functools.lru_cache(maxsize=8)
def _manifest_categories(root: pathlib.Path) -> tuple[str, ...]:
    names = {label for manifest in root.glob("*.csv") for label in image_files.read_manifest(manifest)[1] if label}
    if not names:
        raise ValueError(f"the manifests in {root} name no labels; rows are path,label")
    return tuple(sorted(names))


@functools.lru_cache(maxsize=32)
def _manifest_listing(root: pathlib.Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    index = {name: i for i, name in enumerate(_manifest_categories(root))}
    paths, names = image_files.read_manifest(root / f"{split}.csv")
    labels = [index[name] if name else UNLABELED for name in names]
    ids = [str(pathlib.Path(path).relative_to(root)) if pathlib.Path(path).is_relative_to(root) else path
           for path in paths]
    return _frozen(labels, [i.encode() for i in ids], root / f"{split}.csv")


def _frozen(labels: list[int], ids: list[bytes], where: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """Read-only (labels int64 [N], ids object [N]); an empty listing is an error naming `where`."""
    if not ids:
        raise ValueError(f"{where} holds no images ({', '.join(image_files.IMAGE_EXTENSIONS)})")
    labels, ids = np.array(labels, np.int64), np.array(ids, dtype=object)
    labels.setflags(write=False)
    ids.setflags(write=False)
    return labels, ids
