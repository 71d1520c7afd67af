"""CSV manifests as a source (manifest:DIR or manifest:FILE.csv).

  DIR/<split>.csv     rows "path,label" (a header row starting with "path" is optional; relative paths
                      are relative to the manifest); an empty label marks an unlabeled image, which gets
                      the auxiliary loss only (training split)
  FILE.csv            one manifest: a pool to mine, in one split (sources.POOL_SPLIT); labels ignored
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib

import numpy as np

from bgsplit_tf.data import image_files
from bgsplit_tf.data.sources import MANIFEST, POOL_SPLIT, UNLABELED
from bgsplit_tf.data.sources.files import ImageFileSource, frozen_listing


@dataclasses.dataclass(frozen=True)
class ManifestSource(ImageFileSource):
    """CSV manifests at `location` (a folder of <split>.csv, or one .csv pool); image_size: (H, W) the
    images are resized to by `resize_mode`."""

    location: str
    image_size: tuple[int, int] = (32, 32)
    resize_mode: str = image_files.STRETCH

    @property
    def pool(self) -> bool:
        return self.location.lower().endswith(".csv")

    @property
    def root(self) -> pathlib.Path:
        location = pathlib.Path(self.location)
        return location.parent if self.pool else location

    @property
    def name(self) -> str:
        return f"{MANIFEST}:{self.location}"

    def manifest(self, split: str) -> pathlib.Path:
        """The CSV file of a split."""
        return pathlib.Path(self.location) if self.pool else self.root / f"{split}.csv"

    def label_names(self) -> list[str]:
        """Category names over all manifests, sorted; index = label id (none for a pool)."""
        return [] if self.pool else list(_categories(self.root))

    def check_split(self, split: str) -> None:
        """Raises a ValueError naming the expected layout when the split's manifest is missing."""
        if self.pool and split != POOL_SPLIT:
            raise ValueError(f"the pool manifest {self.location} has one split, {POOL_SPLIT!r}, not {split!r}")
        if not self.manifest(split).is_file():
            raise ValueError(f"{self.root} has no manifest {self.manifest(split).name}; expected "
                             f"{self.root}/<split>.csv with rows path,label")

    def _listing(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        return _listing(self.root, self.manifest(split), self.pool)


@functools.lru_cache(maxsize=8)
def _categories(root: pathlib.Path) -> tuple[str, ...]:
    names = {label for manifest in root.glob("*.csv") for label in image_files.read_manifest(manifest)[1] if label}
    if not names:
        raise ValueError(f"the manifests in {root} name no labels; rows are path,label")
    return tuple(sorted(names))


@functools.lru_cache(maxsize=32)
def _listing(root: pathlib.Path, manifest: pathlib.Path, pool: bool) -> tuple[np.ndarray, np.ndarray]:
    paths, names = image_files.read_manifest(manifest)
    index = {} if pool else {name: i for i, name in enumerate(_categories(root))}
    labels = [index[name] if name and not pool else UNLABELED for name in names]
    ids = [str(pathlib.Path(path).relative_to(root)) if pathlib.Path(path).is_relative_to(root) else path
           for path in paths]
    return frozen_listing(labels, [i.encode() for i in ids], manifest)
