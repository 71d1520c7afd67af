"""Fingerprints: what a result kept on disk was computed from, stored beside it and compared on reuse.

A store that later runs reuse (the teacher-target cache, the bad-image scan recorded beside it, the
labelling loop's pool cache, a search's state folder) records its inputs and settings as a flat JSON
dict, its fingerprint; a run that would reuse the store compares it with its own and refuses a
mismatch (FingerprintMismatch, naming each field that differs and the fix), or, for a store that is
cheap to redo (the bad-image scan), computes it again. What goes into a fingerprint is each store's
own decision, made in its own module; the mechanics they share are here:

  digest_of, ids_digest, weights_digest   sha256 digests, the same on any machine and in any process
  read(path)                              the record stored there, None when there is none
  differing_fields(stored, expected)      the fields that differ
  check / check_or_write                  FingerprintMismatch on a mismatch
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Iterable

import keras
import numpy as np

from bgsplit_tf import faults, json_files

FINGERPRINT_FILE = "fingerprint.json"  # a cache folder's fingerprint


class FingerprintMismatch(faults.Fault):
    """A store on disk was computed from other inputs or settings than this run's."""


def digest_of(parts: Iterable[bytes]) -> str:
    """sha256 over `parts` in order, each followed by a NUL byte (so that ["ab", "c"] and ["a", "bc"]
    differ)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part + b"\0")
    return digest.hexdigest()


def ids_digest(ids: np.ndarray) -> str:
    """digest_of a split's example ids in order: which images, in which order."""
    return digest_of(bytes(example_id) for example_id in ids)


def weights_digest(model: keras.Model) -> str:
    """sha256 over the model's weights (names, shapes and values): a teacher's identity."""
    digest = hashlib.sha256()
    for weight in model.weights:
        value = keras.ops.convert_to_numpy(weight)
        digest.update(f"{weight.path}:{value.shape}:{value.dtype}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def read(path: str | pathlib.Path) -> dict | None:
    """The JSON record at `path`, None when there is no file."""
    path = pathlib.Path(path)
    return json.loads(path.read_text()) if path.exists() else None


def differing_fields(stored: dict, expected: dict) -> list[str]:
    """The fields (of either) whose values differ, sorted."""
    return sorted(key for key in set(stored) | set(expected) if stored.get(key) != expected.get(key))


def check(path: str | pathlib.Path, expected: dict, what: str, fix: str) -> None:
    """Raises FingerprintMismatch when the fingerprint stored at `path` differs from `expected`: "`what`
    does not match this run (field: stored ..., this run ...; ...). `fix`"."""
    stored = json.loads(pathlib.Path(path).read_text())
    differences = [f"{key}: stored {stored.get(key)!r}, this run {expected.get(key)!r}"
                   for key in differing_fields(stored, expected)]
    if differences:
        raise FingerprintMismatch(f"{what} does not match this run ({'; '.join(differences)}). {fix}")


def check_or_write(path: str | pathlib.Path, expected: dict, what: str, fix: str) -> None:
    """check the fingerprint stored at `path` against `expected`, or store `expected` there if there is none."""
    if pathlib.Path(path).exists():
        check(path, expected, what, fix)
    else:
        json_files.write_whole(path, expected)
