"""A run's teacher targets, obtained once per process: the decode pass that screens a split for bad
images and feeds the teacher in the same pass (TargetsMemo), the on-disk cache's fingerprint, and the
frozen lower trunk's maps of --frozen_through."""

from __future__ import annotations

import time

import keras
import numpy as np
from absl import logging

from bgsplit_tf import config as config_lib, phases
from bgsplit_tf.data import bad_images, decode_pass, frozen_maps, teacher_cache, teacher_targets
from bgsplit_tf.models import pretrained
from bgsplit_tf.training import run_inputs


def screened_source_of(config: config_lib.TrainConfig, teacher: keras.Model, resize_mode: str, memo: "TargetsMemo",
                       splits: tuple[str, ...]) -> tuple[object, list[bad_images.BadImage]]:
    """source_of (at the teacher's input size), without the images of `splits` that do not decode
    (--bad_images), and those images. One decode pass per split: the scan of the training and
    validation splits also computes their teacher targets (memo.bad_images), or a re-run with
    --teacher_cache_dir reads the recorded scan and decodes nothing."""
    # With --frozen_through the targets come later, from the frozen trunk's maps (a fraction of the cost).
    with_targets = () if config.frozen_through else (config.train_split, config.val_split)
    raw_source = run_inputs.source_of(config, teacher.input_shape[1:3], resize_mode)
    bad = [image for split in dict.fromkeys(splits)
           for image in memo.bad_images(raw_source, split, config, teacher if split in with_targets else None)]
    return bad_images.screen(raw_source, bad, config.bad_images)


