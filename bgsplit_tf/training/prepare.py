"""Preparing a run: everything it needs besides its model.

  config -> teacher, trunk donor, source, input recipe (run_inputs) -> the source screened for bad images
  -> rare task -> teacher targets (targets_memo: memoised per process, or read from the on-disk cache)
  -> tf.data batches

prepare_run returns a PreparedRun; training.run trains on it.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bgsplit_tf import config as config_lib
from bgsplit_tf.data import bad_images, pipeline, rare_task, recipes, sources
from bgsplit_tf.evaluation import plots, run_results
from bgsplit_tf.models import pretrained, trunk_split
from bgsplit_tf.training import run_inputs, targets_memo

EVAL_BATCH_SIZE = 512
# --cache_decoded=auto keeps decoded train + val images in memory below this size (iNaturalist at 224 px,
# ~88 GB decoded, is streamed and decoded every epoch instead).
CACHE_BUDGET_BYTES = 4 * 2**30


def draw_task(config: config_lib.TrainConfig,
              source: sources.Source) -> tuple[rare_task.RareTask, run_results.TaskSummary, np.ndarray]:
    """The rare task of this config, its summary (categories, and counts and background fraction per
    split), and which training examples it keeps (bool [N], in split order)."""
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
    summary = run_results.TaskSummary(
        rare_categories=task.class_names[1:], category_ids=task.categories,
        train=rare_task.summarize(task, task.main_labels(train_labels[keep])),
        validation=rare_task.summarize(task, task.main_labels(labels[config.val_split][0])),
        test=rare_task.summarize(task, task.main_labels(labels[config.test_split][0])),
    )
    if summary.train.counts[rare_task.BACKGROUND] == 0:
        raise ValueError(
            f"no background images are left in --train_split={config.train_split} (--background_keep="
            f"{config.background_keep} kept none of them, or every category is rare); raise --background_keep "
            "or name fewer --rare_categories")
    return task, summary, keep


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
    positives). summary: the task's categories and counts per split. steps_per_epoch: of the global
    batch. input_recipe: how images become the input.
    class_counts: kept training images per main class [K + 1]. bad_images: the images left out
    because they do not decode (--bad_images=skip).
    """

    teacher: keras.Model
    trunk_donor: keras.Model
    source: object
    task: rare_task.RareTask
    summary: run_results.TaskSummary
    train_batches_for: Callable[..., tf.data.Dataset]
    val_batches: tf.data.Dataset
    test_batches: tf.data.Dataset
    probe_batches: tf.data.Dataset
    train_positive_batches: tf.data.Dataset
    val_positive_batches: tf.data.Dataset
    steps_per_epoch: int
    class_counts: list[int]
    bad_images: list[bad_images.BadImage]
    input_recipe: recipes.InputRecipe
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


def prepare_run(config: config_lib.TrainConfig, memo: targets_memo.TargetsMemo) -> PreparedRun:
    """Loads teacher and source, draws the rare task, joins the teacher targets and builds the batches."""
    teacher = run_inputs.teacher_of(config)
    trunk_donor = run_inputs.trunk_donor_of(config, teacher)
    recipe = run_inputs.input_recipe_of(config, teacher.input_shape[1:3])
    source, bad = targets_memo.screened_source_of(config, teacher, recipe.evaluation_resize_mode, memo,
                                     (config.train_split, config.val_split, config.test_split))
    run_inputs.check_image_size(source, teacher, config.teacher or str(pretrained.embedded_path("")))
    pixel_source, lower = source, None
    task, summary, kept = draw_task(config, source)
    if config.frozen_through:  # teacher and source from here on take and hold the frozen trunk's maps
        lower, teacher = trunk_split.split_teacher(teacher, config.frozen_through)
        trunk_donor = teacher
        # Maps of the training images the task keeps (a teacher cache records every image: then all).
        needed = {config.train_split: None if config.teacher_cache_dir else kept, config.val_split: None,
                  config.test_split: None}
        source = memo.frozen_maps(source, needed, config, lower)
        recipe = dataclasses.replace(recipe, augmentation=pipeline.NO_AUGMENTATION,
                                     reason=f"{recipe.reason}; no augmentation: --frozen_through={config.frozen_through}")
    logging.info("Input recipe %s (%s): training augmentation %s, evaluation view %s", recipe.recipe, recipe.reason,
                 recipe.augmentation, recipe.evaluation_resize_mode)
    logging.info("Rare task: %s; train background fraction %.4f (%s)", task.class_names[1:],
                 summary.train.background_fraction, summary.train.counts)

    def examples(split: str, training: bool, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """The split's examples, images still encoded (the pipeline decodes), with their targets."""
        ds = task.relabel(source.encoded_examples(split, shard=shard), training=training)
        return memo.get(source, split, config, teacher).join(ds)

    num_train = summary.train.num_examples
    steps_per_epoch = num_train // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"--batch_size={config.batch_size} exceeds the {num_train} training images")
    cache = cache_decoded(config, num_train + summary.validation.num_examples, teacher.input_shape[1:])

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
        teacher=teacher, trunk_donor=trunk_donor, source=source, task=task, summary=summary,
        train_batches_for=train_batches_for,
        val_batches=pipeline.evaluation_batches(examples(config.val_split, False), EVAL_BATCH_SIZE, cache=cache,
                                                num_examples=summary.validation.num_examples,
                                                decode=source.decode),
        test_batches=pipeline.evaluation_batches(task.relabel(source.encoded_examples(config.test_split), False),
                                                 EVAL_BATCH_SIZE, cache=False,
                                                 num_examples=summary.test.num_examples,
                                                 decode=source.decode),
        probe_batches=unaugmented(config.val_split, False, lambda ex: ex.take(config.mechanism_probe_size)),
        train_positive_batches=unaugmented(config.train_split, True,
                                           lambda ex: positives(ex).take(config.mechanism_probe_size)),
        val_positive_batches=unaugmented(config.val_split, False,
                                         lambda ex: positives(ex).take(config.mechanism_probe_size)),
        steps_per_epoch=steps_per_epoch,
        class_counts=list(summary.train.counts.values()),
        bad_images=bad,
        input_recipe=recipe,
        pixel_source=pixel_source,
        lower_trunk=lower,
    )
