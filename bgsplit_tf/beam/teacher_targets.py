"""The teacher-target pass as a Beam pipeline (`bgsplit-precompute --runner=...`): one split's cache in
data.teacher_cache's format, which bgsplit-train then reads as if it had computed it itself.

  chunks of positions -> read and decode (DecodeChunks; bad images to a side output)
    -> RunInference(the teacher) -> each image's shard, counted among the images that decode
    -> one writer per shard (rows in split order) -> targets-<i>-of-<n>.tfrecord
  bad images -> bad_images.json (the scan bgsplit-train reads instead of decoding the split again)
  then, here: fingerprint.json (of the split without its bad images), and the cache read back whole.

A split is written whole: a run that stopped part-way leaves shards without a fingerprint, which the
next run removes and writes again (the runner itself retries a failed bundle).
"""

from __future__ import annotations

import bisect
import pathlib

import apache_beam as beam
import keras
import numpy as np
from absl import logging
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from bgsplit_tf import config as config_lib, json_files
from bgsplit_tf.beam import handlers, options, reading
from bgsplit_tf.data import bad_images, fingerprints, teacher_cache, teacher_targets
from bgsplit_tf.training import precompute
from bgsplit_tf.training import run_inputs
from bgsplit_tf.training import targets_memo

BATCH_SIZE = 256  # images per teacher call, as the single-process pass batches them


def precompute_splits(config: config_lib.TrainConfig, choice: options.RunnerChoice) -> dict:
    """training.precompute.precompute_splits on a Beam runner: the caches of --train_split and --val_split;
    returns {split: size report}."""
    precompute.check_cache_dir(config)
    teacher = run_inputs.teacher_of(config)
    resize_mode = run_inputs.input_recipe_of(config, teacher.input_shape[1:3]).evaluation_resize_mode
    return {split: precompute.size_report(split, config, precompute_split(config, teacher, resize_mode, split, choice))
            for split in (config.train_split, config.val_split)}


def precompute_split(config: config_lib.TrainConfig, teacher: keras.Model, resize_mode: str, split: str,
                     choice: options.RunnerChoice) -> teacher_targets.TeacherTargets:
    """Writes --teacher_cache_dir's cache of `split` on the chosen runner (nothing when it is complete
    already) and returns its targets, read back from the cache."""
    image_size = tuple(teacher.input_shape[1:3])
    source = run_inputs.source_of(config, image_size, resize_mode)
    directory = teacher_cache.split_directory(config.teacher_cache_dir, split)
    if (directory / fingerprints.FINGERPRINT_FILE).exists():
        return _existing_cache(config, teacher, source, split, directory)
    _remove_leftovers(directory)
    directory.mkdir(parents=True, exist_ok=True)
    num_images = len(source.read_labels(split)[1])
    logging.info("Teacher targets of %s[%s] (%d images) on %s", source.name, split, num_images, choice.runner)
    with beam.Pipeline(options=options.pipeline_options(choice)) as pipeline:
        decoded = (pipeline
                   | "Chunks" >> beam.Create(reading.chunks(num_images))
                   | "Spread" >> beam.Reshuffle()
                   | "Decode" >> beam.ParDo(reading.DecodeChunks(
                       reading.SplitReader(config, image_size, resize_mode, split)))
                   .with_outputs(reading.BAD, main="images"))
        bad = decoded[reading.BAD]
        bad_positions = beam.pvalue.AsList(bad | "BadPositions" >> beam.Map(lambda image: image[0]))
        (decoded.images
         | "Teacher" >> RunInference(KeyedModelHandler(handlers.TeacherHandler(config, BATCH_SIZE)))
         | "ByShard" >> beam.ParDo(AssignShard(config.teacher_cache_shard_size), bad_positions)
         | "Group" >> beam.GroupByKey()
         | "WriteShards" >> beam.ParDo(WriteShard(directory, config.teacher_cache_shard_size, num_images,
                                                  int(teacher.output_shape[-1])), bad_positions))
        (bad
         | "AllBad" >> beam.combiners.ToList()
         | "WriteScan" >> beam.Map(_write_scan, directory, split, bad_images.scan_fingerprint(source, split)))
    return _existing_cache(config, teacher, source, split, directory, fresh=True)