class TargetsMemo:
    """Teacher targets per (source, split, teacher settings), obtained once per process and reused by runs:
    read from (and, where missing, computed into) --teacher_cache_dir, or computed in memory without one,
    in the same decode pass as the split's bad-image scan (bad_images)."""

    def __init__(self, worker: tuple[int, int] = (0, 1)):
        self._targets: dict[tuple, teacher_targets.TeacherTargets] = {}
        self._bad: dict[tuple, tuple[bad_images.BadImage, ...]] = {}
        self._unwritten: dict[tuple, teacher_targets.TeacherTargets] = {}  # scanned, not yet in the cache
        self._maps: dict[tuple, frozen_maps.SplitMaps] = {}  # per (source, split, teacher, layer)
        self.worker = worker  # (index, count): multi-worker training shares the cache's precompute

    @staticmethod
    def _key(source, split: str, config: config_lib.TrainConfig) -> tuple:
        # A source without its bad images shares the targets of the whole source (they are joined by id).
        # Targets from frozen-trunk maps cover the images with maps: more maps, new targets.
        coverage = source.coverage(split) if isinstance(source, frozen_maps.MapsSource) else None
        return (getattr(source, "inner", source), split, coverage, config.teacher, config.teacher_weights,
                config.teacher_endpoint, config.teacher_output_key, config.teacher_output, config.teacher_top_k,
                config.teacher_cache_dir)

    def bad_images(self, source, split: str, config: config_lib.TrainConfig, teacher: keras.Model | None):
        """The bad images of source[split] (a source before screening). With a teacher, found by the pass
        that also computes the split's teacher targets (kept for get); with --teacher_cache_dir, read
        from the scan recorded beside the cache when it matches (nothing decoded), else scanned and
        recorded there (bad_images.recorded). Several workers sharing a cache scan alone and share its
        precompute."""
        record_dir = config.teacher_cache_dir and teacher_cache.split_directory(config.teacher_cache_dir, split)
        if teacher is None or (self.worker[1] > 1 and record_dir):
            return bad_images.find_bad_images(source, split, record_dir or None)
        key = self._key(source, split, config)
        if key not in self._bad:
            def scan_with_targets():
                with phases.timed(phases.TEACHER):
                    return self._scan_with_targets(source, split, config, teacher, key)

            self._bad[key] = bad_images.recorded(source, split, record_dir or None, scan_with_targets)
        return self._bad[key]

    def _scan_with_targets(self, source, split: str, config: config_lib.TrainConfig, teacher: keras.Model,
                           key: tuple) -> tuple[bad_images.BadImage, ...]:
        """decode_pass.scan_with_targets over source[split]: its targets kept under key (and for the cache
        if there is one), its bad images returned."""
        started = time.time()
        targets, bad = decode_pass.scan_with_targets(source, split, teacher, config.teacher_output,
                                                     config.teacher_top_k)
        (self._unwritten if config.teacher_cache_dir else self._targets)[key] = targets
        logging.info("Teacher targets and bad-image scan of %s[%s]: %d images in %.1f s (one decode pass)",
                     source.name, split, len(targets.ids), time.time() - started)
        return bad

    def frozen_maps(self, source, needed: dict[str, np.ndarray | None], config: config_lib.TrainConfig,
                    lower: keras.Model) -> frozen_maps.MapsSource:
        """The source with its images replaced by the frozen lower trunk's maps (--frozen_through), of
        the images `needed` ({split: bool [N] in split order, or None for all}); each image's map is
        computed once per process, when a run first needs it."""
        maps = {}
        for split, wanted in needed.items():
            key = (getattr(source, "inner", source), split, config.teacher, config.teacher_weights,
                   config.image_size, config.frozen_through)
            if key not in self._maps:
                self._maps[key] = frozen_maps.SplitMaps(len(source.read_labels(split)[1]))
            with phases.timed(phases.TEACHER):
                maps[split] = self._maps[key].cover(source, split, lower, wanted)
        return frozen_maps.MapsSource(source, maps)

    def get(self, source, split: str, config: config_lib.TrainConfig, teacher: keras.Model):
        """The TeacherTargets of source[split] under the config's teacher: memoised (from bad_images's
        pass), read from (or written to) the cache."""
        key = self._key(source, split, config)
        if key not in self._targets:
            with phases.timed(phases.TEACHER):
                self._targets[key] = self._targets_of(source, split, config, teacher, key)
        return self._targets[key]

    def _targets_of(self, source, split: str, config: config_lib.TrainConfig, teacher: keras.Model, key: tuple):
        """get's work: the targets of source[split], written to the cache from the scan's pass and read back,
        read from (or computed into) the cache, or computed in memory."""
        started = time.time()
        if config.teacher_cache_dir:
            expected = cache_fingerprint(source, split, config, teacher)
            if key in self._unwritten:  # computed by the scan's pass: written, not computed again
                teacher_cache.write_targets(teacher_cache.split_directory(config.teacher_cache_dir, split),
                                            expected, self._unwritten.pop(key),
                                            shard_size=config.teacher_cache_shard_size)
            targets = teacher_cache.cached_targets(
                config.teacher_cache_dir, split, expected, teacher, lambda skip: source.examples(split, skip=skip),
                shard_size=config.teacher_cache_shard_size, worker=self.worker)
        else:
            targets = teacher_targets.compute_teacher_targets(
                teacher, source.examples(split), top_k=config.teacher_top_k, teacher_output=config.teacher_output)
        logging.info("Teacher targets for %s[%s]: %d images in %.1f s", source.name, split, len(targets.ids),
                     time.time() - started)
        return targets


def cache_fingerprint(source, split: str, config: config_lib.TrainConfig, teacher: keras.Model) -> dict:
    """What the cached targets of (source, split) under this config's teacher depend on."""
    teacher_identity = config.teacher or f"{pretrained.EMBEDDED_PREFIX}{pretrained.DEFAULT_EMBEDDED}"
    if pretrained.is_imagenet(config.teacher):
        teacher_identity += f" weights={config.teacher_weights}"
    if config.teacher_endpoint or config.teacher_output_key:
        teacher_identity += f" endpoint={config.teacher_endpoint} output_key={config.teacher_output_key}"
    return teacher_cache.fingerprint(
        dataset=source.name, dataset_version=source.version(split), split=split, ids=source.read_labels(split)[1],
        teacher=teacher_identity, teacher_model=teacher, teacher_output=config.teacher_output,
        image_size=tuple(teacher.input_shape[1:3]), top_k=config.teacher_top_k, resize_mode=source.resize_mode)
