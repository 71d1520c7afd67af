"""Preparing a run: everything it needs besides its model.

  config -> teacher (and the trunk the student starts from) -> source, screened for bad images ->
  rare task -> teacher targets (memoised per process, or read from the on-disk cache) -> tf.data batches

prepare_run returns a PreparedRun; training.run trains on it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bgsplit_tf import config as config_lib, phases
from bgsplit_tf.data import (bad_images, frozen_maps, image_files, pipeline, rare_task, recipes, sources,
                             teacher_cache, teacher_targets)
from bgsplit_tf.evaluation import plots
from bgsplit_tf.models import pretrained, teacher as teacher_lib, trunk_split

EVAL_BATCH_SIZE = 512
# --cache_decoded=auto keeps decoded train + val images in memory below this size (iNaturalist at 224 px,
# ~88 GB decoded, is streamed and decoded every epoch instead).
CACHE_BUDGET_BYTES = 4 * 2**30


def screened_source_of(config: config_lib.TrainConfig, teacher: keras.Model, fit: str, memo: "TargetsMemo",
                       splits: tuple[str, ...]) -> tuple[object, list[bad_images.BadImage]]:
    """source_of (at the teacher's input size), without the images of `splits` that do not decode
    (--bad_images), and those images. One decode pass per split: the scan of the training and
    validation splits also computes their teacher targets (memo.bad_images), or a re-run with
    --teacher_cache_dir reads the recorded scan and decodes nothing."""
    # With --frozen_through the targets come later, from the frozen trunk's maps (a fraction of the cost).
    with_targets = () if config.frozen_through else (config.train_split, config.val_split)
    raw_source = source_of(config, teacher.input_shape[1:3], fit)
    return bad_images.screen(
        raw_source, splits, config.bad_images,
        lambda split: memo.bad_images(raw_source, split, config, teacher if split in with_targets else None))


def source_of(config: config_lib.TrainConfig, image_size: tuple[int, int],
              fit: str = image_files.STRETCH) -> sources.Source:
    """The source --dataset names (data.sources), its images fitted to image_size (image_files.fit_image)
    where they differ."""
    return sources.open_source(config.dataset, image_size=tuple(image_size), fit=fit, data_dir=config.data_dir or None,
                               image_key=config.image_key, label_key=config.label_key, id_key=config.id_key,
                               background_folder=config.background_folder)


@dataclasses.dataclass(frozen=True)
class InputRecipe:
    """How a run's images become the model's input (data.recipes): the recipe, why it was chosen, the
    evaluation view's fit (image_files.FITS) and the training augmentation (pipeline.AUGMENTATIONS)."""

    recipe: str
    reason: str
    evaluation_fit: str
    augmentation: str


def input_recipe_of(config: config_lib.TrainConfig, image_size: tuple[int, int]) -> InputRecipe:
    """--input_recipe resolved for this teacher, trunk and input size (recipes.resolve), with --augment."""
    imagenet = [f"--{flag}={spec}" for flag, spec in (("teacher", config.teacher), ("trunk", config.trunk))
                if pretrained.is_imagenet(spec)]
    recipe, reason = recipes.resolve(config.input_recipe, tuple(image_size), imagenet[0] if imagenet else "")
    if not config.augment:
        augmentation = pipeline.NO_AUGMENTATION
    else:
        augmentation = pipeline.PAD_CROP if recipe == recipes.PAD_CROP else pipeline.RANDOM_RESIZED_CROP
    return InputRecipe(recipe, reason, recipes.EVALUATION_FIT[recipe], augmentation)


def draw_task(config: config_lib.TrainConfig,
              source: sources.Source) -> tuple[rare_task.RareTask, dict, np.ndarray]:
    """The rare task of this config, per-split summaries (counts, background fraction), and which
    training examples it keeps (bool [N], in split order)."""
    labels = {split: source.read_labels(split) for split in (config.train_split, config.val_split, config.test_split)}
    train_labels, train_ids = labels[config.train_split]
    task = rare_task.choose_rare_task(
        source.label_names(),
        train_labels,
        train_ids,
        eval_labels={split: labels[split][0] for split in (config.val_split, config.test_split)},
        num_rare=config.num_rare,
        positives_per_class=config.positives_per_class,
        seed=config.seed,
        categories=list(config.rare_categories) or None,
        background_fraction=config.background_fraction,
        background_keep=config.background_keep,
        never_rare=source.never_rare(),
    )
    keep = task.train_keep_mask(train_labels, train_ids)
    summaries = {
        "train": rare_task.summarize(task, task.main_labels(train_labels[keep])),
        "validation": rare_task.summarize(task, task.main_labels(labels[config.val_split][0])),
        "test": rare_task.summarize(task, task.main_labels(labels[config.test_split][0])),
    }
    if summaries["train"]["counts"][rare_task.BACKGROUND] == 0:
        raise ValueError(
            f"no background images are left in --train_split={config.train_split} (--background_keep="
            f"{config.background_keep} kept none of them, or every category is rare); raise --background_keep "
            "or name fewer --rare_categories")
    return task, summaries, keep


def teacher_of(config: config_lib.TrainConfig) -> keras.Model:
    """The frozen teacher --teacher names (see models.pretrained): pixels [B, H, W, 3] -> [B, M]."""
    return pretrained.load(config.teacher, image_size=config.image_size, weights=config.teacher_weights,
                           endpoint=config.teacher_endpoint, output_key=config.teacher_output_key)


def trunk_source_of(config: config_lib.TrainConfig, teacher: keras.Model) -> keras.Model:
    """The model whose "trunk" the student copies: the teacher itself (default), or --trunk."""
    if not config.trunk:
        teacher_lib.teacher_trunk(teacher)  # fails early, naming --trunk, for a teacher without a trunk
        return teacher
    start = pretrained.load(config.trunk, image_size=config.image_size, weights=config.trunk_weights)
    teacher_lib.teacher_trunk(start)
    if tuple(start.input_shape[1:3]) != tuple(teacher.input_shape[1:3]):
        raise ValueError(f"--trunk={config.trunk} takes {start.input_shape[1:3]} images but the teacher takes "
                         f"{teacher.input_shape[1:3]}; set --image_size so that both agree")
    return start


def check_image_size(source: sources.Source, teacher: keras.Model, teacher_path: str) -> None:
    """Rejects a teacher whose fixed input size differs from the source's fixed image size."""
    image_shape = source.image_shape()
    teacher_shape = teacher.input_shape[1:3]
    if None not in image_shape[:2] and None not in teacher_shape and tuple(image_shape[:2]) != tuple(teacher_shape):
        raise ValueError(
            f"teacher {teacher_path} takes {teacher_shape[0]}x{teacher_shape[1]} images but {source.name} has "
            f"{image_shape[0]}x{image_shape[1]}; pass a --teacher trained at that size."
        )


def task_gallery(task: rare_task.RareTask, source: sources.Source, config: config_lib.TrainConfig,
                 per_row: int = 10) -> bytes:
    """PNG of what the model learns from: each rare class's kept training positives (at most per_row),
    then background. The training split is read still encoded and only the images shown are decoded."""
    relabelled = task.relabel(source.encoded_examples(config.train_split), training=True)
    by_class = {k: [] for k in range(1, task.num_rare + 1)}
    positives = relabelled.filter(lambda ex: ex["label"] > 0).map(source.decode)  # at most K * N images
    for example in positives.as_numpy_iterator():
        if len(by_class[example["label"]]) < per_row:
            by_class[example["label"]].append(example["image"])
    rows = [(name, np.stack(by_class[k])) for k, name in enumerate(task.class_names[1:], start=1)]
    background = relabelled.filter(lambda ex: ex["label"] == 0).take(per_row).map(source.decode)
    rows.append(("background", np.stack([ex["image"] for ex in background.as_numpy_iterator()])))
    return plots.gallery_png(rows, f"{config.dataset}: training positives per rare class, and background")


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
        """One decode pass over source[split]: the teacher's targets of the images that decode (kept
        under key, and for the cache if there is one), and the others as bad images."""
        started = time.time()
        progress = bad_images.scan_progress(source, split)
        parts = []
        for ids, probs in teacher_targets.predict_batches(
                teacher, bad_images.decoded_survivors(source, split, source.decode),
                teacher_output=config.teacher_output):
            parts.append(teacher_targets.TeacherTargets.from_probabilities(ids, probs, config.teacher_top_k))
            progress.add(len(ids))
        if not parts:
            raise ValueError(f"no image of {source.name}[{split}] decodes")
        targets = teacher_targets.concatenate(parts)
        (self._unwritten if config.teacher_cache_dir else self._targets)[key] = targets
        logging.info("Teacher targets and bad-image scan of %s[%s]: %d images in %.1f s (one decode pass)",
                     source.name, split, len(targets.ids), time.time() - started)
        return bad_images.missing_images(source, split, set(targets.ids))

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
        image_size=tuple(teacher.input_shape[1:3]), top_k=config.teacher_top_k, fit=source.fit)


