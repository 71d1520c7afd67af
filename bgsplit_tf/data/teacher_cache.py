"""The teacher-target cache: teacher predictions for one split, in sharded TFRecord files on disk.

  <cache_dir>/<split>/fingerprint.json            what the targets were computed from (see fingerprint)
  <cache_dir>/<split>/targets-00000-of-00042.tfrecord   one tf.train.Example per image, in split order:
      id bytes, label int64 (teacher argmax), indices int64 [k], probs float32 [k]

Precompute runs the teacher once over the split (no augmentation), one shard at a time: a shard is
written to a temporary file and renamed when complete, so an interrupted precompute resumes at the
first missing shard and memory holds one batch, whatever the split's size. Loading checks the stored
fingerprint against the run's and refuses a mismatch with a message saying how to rebuild
(data.fingerprints).
"""

from __future__ import annotations

import pathlib
import re
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bgsplit_tf.config import DEFAULT_SHARD_SIZE
from bgsplit_tf.data import fingerprints, image_files, teacher_targets

FORMAT_VERSION = 1
_SHARD_PATTERN = re.compile(r"targets-(\d{5})-of-(\d{5})\.tfrecord")


class CacheMismatchError(ValueError):
    """The cache on disk is laid out or filled other than this run needs (its shard count, its number of
    images); one computed from other data, another teacher or other settings raises
    fingerprints.FingerprintMismatch."""


class IncompleteCacheError(CacheMismatchError):
    """Some shards are not written yet (an interrupted precompute, or other workers still at it)."""


def split_directory(cache_dir: str | pathlib.Path, split: str) -> pathlib.Path:
    """Where one split's targets live: split syntax such as train[:90%] becomes a safe folder name."""
    return pathlib.Path(cache_dir) / re.sub(r"[^A-Za-z0-9_.-]+", "_", split).strip("_")


def preprocessing(resize_mode: str) -> str:
    """How the teacher's input images were made (image_files.apply_resize_mode's `resize_mode`), as the
    fingerprint records it."""
    resized = image_files.describe_resize_mode(resize_mode, "the teacher input")
    return f"decode to RGB uint8, {resized}, float32 in [0, 255]"


def fingerprint(*, dataset: str, dataset_version: str, split: str, ids: np.ndarray, teacher: str,
                teacher_model: keras.Model, teacher_output: str, image_size: tuple[int, int], top_k: int,
                resize_mode: str = image_files.STRETCH) -> dict:
    """Everything the cached targets depend on; any change means the cache must be rebuilt.

    top_k is stored as the k actually kept, min(top_k, M), so asking for more classes than the teacher
    has matches a full-distribution cache.
    """
    num_classes = int(teacher_model.output_shape[-1])
    return {
        "format": FORMAT_VERSION,
        "dataset": dataset,
        "dataset_version": dataset_version,
        "split": split,
        "num_examples": int(len(ids)),
        "ids_sha256": fingerprints.ids_digest(ids),
        "teacher": teacher,
        "teacher_weights_sha256": fingerprints.weights_digest(teacher_model),
        "teacher_output": teacher_output,
        "num_classes": num_classes,
        "image_size": [int(s) for s in image_size],
        "preprocessing": preprocessing(resize_mode),
        "top_k": min(int(top_k), num_classes),
    }


def _mismatch_message(directory: pathlib.Path) -> tuple[str, str]:
    """(what, fix) of a fingerprint mismatch of the cache in `directory` (fingerprints.check)."""
    return (f"the teacher-target cache {directory}",
            f"It was computed from other images, another teacher or other settings: delete the folder "
            f"(rm -r '{directory}') and run again to rebuild it, or pass another --teacher_cache_dir.")


def shard_path(directory: pathlib.Path, index: int, num_shards: int) -> pathlib.Path:
    """Where shard `index` of a cache laid out in num_shards shards lives."""
    return pathlib.Path(directory) / f"targets-{index:05d}-of-{num_shards:05d}.tfrecord"


