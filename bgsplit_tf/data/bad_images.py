"""Images that do not decode, found before training starts: listed, counted, and skipped or fatal.

--bad_images=skip (default) leaves them out of every split (the run's counts, teacher targets and
batches never see them) and writes them to <output_dir>/bad_images.tsv with a warning in the log;
--bad_images=fail stops before training with the list. Without this pass, one corrupt file would stop
training mid-epoch with a TensorFlow stack trace.

Each split is decoded once in parallel in tf.data, with errors dropped (`ignore_errors`); an id that
does not come out is bad, and only those few are decoded again, one by one, to say why. Where a
training run also needs the teacher's targets of a split, that same pass feeds the teacher
(data.decode_pass), so the split is decoded once before training. With a record folder
(the teacher-target cache's, --teacher_cache_dir), the result is kept in <folder>/bad_images.json
beside a fingerprint of the split (SCAN_FILE, data.fingerprints); a re-run reads it instead of decoding
anything, and a record whose fingerprint no longer matches the split is not used (the split is scanned
again).
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bgsplit_tf import faults, json_files, phases
from bgsplit_tf.data import fingerprints, image_files

POLICIES = ("skip", "fail")
REPORT_FILE = "bad_images.tsv"
SCAN_FILE = "bad_images.json"
SCAN_FORMAT = 1
SCAN_BATCH = 1024


@dataclasses.dataclass(frozen=True)
class BadImage:
    """One image that does not decode: its split, example id, and TensorFlow's reason."""

    split: str
    id: str
    reason: str


def find_bad_images(source, split: str, record_dir: str | pathlib.Path | None = None) -> tuple[BadImage, ...]:
    """The split's images that do not decode (corrupt, truncated, empty, not an image, missing, too
    large), in split order. Decodes every image once; memoised per (source, split, source version), and
    kept in record_dir (module docstring) when one is given."""
    def scan():
        with phases.timed(phases.SCREENING):
            return _find_bad_images(source, split, source.version(split))

    return recorded(source, split, record_dir, scan)


@functools.lru_cache(maxsize=32)
def _find_bad_images(source, split: str, version: str) -> tuple[BadImage, ...]:
    del version  # part of the memo's key only: a changed file is scanned again

    def decoded_id(example):
        # The pixel sum depends on every decoded value, so graph optimisation cannot prune the decode.
        return {"id": example["id"], "sum": tf.reduce_sum(tf.cast(source.decode(example)["image"], tf.int64))}

    survivors = decoded_survivors(source, split, decoded_id).batch(SCAN_BATCH)
    progress = scan_progress(source, split)
    good = set()
    for batch in survivors.as_numpy_iterator():
        good.update(batch["id"])
        progress.add(len(batch["id"]))
    return missing_images(source, split, good)