@dataclasses.dataclass
class PreparedRun:
    """What a training run needs besides its model: the rare task and its tf.data batches.

    train_batches_for(input_context, epoch=0, skip=0): (images float32 [B, H, W, 3], targets) with
    augmentation and sampling, epoch `epoch` from its batch `skip` on (pipeline.training_epochs); an
    input_context of None gives global batches of the whole split, one epoch, an InputContext
    (tf.distribute) that pipeline's shard in per-replica batches, repeated. val_batches and
    test_batches: un-augmented, the last batch partial. probe_batches, train_positive_batches and
    val_positive_batches: un-augmented, for evaluation.mechanism.MechanismProbe (the first
    --mechanism_probe_size validation images, and at most as many kept training positives and validation
    positives). steps_per_epoch: of the global batch. input_recipe: how images become the input.
    class_counts: kept training images per main class [K + 1]. bad_images: the images left out
    because they do not decode (--bad_images=skip).
    """

    teacher: keras.Model
    trunk_source: keras.Model
    source: object
    task: rare_task.RareTask
    summaries: dict
    train_batches_for: Callable[..., tf.data.Dataset]
    val_batches: tf.data.Dataset
    test_batches: tf.data.Dataset
    probe_batches: tf.data.Dataset
    train_positive_batches: tf.data.Dataset
    val_positive_batches: tf.data.Dataset
    steps_per_epoch: int
    class_counts: list[int]
    bad_images: list[bad_images.BadImage]
    input_recipe: InputRecipe
    pixel_source: object = None  # where the pictures come from: `source` itself, or the one its maps are of
    lower_trunk: keras.Model | None = None  # --frozen_through: pixels -> the maps `source` holds

    @property
    def train_batches(self) -> tf.data.Dataset:
        """One device's training batches, one epoch."""
        return self.train_batches_for(None)