def num_shards_of(num_examples: int, shard_size: int) -> int:
    """How many shards a split of num_examples images takes (at least one)."""
    return max(1, -(-num_examples // shard_size))


def _shard_paths(directory: pathlib.Path, num_shards: int) -> list[pathlib.Path]:
    return [shard_path(directory, i, num_shards) for i in range(num_shards)]


def _example(example_id: bytes, label: int, indices: np.ndarray, probs: np.ndarray) -> bytes:
    feature = tf.train.Feature
    return tf.train.Example(features=tf.train.Features(feature={
        "id": feature(bytes_list=tf.train.BytesList(value=[example_id])),
        "label": feature(int64_list=tf.train.Int64List(value=[int(label)])),
        "indices": feature(int64_list=tf.train.Int64List(value=indices.tolist())),
        "probs": feature(float_list=tf.train.FloatList(value=probs.tolist())),
    })).SerializeToString()


def precompute(directory: str | pathlib.Path, expected: dict, teacher: keras.Model, examples_from, *,
               shard_size: int = DEFAULT_SHARD_SIZE, batch_size: int = 256, worker: tuple[int, int] = (0, 1)) -> int:
    """Writes the missing shards of one split's cache, running the teacher; returns how many it wrote.

    Args:
      directory: the split's cache folder (split_directory).
      expected: this run's fingerprint; an existing cache with another one raises
        fingerprints.FingerprintMismatch.
      teacher: pixels float32 [B, H, W, 3] in [0, 255] -> outputs [B, M] (logits or probabilities,
        as expected["teacher_output"] says).
      examples_from: skip -> tf.data.Dataset of the split's examples {"image" uint8, "id"} from
        position `skip` on, in split order, without decoding the skipped ones.
      shard_size: images per shard (the unit of resumption).
      worker: (index, count): this process writes the shards i with i % count == index, so that
        several workers (--strategy=multi_worker) share the precompute.
    """

    def targets_of_shard(index: int):
        examples = examples_from(index * shard_size).take(shard_size)
        for ids, probs in teacher_targets.predict_batches(teacher, examples, batch_size, expected["teacher_output"]):
            yield teacher_targets.TeacherTargets.from_probabilities(ids, probs, expected["top_k"])

    return _write_missing_shards(directory, expected, targets_of_shard, shard_size, worker)


def write_targets(directory: str | pathlib.Path, expected: dict, targets: teacher_targets.TeacherTargets, *,
                  shard_size: int = DEFAULT_SHARD_SIZE) -> int:
    """Writes the missing shards of one split's cache from targets already computed for the whole split
    (in split order, e.g. by the pass that also scanned it for bad images); returns how many it wrote."""
    if len(targets.ids) != expected["num_examples"]:
        raise ValueError(f"{len(targets.ids)} targets for a split of {expected['num_examples']} images")
    return _write_missing_shards(directory, expected,
                                 lambda index: [targets.rows(index * shard_size, (index + 1) * shard_size)],
                                 shard_size, (0, 1))


def _write_missing_shards(directory, expected: dict, targets_of_shard, shard_size: int,
                          worker: tuple[int, int]) -> int:
    """The shard loop of precompute and write_targets: checks or writes the fingerprint, then writes
    this worker's missing shards, each from targets_of_shard(index) (TeacherTargets parts in split order),
    to a temporary file renamed when complete."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fingerprints.check_or_write(directory / fingerprints.FINGERPRINT_FILE, expected, *_mismatch_message(directory))
    num_examples = expected["num_examples"]
    wanted = num_shards_of(num_examples, shard_size)
    paths = _shard_paths(directory, _shard_count(directory, _present_shards(directory), wanted))
    todo = [i for i in range(len(paths)) if i % worker[1] == worker[0] and not paths[i].exists()]
    if len(todo) < len(paths):
        logging.info("Teacher-target cache %s: %d of %d shards already done", directory, len(paths) - len(todo),
                     len(paths))
    progress = keras.utils.Progbar(sum(shard_length(i, shard_size, num_examples) for i in todo), unit_name="image")
    seen = 0
    for index in todo:
        started = time.time()
        written = write_shard(paths[index], targets_of_shard(index), shard_length(index, shard_size, num_examples),
                              lambda count, before=seen: progress.update(before + count))
        seen += written
        logging.info("Wrote %s (%d images, %.1f s)", paths[index].name, written, time.time() - started)
    return len(todo)


def write_shard(path: pathlib.Path, parts, expected_count: int, written_so_far=lambda count: None) -> int:
    """Writes one shard from `parts` (TeacherTargets in split order) to a temporary file renamed to `path`
    when complete, calling written_so_far(images written) after each part; returns its image count.
    Raises ValueError (leaving nothing) when the parts hold other than expected_count images: the split
    changed while it was read."""
    partial = path.with_suffix(".tfrecord.partial")
    written = 0
    with tf.io.TFRecordWriter(str(partial)) as writer:
        for part in parts:
            for row in range(len(part.ids)):
                writer.write(_example(bytes(part.ids[row]), part.labels[row], part.indices[row], part.probs[row]))
            written += len(part.ids)
            written_so_far(written)
    if written != expected_count:
        partial.unlink()
        raise ValueError(f"{path.name} of {path.parent} got {written} images, expected {expected_count}: the split "
                         "changed while it was read; run again")
    partial.rename(path)
    return written


def shard_length(index: int, shard_size: int, num_examples: int) -> int:
    """How many images shard `index` holds, of a split of num_examples in shards of shard_size."""
    return max(0, min(shard_size, num_examples - index * shard_size))


def load(directory: str | pathlib.Path, expected: dict) -> teacher_targets.TeacherTargets:
    """Reads a complete cache whose fingerprint matches `expected`.

    Raises:
      FileNotFoundError: no cache there (precompute first).
      fingerprints.FingerprintMismatch: computed from something else.
      CacheMismatchError: incomplete, or holding other than expected["num_examples"] images.
    """
    directory = pathlib.Path(directory)
    if not (directory / fingerprints.FINGERPRINT_FILE).exists():
        raise FileNotFoundError(f"no teacher-target cache in {directory}; compute it with bgsplit-precompute "
                                "(same flags as bgsplit-train) or let bgsplit-train write it")
    fingerprints.check(directory / fingerprints.FINGERPRINT_FILE, expected, *_mismatch_message(directory))
    present = _present_shards(directory)
    num_shards = _shard_count(directory, present)
    missing = [p.name for p in _shard_paths(directory, num_shards) if not p.exists()]
    if missing:
        raise IncompleteCacheError(f"the teacher-target cache {directory} is incomplete ({len(missing)} of "
                                 f"{num_shards} shards missing, e.g. {missing[0]}); run bgsplit-precompute "
                                 "or bgsplit-train again to finish it")
    k, features = expected["top_k"], {
        "id": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "indices": tf.io.FixedLenFeature([expected["top_k"]], tf.int64),
        "probs": tf.io.FixedLenFeature([expected["top_k"]], tf.float32),
    }
    ds = tf.data.TFRecordDataset([str(p) for p in present]).batch(8192).map(
        lambda records: tf.io.parse_example(records, features))
    parts = [teacher_targets.TeacherTargets(batch["id"].astype(object), batch["label"].astype(np.int32),
                                            batch["indices"].astype(np.int32).reshape(-1, k), batch["probs"],
                                            expected["num_classes"])
             for batch in ds.as_numpy_iterator()]
    targets = teacher_targets.concatenate(parts)
    if len(targets.ids) != expected["num_examples"]:
        raise CacheMismatchError(f"the teacher-target cache {directory} holds {len(targets.ids)} images, "
                                 f"expected {expected['num_examples']}; delete it and run again")
    return targets


def _present_shards(directory: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in directory.iterdir() if _SHARD_PATTERN.fullmatch(p.name))


def _shard_count(directory: pathlib.Path, present: list[pathlib.Path], wanted: int | None = None) -> int:
    """The number of shards the cache is laid out in (from the "-of-N" of its files; `wanted` if none yet)."""
    counts = {int(_SHARD_PATTERN.fullmatch(p.name).group(2)) for p in present}
    if not counts:
        if wanted is None:
            raise IncompleteCacheError(f"the teacher-target cache {directory} has no shards yet; run "
                                     "bgsplit-precompute or bgsplit-train to compute them")
        return wanted
    if len(counts) > 1 or (wanted is not None and counts != {wanted}):
        raise CacheMismatchError(
            f"the teacher-target cache {directory} was written as {sorted(counts)} shards, but "
            f"--teacher_cache_shard_size now gives {wanted}; keep the shard size it was started with, or delete "
            "the folder to rebuild it")
    return counts.pop()


def cached_targets(cache_dir: str | pathlib.Path, split: str, expected: dict, teacher: keras.Model, examples_from,
                   shard_size: int = DEFAULT_SHARD_SIZE, batch_size: int = 256, worker: tuple[int, int] = (0, 1),
                   poll_seconds: float = 10.0, stall_seconds: float = 3600.0) -> teacher_targets.TeacherTargets:
    """Precomputes what is missing of a split's cache (resuming; this worker's share of the shards),
    waits for the other workers' shards, then loads it.

    Raises IncompleteCacheError when no other worker has finished a shard for stall_seconds.
    """
    directory = split_directory(cache_dir, split)
    precompute(directory, expected, teacher, examples_from, shard_size=shard_size, batch_size=batch_size,
               worker=worker)
    last_count, last_progress = -1, time.time()
    while True:
        try:
            return load(directory, expected)
        except IncompleteCacheError as incomplete:
            count = len(_present_shards(directory))
            if count != last_count:
                last_count, last_progress = count, time.time()
            if worker[1] == 1 or time.time() - last_progress > stall_seconds:
                raise IncompleteCacheError(f"{incomplete} (no other worker finished a shard in "
                                           f"{time.time() - last_progress:.0f} s: has one failed?)") from None
            logging.info("Waiting for the other workers' teacher-target shards in %s", directory)
            time.sleep(poll_seconds)