def decoded_survivors(source, split: str, decoded: Callable[[dict], dict]) -> tf.data.Dataset:
    """decoded(example) over the split's encoded examples, in parallel, leaving out those whose decoding
    fails: the one decode pass that both scans a split and (data.decode_pass) feeds the teacher."""
    return source.encoded_examples(split).map(decoded, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()


def scan_progress(source, split: str) -> keras.utils.Progbar:
    """A progress bar over the split's images, announced in the log."""
    total = len(source.read_labels(split)[1])
    logging.info("Decoding the %d images of %s[%s] once (undecodable images are left out)", total, source.name, split)
    return keras.utils.Progbar(total, unit_name="image")


def missing_images(source, split: str, decoded_ids: set) -> tuple[BadImage, ...]:
    """The split's images (in split order) whose ids are not in decoded_ids, each decoded again alone to
    say why it fails."""
    bad_ids = [example_id for example_id in source.read_labels(split)[1] if example_id not in decoded_ids]
    if not bad_ids:
        return ()
    return tuple(BadImage(split, example_id.decode(), reason) for example_id, reason in
                 zip(bad_ids, _reasons(source, split, bad_ids)))


def scan_fingerprint(source, split: str) -> dict:
    """What a split's scan depends on: the source, its version (file sizes and times, or the dataset's
    version), the split's ids in order, and the decoder's pixel limit."""
    return {"format": SCAN_FORMAT, "dataset": source.name, "dataset_version": source.version(split), "split": split,
            "ids_sha256": fingerprints.ids_digest(source.read_labels(split)[1]),
            "max_pixels": image_files.MAX_PIXELS}


def recorded(source, split: str, record_dir: str | pathlib.Path | None,
             scan: Callable[[], tuple[BadImage, ...]]) -> tuple[BadImage, ...]:
    """scan()'s bad images of the split, or, with record_dir, those its SCAN_FILE records when its
    fingerprint matches the split (nothing decoded); a new scan's result is recorded there."""
    if record_dir is None:
        return scan()
    path = pathlib.Path(record_dir) / SCAN_FILE
    expected = scan_fingerprint(source, split)
    stored = fingerprints.read(path)
    if stored is not None:
        changed = fingerprints.differing_fields(stored.get("fingerprint", {}), expected)
        if not changed:
            logging.info("Read the bad-image scan of %s[%s] from %s (nothing decoded)", source.name, split, path)
            return tuple(BadImage(split, image_id, reason) for image_id, reason in stored["bad_images"])
        logging.info("%s was recorded for other images (%s changed); scanning %s[%s] again", path,
                     ", ".join(changed), source.name, split)
    bad = scan()
    write_record(record_dir, expected, bad)
    return bad


def write_record(record_dir: str | pathlib.Path, expected: dict, bad: tuple[BadImage, ...]) -> None:
    """<record_dir>/SCAN_FILE: a split's scan (its bad images) under its scan_fingerprint, written whole
    and then renamed."""
    json_files.write_whole(pathlib.Path(record_dir) / SCAN_FILE,
                             {"fingerprint": expected, "bad_images": [[b.id, b.reason] for b in bad]})


def _reasons(source, split: str, bad_ids: list[bytes]) -> list[str]:
    """Why each of bad_ids (in split order) fails to decode: the error's message, cleaned up."""
    wanted = tf.constant(bad_ids)
    reasons = []
    for example in source.encoded_examples(split).filter(lambda ex: tf.reduce_any(ex["id"] == wanted)):
        reasons.append(failure_reason(source.decode, example))
    return reasons


def failure_reason(decode: Callable[[dict], dict], example: dict) -> str:
    """Why decode(example) fails, the error's message cleaned up: the example decoded again alone."""
    try:
        decode(example)
        return "decodes when read alone (a transient read error?)"
    except tf.errors.OpError as error:
        return faults.error_summary(error)


@dataclasses.dataclass(frozen=True)
class ScreenedSource:
    """A source without its bad images: the same interface (read_labels, examples, encoded_examples,
    decode, ...), each split's listing and example streams leaving out the ids in `excluded`.

    excluded: ((split, (id bytes, ...)), ...), hashable so that the source keys memos as sources do.
    """

    inner: object
    excluded: tuple[tuple[str, tuple[bytes, ...]], ...]

    def __getattr__(self, name):  # label_names, never_rare, image_shape, decode, name, version, ...
        if name in ("inner", "excluded"):  # not set yet (copy, pickle): no recursion through self.inner
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _excluded(self, split: str) -> tuple[bytes, ...]:
        return dict(self.excluded).get(split, ())

    def read_labels(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 [N], ids object [N]) of the split without the excluded images, in split order."""
        labels, ids = self.inner.read_labels(split)
        keep = ~np.isin(ids, np.array(self._excluded(split), dtype=object))
        return labels[keep], ids[keep]

    def encoded_examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """The inner source's encoded examples without the excluded ones; skip and shard count the
        remaining examples (positions in read_labels's order)."""
        excluded = self._excluded(split)
        examples = self.inner.encoded_examples(split)
        if excluded:
            dropped = tf.constant(excluded)
            examples = examples.filter(lambda ex: ~tf.reduce_any(ex["id"] == dropped))
        return examples.skip(skip).shard(shard[1], shard[0])

    def examples(self, split: str, skip: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """Decoded examples without the excluded ones; see encoded_examples for skip and shard."""
        return self.encoded_examples(split, skip, shard).map(self.inner.decode, num_parallel_calls=tf.data.AUTOTUNE)


def screen(source, bad: list[BadImage], policy: str) -> tuple[object, list[BadImage]]:
    """(the source without the bad images found in it, those images); policy "fail" raises
    BadImagesError when there are any. The source itself comes back when all images decode."""
    if policy not in POLICIES:
        raise ValueError(f"--bad_images={policy!r} is not one of {POLICIES}")
    bad = list(bad)
    if bad and policy == "fail":
        listed = "\n".join(f"  [{b.split}] {b.id}: {b.reason}" for b in bad[:20])
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise BadImagesError(f"{len(bad)} images do not decode:\n{listed}{more}\nRepair or remove them, or pass "
                             "--bad_images=skip to train without them.")
    if not bad:
        return source, []
    by_split = {}
    for image in bad:
        by_split.setdefault(image.split, []).append(image.id.encode())
    return ScreenedSource(source, tuple((split, tuple(ids)) for split, ids in by_split.items())), bad


class BadImagesError(faults.TrainingFault):
    """--bad_images=fail found images that do not decode."""


def write_report(bad: list[BadImage], output_dir: pathlib.Path) -> pathlib.Path:
    """<output_dir>/bad_images.tsv: a header, then split, id and reason per bad image."""
    path = pathlib.Path(output_dir) / REPORT_FILE
    rows = ["split\tid\treason", *(f"{b.split}\t{b.id}\t{b.reason}" for b in bad)]
    path.write_text("\n".join(rows) + "\n")
    return path
