"""bgsplit-precompute: runs the teacher once over the training and validation splits into the cache.

Takes the same flags (and flagfiles) as bgsplit-train, and needs --teacher_cache_dir. Run it before
training on a large dataset, or on a machine with a better accelerator: it resumes shard by shard if
interrupted, and bgsplit-train then reads the targets instead of computing them (beam.teacher_targets
runs the same pass as a Beam pipeline, into the same cache). It reports the cache's size on disk, per image and per million images.
"""

from __future__ import annotations

import pathlib

from absl import logging

from bgsplit_tf import config as config_lib
from bgsplit_tf.data import teacher_cache, teacher_targets
from bgsplit_tf.training import run_inputs
from bgsplit_tf.training import targets_memo


def precompute_splits(config: config_lib.TrainConfig) -> dict:
    """Fills the cache for --train_split and --val_split in this process; returns {split: size report}."""
    check_cache_dir(config)
    teacher = run_inputs.teacher_of(config)
    recipe = run_inputs.input_recipe_of(config, teacher.input_shape[1:3])
    splits = (config.train_split, config.val_split)
    memo = targets_memo.TargetsMemo()
    source, bad = targets_memo.screened_source_of(config, teacher, recipe.evaluation_resize_mode, memo, splits)
    if bad:
        logging.warning("Left out %d images that do not decode (bgsplit-train lists them in its output folder)",
                        len(bad))
    return {split: size_report(split, config, memo.get(source, split, config, teacher)) for split in splits}


def check_cache_dir(config: config_lib.TrainConfig) -> None:
    """Refuses a config without --teacher_cache_dir, which the precompute writes to."""
    if not config.teacher_cache_dir:
        raise ValueError("bgsplit-precompute writes to --teacher_cache_dir; set it (and pass the same flag to "
                         "bgsplit-train)")


def size_report(split: str, config: config_lib.TrainConfig, targets: teacher_targets.TeacherTargets) -> dict:
    """What the cache of a split holds and takes on disk (logged too)."""
    directory = teacher_cache.split_directory(config.teacher_cache_dir, split)
    size = sum(p.stat().st_size for p in pathlib.Path(directory).glob("*.tfrecord"))
    report = {
        "directory": str(directory),
        "images": len(targets.ids),
        "top_k": targets.top_k,
        "num_classes": targets.num_classes,
        "bytes": size,
        "bytes_per_image": size / len(targets.ids),
        "gigabytes_per_million_images": size / len(targets.ids) * 1e6 / 1e9,
    }
    logging.info("%s: %d images, top %d of %d classes, %.1f MB (%.0f bytes/image, %.3f GB per million)",
                 directory, len(targets.ids), targets.top_k, targets.num_classes, size / 1e6,
                 report["bytes_per_image"], report["gigabytes_per_million_images"])
    return report