def cache_decoded(config: config_lib.TrainConfig, num_images: int, image_shape: tuple) -> bool:
    """Whether the decoded training and validation images are kept in memory after the first epoch:
    --cache_decoded=yes|no, or auto: yes while they take less than CACHE_BUDGET_BYTES."""
    if config.cache_decoded != "auto":
        return config.cache_decoded == "yes"
    return num_images * int(np.prod(image_shape)) < CACHE_BUDGET_BYTES


def prepare_run(config: config_lib.TrainConfig, memo: TargetsMemo) -> PreparedRun:
    """Loads teacher and source, draws the rare task, joins the teacher targets and builds the batches."""
    teacher = teacher_of(config)
    trunk_source = trunk_source_of(config, teacher)
    recipe = input_recipe_of(config, teacher.input_shape[1:3])
    source, bad = screened_source_of(config, teacher, recipe.evaluation_fit, memo,
                                     (config.train_split, config.val_split, config.test_split))
    check_image_size(source, teacher, config.teacher or str(pretrained.embedded_path("")))
    pixel_source, lower = source, None
    task, summaries, kept = draw_task(config, source)
    if config.frozen_through:  # teacher and source from here on take and hold the frozen trunk's maps
        lower, teacher = trunk_split.split_teacher(teacher, config.frozen_through)
        trunk_source = teacher
        # Maps of the training images the task keeps (a teacher cache records every image: then all).
        needed = {config.train_split: None if config.teacher_cache_dir else kept, config.val_split: None,
                  config.test_split: None}
        source = memo.frozen_maps(source, needed, config, lower)
        recipe = dataclasses.replace(recipe, augmentation=pipeline.NO_AUGMENTATION,
                                     reason=f"{recipe.reason}; no augmentation: --frozen_through={config.frozen_through}")
    logging.info("Input recipe %s (%s): training augmentation %s, evaluation view %s", recipe.recipe, recipe.reason,
                 recipe.augmentation, recipe.evaluation_fit)
    logging.info("Rare task: %s; train background fraction %.4f (%s)", task.class_names[1:],
                 summaries["train"]["background_fraction"], summaries["train"]["counts"])

    def examples(split: str, training: bool, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """The split's examples, images still encoded (the pipeline decodes), with their targets."""
        ds = task.relabel(source.encoded_examples(split, shard=shard), training=training)
        return memo.get(source, split, config, teacher).join(ds)

    num_train = summaries["train"]["num_examples"]
    steps_per_epoch = num_train // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"--batch_size={config.batch_size} exceeds the {num_train} training images")
    cache = cache_decoded(config, num_train + summaries["validation"]["num_examples"], teacher.input_shape[1:])

    def unaugmented(split: str, training: bool, keep=lambda examples: examples) -> tf.data.Dataset:
        """Un-augmented batches of the split's (relabelled) examples that `keep` leaves, decoded after it."""
        kept = keep(task.relabel(source.encoded_examples(split), training=training))
        return pipeline.evaluation_batches(kept, EVAL_BATCH_SIZE, cache=False, decode=source.decode)

    def positives(examples: tf.data.Dataset) -> tf.data.Dataset:
        return examples.filter(lambda ex: ex["label"] > 0)

    epochs_of_shard = {}  # (shard, per-replica batch size) -> its training_epochs, whose cache every epoch shares

    def train_batches_for(context: tf.distribute.InputContext | None, epoch: int = 0,
                          skip: int = 0) -> tf.data.Dataset:
        shard = (context.input_pipeline_id, context.num_input_pipelines) if context else (0, 1)
        batch_size = context.get_per_replica_batch_size(config.batch_size) if context else config.batch_size
        if (shard, batch_size) not in epochs_of_shard:
            epochs_of_shard[shard, batch_size] = pipeline.training_epochs(
                examples(config.train_split, True, shard), batch_size, config.seed,
                augmentation=recipe.augmentation, cache=cache, num_examples=int(kept[shard[0]::shard[1]].sum()),
                rare_batch_fraction=config.rare_batch_fraction, num_classes=task.num_rare + 1,
                decode=source.decode, decode_random_crop=source.decode_random_crop)
        if not context:  # one device: an epoch is one pass
            return epochs_of_shard[shard, batch_size](epoch, skip)
        # Distributed, each pipeline repeats (workers' shards may differ by a batch) and the training loop
        # counts steps_per_epoch; a step takes one batch per replica the pipeline feeds.
        replicas_fed = context.num_replicas_in_sync // context.num_input_pipelines
        return epochs_of_shard[shard, batch_size](epoch).repeat().skip(skip * replicas_fed)

    return PreparedRun(
        teacher=teacher, trunk_source=trunk_source, source=source, task=task, summaries=summaries,
        train_batches_for=train_batches_for,
        val_batches=pipeline.evaluation_batches(examples(config.val_split, False), EVAL_BATCH_SIZE, cache=cache,
                                                num_examples=summaries["validation"]["num_examples"],
                                                decode=source.decode),
        test_batches=pipeline.evaluation_batches(task.relabel(source.encoded_examples(config.test_split), False),
                                                 EVAL_BATCH_SIZE, cache=False,
                                                 num_examples=summaries["test"]["num_examples"],
                                                 decode=source.decode),
        probe_batches=unaugmented(config.val_split, False, lambda ex: ex.take(config.mechanism_probe_size)),
        train_positive_batches=unaugmented(config.train_split, True,
                                           lambda ex: positives(ex).take(config.mechanism_probe_size)),
        val_positive_batches=unaugmented(config.val_split, False,
                                         lambda ex: positives(ex).take(config.mechanism_probe_size)),
        steps_per_epoch=steps_per_epoch,
        class_counts=list(summaries["train"]["counts"].values()),
        bad_images=bad,
        input_recipe=recipe,
        pixel_source=pixel_source,
        lower_trunk=lower,
    )