def _existing_cache(config: config_lib.TrainConfig, teacher: keras.Model, source, split: str,
                    directory: pathlib.Path, fresh: bool = False) -> teacher_targets.TeacherTargets:
    """The split's cache in `directory`, after its fingerprint (of the split without the bad images its
    scan found) is written when `fresh`, or checked: a mismatch raises fingerprints.FingerprintMismatch
    (saying how to rebuild), and --bad_images=fail raises BadImagesError when there are any."""
    bad = bad_images.recorded(source, split, directory, lambda: _no_scan(directory))
    screened, _ = bad_images.screen(source, bad, config.bad_images)
    expected = targets_memo.cache_fingerprint(screened, split, config, teacher)
    if fresh:
        json_files.write_whole(directory / fingerprints.FINGERPRINT_FILE, expected)
    else:
        logging.info("%s holds this split's cache already; nothing to compute", directory)
    return teacher_cache.load(directory, expected)


def _no_scan(directory: pathlib.Path):
    raise fingerprints.FingerprintMismatch(
        f"{directory} holds a teacher-target cache without a bad-image scan that matches the split "
        f"({bad_images.SCAN_FILE}); delete the folder (rm -r '{directory}') and run again")


def _remove_leftovers(directory: pathlib.Path) -> None:
    """Removes the shards of a run that stopped before writing its fingerprint (no reader trusts them)."""
    if not directory.exists():
        return
    leftovers = [p for p in directory.iterdir() if p.name.startswith("targets-")]
    for path in leftovers:
        path.unlink()
    if leftovers:
        logging.info("Removed %d shards an unfinished run left in %s", len(leftovers), directory)


class AssignShard(beam.DoFn):
    """((position, id), PredictionResult of targets) -> (shard, (position among the images that decode,
    id, label, indices, probs)); the side input lists the positions of the images that do not decode."""

    def __init__(self, shard_size: int):
        self._shard_size = shard_size

    def start_bundle(self):
        self._bad = None

    def process(self, element, bad_positions):
        if self._bad is None:
            self._bad = sorted(bad_positions)
        (position, image_id), result = element
        position = position - bisect.bisect_left(self._bad, position)
        yield position // self._shard_size, (position, image_id, *result.inference)


class WriteShard(beam.DoFn):
    """(shard, rows) -> the shard's file (data.teacher_cache.write_shard), its rows in split order."""

    def __init__(self, directory: pathlib.Path, shard_size: int, num_images: int, num_classes: int):
        self._directory, self._shard_size = directory, shard_size
        self._num_images, self._num_classes = num_images, num_classes

    def process(self, element, bad_positions):
        shard, rows = element
        rows = sorted(rows, key=lambda row: row[0])
        num_good = self._num_images - len(bad_positions)
        part = teacher_targets.TeacherTargets(
            np.array([row[1] for row in rows], object), np.array([row[2] for row in rows], np.int32),
            np.stack([row[3] for row in rows]).astype(np.int32), np.stack([row[4] for row in rows]).astype(np.float32),
            self._num_classes)
        path = teacher_cache.shard_path(self._directory, shard,
                                        teacher_cache.num_shards_of(num_good, self._shard_size))
        teacher_cache.write_shard(path, [part], teacher_cache.shard_length(shard, self._shard_size, num_good))
        yield path.name


def _write_scan(bad: list[tuple[int, str, str]], directory: pathlib.Path, split: str, expected: dict) -> None:
    """bad_images.json of the split: its bad images (position, id, reason) in split order."""
    images = tuple(bad_images.BadImage(split, image_id, reason) for _, image_id, reason in sorted(bad))
    bad_images.write_record(directory, expected, images)
